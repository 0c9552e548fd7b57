// The whole system on one machine, as the end-to-end test and `npm run demo` run it:
//
//   control plane ── `kubectl apply -k` of an overlay of manifests/ (CRDs, RBAC, operator, facade)
//   operator, facade ── pods of their Deployments, run locally by the test kubelet (kubelet.ts)
//   remote site ── sshd as the jump node, a compute node behind it (remote-site.ts)
//   JumpNode + key Secret ── the operator creates the runner Deployment, whose pod the test
//                            kubelet runs too, with the RBAC the operator gave it
//   JupyterHub (optional) ── with RemoteSiteSpawner (remote/remote_site_spawner.py)
//
// The overlay is what an operator of a real cluster writes: it adds the facade's static-token
// Secret (secretGenerator) and points the facade at the hub. Settings that exist only because
// everything runs on one machine are passed by the kubelet as environment on top of the pod's:
// JFO_LOCAL_URL_HOST for the operator (contract 0001 D) and loopback addresses for listeners
// (the runner's forwards on a 127.x.y.z address of the stack's own).
// With `shared: true` (the test control plane, which other suites use at the same time) the
// operator also watches only this stack's namespace and runs without leader election, so it
// never touches another suite's objects or Lease.
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort, kubeconfigYaml, type ControlPlaneInfo } from '../../src/dev/control-plane.js';
import { loadKubeConfig, makeClients, type Clients } from '../../src/kube/client.js';
import { pidAlive } from '../../src/dev/process.js';
import { LABELS, runnerName } from '../../src/names.js';
import { startJupyterHub, type RunningHub } from './jupyterhub.js';
import { runPod, type PodProcess } from './kubelet.js';
import { kubectl } from './kubectl.js';
import { startRemoteSite, type RemoteSite } from './remote-site.js';
import { hubOptions, JUMP_NODE, jumpNodeObject, overlay, type JobMode } from './stack-config.js';
import { waitFor } from './util.js';

export const OPERATOR_NAMESPACE = 'jfo-system';
type Cleanups = Array<() => Promise<void>>;
const SPAWNER_TOKEN_NAME = 'hub-spawner';
const RESTART_TOKEN_NAME = 'hpc-login-node';

export interface StackOptions {
  cluster: ControlPlaneInfo;
  /** The hub's namespace: facade, JumpNode, ForwardedServers. Must exist. */
  namespace: string;
  /** The control plane is shared with other suites (see above). */
  shared: boolean;
  /**
   * Also run JupyterHub with the spawner; `modes` maps server names to the remote job's mode;
   * `config(site)` overrides traitlets (e.g. another spawner class) and `pythonPath` comes
   * first on the hub's PYTHONPATH.
   */
  hub?: {
    modes?: Record<string, JobMode>;
    config?: (site: RemoteSite) => Record<string, unknown>;
    pythonPath?: string[];
    hubPort?: number;
  };
  /** Keep the processes' logs here (default: a temporary directory removed by close()). */
  logDir?: string;
  log?: (message: string) => void;
}

export interface Stack {
  cluster: ControlPlaneInfo;
  namespace: string;
  admin: Clients;
  /** Admin kubeconfig whose context namespace is the stack's (for kubectl). */
  kubeconfigPath: string;
  site: RemoteSite;
  operator: PodProcess;
  facade: PodProcess;
  facadeUrl: string;
  /** Static facade tokens: the hub's spawner (servers), jump-node automation (restart). */
  tokens: { spawner: string; nodeRestart: string };
  jumpNode: string;
  /** The pod of the JumpNode's runner Deployment. */
  runner: PodProcess;
  /** The loopback address the runner's forwards listen on (and ForwardedServer URLs name). */
  listenHost: string;
  hub?: RunningHub;
  logDir: string;
  kubectl(args: string[]): Promise<string>;
  close(): Promise<void>;
}

/**
 * One stack at a time per control plane: every stack applies the same operator Deployment in
 * OPERATOR_NAMESPACE and runs its one pod, whose ServiceAccount token is bound to that pod, so a
 * second stack would run (and at its end delete) the first one's pod. A lock directory per API
 * server, with the holder's pid (a lock whose holder is gone is taken over); released by close().
 */
