// The whole system on this machine for the soak and the scale benchmark, built from the pieces of
// the end-to-end stack and the demo (test/harness/stack.ts, loaded through tsx): a control plane
// of its own, manifests/ applied, the operator and facade pods, a remote site (sshd as the jump
// node, a compute node behind it), the JumpNode and its runner pods. On top of the stack: more
// operator and runner replicas, and "pod slots" that can be SIGKILLed and run again the way a
// kubelet restarts a crashed container (the pod is deleted, its ReplicaSet makes a new one).
//
// The components run the built code (dist/cli.js); `npm run build` first.
//
// Runner replicas share the host's network, so each listens on its own loopback address
// (`listenPrefix` + 1, 2, ...), as each runner pod has its own pod IP in a cluster; a random
// prefix per run keeps them off 127.0.0.1, where other test runs on the machine open runner ports
// too, and off any other run's. The operator's status.url names the first replica's address.
import { register } from 'tsx/esm/api';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { log } from './lib.mjs';

const ROOT = new URL('..', import.meta.url).pathname;
process.chdir(ROOT); // the harness finds dist/ and .venv relative to the working directory
register();
const { startControlPlane, freePort } = await import('../src/dev/control-plane.ts');
const { hasExited } = await import('../src/dev/process.ts');
const { kubectl } = await import('../test/harness/kubectl.ts');
const { runPod } = await import('../test/harness/kubelet.ts');
const { startStack, OPERATOR_NAMESPACE } = await import('../test/harness/stack.ts');
const { startTargetServer } = await import('../test/harness/netns.ts');
const { ensureDist } = await import('../test/harness/util.ts');
const { runnerName } = await import('../dist/names.js');
/** Harness helpers the benchmarks use directly. */
export const harness = { leaks: await import('../test/harness/leaks.ts') };

export const NAMESPACE = 'jupyterhub';
const OPERATOR_DEPLOYMENT = 'jupyterhub-forward-operator';
const FACADE_DEPLOYMENT = 'jupyterhub-forward-facade';

/**
 * `127.a.b.` with random a, b: runner ports are a hash of the server's name, so a run must not
 * share its addresses with another run (or the leftovers of a killed one).
 */
function randomLoopbackPrefix() {
  const [a, b] = randomBytes(2);
  return `127.${50 + (a % 200)}.${b}.`;
}

/** RSS of a process in MB (NaN when it is gone). */
export function rssMb(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/**
 * Starts the system. `runnerEnv` is added to every runner pod's environment (e.g. a shorter
 * probe interval), `operatorEnv` to the operators'.
 */
export async function startSystem({
  operators = 2,
  runners = 2,
  logDir,
  runnerEnv = {},
  operatorEnv = {},
  targets = 1,
  listenPrefix = randomLoopbackPrefix(),
}) {
  mkdirSync(logDir, { recursive: true });
  await ensureDist();
  const cp = await startControlPlane();
  const cleanups = [() => cp.stop()];
  const stopAll = async () => {
    for (const c of cleanups.splice(0).reverse())
      await c().catch((e) => log(`clean-up: ${e?.message ?? e}`));
  };
  try {
    const { restartApiServer: _r, stop: _s, ...cluster } = cp;
    await kubectl(cluster, ['create', 'namespace', NAMESPACE]);
    const stack = await startStack({
      cluster,
      namespace: NAMESPACE,
      shared: false,
      logDir,
      log: (m) => log(`[stack] ${m}`),
    });
    cleanups.push(() => stack.close());
    const sys = await extend(cp, stack, {
      operators,
      runners,
      logDir,
      runnerEnv,
      operatorEnv,
      targets,
      listenPrefix,
    });
    cleanups.push(() => sys.stopSlots());
    return { ...sys, cp, stack, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

async function extend(cp, stack, o) {
  const { admin } = stack;
  const api = { server: cp.server, caFile: cp.caFile };
  const site = stack.site;
  const facadePort = Number(new URL(stack.facadeUrl).port);

  const listenHost = (i) => `${o.listenPrefix}${i + 1}`;
  // Pod slots.
  const slots = [];
  const slot = (kind, index, pod, podOptions) => {
    const s = { kind, index, pod, podOptions, name: `${kind}-${index}` };
    slots.push(s);
    return s;
  };
  const opOptions = (i) => ({
    admin,
    api,
    namespace: OPERATOR_NAMESPACE,
    deployment: OPERATOR_DEPLOYMENT,
    env: { JFO_LOCAL_URL_HOST: listenHost(0), ...o.operatorEnv },
    logFile: join(o.logDir, `operator-${i}.log`),
  });
  const runnerOptions = (i) => ({
    admin,
    api,
    namespace: NAMESPACE,
    deployment: runnerName(stack.jumpNode),
    env: { JFO_LISTEN_HOST: listenHost(i), ...o.runnerEnv },
    logFile: join(o.logDir, `runner-${i}.log`),
  });
  const facadeOptions = {
    admin,
    api,
    namespace: NAMESPACE,
    deployment: FACADE_DEPLOYMENT,
    httpPort: facadePort,
    logFile: join(o.logDir, 'facade-0.log'),
  };
  // The stack's operator and runner are replaced by slots with the settings below.
  await stack.operator.stop();
  await stack.runner.stop();
  const ops = [];
  const rns = [];
  // manifests/ run two operator replicas (leader election); more would need a scale first.
  for (let i = 0; i < Math.min(o.operators, 2); i++)
    ops.push(slot('operator', i, await runPod(opOptions(i)), opOptions(i)));
  const facade = slot('facade', 0, stack.facade, facadeOptions);
  await admin.jumpNodes.patch(NAMESPACE, stack.jumpNode, {
    spec: { runner: { replicas: o.runners } },
  });
  for (let i = 0; i < o.runners; i++)
    rns.push(slot('runner', i, await runPod(runnerOptions(i)), runnerOptions(i)));

  // Notebook-like targets on the compute node.
  const targets = [];
  for (let i = 0; i < o.targets; i++) {
    const port = 9000 + i;
    targets.push({
      host: site.computeAddress,
      port,
      server: await startTargetServer(site.topology, site.computeNetns, site.computeAddress, port),
    });
  }

  return {
    admin,
    site,
    namespace: NAMESPACE,
    jumpNode: stack.jumpNode,
    facadeUrl: stack.facadeUrl,
    tokens: stack.tokens,
    operators: ops,
    runners: rns,
    facade,
    targets,
    /** Where runner replica i listens. */
    listenHost: (s) => s.podOptions.env.JFO_LISTEN_HOST,
    alive: (s) => !hasExited(s.pod.child),
    /** SIGKILL, like a crash. */
    kill(s) {
      s.pod.child.kill('SIGKILL');
    },
    /** What a kubelet does after a crash: the pod goes, a new one of the ReplicaSet runs. */
    async restart(s) {
      await s.pod.stop('SIGKILL');
      s.pod = await runPod(s.podOptions);
    },
    /** The operator replica holding the leader Lease, if any. */
    async leader() {
      const lease = await admin.coordination.readNamespacedLease({
        name: OPERATOR_DEPLOYMENT,
        namespace: OPERATOR_NAMESPACE,
      });
      return ops.find((s) => s.pod.pod === lease.spec?.holderIdentity);
    },
    async stopSlots() {
      for (const t of targets) await t.server.stop();
      for (const s of slots) await s.pod.stop('SIGTERM').catch(() => undefined);
    },
    freePort,
  };
}
