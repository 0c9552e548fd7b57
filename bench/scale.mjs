#!/usr/bin/env node
// Scale: N ForwardedServers (default 10,000) on one JumpNode, on the whole system
// (bench/system.mjs: control plane, operator, facade, one runner, sshd jump node, a target on
// the compute node). Measures, in one run:
//
//   anchor   the API server's raw create rate for a trivial object: N ConfigMaps created with
//            the same concurrency as the servers; the API server's own request counts give the
//            writes each server cost (its create, a port claim, a Service and its ClusterIP, three
//            status writes, Events), so writes x N / rate is a floor for "all Ready";
//   ready    time from the first create until every server's phase is Ready (watched);
//   usable   every server answers through its runner port (HTTP to the target, through the
//            tunnel), and how long one sweep over all ports takes on a steady system (the
//            resolution of the figure below);
//   sshd     sshd killed with its sessions and started again 3 s later: time from its start
//            until each server answers again (first / median / last), without a signal and
//            with `recreateforward` called right after the start, and when the last failed
//            attempt on any port started (each port became usable between its last failure and
//            its first answer; with many ports a sweep takes seconds, so the answers lag);
//   memory   RSS of the operator, the runner and the facade (peak, and at rest with N servers);
//   list     facade GET /api/servers with N entries (median and max of 5).
//
// Usage: npm run build && node bench/scale.mjs [--servers 10000] [--concurrency 50]
//          [--probe-concurrency 200] [--ready-limit 900] [--logs DIR]
//          [--operator-env K=V,K=V] [--runner-env K=V,K=V]
// The env options set the pods' environment, e.g. JFO_WORKERS, JFO_STATUS_QPS, or
// NODE_OPTIONS=--require=./bench/cpu-profile.cjs with JFO_CPU_PROFILE_DIR=DIR (a CPU profile of
// the phase until all are Ready).
// Progress on stderr; the table on stdout.
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { log, numberArg, sleep, textArg } from './lib.mjs';
import { rssMb, startSystem } from './system.mjs';
import { makeSupervisedInformer } from '../dist/kube/informer.js';
import { createLogger } from '../dist/log.js';
import { serverResourceName } from '../dist/names.js';

const N = numberArg('servers', 10_000);
const CONCURRENCY = numberArg('concurrency', 50);
const PROBE_CONCURRENCY = numberArg('probe-concurrency', 200);
const READY_LIMIT_MS = numberArg('ready-limit', 900) * 1000;
const API = 'forward.hub.jupyter.org/v1alpha1';
/** `--name K=V,K=V` as an environment. */
const envArg = (name) =>
  Object.fromEntries(
    (textArg(name) ?? '')
      .split(',')
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
const OPERATOR_ENV = envArg('operator-env');
const RUNNER_ENV = envArg('runner-env');
const now = () => performance.now();
const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

/** Runs `fn` over `items` with at most `limit` in flight. */
async function pool(items, limit, fn) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

async function withRetry(fn) {
  for (let i = 0; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= 5) throw err;
      await sleep(200 * (i + 1));
    }
  }
}

function quantiles(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { first: s[0], p50: q(0.5), last: s[s.length - 1] };
}

/** Reconciles so far per controller, from the operator's metrics. */
async function reconcileCounts(port) {
  const text = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text());
  const counts = {};
  for (const m of text.matchAll(/^jfo_operator_reconcile_total\{([^}]*)\} (\S+)$/gm)) {
    const controller = /controller="([^"]*)"/.exec(m[1])?.[1] ?? '?';
    counts[controller] = (counts[controller] ?? 0) + Number(m[2]);
  }
  return counts;
}

/**
 * One HTTP request to the target through a runner port, on a connection of its own that closes
 * after the answer (a sweep over N ports must not leave N keep-alive connections, each an open
 * SSH channel and a TCP connection on the jump node, behind it).
 */
function answers(host, port, timeoutMs = 2000) {
  return new Promise((resolve) => {
    const req = http.get({ host, port, path: '/', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => {
        try {
          resolve(res.statusCode === 200 && JSON.parse(body).target === 'compute');
        } catch {
          resolve(false);
        }
      });
      res.on('error', () => resolve(false));
    });
    const timer = setTimeout(() => req.destroy(new Error('timeout')), timeoutMs);
    req.on('close', () => clearTimeout(timer));
    req.on('error', () => resolve(false));
  });
}

