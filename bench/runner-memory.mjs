#!/usr/bin/env node
// Where the runner's memory goes with many ForwardedServers: a real runner process (`node
// dist/cli.js runner`) against a local API server and an sshd jump node on loopback, measured at
// each of several server counts in one run (the differences give the cost per server):
//   - RSS of the runner process;
//   - V8 heap used of its main thread (control plane: informers, status queue) and of its
//     data-plane worker thread, each read inside that thread (bench/heap-stats.cjs);
//   - the rest, RSS - both heaps: native memory (sockets, listeners, ssh2, malloc, code);
//   - the anchor: bytes per ForwardedServer of a bare informer cache in this process, as the
//     API returns the objects, and without metadata.managedFields.
// The ForwardedServers look like the operator's: a spec, then a status written by the operator's
// field manager (phase, url, conditions, progress events), then the runner's own conditions.
//
// Usage: npm run build && node bench/runner-memory.mjs [--servers 1000,3000] [--settle 30]
//          [--root DIR] (a built checkout whose runner is measured, e.g. main's)
//          [--runner-env K=V,K=V] (added to the runner's environment, which has MALLOC_ARENA_MAX=2
//          as the runner Deployment sets it; NODE_OPTIONS is appended to the preload's)
//          [--heap-snapshots] (one per thread at the last count)
// Progress on stderr; a Markdown table on stdout.
import v8 from 'node:v8';
import vm from 'node:vm';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { execFile } from 'node:child_process';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { startControlPlane } from '../dist/dev/control-plane.js';
import { startSshd } from '../dist/dev/sshd.js';
import { loadKubeConfig, makeClients } from '../dist/kube/client.js';
import { makeSupervisedInformer } from '../dist/kube/informer.js';
import { createLogger } from '../dist/log.js';
import { log, sleep, start, stopAll, textArg } from './lib.mjs';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');
const execFileP = promisify(execFile);
const COUNTS = (textArg('servers') ?? '1000,3000').split(',').map(Number);
const SETTLE_MS = Number(textArg('settle') ?? 30) * 1000;
const ROOT = resolve(textArg('root') ?? new URL('..', import.meta.url).pathname);
const SNAPSHOTS = process.argv.includes('--heap-snapshots');
const RUNNER_ENV = Object.fromEntries(
  (textArg('runner-env') ?? '')
    .split(',')
    .filter(Boolean)
    .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
);
const API = 'forward.hub.jupyter.org/v1alpha1';
const NS = 'mem';
const JN = 'mem';
const PRELOAD = new URL('./heap-stats.cjs', import.meta.url).pathname;
const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
const mib = (b) => b / 2 ** 20;

/** User + system CPU seconds of a process so far. */
function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ)
}

function rssMiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]) / 1024;
}

async function metric(runner, name) {
  const line0 = runner.output.split('\n').find((l) => l.includes('Serving health'));
  if (!line0) return undefined;
  const port = Number(/"port":(\d+)/.exec(line0)[1]);
  const res = await fetch(`http://127.0.0.1:${port}/metrics`).catch(() => undefined);
  if (!res) return undefined;
  const line = (await res.text()).split('\n').find((l) => l.startsWith(name));
  return line ? Number(line.split(' ').pop()) : undefined;
}

const sshd = await startSshd({ logLevel: 'ERROR' });
const target = http.createServer((_, res) => res.end('ok\n'));
await new Promise((r) => target.listen(0, '127.0.0.1', r));
const targetPort = target.address().port;
const cp = await startControlPlane({ controllerManager: false });
const kubectl = (...args) =>
  execFileP(join(cp.binDir, 'kubectl'), [`--kubeconfig=${cp.kubeconfigPath}`, ...args]);
