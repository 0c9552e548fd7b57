#!/usr/bin/env node
// Facade benchmark: progress-event posts per second and p99 latency through the facade, against
// the local API server, next to the anchor measured in the same run: the API server itself
// taking one status write per event (a merge patch, no read, no precondition) of the same size
// as the facade's steady-state write (the capped list of 100 events), and serving one GET. Also
// GETs of the events while posts run. Load comes from wrk (Debian) with Lua scripts; every run is
// `wrk -t2 -c<C> -d<D>s --latency`.
//
// Usage: npm run build && node bench/facade-bench.mjs [--duration 5] [--connections 32]
// Prints the raw figures and a Markdown table with ratios.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startControlPlane } from '../dist/dev/control-plane.js';
import { loadKubeConfig, makeClients } from '../dist/kube/client.js';
import { createLogger } from '../dist/log.js';
import { systemClock } from '../dist/clock.js';
import { parseFacadeConfig } from '../dist/facade/config.js';
import { startFacade } from '../dist/facade/server.js';
import { numberArg } from './lib.mjs';

const execFileP = promisify(execFile);
const DURATION = numberArg('duration', 5);
const CONNECTIONS = numberArg('connections', 32);
const SERVERS = 50;
const TOKEN = 'bench-token-0123456789abcdef0123';
const NS = 'bench';

const dir = mkdtempSync(join(tmpdir(), 'jfo-facade-bench-'));
const cleanup = [];
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

function lua(name, { method = 'GET', body, headers = {}, paths }) {
  const lines = [`wrk.method = "${method}"`];
  if (body) lines.push(`wrk.body = ${JSON.stringify(body)}`);
  for (const [k, v] of Object.entries(headers))
    lines.push(`wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`);
  if (paths) {
    lines.push(`local paths = {${paths.map((p) => JSON.stringify(p)).join(', ')}}`, 'local i = 0');
    lines.push(
      'request = function() i = i + 1; return wrk.format(nil, paths[(i % #paths) + 1]) end',
    );
  }
  const path = join(dir, `${name}.lua`);
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

function ms(text) {
  const m = /([\d.]+)(us|ms|s)/.exec(text);
  if (!m) return NaN;
  return Number(m[1]) * { us: 0.001, ms: 1, s: 1000 }[m[2]];
}

async function wrk(url, script, connections = CONNECTIONS) {
  const { stdout } = await execFileP(
    'wrk',
    ['-t2', `-c${connections}`, `-d${DURATION}s`, '--latency', '-s', script, url],
    { maxBuffer: 1 << 20 },
  );
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1]);
  const total = Number(/(\d+) requests in/.exec(stdout)?.[1]);
  const bad = Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0);
  const errors = /Socket errors: (.*)/.exec(stdout)?.[1] ?? 'none';
  const p50 = ms(/\s50%\s+(\S+)/.exec(stdout)?.[1] ?? '');
  const p99 = ms(/\s99%\s+(\S+)/.exec(stdout)?.[1] ?? '');
  return { rps, total, ok: total - bad, bad, errors, p50, p99 };
}

const fmt = (r) =>
  `${r.rps.toFixed(0)} req/s, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, ${r.bad} non-2xx, socket errors: ${r.errors}`;

