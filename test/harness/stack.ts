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
// JFO_LOCAL_URL_HOST for the operator (contract 0001 D) and loopback addresses for listeners.
// With `shared: true` (the test control plane, which other suites use at the same time) the
// operator also watches only this stack's namespace and runs without leader election, so it
// never touches another suite's objects or Lease.
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { API_VERSION, type JumpNode } from '../../src/api/types.js';
import { freePort, kubeconfigYaml, type ControlPlaneInfo } from '../../src/dev/control-plane.js';
import { loadKubeConfig, makeClients, type Clients } from '../../src/kube/client.js';
import { runnerName } from '../../src/names.js';
import { startJupyterHub, type RunningHub } from './jupyterhub.js';
import { runPod, type PodProcess } from './kubelet.js';
import { kubectl } from './kubectl.js';
import { startRemoteSite, type RemoteSite } from './remote-site.js';

const execFileP = promisify(execFile);
const ROOT = typeof __dirname === 'string' ? resolve(__dirname, '../..') : process.cwd();
export const OPERATOR_NAMESPACE = 'jfo-system';
export const JUMP_NODE = 'hpc-login';
export const JUMP_NODE_ALIAS = 'hpc';
const SPAWNER_TOKEN_NAME = 'hub-spawner';
const RESTART_TOKEN_NAME = 'hpc-login-node';

export interface StackOptions {
  cluster: ControlPlaneInfo;
  /** The hub's namespace: facade, JumpNode, ForwardedServers. Must exist. */
  namespace: string;
  /** The control plane is shared with other suites (see above). */
  shared: boolean;
  /** Also run JupyterHub with the spawner; `modes` maps server names to the remote job's mode. */
  hub?: { modes?: Record<string, 'forward' | 'delayed' | 'never'> };
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
  /** The runner pod currently run (replaced by restartRunner()). */
  runner(): PodProcess;
  hub?: RunningHub;
  logDir: string;
  kubectl(args: string[]): Promise<string>;
  close(): Promise<void>;
}

/** Builds dist/ when it is missing or older than src/ (the pods run `node dist/cli.js`). */
export async function ensureDist(): Promise<void> {
  const newest = (dir: string): number =>
    readdirSync(dir, { withFileTypes: true }).reduce((m, e) => {
      const p = join(dir, e.name);
      return Math.max(m, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
    }, 0);
  const cli = join(ROOT, 'dist', 'cli.js');
  if (existsSync(cli) && statSync(cli).mtimeMs >= newest(join(ROOT, 'src'))) return;
  const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  await execFileP(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: ROOT });
}

