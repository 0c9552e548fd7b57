#!/usr/bin/env node
// Operator benchmark: time until N ForwardedServers on one JumpNode have their Service and
// status.runnerPort, and the operator's memory (RSS) with N servers, next to the anchor measured in
// the same run: the reference's per-server work (ForwardBaseSpawner: `ssh -O check`, `ssh -O
// forward -L` through one ControlMaster, then create the Service through the API server) done for
// the same N servers against the same local sshd and API server.
//
// The operator is a real process (`node dist/cli.js operator`) with the restricted RBAC of
// manifests/ and leader election on. Scenarios:
//   backlog: N servers exist, then the operator starts (restart after an outage);
//   live:    the operator runs while N servers are created with 20 requests in flight.
//
// Usage: npm run build && node bench/operator-bench.mjs [--servers 1000] [--workers 4]
// Prints the raw figures and a Markdown table with ratios.
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { freePort, startControlPlane, kubeconfigYaml } from '../dist/dev/control-plane.js';
import { startSshd } from '../dist/dev/sshd.js';
import { makeClients } from '../dist/kube/client.js';
import { makeSupervisedInformer } from '../dist/kube/informer.js';
import { createLogger } from '../dist/log.js';
import { serverResourceName } from '../dist/names.js';
import { log, numberArg, sleep, start } from './lib.mjs';

