#!/usr/bin/env node
// Tunnel runner benchmark: the runner (a real `node dist/cli.js runner` process against the local
// API server) next to the anchor measured in the same run, OpenSSH `ssh -N -L`, both through the
// same sshd on loopback with the same cipher (aes128-gcm@openssh.com). Measured, in interleaved
// rounds so that noise from other work on the machine hits both paths alike:
//   - bulk throughput: iperf3, 1 stream and 10 streams, upload and download (-R);
//   - small requests: wrk -t1 -c10 --latency against a small Node HTTP server (keep-alive), and
//     with `Connection: close` (every request opens a new forwarded connection);
//   - memory: the runner's RSS with 1000 idle forwards (and ssh's with 1000 -L forwards).
// The direct loopback path is measured once as the physical limit. With --floor, a minimal ssh2
// forwarder (bench/naive-forwarder.cjs) runs as a third path: the library's floor, which tells
// the runner's own overhead apart from ssh2's.
//
// With --before DIR, the runner of another built checkout (e.g. main's: `git archive main | tar -x
// -C DIR && cd DIR && npm ci && npm run build`) runs as a fourth path in the same rounds, for
// before/after tables measured under the same load.
//
// Usage: npm run build && node bench/runner-bench.mjs [--rounds 3] [--seconds 5] [--idle 1000]
//        [--only <test name part>] [--no-warmup] [--floor] [--before DIR] [--connections N]
//        [--node PATH] (the runners' Node.js binary)
//        [--profile DIR] (V8 CPU profiles) [--runner-flags '<node flags>'] (experiments: --trace-gc)
//        [--heap-snapshots DIR] (each idle runner's control-plane heap, after its RSS is read)
// Prints raw figures, then a Markdown table with medians and ratios (runner / OpenSSH).
import { execFile } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, startControlPlane } from '../dist/dev/control-plane.js';
import { startSshd } from '../dist/dev/sshd.js';
import { loadKubeConfig, makeClients } from '../dist/kube/client.js';
import { log, numberArg, sleep, start, stopAll, textArg } from './lib.mjs';

const execFileP = promisify(execFile);
const ROUNDS = numberArg('rounds', 3);
const SECONDS = numberArg('seconds', 5);
const IDLE = numberArg('idle', 1000);
const ONLY = textArg('only') ?? '';
const FLOOR = process.argv.includes('--floor');
/** Extra Node.js flags for the runner and floor processes. */
const RUNNER_FLAGS = (textArg('runner-flags') ?? '').split(' ').filter(Boolean);
const PROFILE_DIR = textArg('profile');
/** A heap snapshot of each idle runner's control-plane thread, taken after its RSS is read. */
const HEAP_DIR = textArg('heap-snapshots');
/** A built checkout of other code (e.g. main's): its runner is measured as a fourth path. */
const BEFORE = textArg('before');
/** The Node.js binary of the runner processes (e.g. the image's version; ssh2's addon built for it). */
const NODE = textArg('node') ?? process.execPath;
/** spec.runner.connections of the benchmark's JumpNode. */
const CONNECTIONS = numberArg('connections', 1);
const CIPHER = 'aes128-gcm@openssh.com';
const ROOT = new URL('..', import.meta.url).pathname;
const API = 'forward.hub.jupyter.org/v1alpha1';
const NS = 'bench';

// The runner's key file, as the kubelet writes the key Secret's volume.
const KEY_FILE = join(mkdtempSync(join(tmpdir(), 'jfo-runner-bench-key-')), 'ssh-privatekey');
let controlPlane;
let benchSshd;

async function waitPort(port, what) {
  for (let i = 0; i < 400; i++) {
    const ok = await new Promise((r) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => (s.destroy(), r(true)));
      s.on('error', () => r(false));
    });
    if (ok) return;
    await sleep(25);
  }
  throw new Error(`${what} did not listen on ${port}`);
}

async function startBenchSshd() {
  // Logging off and one cipher: the anchor and the forwarders under test negotiate the same.
  const sshd = await startSshd({ extraConfig: [`Ciphers ${CIPHER}`], logLevel: 'ERROR' });
  return {
    stop: () => sshd.stop(),
    pid: sshd.pid(),
    port: sshd.port,
    key: sshd.clientKeyPath,
    privateKey: sshd.clientPrivateKey,
    hostKey: sshd.hostPublicKey,
  };
}

const HTTP_SERVER = `require('http').createServer((q, s) => s.end('hello world\\n')).listen(+process.argv[1], '127.0.0.1')`;