async function lockOperatorNamespace(server: string): Promise<() => Promise<void>> {
  const dir = join(
    tmpdir(),
    `jfo-stack-${createHash('sha256').update(server).digest('hex').slice(0, 12)}.lock`,
  );
  for (;;) {
    try {
      mkdirSync(dir);
      writeFileSync(join(dir, 'pid'), String(process.pid));
      return async () => rmSync(dir, { recursive: true, force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = Number(readFileSyncOrEmpty(join(dir, 'pid')));
    if (holder > 0 && !pidAlive(holder)) rmSync(dir, { recursive: true, force: true });
    await new Promise((r) => setTimeout(r, 500));
  }
}

function readFileSyncOrEmpty(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** Starts everything; on failure, stops what was started and rethrows. */
export async function startStack(o: StackOptions): Promise<Stack> {
  const log = o.log ?? (() => {});
  const unlock = await lockOperatorNamespace(o.cluster.server);
  const work = mkdtempSync(join(tmpdir(), 'jfo-stack-'));
  const logDir = o.logDir ?? join(work, 'logs');
  mkdirSync(logDir, { recursive: true });
  const cleanups: Cleanups = [unlock, async () => rmSync(work, { recursive: true, force: true })];
  const close = async () => {
    for (const c of cleanups.splice(0).reverse())
      await c().catch((e) => log(`Cleanup failed: ${String(e)}`));
  };
  try {
    return { ...(await build(o, work, logDir, cleanups, log)), close };
  } catch (err) {
    await close();
    throw err;
  }
}

interface Access {
  admin: Clients;
  api: { server: string; caFile: string };
  kubeconfigPath: string;
  kubectl(args: string[]): Promise<string>;
}

/** Admin access whose kubectl context namespace is the stack's (where `apply -k` puts the facade). */
async function adminAccess(cluster: ControlPlaneInfo, namespace: string, work: string) {
  const kubeconfigPath = join(work, 'kubeconfig');
  const users = { admin: cluster.users.admin };
  writeFileSync(kubeconfigPath, kubeconfigYaml(cluster.server, cluster.caFile, users), {
    mode: 0o600,
  });
  const k = (args: string[]) => kubectl({ binDir: cluster.binDir, kubeconfigPath }, args);
  await k(['config', 'set-context', '--current', `--namespace=${namespace}`]);
  const admin = makeClients(loadKubeConfig(kubeconfigPath));
  const api = { server: cluster.server, caFile: cluster.caFile };
  return { admin, api, kubeconfigPath, kubectl: k };
}

/** The facade's static tokens: the hub's spawner, and the site's jump-node automation. */
function staticTokens() {
  const tokens = {
    spawner: randomBytes(24).toString('hex'),
    nodeRestart: randomBytes(24).toString('hex'),
  };
  const yaml = stringify({
    [SPAWNER_TOKEN_NAME]: {
      token: tokens.spawner,
      scopes: ['servers', 'access:servers', 'custom:servers:list'],
    },
    [RESTART_TOKEN_NAME]: { token: tokens.nodeRestart, scopes: ['custom:sshnode:restart'] },
  });
  return { tokens, yaml };
}

/** Runs the operator and facade pods of the applied manifests; resolves once both are ready. */
async function startControllers(
  o: StackOptions,
  a: Access,
  listenHost: string,
  facadePort: number,
  logDir: string,
  cleanups: Cleanups,
) {
  const { admin, api } = a;
  const operatorEnv: Record<string, string> = { JFO_LOCAL_URL_HOST: listenHost };
  if (o.shared)
    Object.assign(operatorEnv, { JFO_NAMESPACE: o.namespace, JFO_LEADER_ELECTION: 'false' });
  const operator = await runPod({
    admin,
    api,
    namespace: OPERATOR_NAMESPACE,
    deployment: 'jupyterhub-forward-operator',
    env: operatorEnv,
    logFile: join(logDir, 'operator.log'),
  });
  cleanups.push(() => operator.stop());
  const facade = await runPod({
    admin,
    api,
    namespace: o.namespace,
    deployment: 'jupyterhub-forward-facade',
    httpPort: facadePort,
    logFile: join(logDir, 'facade.log'),
  });
  cleanups.push(() => facade.stop());
  await waitFor('the operator and the facade to be ready', async () => {
    const ok = async (p: PodProcess) => (await fetch(`http://127.0.0.1:${p.httpPort}/readyz`)).ok;
    if (operator.exited() || facade.exited()) throw new Error('the operator or the facade exited');
    return (await ok(operator)) && (await ok(facade));
  });
  return { operator, facade };
}

/** Creates the JumpNode and its key Secret, then runs the runner pod the operator makes. */
async function startJumpNode(
  a: Access,
  namespace: string,
  site: RemoteSite,
  listenHost: string,
  logDir: string,
) {
  await a.admin.core.createNamespacedSecret({
    namespace,
    body: {
      // The label is the admin's opt-in: only such a Secret may be a JumpNode's key.
      metadata: { name: `${JUMP_NODE}-key`, labels: { [LABELS.runnerKey]: 'true' } },
      type: 'kubernetes.io/ssh-auth',
      stringData: { 'ssh-privatekey': site.privateKey },
    },
  });
  await a.admin.jumpNodes.create(namespace, jumpNodeObject(namespace, site));
  const deployment = runnerName(JUMP_NODE);
  await waitFor(`the operator to create Deployment ${deployment}`, () =>
    a.admin.apps.readNamespacedDeployment({ name: deployment, namespace }).then(() => true),
  );
  return runPod({
    admin: a.admin,
    api: a.api,
    namespace,
    deployment,
    // Forward listeners on loopback: the pod's network is the host's here.
    env: { JFO_LISTEN_HOST: listenHost },
    logFile: join(logDir, 'runner.log'),
  });
}

async function build(
  o: StackOptions,
  work: string,
  logDir: string,
  cleanups: Cleanups,
  log: (m: string) => void,
): Promise<Omit<Stack, 'close'>> {
  const access = await adminAccess(o.cluster, o.namespace, work);
  const { tokens, yaml } = staticTokens();
  log('Starting the remote site (jump node and compute node)');
  const site = await startRemoteSite();
  cleanups.push(() => site.close());
  const facadePort = await freePort();
  const facadeUrl = `http://127.0.0.1:${facadePort}`;
  let hub: RunningHub | undefined;
  if (o.hub) {
    log('Starting JupyterHub');
    const facade = { url: facadeUrl, spawnerToken: tokens.spawner };
    const h = await startJupyterHub(
      hubOptions(site, facade, o.hub.modes ?? {}, logDir, {
        config: o.hub.config?.(site),
        pythonPath: o.hub.pythonPath,
        hubPort: o.hub.hubPort,
      }),
    );
    cleanups.push(() => h.stop());
    hub = h;
  }
  log('Applying manifests/ (through an overlay: facade tokens and hub URL)');
  const dir = overlay(work, yaml, hub?.apiUrl ?? '');
  await access.kubectl(['apply', '--server-side', '--force-conflicts', '-k', dir]);
  await access.kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
  log('Running the operator and facade pods');
  // The runner pod has no network of its own here: its forwards listen on a loopback address of
  // this stack, so that no other process on the machine listening on 127.0.0.1 (another test's
  // runner, a benchmark) holds the port the operator gave a server. The operator's URLs name it.
  const listenHost = `127.${randomInt(1, 255)}.${randomInt(0, 256)}.${randomInt(1, 255)}`;
  const { operator, facade } = await startControllers(
    o,
    access,
    listenHost,
    facadePort,
    logDir,
    cleanups,
  );
  log('Creating the JumpNode and its key Secret; running its runner pod');
  const runner = await startJumpNode(access, o.namespace, site, listenHost, logDir);
  cleanups.push(() => runner.stop());
  const { cluster, namespace } = o;
  return {
    cluster,
    namespace,
    ...access,
    site,
    hub,
    logDir,
    operator,
    facade,
    facadeUrl,
    tokens,
    runner,
    listenHost,
    jumpNode: JUMP_NODE,
  };
}