async function main() {
  const cp = await startControlPlane({ controllerManager: false });
  cleanup.push(() => cp.stop());
  const kubectl = (args) =>
    execFileP(join(cp.binDir, 'kubectl'), [`--kubeconfig=${cp.kubeconfigPath}`, ...args]);
  await kubectl(['apply', '--server-side', '-k', 'crds/']);
  await kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
  await kubectl(['create', 'namespace', NS]);
  const kc = loadKubeConfig(cp.kubeconfigPath);
  const clients = makeClients(kc);
  writeFileSync(
    join(dir, 'tokens.yaml'),
    `bench: {token: ${TOKEN}, scopes: [servers, access:servers, custom:servers:list]}\n`,
  );
  const config = parseFacadeConfig({
    JFO_NAMESPACE: NS,
    JFO_HTTP_HOST: '127.0.0.1',
    JFO_HTTP_PORT: '0',
    JFO_STATIC_TOKENS: join(dir, 'tokens.yaml'),
    JFO_LOG_LEVEL: 'error',
  });
  const facade = await startFacade(config, { kc, log: createLogger('error'), clock: systemClock });
  cleanup.unshift(() => facade.close());
  const auth = { Authorization: `token ${TOKEN}`, 'Content-Type': 'application/json' };
  for (let i = 0; i < SERVERS; i++) {
    const res = await fetch(`${facade.url}/api/forwardedservers/user${i}/s`, {
      method: 'PUT',
      headers: auth,
      body: JSON.stringify({ userId: i, startId: 'b1' }),
    });
    if (res.status !== 201) throw new Error(`PUT user${i}: ${res.status} ${await res.text()}`);
  }
  await clients.forwardedServers.create(NS, {
    apiVersion: 'forward.hub.jupyter.org/v1alpha1',
    kind: 'ForwardedServer',
    metadata: { name: 'anchor' },
    spec: { user: { name: 'anchor', id: 999 }, startId: 'a1' },
  });
  await new Promise((r) => setTimeout(r, 500));

  const event = JSON.stringify({
    progress: 50,
    message: 'bench',
    html_message: '<details><summary>Bench</summary>step</details>',
  });
  // What the facade stores for `event` (timestamped): the anchor writes 100 of these at once.
  const storedEvent = {
    progress: 50,
    message: 'bench',
    html_message: '<details><summary>2026-01-01 00:00:00.000: Bench</summary>step</details>',
  };
  const apiBase = `${cp.server}/apis/forward.hub.jupyter.org/v1alpha1/namespaces/${NS}/forwardedservers`;
  const bearer = { Authorization: `Bearer ${cp.users.admin.token}` };
  const scripts = {
    anchorWrite: lua('anchor-write', {
      method: 'PATCH',
      body: JSON.stringify({ status: { events: Array.from({ length: 100 }, () => storedEvent) } }),
      headers: { ...bearer, 'Content-Type': 'application/merge-patch+json' },
    }),
    anchorGet: lua('anchor-get', { headers: bearer }),
    postOne: lua('post-one', { method: 'POST', body: event, headers: auth }),
    postMany: lua('post-many', {
      method: 'POST',
      body: event,
      headers: auth,
      paths: Array.from({ length: SERVERS }, (_, i) => `/api/users/progress/events/user${i}/s`),
    }),
    get: lua('get', { headers: auth }),
  };

  const results = {};
  process.stderr.write(
    `machine: ${cpus().length} x ${cpus()[0]?.model}, node ${process.version}; wrk -t2 -c${CONNECTIONS} -d${DURATION}s\n`,
  );
  results.anchorWrite = await wrk(`${apiBase}/anchor/status`, scripts.anchorWrite);
  process.stderr.write(
    `anchor: API server status merge-patch (1 write/event): ${fmt(results.anchorWrite)}\n`,
  );
  const before = await clients.forwardedServers.get(NS, 'jupyter-user0--s');
  results.postOne = await wrk(`${facade.url}/api/users/progress/events/user0/s`, scripts.postOne);
  const after = (await clients.forwardedServers.get(NS, 'jupyter-user0--s')).status;
  const stored =
    (after.eventsDropped ?? 0) +
    (after.events?.length ?? 0) -
    ((before.status?.eventsDropped ?? 0) + (before.status?.events?.length ?? 0));
  process.stderr.write(
    `facade: POST events, one server: ${fmt(results.postOne)}; stored ${stored} events for ${results.postOne.ok} answered 204 (in-flight at the end also stored)\n`,
  );
  results.postMany = await wrk(`${facade.url}/`, scripts.postMany);
  process.stderr.write(`facade: POST events, ${SERVERS} servers: ${fmt(results.postMany)}\n`);
  results.anchorGet = await wrk(`${apiBase}/jupyter-user0--s`, scripts.anchorGet);
  process.stderr.write(
    `anchor: API server GET of the ForwardedServer: ${fmt(results.anchorGet)}\n`,
  );
  results.getIdle = await wrk(`${facade.url}/api/users/progress/events/user0/s`, scripts.get);
  process.stderr.write(`facade: GET events, idle: ${fmt(results.getIdle)}\n`);
  const half = Math.max(1, CONNECTIONS / 2);
  const [getLoad, postLoad] = await Promise.all([
    wrk(`${facade.url}/api/users/progress/events/user1/s`, scripts.get, half),
    wrk(`${facade.url}/api/users/progress/events/user1/s`, scripts.postOne, half),
  ]);
  results.getLoad = getLoad;
  results.postLoad = postLoad;
  process.stderr.write(
    `facade: GET events while posting (c=${half} each): GET ${fmt(getLoad)}; POST ${fmt(postLoad)}\n`,
  );

  const ratio = (a, b) => (a / b).toFixed(2);
  const row = (name, r, anchor) =>
    `| ${name} | ${r.rps.toFixed(0)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.bad} | ${anchor ? `${ratio(r.rps, anchor.rps)}x / ${ratio(r.p99, anchor.p99)}x` : '–'} |`;
  console.log(
    [
      `| run (wrk -t2 -c${CONNECTIONS} -d${DURATION}s) | req/s | p50 ms | p99 ms | non-2xx | vs anchor: req/s / p99 |`,
      '|---|---|---|---|---|---|',
      row(
        'anchor: API server status merge-patch of 100 events, 1 write per event',
        results.anchorWrite,
      ),
      row('facade: POST event, 1 server', results.postOne, results.anchorWrite),
      row(`facade: POST event, ${SERVERS} servers`, results.postMany, results.anchorWrite),
      row('anchor: API server GET ForwardedServer', results.anchorGet),
      row('facade: GET events, idle', results.getIdle, results.anchorGet),
      row(`facade: GET events while posting (c=${half})`, results.getLoad, results.anchorGet),
      row(`facade: POST event while GETs run (c=${half})`, results.postLoad, results.anchorWrite),
    ].join('\n'),
  );
  console.log(
    `\nOne-server run: ${stored} events stored for ${results.postOne.ok} posts answered 204 by wrk's count.`,
  );
  // Let writes still queued for connections wrk closed finish before the API server stops.
  await new Promise((r) => setTimeout(r, 2000));
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(async () => {
    for (const fn of cleanup) await fn().catch(() => {});
  });