async function setUpCluster(sshd) {
  const cp = await startControlPlane({ controllerManager: false });
  controlPlane = cp;
  await execFileP(join(cp.binDir, 'kubectl'), [
    `--kubeconfig=${cp.kubeconfigPath}`,
    'apply',
    '--server-side',
    '-k',
    join(ROOT, 'crds'),
  ]);
  await execFileP(join(cp.binDir, 'kubectl'), [
    `--kubeconfig=${cp.kubeconfigPath}`,
    'wait',
    '--for=condition=Established',
    'crd',
    '--all',
  ]);
  const c = makeClients(loadKubeConfig(cp.kubeconfigPath));
  await c.core.createNamespace({ body: { metadata: { name: NS } } });
  await c.core.createNamespacedSecret({
    namespace: NS,
    body: { metadata: { name: 'key' }, stringData: { 'ssh-privatekey': sshd.privateKey } },
  });
  // The runner reads its key from the Secret's volume; here, as a kubelet would write it.
  writeFileSync(KEY_FILE, sshd.privateKey, { mode: 0o600 });
  return { cp, c };
}

async function createJumpNode(c, name, sshd, runner = undefined) {
  await c.jumpNodes.create(NS, {
    apiVersion: API,
    kind: 'JumpNode',
    metadata: { name, namespace: NS },
    spec: {
      host: '127.0.0.1',
      port: sshd.port,
      username: 'root',
      privateKeySecretRef: { name: 'key' },
      hostKeys: [sshd.hostKey],
      ...(runner ? { runner } : {}),
      // The targets listen on this host's loopback, which a JumpNode must allow explicitly.
      targetPolicy: { allowedCIDRs: ['127.0.0.1/32'] },
    },
  });
}

async function createServer(c, jumpNode, name, target, runnerPort) {
  await c.forwardedServers.create(NS, {
    apiVersion: API,
    kind: 'ForwardedServer',
    metadata: { name, namespace: NS },
    spec: { user: { name, id: 1 }, startId: 's', jumpNodeRef: { name: jumpNode }, target },
  });
  await c.forwardedServers.applyStatus(NS, name, API, 'ForwardedServer', { runnerPort }, 'bench');
}

function startRunner(cp, jumpNode, extraEnv = {}, root = ROOT) {
  const flags = [...RUNNER_FLAGS];
  if (PROFILE_DIR)
    flags.push('--cpu-prof', `--cpu-prof-dir=${join(PROFILE_DIR, root === ROOT ? '' : 'before')}`);
  if (HEAP_DIR && jumpNode === 'idle') {
    const dir = join(
      HEAP_DIR,
      `${root === ROOT ? 'runner' : 'before'}-${extraEnv.MALLOC_ARENA_MAX ? 'arenas' : 'plain'}`,
    );
    mkdirSync(dir, { recursive: true });
    flags.push('--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${dir}`);
  }
  const child = start(NODE, [...flags, join(root, 'dist', 'cli.js'), 'runner'], {
    env: {
      PATH: process.env.PATH,
      KUBECONFIG: cp.kubeconfigPath,
      JFO_NAMESPACE: NS,
      JFO_JUMPNODE: jumpNode,
      JFO_POD_NAME: `${jumpNode}-${root === ROOT ? 'bench' : 'before'}`,
      JFO_HTTP_PORT: '0',
      JFO_HTTP_HOST: '127.0.0.1',
      JFO_LISTEN_HOST: '127.0.0.1',
      JFO_LOG_LEVEL: 'debug',
      JFO_STATUS_QPS: '200',
      JFO_STATUS_BURST: '200',
      JFO_PRIVATE_KEY_FILE: KEY_FILE,
      ...extraEnv,
    },
  });
  return child;
}

async function iperf(port, streams, reverse) {
  const args = [
    '-c',
    '127.0.0.1',
    '-p',
    String(port),
    '-t',
    String(SECONDS),
    '-P',
    String(streams),
    '-J',
  ];
  if (reverse) args.push('-R');
  // The iperf3 server runs one test at a time and may still be finishing the previous one.
  for (let attempt = 1; ; attempt++) {
    const { stdout } = await execFileP('iperf3', args, { maxBuffer: 64 << 20 }).catch((e) => e);
    const result = JSON.parse(stdout || '{}');
    if (result.end?.sum_received) return result.end.sum_received.bits_per_second / 1e9;
    if (attempt >= 5) throw new Error(`iperf3 failed: ${result.error ?? stdout}`);
    log(`iperf3: ${result.error ?? 'no result'}; retrying`);
    await sleep(1000);
  }
}

async function wrk(port, close) {
  const args = ['-t1', '-c10', `-d${SECONDS}s`, '--latency'];
  if (close) args.push('-H', 'Connection: close');
  args.push(`http://127.0.0.1:${port}/`);
  const { stdout } = await execFileP('wrk', args);
  const ms = (label) => {
    const m = new RegExp(`${label}\\s+([\\d.]+)(us|ms|s)`).exec(stdout);
    if (!m) return NaN;
    return Number(m[1]) * { us: 0.001, ms: 1, s: 1000 }[m[2]];
  };
  const errors = /Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)/.exec(stdout);
  return {
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)[1]),
    p50: ms('50%'),
    p99: ms('99%'),
    errors: errors ? errors[0] : '',
  };
}