const execFileP = promisify(execFile);
const N = numberArg('servers', 1000);
const WORKERS = numberArg('workers', 4);
const ROOT = new URL('..', import.meta.url).pathname;
const API = 'forward.hub.jupyter.org/v1alpha1';
const dir = mkdtempSync(join(tmpdir(), 'jfo-operator-bench-'));
let master; // the sshd whose ControlMaster runs (it daemonises, so start() does not track it)
process.on('exit', () => {
  if (master) {
    try {
      execFileSync('ssh', sshArgs(master, ['-O', 'exit']), { stdio: 'ignore', timeout: 5000 });
    } catch {
      // already gone
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

async function kubectl(cp, args) {
  return (
    await execFileP(join(cp.binDir, 'kubectl'), [`--kubeconfig=${cp.kubeconfigPath}`, ...args], {
      cwd: ROOT,
    })
  ).stdout;
}

/** Runs `fn` over `items` with at most `limit` in flight. */
async function pool(items, limit, fn) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

// ------------------------------------------------------------------------------------------
// The anchor: the reference's per-server steps.

/** The shared sshd set-up (src/dev/sshd.ts); the ControlPath lives in this run's temp dir. */
async function startBenchSshd() {
  const sshd = await startSshd({ logLevel: 'ERROR' });
  return {
    stop: () => sshd.stop(),
    port: sshd.port,
    key: sshd.clientKeyPath,
    control: join(dir, 'control'),
  };
}

/** The reference's ssh options, with the ControlPath in our temp dir. */
function sshArgs(sshd, extra) {
  return [
    '-f',
    '-N',
    '-n',
    '-oServerAliveInterval=15',
    '-oStrictHostKeyChecking=accept-new',
    `-oUserKnownHostsFile=${join(dir, 'known_hosts')}`,
    '-oControlMaster=auto',
    '-oControlPersist=yes',
    `-oPort=${sshd.port}`,
    `-oControlPath=${sshd.control}`,
    `-oIdentityFile=${sshd.key}`,
    ...extra,
    'root@127.0.0.1',
  ];
}

/** The reference's first connect: a daemonised ControlMaster (its `ssh -f -N -n` step). */
async function connectMaster(sshd) {
  const master = spawn('ssh', sshArgs(sshd, []), { stdio: 'ignore' });
  const code = await new Promise((r) => master.once('exit', r));
  if (code !== 0) throw new Error(`ssh master exited with ${code}`);
}

let anchorRetries = 0;

async function anchor(sshd, core, namespace, concurrency) {
  const ids = Array.from({ length: N }, (_, i) => i);
  const t0 = performance.now();
  await pool(ids, concurrency, async (i) => {
    // A free local port, as the reference's random_port() picks one. Another process may take
    // it before ssh binds it (the reference then fails the spawn); the anchor retries.
    let port;
    for (let attempt = 0; ; attempt++) {
      port = await freePort();
      await execFileP('ssh', sshArgs(sshd, ['-O', 'check']));
      try {
        await execFileP('ssh', sshArgs(sshd, ['-O', 'forward', `-L0.0.0.0:${port}:127.0.0.1:9`]));
        break;
      } catch (err) {
        if (attempt >= 3) throw err;
        anchorRetries++;
      }
    }
    await core.createNamespacedService({
      namespace,
      body: {
        metadata: { name: `ref-${concurrency}-${i}`, labels: { component: 'singleuser-server' } },
        spec: {
          selector: { app: 'jupyterhub', component: 'hub' },
          ports: [{ name: 'http', port, targetPort: port, protocol: 'TCP' }],
        },
      },
    });
  });
  return (performance.now() - t0) / 1000;
}

// ------------------------------------------------------------------------------------------
// The operator.

function rssMb(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

function startOperator(cp, namespace) {
  const kc = join(dir, `kubeconfig-${namespace}`);
  writeFileSync(
    kc,
    kubeconfigYaml(cp.server, cp.caFile, { operator: cp.users.operator }, 'operator'),
  );
  const child = start(process.execPath, [join(ROOT, 'dist', 'cli.js'), 'operator'], {
    env: {
      PATH: process.env.PATH,
      KUBECONFIG: kc,
      JFO_NAMESPACE: namespace,
      JFO_HTTP_HOST: '127.0.0.1',
      JFO_HTTP_PORT: '0',
      JFO_WORKERS: String(WORKERS),
      JFO_LOG_LEVEL: 'warn',
      JFO_POD_NAME: `bench-${namespace}`,
      JFO_LEADER_ELECTION_NAMESPACE: 'jfo-system',
      JFO_LEADER_ELECTION_NAME: 'jupyterhub-forward-operator',
    },
  });
  let peak = 0;
  const sampler = setInterval(() => {
    if (child.exitCode === null) peak = Math.max(peak, rssMb(child.pid));
  }, 100);
  return { child, peak: () => peak, stop: () => (clearInterval(sampler), child.kill('SIGTERM')) };
}

/** Resolves when every server has status.runnerPort and its Service exists (watched, not polled). */
function converged(kc, namespace) {
  const withPort = new Set();
  const services = new Set();
  let done;
  const finished = new Promise((r) => (done = r));
  const check = () => withPort.size >= N && services.size >= N && done(performance.now());
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const quiet = createLogger('error');
  const fsInf = makeSupervisedInformer(kc, {
    name: 'ForwardedServer',
    path: `/apis/${API}/namespaces/${namespace}/forwardedservers`,
    list: () =>
      custom.listNamespacedCustomObject({
        group: 'forward.hub.jupyter.org',
        version: 'v1alpha1',
        namespace,
        plural: 'forwardedservers',
      }),
    log: quiet,
  });
  const svcInf = makeSupervisedInformer(kc, {
    name: 'Service',
    path: `/api/v1/namespaces/${namespace}/services`,
    list: () => core.listNamespacedService({ namespace }),
    log: quiet,
  });
  const onFs = (o) => {
    if (o.status?.runnerPort && o.status?.serviceName) withPort.add(o.metadata.name);
    check();
  };
  fsInf.on('add', onFs);
  fsInf.on('update', onFs);
  svcInf.on('add', (o) => (services.add(o.metadata.name), check()));
  return {
    start: () => Promise.all([fsInf.start(), svcInf.start()]),
    finished,
    stop: () => Promise.all([fsInf.stop(), svcInf.stop()]),
    progress: () => `${withPort.size} with port, ${services.size} Services`,
  };
}

function server(namespace, i) {
  const user = `user${i}`;
  return {
    apiVersion: API,
    kind: 'ForwardedServer',
    metadata: { name: serverResourceName(user, ''), namespace },
    spec: {
      user: { name: user, id: i },
      serverName: '',
      startId: 's1',
      jumpNodeRef: { name: 'hpc' },
      target: { host: `node${i % 50}.hpc`, port: 8888 },
    },
  };
}

async function scenario(cp, c, name, live) {
  const namespace = `bench-${name}`;
  await c.core.createNamespace({ body: { metadata: { name: namespace } } });
  await c.jumpNodes.create(namespace, {
    apiVersion: API,
    kind: 'JumpNode',
    metadata: { name: 'hpc', namespace },
    spec: {
      host: 'login.example.org',
      username: 'u',
      privateKeySecretRef: { name: 'k' },
      insecureSkipHostKeyCheck: true,
    },
  });
  const ids = Array.from({ length: N }, (_, i) => i);
  const create = () =>
    pool(ids, 20, (i) => c.forwardedServers.create(namespace, server(namespace, i)));
  const watch = converged(c.kc, namespace);
  await watch.start();
  let t0;
  let op;
  let createdAt;
  let idle;
  if (live) {
    op = startOperator(cp, namespace);
    await sleep(3000); // informers synced, leadership taken
    idle = rssMb(op.child.pid);
    t0 = performance.now();
    await create();
    createdAt = (performance.now() - t0) / 1000;
  } else {
    await create();
    t0 = performance.now();
    op = startOperator(cp, namespace);
  }
  const progress = setInterval(() => {
    log(`  ${name}: ${watch.progress()}`);
    if (op.child.output) log(op.child.output.slice(-2000));
    op.child.output = '';
  }, 5000);
  const end = await watch.finished;
  clearInterval(progress);
  await sleep(2000); // settle, then measure memory at rest with N servers
  const rest = rssMb(op.child.pid);
  const peak = op.peak();
  op.stop();
  await new Promise((r) => op.child.once('exit', r));
  await watch.stop();
  const seconds = (end - t0) / 1000;
  log(
    `${name}: ${N} servers with Service and runnerPort after ${seconds.toFixed(2)} s${createdAt ? ` (creating them took ${createdAt.toFixed(2)} s)` : ''}; RSS ${rest.toFixed(0)} MB at rest, peak ${peak.toFixed(0)} MB${idle ? `, ${idle.toFixed(0)} MB before the servers` : ''}; load average ${loadavg()[0].toFixed(2)}`,
  );
  return { seconds, createdAt, rest, peak, idle, load: loadavg()[0] };
}

async function main() {
  log(
    `Operator benchmark: ${N} servers, ${WORKERS} workers; ${cpus().length} CPUs (${cpus()[0]?.model}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`,
  );
  const cp = await startControlPlane();
  let sshd;
  for (const sig of ['SIGINT', 'SIGTERM'])
    process.once(sig, () => cp.stop().finally(() => process.exit(1)));
  try {
    await kubectl(cp, ['apply', '--server-side', '-k', 'crds/']);
    await kubectl(cp, ['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
    await kubectl(cp, ['apply', '--server-side', '-k', 'manifests/']);
    const kcAdmin = new k8s.KubeConfig();
    kcAdmin.loadFromFile(cp.kubeconfigPath);
    const c = makeClients(kcAdmin);

    const backlog = await scenario(cp, c, 'backlog', false);
    const live = await scenario(cp, c, 'live', true);

    sshd = await startBenchSshd();
    await connectMaster(sshd);
    master = sshd;
    await c.core.createNamespace({ body: { metadata: { name: 'reference' } } });
    const refSeq = await anchor(sshd, c.core, 'reference', 1);
    log(
      `reference, sequential: ${N} x (ssh -O check, ssh -O forward, create Service) in ${refSeq.toFixed(2)} s; load average ${loadavg()[0].toFixed(2)}`,
    );
    const refPar = await anchor(sshd, c.core, 'reference', 20);
    log(
      `reference, 20 in flight: ${refPar.toFixed(2)} s; forwards retried on a taken port: ${anchorRetries}`,
    );
    await execFileP('ssh', sshArgs(sshd, ['-O', 'exit'])).catch(() => undefined);
    master = undefined;

    const r = (x) => (x / refSeq).toFixed(2);
    const p = (x) => (x / refPar).toFixed(2);
    console.log(
      `\n| measure (${N} servers, one JumpNode) | seconds | / reference sequential | / reference 20 in flight | goal |`,
    );
    console.log('|---|---|---|---|---|');
    console.log(
      `| reference: ssh -O check + ssh -O forward + create Service, sequential | ${refSeq.toFixed(2)} | 1.00 | ${(refSeq / refPar).toFixed(2)} | |`,
    );
    console.log(
      `| reference: same, 20 in flight | ${refPar.toFixed(2)} | ${(refPar / refSeq).toFixed(2)} | 1.00 | |`,
    );
    console.log(
      `| operator, backlog (servers exist, operator starts) | ${backlog.seconds.toFixed(2)} | ${r(backlog.seconds)} | ${p(backlog.seconds)} | < 30 s |`,
    );
    console.log(
      `| operator, live (created with 20 in flight while it runs; creating took ${live.createdAt.toFixed(2)} s) | ${live.seconds.toFixed(2)} | ${r(live.seconds)} | ${p(live.seconds)} | < 30 s |`,
    );
    console.log(`\n| operator RSS | backlog | live | goal |`);
    console.log('|---|---|---|---|');
    console.log(
      `| at rest with ${N} servers | ${backlog.rest.toFixed(0)} MB | ${live.rest.toFixed(0)} MB | < 200 MB |`,
    );
    console.log(
      `| peak while converging | ${backlog.peak.toFixed(0)} MB | ${live.peak.toFixed(0)} MB | |`,
    );
    console.log(`| before the servers exist (synced, leading) | | ${live.idle.toFixed(0)} MB | |`);
    console.log(
      `\n1-minute load average at the end of each scenario: backlog ${backlog.load.toFixed(2)}, live ${live.load.toFixed(2)} (2 CPUs, shared with other work).`,
    );
  } finally {
    await cp.stop();
    await sshd?.stop();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