/**
 * Sweeps over the ports not answered yet until every port answered or `limitMs` passed (at least
 * one sweep). Returns, per port, ms after `t0`: `when` it first answered (undefined: never), and
 * when its last failed attempt started (`failed`, undefined: none). A port became usable between
 * the two: a sweep over many ports takes time, so `when` is an upper bound and `failed` a lower one.
 */
async function untilAllAnswer(host, ports, t0, limitMs) {
  const when = new Array(ports.length);
  const failed = new Array(ports.length);
  let pending = ports.map((_, i) => i);
  for (let first = true; pending.length && (first || now() - t0 < limitMs); first = false) {
    const still = [];
    await pool(pending, PROBE_CONCURRENCY, async (i) => {
      const started = now() - t0;
      if (await answers(host, ports[i], 1000)) when[i] = now() - t0;
      else {
        failed[i] = started;
        still.push(i);
      }
    });
    pending = still;
    if (pending.length) await sleep(100); // a failing sweep is fast: do not spin
  }
  return { when, failed };
}

/**
 * The API server's request counts (apiserver_request_total, WATCH excluded) by
 * `VERB resource[/subresource]`, as the admin sees them on /metrics.
 */
async function apiRequests(kc) {
  const url = new URL('/metrics', kc.getCurrentCluster().server);
  const opts = { method: 'GET' };
  await kc.applyToHTTPSOptions(opts);
  const text = await new Promise((resolve, reject) => {
    https
      .get(url, opts, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
  const counts = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const label = (k) => line.match(new RegExp(`[{,]${k}="([^"]*)"`))?.[1] ?? '';
    const verb = label('verb');
    if (verb === 'WATCH') continue;
    const res = label('resource') + (label('subresource') ? `/${label('subresource')}` : '');
    const key = `${verb} ${res}`;
    counts[key] = (counts[key] ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return counts;
}

/** `after - before` per key, per server, largest first. */
function perServer(before, after, n) {
  return Object.entries(after)
    .map(([k, v]) => [k, (v - (before[k] ?? 0)) / n])
    .filter(([, v]) => v >= 0.01)
    .sort((a, b) => b[1] - a[1]);
}

function sampler(pids) {
  const peak = {};
  const timer = setInterval(() => {
    for (const [k, pid] of Object.entries(pids())) {
      const r = rssMb(pid);
      if (r > (peak[k] ?? 0)) peak[k] = r;
    }
  }, 500);
  return { peak, stop: () => clearInterval(timer) };
}

function server(namespace, i, target) {
  const user = `scale${i}`;
  return {
    apiVersion: API,
    kind: 'ForwardedServer',
    metadata: { name: serverResourceName(user, ''), namespace },
    spec: {
      user: { name: user, id: i + 1 },
      serverName: '',
      startId: 's1',
      jumpNodeRef: { name: 'hpc-login' },
      target: { host: target.host, port: target.port },
    },
  };
}

async function main() {
  const work = mkdtempSync(join(tmpdir(), 'jfo-scale-'));
  const logDir = textArg('logs') ? resolve(textArg('logs')) : join(work, 'logs');
  log(
    `Scale: ${N} servers, ${CONCURRENCY} creates in flight; ${cpus().length} CPUs, Node ${process.version}; load ${load()}`,
  );
  const sys = await startSystem({
    operators: 1,
    runners: 1,
    logDir,
    targets: 1,
    operatorEnv: OPERATOR_ENV,
    runnerEnv: RUNNER_ENV,
  });
  const out = [];
  // Ctrl-C or SIGTERM: stop and remove the system before exiting.
  for (const sig of ['SIGINT', 'SIGTERM'])
    process.once(sig, () => {
      log(`${sig}: stopping`);
      sys.stop().finally(() => process.exit(1));
    });
  try {
    const { admin, namespace } = sys;
    const runner = sys.runners[0];
    const host = sys.listenHost(runner);
    const pids = () => ({
      operator: sys.operators[0].pod.child.pid,
      runner: runner.pod.child.pid,
      facade: sys.facade.pod.child.pid,
    });
    const idle = Object.fromEntries(Object.entries(pids()).map(([k, p]) => [k, rssMb(p)]));
    const mem = sampler(pids);

    // Anchor: raw creates of a trivial object, same concurrency.
    await admin.core.createNamespace({ body: { metadata: { name: 'anchor' } } });
    const ids = Array.from({ length: N }, (_, i) => i);
    let t = now();
    await pool(ids, CONCURRENCY, (i) =>
      withRetry(() =>
        admin.core.createNamespacedConfigMap({
          namespace: 'anchor',
          body: { metadata: { name: `cm-${i}` }, data: { i: String(i) } },
        }),
      ),
    );
    const anchorS = (now() - t) / 1000;
    const anchorRate = N / anchorS;
    log(
      `anchor: ${N} ConfigMaps in ${anchorS.toFixed(1)} s = ${anchorRate.toFixed(0)}/s; load ${load()}`,
    );

    // The servers, watched until all are Ready.
    const ready = new Set();
    let allReady;
    const done = new Promise((r) => (allReady = r));
    const inf = makeSupervisedInformer(admin.kc, {
      name: 'ForwardedServer',
      path: `/apis/${API}/namespaces/${namespace}/forwardedservers`,
      list: () => admin.forwardedServers.list(namespace),
      log: createLogger('error'),
    });
    const phases = new Map();
    const onFs = (o) => {
      phases.set(o.metadata.name, o.status?.phase ?? '(none)');
      if (o.status?.phase === 'Ready') ready.add(o.metadata.name);
      else ready.delete(o.metadata.name);
      if (ready.size >= N) allReady(now());
    };
    inf.on('add', onFs);
    inf.on('update', onFs);
    await inf.start();
    const target = sys.targets[0];
    const requestsBefore = await apiRequests(admin.kc);
    t = now();
    const t0 = t;
    const creating = pool(ids, CONCURRENCY, (i) =>
      withRetry(() => admin.forwardedServers.create(namespace, server(namespace, i, target))),
    ).then(() => now());
    const progress = setInterval(() => {
      const count = {};
      for (const p of phases.values()) count[p] = (count[p] ?? 0) + 1;
      log(
        `  ${((now() - t0) / 1000).toFixed(0)} s: ${JSON.stringify(count)}; RSS op ${rssMb(pids().operator).toFixed(0)} runner ${rssMb(pids().runner).toFixed(0)} MB; load ${load()}`,
      );
    }, 10_000);
    const createdAt = await creating;
    const readyAt = await Promise.race([done, sleep(READY_LIMIT_MS).then(() => undefined)]);
    clearInterval(progress);
    const createS = (createdAt - t0) / 1000;
    const readyS = readyAt === undefined ? undefined : (readyAt - t0) / 1000;
    const readyAtLimit = ready.size; // the count the table reports, not a later one
    const notReady = {};
    for (const p of phases.values()) if (p !== 'Ready') notReady[p] = (notReady[p] ?? 0) + 1;
    const counts = await reconcileCounts(sys.operators[0].pod.httpPort);
    const requests = perServer(requestsBefore, await apiRequests(admin.kc), N);
    const total = requests.reduce((a, [, v]) => a + v, 0);
    const writes = requests.filter(([k]) => !k.startsWith('GET ')).reduce((a, [, v]) => a + v, 0);
    log(
      `API requests per server until all Ready (all clients, WATCH excluded): ${total.toFixed(2)}: ${requests.map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}`,
    );
    // Profiles of the create-until-Ready phase (see bench/cpu-profile.cjs).
    if (OPERATOR_ENV.JFO_CPU_PROFILE_DIR) sys.operators[0].pod.child.kill('SIGUSR2');
    if (RUNNER_ENV.JFO_CPU_PROFILE_DIR) runner.pod.child.kill('SIGUSR2');
    log(
      `operator: ${JSON.stringify(counts)}; per server ${(counts.ForwardedServer / N).toFixed(2)} reconciles`,
    );
    log(
      `servers: created in ${createS.toFixed(1)} s; all Ready ${readyS === undefined ? `NOT within ${READY_LIMIT_MS / 1000} s (${readyAtLimit} Ready; others ${JSON.stringify(notReady)})` : `after ${readyS.toFixed(1)} s`}; load ${load()}`,
    );

    // Usable through their ports.
    const servers = (await admin.forwardedServers.list(namespace)).items;
    const ports = servers.map((s) => s.status?.runnerPort).filter(Boolean);
    t = now();
    const sweep = (await untilAllAnswer(host, ports, t, 0)).when; // one sweep
    const sweepS = (now() - t) / 1000;
    const usable = sweep.filter((x) => x !== undefined).length;
    log(`usable: ${usable}/${ports.length} answered in one sweep of ${sweepS.toFixed(1)} s`);
    await sleep(3000);
    const rest = Object.fromEntries(Object.entries(pids()).map(([k, p]) => [k, rssMb(p)]));

    // Facade list.
    const listMs = [];
    let entries = 0;
    for (let i = 0; i < 5; i++) {
      const s = now();
      const res = await fetch(`${sys.facadeUrl}/api/servers`, {
        headers: { Authorization: `token ${sys.tokens.spawner}` },
      });
      entries = (await res.json()).length;
      listMs.push(now() - s);
    }

    // sshd restarts.
    const restarts = [];
    for (const signal of [false, true]) {
      await sys.site.sshd.kill();
      await sleep(3000);
      await sys.site.sshd.start();
      const back = now();
      log(`sshd started at ${new Date().toISOString()}`);
      if (signal)
        await fetch(`${sys.facadeUrl}/api/recreateforward/hpc`, {
          headers: { Authorization: `token ${sys.tokens.nodeRestart}` },
        });
      const { when, failed } = await untilAllAnswer(host, ports, back, 120_000);
      const got = when.filter((x) => x !== undefined).map((x) => x / 1000);
      const q = quantiles(got);
      const fails = failed.filter((x) => x !== undefined);
      const lastFailure = fails.length ? Math.max(...fails) / 1000 : undefined;
      restarts.push({
        signal,
        q,
        lastFailure,
        failedPorts: fails.length,
        missing: ports.length - got.length,
      });
      log(
        `sshd back${signal ? ' + recreateforward' : ''}: usable again first/median/last ${q.first?.toFixed(2)} / ${q.p50?.toFixed(2)} / ${q.last?.toFixed(2)} s; last failed attempt started at ${lastFailure?.toFixed(2) ?? '-'} s (${fails.length} ports failed at least once); never ${ports.length - got.length}; load ${load()}`,
      );
      await sleep(5000);
    }
    mem.stop();

    const f = (x, d = 1) => (x === undefined || Number.isNaN(x) ? '–' : x.toFixed(d));
    out.push(
      `\n| measure (${N} ForwardedServers, one JumpNode, one runner) | value | ratio / anchor | goal |`,
      '|---|---|---|---|',
      `| anchor: API server creates of a trivial object (ConfigMap), ${CONCURRENCY} in flight | ${anchorRate.toFixed(0)}/s (${N} in ${anchorS.toFixed(1)} s) | 1.00 | |`,
      `| API requests per server until all Ready (all clients, WATCH excluded) | ${total.toFixed(2)}, of which writes ${writes.toFixed(2)}: ${requests.map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')} | | |`,
      `| floor: ${writes.toFixed(2)} writes per server at the anchor's rate | ${(writes * anchorS).toFixed(1)} s | ${writes.toFixed(2)} | |`,
      `| creating the ForwardedServers, ${CONCURRENCY} in flight | ${createS.toFixed(1)} s | ${(createS / anchorS).toFixed(2)} | |`,
      `| all Ready, from the first create | ${readyS === undefined ? `not within ${READY_LIMIT_MS / 1000} s (${readyAtLimit} Ready then)` : `${readyS.toFixed(1)} s`} | ${readyS === undefined ? '–' : (readyS / anchorS).toFixed(2)} | ≤ 120 s |`,
      `| usable through their ports (one sweep, ${PROBE_CONCURRENCY} in flight) | ${usable}/${N} in ${sweepS.toFixed(1)} s | | all |`,
      ...restarts.map(
        (r) =>
          `| usable again after sshd is back${r.signal ? ' + recreateforward' : ''} (first / median / last answer; last failed attempt) | ${f(r.q.first, 2)} / ${f(r.q.p50, 2)} / ${f(r.q.last, 2)} s; ${r.lastFailure === undefined ? 'none failed' : `${f(r.lastFailure, 2)} s (${r.failedPorts} ports)`}${r.missing ? `, ${r.missing} never` : ''} | | ≤ 2 s (1000: ≤ 1 s) |`,
      ),
      `| facade GET /api/servers (${entries} entries), median / max of 5 | ${f(quantiles(listMs).p50, 0)} / ${f(Math.max(...listMs), 0)} ms | | ≤ 1 s |`,
      `| operator RSS idle / at rest / peak | ${f(idle.operator, 0)} / ${f(rest.operator, 0)} / ${f(mem.peak.operator, 0)} MB | | ≤ 400 MB |`,
      `| runner RSS idle / at rest / peak | ${f(idle.runner, 0)} / ${f(rest.runner, 0)} / ${f(mem.peak.runner, 0)} MB | | ≤ 400 MB |`,
      `| facade RSS idle / at rest / peak | ${f(idle.facade, 0)} / ${f(rest.facade, 0)} / ${f(mem.peak.facade, 0)} MB | | |`,
      `\nLoad average at the end: ${load()} (${cpus().length} CPUs, shared).`,
    );
    await inf.stop();
  } finally {
    console.log(out.join('\n'));
    await sys.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