/** CPU seconds (user + system) used so far by a process and its descendants. */
function cpuSeconds(root) {
  const stat = new Map();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const t = readFileSync(`/proc/${e}/stat`, 'utf8');
      const f = t.slice(t.lastIndexOf(')') + 2).split(' ');
      stat.set(Number(e), { ppid: Number(f[1]), cpu: Number(f[11]) + Number(f[12]) });
    } catch {
      // gone
    }
  }
  let total = 0;
  const walk = (pid) => {
    total += stat.get(pid)?.cpu ?? 0;
    for (const [child, s] of stat) if (s.ppid === pid) walk(child);
  };
  walk(root);
  return total / 100;
}

/** Runs fn and adds the CPU seconds the forwarder and sshd used meanwhile. */
async function withCpu(pids, fn) {
  const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuSeconds(pid)]));
  const result = await fn();
  const cpu = Object.fromEntries(
    Object.entries(pids).map(([k, pid]) => [k, +(cpuSeconds(pid) - before[k]).toFixed(2)]),
  );
  return typeof result === 'object' ? { ...result, cpu } : { value: result, cpu };
}

const loadText = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function rssMiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]) / 1024;
}

async function metric(runner, name) {
  const port = Number(
    /"port":(\d+)/.exec(runner.output.split('\n').find((l) => l.includes('Serving health')))[1],
  );
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  const line = (await res.text()).split('\n').find((l) => l.startsWith(name));
  return line ? Number(line.split(' ').pop()) : undefined;
}

async function throughputAndRequests(paths) {
  const tests = [
    ['iperf3 1 stream, Gbit/s', (p) => iperf(p.iperf, 1, false)],
    ['iperf3 1 stream -R, Gbit/s', (p) => iperf(p.iperf, 1, true)],
    ['iperf3 10 streams, Gbit/s', (p) => iperf(p.iperf, 10, false)],
    ['iperf3 10 streams -R, Gbit/s', (p) => iperf(p.iperf, 10, true)],
    ['wrk keep-alive', (p) => wrk(p.http, false)],
    ['wrk Connection: close', (p) => wrk(p.http, true)],
  ];
  const raw = {};
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [name, run] of tests.filter(([n]) => n.includes(ONLY))) {
      // Alternate which path goes first in each round.
      const order = round % 2 ? ['runner', 'openssh'] : ['openssh', 'runner'];
      if (paths.floor) order.splice(round % 3, 0, 'floor');
      if (paths.before) order.splice((round + 1) % (order.length + 1), 0, 'before');
      for (const path of order) {
        const r = await withCpu({ forwarder: paths[path].pid, sshd: paths.sshdPid }, () =>
          run(paths[path]),
        );
        ((raw[name] ??= {})[path] ??= []).push(r);
        log(`round ${round} ${name} ${path}: ${JSON.stringify(r)} (load ${loadText()})`);
      }
    }
  }
  return raw;
}

/** Signals the runner to write a heap snapshot and waits until the file is complete. */
async function heapSnapshot(runner) {
  const dir = /--diagnostic-dir=(.*)/.exec(
    runner.spawnargs.find((a) => a.startsWith('--diagnostic-dir=')),
  )[1];
  runner.kill('SIGUSR2');
  for (let i = 0; i < 240; i++) {
    await sleep(500);
    const file = readdirSync(dir).find((f) => f.endsWith('.heapsnapshot'));
    // V8 writes the snapshot in one go; the JSON ends with its strings array.
    if (file && readFileSync(join(dir, file), 'utf8').trimEnd().endsWith(']}')) {
      log(`heap snapshot: ${join(dir, file)}`);
      return;
    }
  }
  log(`heap snapshot: none in ${dir} after 120 s`);
}