/** Polls until `fn` returns a value (not undefined/false); `what` names it in the timeout error. */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 60_000,
  everyMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`Timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

function overlay(dir: string, tokensYaml: string, hubApiUrl: string): string {
  const path = join(dir, 'overlay');
  mkdirSync(path, { recursive: true });
  writeFileSync(join(path, 'tokens.yaml'), tokensYaml, { mode: 0o600 });
  const facadeEnv = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'jupyterhub-forward-facade' },
    spec: {
      replicas: 1,
      template: {
        spec: {
          containers: [{ name: 'facade', env: [{ name: 'JFO_HUB_API_URL', value: hubApiUrl }] }],
        },
      },
    },
  };
  const kustomization = {
    apiVersion: 'kustomize.config.k8s.io/v1beta1',
    kind: 'Kustomization',
    resources: [relative(path, join(ROOT, 'manifests'))],
    secretGenerator: [{ name: 'jupyterhub-forward-facade-tokens', files: ['tokens.yaml'] }],
    patches: [{ patch: stringify(facadeEnv) }],
  };
  writeFileSync(join(path, 'kustomization.yaml'), stringify(kustomization));
  return path;
}

function jumpNodeObject(namespace: string, site: RemoteSite): JumpNode {
  return {
    apiVersion: API_VERSION,
    kind: 'JumpNode',
    metadata: { name: JUMP_NODE, namespace },
    spec: {
      host: site.jumpHost,
      port: site.jumpPort,
      username: site.jumpUser,
      privateKeySecretRef: { name: `${JUMP_NODE}-key` },
      hostKeys: [site.hostKey],
      aliases: [JUMP_NODE_ALIAS],
    },
  };
}

function hubOptions(
  o: StackOptions,
  site: RemoteSite,
  facadeUrl: string,
  spawnerToken: string,
  logDir: string,
) {
  return {
    customScopes: {
      'custom:sshnode:restart': 'Tell the forward operator that a jump node restarted',
      'custom:servers:list': 'List running and pending forwarded servers',
    },
    services: [{ name: 'jump-node-automation' }],
    roles: [
      {
        name: 'jump-node-restart',
        scopes: ['custom:sshnode:restart'],
        services: ['jump-node-automation'],
      },
    ],
    config: {
      'JupyterHub.spawner_class': 'remote_site_spawner.RemoteSiteSpawner',
      'JupyterHub.allow_named_servers': true,
      // z2jh's defaults: a hub restart neither stops servers nor the proxy.
      'JupyterHub.cleanup_servers': false,
      'JupyterHub.cleanup_proxy': false,
      'JupyterHub.tornado_settings': { slow_spawn_timeout: 0 },
      'ForwardSpawner.facade_url': facadeUrl,
      'ForwardSpawner.facade_token': spawnerToken,
      'ForwardSpawner.jump_node': JUMP_NODE_ALIAS,
      'RemoteSiteSpawner.compute_netns': site.computeNetns,
      'RemoteSiteSpawner.compute_address': site.computeAddress,
      'RemoteSiteSpawner.hub_forward_address': site.jumpInnerAddress,
      'RemoteSiteSpawner.site_alias': JUMP_NODE_ALIAS,
      'RemoteSiteSpawner.modes': o.hub?.modes ?? {},
      'RemoteSiteSpawner.log_dir': logDir,
      'Spawner.start_timeout': 120,
      'Spawner.http_timeout': 120,
    },
    env: { PYTHONPATH: join(ROOT, 'test', 'harness', 'remote') },
  };
}

/** Starts everything; on failure, stops what was started and rethrows. */
export async function startStack(o: StackOptions): Promise<Stack> {
  const log = o.log ?? (() => {});
  const work = mkdtempSync(join(tmpdir(), 'jfo-stack-'));
  const logDir = o.logDir ?? join(work, 'logs');
  mkdirSync(logDir, { recursive: true });
  const cleanups: Array<() => Promise<void>> = [
    async () => rmSync(work, { recursive: true, force: true }),
  ];
  const close = async () => {
    for (const c of cleanups.splice(0).reverse())
      await c().catch((e) => log(`Cleanup failed: ${String(e)}`));
  };
  try {
    return await build(o, work, logDir, cleanups, close, log);
  } catch (err) {
    await close();
    throw err;
  }
}

async function build(
  o: StackOptions,
  work: string,
  logDir: string,
  cleanups: Array<() => Promise<void>>,
  close: () => Promise<void>,
  log: (m: string) => void,
): Promise<Stack> {
  const { cluster, namespace } = o;
  const kubeconfigPath = join(work, 'kubeconfig');
  writeFileSync(
    kubeconfigPath,
    kubeconfigYaml(cluster.server, cluster.caFile, { admin: cluster.users.admin }),
    { mode: 0o600 },
  );
  await kubectl({ binDir: cluster.binDir, kubeconfigPath }, [
    'config',
    'set-context',
    '--current',
    `--namespace=${namespace}`,
  ]);
  const k = (args: string[]) => kubectl({ binDir: cluster.binDir, kubeconfigPath }, args);
  const admin = makeClients(loadKubeConfig(kubeconfigPath));
  const api = { server: cluster.server, caFile: cluster.caFile };
  const tokens = {
    spawner: randomBytes(24).toString('hex'),
    nodeRestart: randomBytes(24).toString('hex'),
  };
  const tokensYaml = stringify({
    [SPAWNER_TOKEN_NAME]: {
      token: tokens.spawner,
      scopes: ['servers', 'access:servers', 'custom:servers:list'],
    },
    [RESTART_TOKEN_NAME]: { token: tokens.nodeRestart, scopes: ['custom:sshnode:restart'] },
  });

  log('Starting the remote site (jump node and compute node)');
  const site = await startRemoteSite();
  cleanups.push(() => site.close());
  const facadePort = await freePort();
  const facadeUrl = `http://127.0.0.1:${facadePort}`;
  let hub: RunningHub | undefined;
  if (o.hub) {
    log('Starting JupyterHub');
    hub = await startJupyterHub(hubOptions(o, site, facadeUrl, tokens.spawner, logDir));
    const h = hub;
    cleanups.push(() => h.stop());
  }

  log('Applying manifests/ (through an overlay: facade tokens and hub URL)');
  await k([
    'apply',
    '--server-side',
    '--force-conflicts',
    '-k',
    overlay(work, tokensYaml, hub?.apiUrl ?? ''),
  ]);

  const operatorEnv: Record<string, string> = { JFO_LOCAL_URL_HOST: '127.0.0.1' };
  if (o.shared)
    Object.assign(operatorEnv, { JFO_NAMESPACE: namespace, JFO_LEADER_ELECTION: 'false' });
  log('Running the operator pod');
  const operator = await runPod({
    admin,
    api,
    namespace: OPERATOR_NAMESPACE,
    deployment: 'jupyterhub-forward-operator',
    env: operatorEnv,
    logFile: join(logDir, 'operator.log'),
  });
  cleanups.push(() => operator.stop());
  log('Running the facade pod');
  const facade = await runPod({
    admin,
    api,
    namespace,
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

  log('Creating the JumpNode and its key Secret');
  await admin.core.createNamespacedSecret({
    namespace,
    body: {
      metadata: { name: `${JUMP_NODE}-key` },
      type: 'kubernetes.io/ssh-auth',
      stringData: { 'ssh-privatekey': site.privateKey },
    },
  });
  await admin.jumpNodes.create(namespace, jumpNodeObject(namespace, site));
  const runner = await startRunner(admin, api, namespace, logDir);
  cleanups.push(() => runner.stop());
  return {
    cluster,
    namespace,
    admin,
    kubeconfigPath,
    site,
    operator,
    facade,
    facadeUrl,
    tokens,
    jumpNode: JUMP_NODE,
    runner: () => runner,
    hub,
    logDir,
    kubectl: k,
    close,
  };
}

/** Waits for the runner Deployment the operator creates and runs its pod. */
async function startRunner(
  admin: Clients,
  api: { server: string; caFile: string },
  namespace: string,
  logDir: string,
) {
  const deployment = runnerName(JUMP_NODE);
  await waitFor(`the operator to create Deployment ${deployment}`, () =>
    admin.apps.readNamespacedDeployment({ name: deployment, namespace }).then(() => true),
  );
  return runPod({
    admin,
    api,
    namespace,
    deployment,
    // Forward listeners on loopback: the pod's network is the host's here.
    env: { JFO_LISTEN_HOST: '127.0.0.1' },
    logFile: join(logDir, 'runner.log'),
  });
}
