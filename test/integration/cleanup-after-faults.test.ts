// Clean-up after faults: the whole stack (test/harness/stack.ts) and `npm run demo` stop and
// remove everything after each fault the soak (bench/soak.mjs) injects: sshd killed by a signal
// from outside (its session processes outlive it), the API server restarted or killed, the
// runner, operator and facade SIGKILLed, a JumpNode restart. Afterwards no process of theirs
// runs, no network namespace of theirs exists and their temporary directory is empty.
//
// Each part runs in a temporary directory of its own as TMPDIR, so the check sees only what it
// made (other suites create jfo-* directories in the shared one at the same time). Both use a
// control plane of their own: the API server is restarted or killed.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startControlPlane, type ControlPlane } from '../../src/dev/control-plane.js';
import { exitOf, hasExited } from '../../src/dev/process.js';
import { serverResourceName } from '../../src/names.js';
import { kubectl } from '../harness/kubectl.js';
import {
  namespacesOf,
  processTree,
  survivors,
  TreeRecorder,
  type ProcessEntry,
} from '../harness/leaks.js';
import { startStack, type Stack } from '../harness/stack.js';
import { ensureDist, waitFor } from '../harness/util.js';

jest.setTimeout(600_000);

const ROOT = resolve(__dirname, '../..');
const NS = 'cleanup';
/** Bounds the wait for clean-up (a hang fails the test instead of stalling the run). */
const CLEANUP_BOUND_MS = 180_000;
// sshd's process titles: the listener, and the processes of a login session.
const SSHD_LISTENER = /^sshd: .*\[listener\]/;
const SSHD_SESSION = /^sshd: [^/]/;

const sharedTmp = tmpdir();
let ownTmp: string | undefined;
let cp: ControlPlane | undefined;
let stack: Stack | undefined;
let demo: ChildProcess | undefined;

beforeEach(() => {
  ownTmp = mkdtempSync(join(sharedTmp, 'jfo-cleanup-test-'));
});

afterEach(async () => {
  // Only reached with something left when the test failed: stop what we can.
  await stack?.close().catch(() => undefined);
  await cp?.stop().catch(() => undefined);
  if (demo && !hasExited(demo)) demo.kill('SIGKILL');
  stack = cp = demo = undefined;
  process.env.TMPDIR = sharedTmp;
  if (ownTmp) rmSync(ownTmp, { recursive: true, force: true });
});

const kill = (pid: number | undefined, signal: NodeJS.Signals = 'SIGKILL') => {
  if (!pid) throw new Error('no such process');
  process.kill(pid, signal);
};

function leftovers(seen: ProcessEntry[], tmp: string) {
  return {
    processes: survivors(seen).map((p) => `${p.pid} ${p.cmd}`),
    namespaces: namespacesOf(seen.map((p) => p.pid)),
    // tsx keeps its compile cache in TMPDIR (not ours to remove).
    tempEntries: readdirSync(tmp).filter((n) => !n.startsWith('tsx-')),
  };
}

const NOTHING = { processes: [], namespaces: [], tempEntries: [] };