/** RSS of an idle runner with IDLE forwards, after the first probes and status writes settled. */
async function idleRunner(cp, env, root = ROOT) {
  const runner = startRunner(cp, 'idle', env, root);
  for (let i = 0; i < 600; i++) {
    await sleep(500);
    if (
      runner.output.includes('Serving health') &&
      (await metric(runner, 'jfo_runner_forwards{state="listening"}')) === IDLE
    )
      break;
  }
  await sleep(45_000);
  const mib = async (name) => (await metric(runner, name)) / 2 ** 20;
  const result = {
    forwards: await metric(runner, 'jfo_runner_forwards{state="listening"}'),
    rss: rssMiB(runner.pid),
    heapUsed: await mib('jfo_runner_nodejs_heap_size_used_bytes'),
    heapTotal: await mib('jfo_runner_nodejs_heap_size_total_bytes'),
    external: await mib('jfo_runner_nodejs_external_memory_bytes'),
  };
  log(`idle runner ${root} ${JSON.stringify(env)}: ${JSON.stringify(result)}`);
  if (HEAP_DIR) await heapSnapshot(runner);
  runner.kill('SIGKILL');
  await new Promise((r) => (runner.exitCode !== null ? r() : runner.once('exit', r)));
  return result;
}

async function idleMemory(cp, c, sshd, target) {
  await createJumpNode(c, 'idle', sshd);
  // Below the ephemeral range (32768-60999): no outgoing connection takes one meanwhile.
  const ports = [];
  for (let p = 21000; ports.length < IDLE && p < 32768; p++) {
    const free = await new Promise((r) => {
      const s = net.createServer().once('error', () => r(false));
      s.listen(p, '127.0.0.1', () => s.close(() => r(true)));
    });
    if (free) ports.push(p);
  }
  for (let i = 0; i < ports.length; i += 50)
    await Promise.all(
      ports.slice(i, i + 50).map((p, j) => createServer(c, 'idle', `idle-${i + j}`, target, p)),
    );
  // As shipped, and with glibc limited to two malloc arenas (see docs/bench-runner.md).
  const plain = await idleRunner(cp, {});
  const arenas = await idleRunner(cp, { MALLOC_ARENA_MAX: '2' });
  const beforeArenas = BEFORE ? await idleRunner(cp, { MALLOC_ARENA_MAX: '2' }, BEFORE) : undefined;
  const args = ['-N', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null'];
  args.push('-i', sshd.key, '-p', String(sshd.port));
  for (const p of ports) args.push('-L', `127.0.0.1:${p + 10000}:${target.host}:${target.port}`);
  const ssh = start('ssh', [...args, 'root@127.0.0.1']);
  await waitPort(ports[ports.length - 1] + 10000, 'ssh -L (1000 forwards)');
  await sleep(2000);
  return { forwards: plain.forwards, plain, arenas, beforeArenas, sshRss: rssMiB(ssh.pid) };
}

/** Paths measured besides the runner and OpenSSH, as extra columns. */
const EXTRA = [
  ...(BEFORE ? [['before', 'runner before']] : []),
  ...(FLOOR ? [['floor', 'ssh2 floor']] : []),
];

function table(raw, direct, memory) {
  const rows = [
    `| measure | runner (median) | OpenSSH \`ssh -L\` (median) | ratio runner/OpenSSH | direct loopback |${EXTRA.map(([, l]) => ` ${l} (median) | ratio ${l}/OpenSSH |`).join('')}`,
    `|---|---|---|---|---|${EXTRA.map(() => '---|---|').join('')}`,
  ];
  const f = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
  const row = (label, r, o, d, digits = 2, extra = {}) =>
    rows.push(
      `| ${label} | ${f(r, digits)} | ${f(o, digits)} | **${f(r / o)}x** | ${f(d, digits)} |${EXTRA.map(([k]) => ` ${f(extra[k], digits)} | ${f(extra[k] / o)}x |`).join('')}`,
    );
  for (const [name, v] of Object.entries(raw)) {
    const m = (path, fn) => (v[path] ? median(v[path].map(fn)) : NaN);
    const ex = (fn) => Object.fromEntries(EXTRA.map(([k]) => [k, m(k, fn)]));
    if (name.startsWith('iperf3')) {
      row(
        name,
        m('runner', (x) => x.value),
        m('openssh', (x) => x.value),
        direct[name],
        2,
        ex((x) => x.value),
      );
      // CPU seconds per GB moved: forwarder process, and sshd (all its processes).
      const perGB = (x, who) => x.cpu[who] / ((x.value * SECONDS) / 8);
      for (const who of ['forwarder', 'sshd'])
        row(
          `${name.replace(', Gbit/s', '')}: ${who} CPU s/GB (lower is better)`,
          m('runner', (x) => perGB(x, who)),
          m('openssh', (x) => perGB(x, who)),
          NaN,
          2,
          ex((x) => perGB(x, who)),
        );
    } else {
      for (const [k, label, better] of [
        ['rps', 'req/s', 'higher'],
        ['p50', 'p50 ms', 'lower'],
        ['p99', 'p99 ms', 'lower'],
      ])
        row(
          `${name} ${label} (${better} is better)`,
          m('runner', (x) => x[k]),
          m('openssh', (x) => x[k]),
          direct[name]?.[k],
          k === 'rps' ? 0 : 3,
          ex((x) => x[k]),
        );
      const per1k = (x) => (x.cpu.forwarder * 1000) / ((x.rps * SECONDS) / 1000);
      row(
        `${name}: forwarder CPU ms per 1000 requests (lower is better)`,
        m('runner', per1k),
        m('openssh', per1k),
        NaN,
        2,
        ex(per1k),
      );
    }
  }
  if (memory) {
    const mem = (label, m) =>
      rows.push(
        `| RSS with ${m.forwards} idle forwards${label}, MiB (goal < 150 MB) | ${f(m.rss, 1)} (JS heap ${f(m.heapUsed, 1)} used / ${f(m.heapTotal, 1)} total) | ${f(memory.sshRss, 1)} | ${f(m.rss / memory.sshRss)}x | |`,
      );
    mem('', memory.plain);
    mem(', MALLOC_ARENA_MAX=2', memory.arenas);
    if (memory.beforeArenas) mem(', MALLOC_ARENA_MAX=2, runner before', memory.beforeArenas);
  }
  return rows.join('\n');
}

async function main() {
  log(
    `Machine: ${cpus().length} x ${cpus()[0].model}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}, load average ${loadText()}`,
  );
  const sshd = await startBenchSshd();
  benchSshd = sshd;
  const [iperfPort, httpPort] = [await freePort(), await freePort()];
  start('iperf3', ['-s', '-p', String(iperfPort)]);
  start(process.execPath, ['-e', HTTP_SERVER, String(httpPort)]);
  await waitPort(iperfPort, 'iperf3');
  await waitPort(httpPort, 'http server');
  const { cp, c } = await setUpCluster(sshd);
  // The Deployment builder passes spec.runner.connections as JFO_SSH_CONNECTIONS; here the
  // benchmark starts the runner itself and passes both.
  await createJumpNode(c, 'bench', sshd, { connections: CONNECTIONS });
  const runnerPorts = { iperf: await freePort(), http: await freePort() };
  await createServer(
    c,
    'bench',
    'iperf',
    { host: '127.0.0.1', port: iperfPort },
    runnerPorts.iperf,
  );
  await createServer(c, 'bench', 'http', { host: '127.0.0.1', port: httpPort }, runnerPorts.http);
  const runner = startRunner(cp, 'bench', { JFO_SSH_CONNECTIONS: String(CONNECTIONS) });
  await waitPort(runnerPorts.iperf, 'runner').catch((err) => {
    throw new Error(`${err.message}: ${runner.output}`);
  });
  await waitPort(runnerPorts.http, 'runner');
  const sshPorts = { iperf: await freePort(), http: await freePort() };
  const ssh = start('ssh', [
    '-N',
    '-c',
    CIPHER,
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    'UserKnownHostsFile=/dev/null',
    '-i',
    sshd.key,
    '-p',
    String(sshd.port),
    '-L',
    `127.0.0.1:${sshPorts.iperf}:127.0.0.1:${iperfPort}`,
    '-L',
    `127.0.0.1:${sshPorts.http}:127.0.0.1:${httpPort}`,
    'root@127.0.0.1',
  ]);
  await waitPort(sshPorts.iperf, 'ssh -L');
  const floorPorts = { iperf: await freePort(), http: await freePort() };
  const floor = FLOOR
    ? start(process.execPath, [
        ...RUNNER_FLAGS,
        ...(PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}/floor`] : []),
        join(ROOT, 'bench', 'naive-forwarder.cjs'),
        '127.0.0.1',
        String(sshd.port),
        sshd.key,
        CIPHER,
        `${floorPorts.iperf}:127.0.0.1:${iperfPort}`,
        `${floorPorts.http}:127.0.0.1:${httpPort}`,
      ])
    : undefined;
  if (floor) await waitPort(floorPorts.iperf, 'ssh2 floor');
  const beforePorts = { iperf: await freePort(), http: await freePort() };
  let before;
  if (BEFORE) {
    if (!existsSync(join(BEFORE, 'dist', 'cli.js')))
      throw new Error(`--before ${BEFORE}: no dist/cli.js there (npm ci && npm run build first)`);
    await createJumpNode(c, 'before', sshd);
    const target = (port) => ({ host: '127.0.0.1', port });
    await createServer(c, 'before', 'iperf-before', target(iperfPort), beforePorts.iperf);
    await createServer(c, 'before', 'http-before', target(httpPort), beforePorts.http);
    before = startRunner(cp, 'before', {}, BEFORE);
    await waitPort(beforePorts.iperf, 'runner before').catch((err) => {
      throw new Error(`${err.message}: ${before.output}`);
    });
  }
  // Warm up both paths (JIT, TCP buffers).
  if (!process.argv.includes('--no-warmup'))
    for (const p of [
      runnerPorts,
      sshPorts,
      ...(floor ? [floorPorts] : []),
      ...(before ? [beforePorts] : []),
    ])
      await iperf(p.iperf, 1, false).catch(() => 0);
  const negotiated = runner.output.split('\n').find((l) => l.includes('Negotiated SSH algorithms'));
  log(`runner: ${negotiated}`);

  const direct = {};
  const directPaths = { iperf: iperfPort, http: httpPort };
  direct['iperf3 1 stream, Gbit/s'] = await iperf(directPaths.iperf, 1, false);
  direct['iperf3 1 stream -R, Gbit/s'] = await iperf(directPaths.iperf, 1, true);
  direct['iperf3 10 streams, Gbit/s'] = await iperf(directPaths.iperf, 10, false);
  direct['iperf3 10 streams -R, Gbit/s'] = await iperf(directPaths.iperf, 10, true);
  direct['wrk keep-alive'] = await wrk(directPaths.http, false);
  direct['wrk Connection: close'] = await wrk(directPaths.http, true);
  log(`direct: ${JSON.stringify(direct)}`);

  const raw = await throughputAndRequests({
    runner: { ...runnerPorts, pid: runner.pid },
    openssh: { ...sshPorts, pid: ssh.pid },
    ...(floor ? { floor: { ...floorPorts, pid: floor.pid } } : {}),
    ...(before ? { before: { ...beforePorts, pid: before.pid } } : {}),
    sshdPid: sshd.pid,
  });
  if (ssh.output.trim()) log(`ssh -L said: ${ssh.output.slice(-3000)}`);
  log(
    `runner RSS after the throughput runs: ${rssMiB(runner.pid).toFixed(1)} MiB; ssh: ${rssMiB(ssh.pid).toFixed(1)} MiB`,
  );
  if (RUNNER_FLAGS.length) {
    // What the flags made the processes print (e.g. --trace-gc); GREP=text keeps matching lines.
    const own = (p) =>
      p.output
        .split('\n')
        .filter((l) => l && !l.startsWith('{') && l.includes(process.env.GREP ?? ''))
        .slice(-100)
        .join('\n');
    log(`runner's own output (last 100 lines):\n${own(runner)}`);
    if (floor) log(`floor's output (last 100 lines):\n${own(floor)}`);
  }
  runner.kill('SIGTERM');
  ssh.kill('SIGTERM');
  floor?.kill('SIGTERM');
  before?.kill('SIGTERM');
  await new Promise((r) => (runner.exitCode !== null ? r() : runner.once('exit', r)));
  const memory =
    IDLE > 0 ? await idleMemory(cp, c, sshd, { host: '127.0.0.1', port: httpPort }) : undefined;
  log(`memory: ${JSON.stringify(memory)}`);
  process.stdout.write(`\n${JSON.stringify({ raw, direct, memory, negotiated })}\n\n`);
  process.stdout.write(`${table(raw, direct, memory)}\n`);
  process.stdout.write(`\nLoad average at the end (1, 5, 15 min): ${loadText()}\n`);
}

main()
  .catch((err) => {
    log(`Benchmark failed: ${err.stack ?? err}`);
    process.exitCode = 1;
  })
  .finally(async () => {
    stopAll();
    await controlPlane?.stop();
    await benchSshd?.stop();
    process.exit();
  });