await kubectl('apply', '--server-side', '-k', join(ROOT, 'crds'));
await kubectl('wait', '--for=condition=Established', 'crd', '--all');
const kc = loadKubeConfig(cp.kubeconfigPath);
const c = makeClients(kc);
await c.core.createNamespace({ body: { metadata: { name: NS } } });
const keyFile = join(mkdtempSync(join(tmpdir(), 'jfo-runner-memory-')), 'ssh-privatekey');
writeFileSync(keyFile, sshd.clientPrivateKey, { mode: 0o600 });
await c.jumpNodes.create(NS, {
  apiVersion: API,
  kind: 'JumpNode',
  metadata: { name: JN, namespace: NS },
  spec: {
    host: '127.0.0.1',
    port: sshd.port,
    username: 'root',
    privateKeySecretRef: { name: 'key' },
    hostKeys: [sshd.hostPublicKey],
    targetPolicy: { allowedCIDRs: ['127.0.0.1/32'] },
  },
});
// Runner ports on an address of their own: no other run on this machine listens there.
const listenHost = `127.91.${Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;

let created = 0;
async function createServers(upTo) {
  const one = async (i) => {
    const name = `jupyter-u${i}`;
    await c.forwardedServers.create(NS, {
      apiVersion: API,
      kind: 'ForwardedServer',
      metadata: { name, namespace: NS, labels: { 'hub.jupyter.org/username': `u${i}` } },
      spec: {
        user: { name: `u${i}`, id: i },
        startId: `${i}`.padStart(32, '0'),
        jumpNodeRef: { name: JN },
        target: { host: '127.0.0.1', port: targetPort },
      },
    });
    const now = new Date().toISOString();
    const cond = (type, reason, message) => ({
      type,
      status: 'True',
      reason,
      message,
      lastTransitionTime: now,
      observedGeneration: 1,
    });
    await c.forwardedServers.applyStatus(
      NS,
      name,
      API,
      'ForwardedServer',
      {
        phase: 'Ready',
        runnerPort: 20000 + i,
        serviceName: name,
        url: `http://${name}.${NS}.svc:8888`,
        conditions: [
          cond('PortAllocated', 'Allocated', `Runner port ${20000 + i} on JumpNode ${JN}`),
          cond('ServiceReady', 'Created', `Service ${name} targets the runner of JumpNode ${JN}`),
          cond('Ready', 'Ready', 'The server answers through the tunnel'),
        ],
        events: [
          { progress: 10, message: `Requested a tunnel through JumpNode ${JN}` },
          { progress: 50, message: `Runner port ${20000 + i} allocated; creating Service ${name}` },
          { progress: 100, message: `Server ready at http://${name}.${NS}.svc:8888` },
        ],
        observedGeneration: 1,
      },
      'jupyterhub-forward-operator',
    );
  };
  const todo = Array.from({ length: upTo - created }, (_, j) => created + j);
  for (let i = 0; i < todo.length; i += 50) await Promise.all(todo.slice(i, i + 50).map(one));
  created = upTo;
}

/** Bytes per cached ForwardedServer in a bare informer of this process (after a full GC). */
async function informerCost(transform) {
  const used = () => (gc(), gc(), process.memoryUsage().heapUsed);
  const before = used();
  const inf = makeSupervisedInformer(kc, {
    name: 'ForwardedServer',
    path: c.forwardedServers.path(NS),
    list: () => c.forwardedServers.list(NS),
    log: createLogger('error', {}),
    ...(transform ? { transform } : {}),
  });
  await inf.start();
  const n = inf.list().length;
  const after = used();
  const one = inf.list()[0];
  await inf.stop();
  return { n, bytes: (after - before) / n, json: JSON.stringify(one).length, object: one };
}

async function measureRunner(n) {
  const dir = mkdtempSync(join(tmpdir(), 'jfo-runner-memory-stats-'));
  const runner = start(process.execPath, [join(ROOT, 'dist', 'cli.js'), 'runner'], {
    env: {
      PATH: process.env.PATH,
      JFO_HEAP_STATS_DIR: dir,
      KUBECONFIG: cp.kubeconfigPath,
      JFO_NAMESPACE: NS,
      JFO_JUMPNODE: JN,
      JFO_POD_NAME: `${JN}-bench`,
      JFO_HTTP_PORT: '0',
      JFO_HTTP_HOST: '127.0.0.1',
      JFO_LISTEN_HOST: listenHost,
      JFO_LOG_LEVEL: 'info',
      JFO_PRIVATE_KEY_FILE: keyFile,
      // As the runner Deployment sets it (src/resources/runner.ts).
      MALLOC_ARENA_MAX: '2',
      ...RUNNER_ENV,
      NODE_OPTIONS: `--require=${PRELOAD} ${RUNNER_ENV.NODE_OPTIONS ?? ''}`.trim(),
    },
  });
  let peak = 0;
  let listening;
  for (let i = 0; i < 1200; i++) {
    await sleep(500);
    if (runner.exitCode !== null) throw new Error(`runner exited: ${runner.output.slice(-2000)}`);
    peak = Math.max(peak, rssMiB(runner.pid));
    listening = await metric(runner, 'jfo_runner_forwards{state="listening"}');
    if (listening === n) break;
  }
  const readyAt = performance.now();
  const cpuToListen = cpuSeconds(runner.pid);
  while (performance.now() - readyAt < SETTLE_MS) {
    await sleep(1000);
    peak = Math.max(peak, rssMiB(runner.pid));
  }
  await sleep(2500); // a fresh heap-stats file from every thread
  const rss = rssMiB(runner.pid);
  const cpu = cpuSeconds(runner.pid);
  const read = (suffix) =>
    readdirSync(dir)
      .filter((f) => f.endsWith(suffix) && (suffix === '.gc.json' || !f.endsWith('.gc.json')))
      .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')));
  const threads = read('.json');
  const main = threads.find((t) => t.isMainThread);
  const workers = threads.filter((t) => !t.isMainThread);
  // Then the live part: each thread collects its garbage once (heap-stats.cjs).
  writeFileSync(join(dir, 'gc'), '');
  let live = [];
  for (let i = 0; i < 60 && live.length < threads.length; i++) {
    await sleep(500);
    live = read('.gc.json');
  }
  await sleep(1000);
  const rssLive = rssMiB(runner.pid);
  const liveMain = live.find((t) => t.isMainThread);
  const liveWorkers = live.filter((t) => !t.isMainThread);
  if (SNAPSHOTS && n === COUNTS[COUNTS.length - 1]) {
    writeFileSync(join(dir, 'snapshot'), '');
    for (
      let i = 0;
      i < 240 && readdirSync(dir).filter((f) => f.endsWith('.done')).length < threads.length;
      i++
    )
      await sleep(500);
    log(`heap snapshots in ${dir}`);
  }
  runner.kill('SIGKILL');
  await new Promise((r) =>
    runner.exitCode !== null || runner.signalCode ? r() : runner.once('exit', r),
  );
  const heap = (t) => (t ? mib(t.heap.used_heap_size) : NaN);
  const r = {
    n,
    listening,
    rss,
    peak,
    mainHeap: heap(main),
    mainHeapTotal: main ? mib(main.heap.total_heap_size) : NaN,
    workerHeap: workers.reduce((s, t) => s + heap(t), 0),
    workerHeapTotal: workers.reduce((s, t) => s + mib(t.heap.total_heap_size), 0),
    external: main ? mib(main.memoryUsage.external) : NaN,
    workers: workers.length,
    cpuToListen,
    cpu,
    rssLive,
    mainLive: heap(liveMain),
    workerLive: liveWorkers.reduce((s, t) => s + heap(t), 0),
    externalLive: liveMain ? mib(liveMain.memoryUsage.external) : NaN,
    load: load(),
  };
  r.native = r.rss - r.mainHeapTotal - r.workerHeapTotal;
  log(`runner with ${n}: ${JSON.stringify(r)}`);
  return r;
}