/** A server through the facade, as the spawner makes it; resolves once it is Ready. */
async function readyServer(s: Stack, user: string, target: { host: string; port: number }) {
  const res = await fetch(`${s.facadeUrl}/api/forwardedservers/${user}`, {
    method: 'PUT',
    headers: { Authorization: `token ${s.tokens.spawner}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ userId: 1, startId: 's1', target, jumpNode: 'hpc' }),
  });
  expect(res.status).toBe(201);
  await waitFor(`${user}'s server to be Ready`, async () => {
    const fs = await s.admin.forwardedServers.get(s.namespace, serverResourceName(user, ''));
    return fs.status?.phase === 'Ready';
  });
}

it('the stack and its control plane clean up completely after every fault kind', async () => {
  process.env.TMPDIR = ownTmp;
  // What runs already (jest, the shared control plane) is not this test's to clean up.
  const baseline = processTree(process.pid);
  await ensureDist();
  cp = await startControlPlane();
  const { restartApiServer: _r, stop: _s, ...cluster } = cp;
  await kubectl(cluster, ['create', 'namespace', NS]);
  stack = await startStack({ cluster, namespace: NS, shared: false });
  const s = stack;
  const notebook = await s.site.startNotebook(8888);
  await readyServer(s, 'alice', { host: s.site.computeAddress, port: 8888 });
  const tree = new TreeRecorder(process.pid, baseline);
  const before = tree.look();
  // The runner's SSH session runs as sshd processes in the jump node's namespace.
  expect(before.filter((p) => SSHD_SESSION.test(p.cmd)).length).toBeGreaterThan(0);

  // The JumpNode restart (annotation through the facade).
  const restart = await fetch(`${s.facadeUrl}/api/recreateforward/hpc`, {
    headers: { Authorization: `token ${s.tokens.nodeRestart}` },
  });
  expect(restart.status).toBe(202);
  // sshd killed by a signal from outside the harness: its sessions live on, orphaned.
  kill(s.site.sshd.pid());
  await waitFor('sshd to be gone', () => !tree.look().some((p) => p.pid === s.site.sshd.pid()));
  // The API server restarts; then the runner, the operator and the facade are SIGKILLed.
  await cp.restartApiServer();
  tree.look();
  for (const pod of [s.runner, s.operator, s.facade]) {
    kill(pod.child.pid);
    await exitOf(pod.child);
  }
  tree.look();

  await bounded('the stack to clean up', async () => {
    await notebook.stop();
    await s.close();
    await cp!.stop();
  });
  stack = cp = undefined;
  expect(leftovers(tree.all(), ownTmp!)).toEqual(NOTHING);
});

it('SIGTERM to `npm run demo` cleans up completely after every fault kind', async () => {
  await ensureDist();
  const child = spawn('npm', ['run', 'demo'], {
    cwd: ROOT,
    env: { ...process.env, TMPDIR: ownTmp },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  demo = child;
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  await waitFor(
    'the demo to run',
    () => {
      if (hasExited(child)) throw new Error(`the demo exited:\n${out}`);
      return out.includes('Press Ctrl-C');
    },
    300_000,
    500,
  );
  const tree = new TreeRecorder(child.pid!);
  const find = (what: RegExp) => {
    const hits = tree.look().filter((p) => what.test(p.cmd));
    if (hits.length !== 1) throw new Error(`${hits.length} processes match ${what}`);
    return hits[0]!.pid;
  };
  expect(tree.look().filter((p) => SSHD_SESSION.test(p.cmd)).length).toBeGreaterThan(0);

  // sshd killed by a signal (the case that made clean-up hang), the runner, operator and
  // facade SIGKILLed, and the API server killed: clean-up must not need it.
  kill(find(SSHD_LISTENER));
  for (const component of ['runner', 'operator', 'facade'])
    kill(find(new RegExp(`dist/cli\\.js ${component}$`)));
  kill(find(/kube-apiserver /));
  tree.look();

  kill(child.pid, 'SIGTERM');
  await bounded('npm run demo to exit', () => exitOf(child));
  await waitFor(
    'every process of the demo to end',
    () => survivors(tree.all()).length === 0,
    CLEANUP_BOUND_MS,
    500,
  );
  demo = undefined;
  expect(out).toContain('[demo] Done');
  expect(leftovers(tree.all(), ownTmp!)).toEqual(NOTHING);
});

/** Runs `fn`; fails (instead of hanging the run) if it takes longer than CLEANUP_BOUND_MS. */
async function bounded(what: string, fn: () => Promise<void>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what}: still running after ${CLEANUP_BOUND_MS} ms`)),
      CLEANUP_BOUND_MS,
    );
  });
  try {
    await Promise.race([fn(), hang]);
  } finally {
    clearTimeout(timer);
  }
}
