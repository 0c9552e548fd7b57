#!/usr/bin/env node
// Service creates against the dev control plane alone (etcd + kube-apiserver, no controllers),
// timed in batches as the number of Services grows, next to the anchor (ConfigMap creates of the
// same size and concurrency) measured in the same run. Kinds:
//
//   configmap    the anchor;
//   clusterip    Services of type ClusterIP (an IPAddress object allocated per Service);
//   headless     Services with clusterIP: None (no address allocated).
//
// Each batch prints its create rate and the API server's own mean latency for the batch's
// requests (apiserver_request_duration_seconds, from /metrics), so the client's view and the
// server's agree or the difference shows.
//
// Usage: node bench/service-create.mjs [--count 3000] [--batch 500] [--concurrency 50]
//          [--kinds configmap,clusterip,headless] [--profile FILE]
// --profile FILE: kube-apiserver runs with --profiling=true, and FILE receives a 20 s pprof CPU
// profile taken while one more batch of the last kind is created (`go tool pprof -top FILE`).
import { register } from 'tsx/esm/api';
import https from 'node:https';
import { cpus, loadavg } from 'node:os';
import { log, numberArg, textArg } from './lib.mjs';

process.chdir(new URL('..', import.meta.url).pathname);
register();
const { startControlPlane } = await import('../src/dev/control-plane.ts');

const COUNT = numberArg('count', 3000);
const BATCH = numberArg('batch', 500);
const CONCURRENCY = numberArg('concurrency', 50);
const KINDS = (textArg('kinds') ?? 'configmap,clusterip,headless').split(',');
const PROFILE = textArg('profile'); // a file: a 20 s CPU profile of kube-apiserver after the creates
const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

const cp = await startControlPlane({
  controllerManager: false,
  apiServerArgs: PROFILE ? ['--profiling=true'] : [],
  log,
});
const agent = new https.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
const headers = { authorization: `Bearer ${cp.users.admin.token}` };
const ca = (await import('node:fs')).readFileSync(cp.caFile);

function request(method, path, body) {
  return new Promise((resolve, reject) => {
    const req = https.request(
      new URL(path, cp.server),
      {
        method,
        agent,
        ca,
        headers: { ...headers, ...(body ? { 'content-type': 'application/json' } : {}) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () =>
          res.statusCode < 300
            ? resolve(text)
            : reject(new Error(`${method} ${path}: ${res.statusCode} ${text.slice(0, 200)}`)),
        );
      },
    );
    req.on('error', reject);
    req.end(body ? JSON.stringify(body) : undefined);
  });
}

function requestBuffer(path) {
  return new Promise((resolve, reject) => {
    https
      .get(new URL(path, cp.server), { ca, headers }, (res) => {
        const chunks = [];
        res.on('data', (d) => chunks.push(d));
        res.on('end', () => resolve(Buffer.concat(chunks)));
      })
      .on('error', reject);
  });
}

/** Sum and count of apiserver_request_duration_seconds for POSTs of `resource`. */
async function serverLatency(resource) {
  const text = await request('GET', '/metrics');
  let sum = 0;
  let count = 0;
  const re = /^apiserver_request_duration_seconds_(sum|count)\{([^}]*)\} (\S+)$/gm;
  for (const m of text.matchAll(re)) {
    if (!m[2].includes(`resource="${resource}"`) || !m[2].includes('verb="POST"')) continue;
    if (m[1] === 'sum') sum += Number(m[3]);
    else count += Number(m[3]);
  }
  return { sum, count };
}

const objects = {
  configmap: (i) => ['configmaps', { metadata: { name: `cm-${i}` }, data: { i: String(i) } }],
  clusterip: (i) => [
    'services',
    {
      metadata: { name: `svc-${i}` },
      spec: { selector: { app: `a${i}` }, ports: [{ port: 80, targetPort: 8080 }] },
    },
  ],
  headless: (i) => [
    'services',
    {
      metadata: { name: `hl-${i}` },
      spec: { clusterIP: 'None', selector: { app: `a${i}` }, ports: [{ port: 80 }] },
    },
  ],
};

try {
  console.log(
    `service-create: ${COUNT} per kind in batches of ${BATCH}, ${CONCURRENCY} in flight,`,
  );
  console.log(`${cpus().length} CPUs; load ${load()}`);
  console.log('| kind | objects of the kind before | batch rate /s | server mean POST ms | load |');
  console.log('|---|---|---|---|---|');
  for (const kind of KINDS) {
    const ns = `bench-${kind}`;
    await request('POST', '/api/v1/namespaces', { metadata: { name: ns } });
    for (let start = 0; start < COUNT; start += BATCH) {
      const resource = objects[kind](0)[0];
      const before = await serverLatency(resource);
      const t0 = performance.now();
      let next = start;
      const end = Math.min(COUNT, start + BATCH);
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < end) {
            const [res, body] = objects[kind](next++);
            await request('POST', `/api/v1/namespaces/${ns}/${res}`, body);
          }
        }),
      );
      const secs = (performance.now() - t0) / 1000;
      const after = await serverLatency(resource);
      const meanMs = ((after.sum - before.sum) / (after.count - before.count)) * 1000;
      const row = [kind, start, ((end - start) / secs).toFixed(0), meanMs.toFixed(1), load()];
      console.log(`| ${row.join(' | ')} |`);
    }
  }
  if (PROFILE) {
    const kind = KINDS[KINDS.length - 1];
    const profile = requestBuffer('/debug/pprof/profile?seconds=20');
    let next = COUNT;
    const deadline = performance.now() + 19_000;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (performance.now() < deadline) {
          const [res, body] = objects[kind](next++);
          await request('POST', `/api/v1/namespaces/bench-${kind}/${res}`, body);
        }
      }),
    );
    (await import('node:fs')).writeFileSync(PROFILE, await profile);
    console.log(`profile of ${next - COUNT} more ${kind} creates: ${PROFILE}`);
  }
} finally {
  agent.destroy();
  await cp.stop();
}