try {
  log(`runner of ${ROOT}; ${cpus().length} CPUs, Node ${process.version}; load ${load()}`);
  const results = [];
  for (const n of COUNTS) {
    await createServers(n);
    log(`${n} ForwardedServers created; load ${load()}`);
    results.push(await measureRunner(n));
  }
  // The runner has written its conditions by now: the objects are as large as they get.
  const full = await informerCost((o) => o);
  const trimmed = await informerCost((o) => {
    delete o.metadata.managedFields;
    return o;
  });
  const mf = JSON.stringify(full.object.metadata.managedFields ?? []).length;
  const f = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
  const rows = [
    `| runner of ${ROOT} | ${results.map((r) => `${r.n} servers`).join(' | ')} | per server (last - first) |`,
    `|---|${results.map(() => '---|').join('')}---|`,
  ];
  const first = results[0];
  const last = results[results.length - 1];
  const dn = last.n - first.n;
  // Per server: bytes for MiB rows, milliseconds for CPU-second rows.
  const row = (label, fn) => {
    const cpuRow = label.includes('CPU s');
    const per = (fn(last) - fn(first)) / dn;
    const perText = cpuRow ? `${f(per * 1000, 2)} ms` : `${f(per * 2 ** 20, 0)} B`;
    rows.push(`| ${label} | ${results.map((r) => f(fn(r))).join(' | ')} | ${dn ? perText : ''} |`);
  };
  rows[0] = rows[0].replace('|', `| ${JSON.stringify(RUNNER_ENV)}`);
  row('runner CPU s from start until all listen', (r) => r.cpuToListen);
  row('runner CPU s from start until measured at rest', (r) => r.cpu);
  row('RSS at rest, MiB', (r) => r.rss);
  row('RSS peak, MiB', (r) => r.peak);
  row('main thread JS heap used, MiB', (r) => r.mainHeap);
  row('main thread JS heap total, MiB', (r) => r.mainHeapTotal);
  row('data-plane worker JS heap used, MiB', (r) => r.workerHeap);
  row('data-plane worker JS heap total, MiB', (r) => r.workerHeapTotal);
  row('native (RSS - both heaps total), MiB', (r) => r.native);
  row('main thread external memory (array buffers included), MiB', (r) => r.external);
  row('after a full GC in each thread: RSS, MiB', (r) => r.rssLive);
  row('after a full GC: main thread JS heap used (live), MiB', (r) => r.mainLive);
  row('after a full GC: worker JS heap used (live), MiB', (r) => r.workerLive);
  row('after a full GC: main thread external memory, MiB', (r) => r.externalLive);
  console.log(rows.join('\n'));
  console.log(
    `\nload per count: ${results.map((r) => `${r.n}: ${r.load}`).join('; ')}\n` +
      `anchor, one informer cache in this process (${full.n} objects): ` +
      `${f(full.bytes, 0)} B per ForwardedServer as listed (JSON ${full.json} B, of which managedFields ${mf} B); ` +
      `${f(trimmed.bytes, 0)} B without managedFields (${f(full.bytes / trimmed.bytes, 2)}x less)`,
  );
} finally {
  stopAll();
  target.close();
  await cp.stop();
  await sshd.stop();
}
