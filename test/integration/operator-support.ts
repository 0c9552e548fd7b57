// Shared pieces of the operator's integration tests: fixtures, polling, the manifests' RBAC, and
// the operator run in-process or as a real process (`node dist/cli.js operator`).
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import {
  API_VERSION,
  type ForwardedServer,
  type ForwardedServerSpec,
  type JumpNode,
  type JumpNodeSpec,
} from '../../src/api/types.js';
import {
  kubeconfigYaml,
  startControlPlane,
  type ControlPlane,
  type ControlPlaneInfo,
} from '../../src/dev/control-plane.js';
import { isNotFound, makeClients, type Clients } from '../../src/kube/client.js';
import { silentLogger } from '../../src/log.js';
import { LABELS, serverResourceName } from '../../src/names.js';
import { loadOperatorConfig } from '../../src/operator/config.js';
import { startOperator, type RunningOperator } from '../../src/operator/operator.js';
import { clusterInfo, createNamespace, kubeConfig } from '../harness/cluster.js';
import { kubectl } from '../harness/kubectl.js';
import { ensureDist, spawnCli, waitFor } from '../harness/util.js';

export const HOST_KEY =
  'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAHalpH0pLmRZpbnpdssH8BS8WqenG+54aATv55RjuM4';

export function jumpNode(
  namespace: string,
  name: string,
  spec: Partial<JumpNodeSpec> = {},
): JumpNode {
  return {
    apiVersion: API_VERSION,
    kind: 'JumpNode',
    metadata: { name, namespace },
    spec: {
      host: 'login.example.org',
      username: 'tunnel',
      privateKeySecretRef: { name: `${name}-key` },
      hostKeys: [HOST_KEY],
      ...spec,
    },
  };
}

export function forwardedServer(
  namespace: string,
  user: string,
  server: string,
  spec: Partial<ForwardedServerSpec> = {},
): ForwardedServer {
  return {
    apiVersion: API_VERSION,
    kind: 'ForwardedServer',
    metadata: { name: serverResourceName(user, server), namespace },
    spec: { user: { name: user, id: 1 }, serverName: server, startId: 'start-1', ...spec },
  };
}

/** Polls `fn` until it returns a value other than undefined/false (60 s, every 150 ms). */
/** Creates ForwardedServers `{prefix}0` … on JumpNode `hpc` in `ns`; returns their names. */
export async function createServers(
  admin: Clients,
  ns: string,
  prefix: string,
  count: number,
): Promise<string[]> {
  const made = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      admin.forwardedServers.create(
        ns,
        forwardedServer(ns, `${prefix}${i}`, '', { jumpNodeRef: { name: 'hpc' } }),
      ),
    ),
  );
  return made.map((m) => m.metadata.name);
}

/** Whether every named ForwardedServer of `ns` has a runner port in its status. */
export async function allHavePorts(admin: Clients, ns: string, names: string[]): Promise<boolean> {
  const all = (await admin.forwardedServers.list(ns)).items;
  return names.every((n) => !!all.find((f) => f.metadata.name === n)?.status?.runnerPort);
}

export const eventually = <T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 60_000,
  intervalMs = 150,
): Promise<T> => waitFor(what, fn, timeoutMs, intervalMs);

/** `kubectl apply -k manifests/` as admin: the operator's RBAC for the `operator` token user. */
export async function applyManifests(info: ControlPlaneInfo): Promise<string> {
  return kubectl(info, ['apply', '--server-side', '--force-conflicts', '-k', 'manifests/']);
}

/** Binds the operator's key-secrets ClusterRole in `namespace` (it reads key Secrets' labels). */
export async function bindKeySecretReader(
  admin: Clients,
  info: ControlPlaneInfo,
  namespace: string,
): Promise<void> {
  const name = 'jupyterhub-forward-operator-key-secrets';
  const [, , saNamespace, saName] = info.users.operator.name.split(':');
  await admin.rbac.createNamespacedRoleBinding({
    namespace,
    body: {
      metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
      subjects: [{ kind: 'ServiceAccount', name: saName!, namespace: saNamespace! }],
    },
  });
}

/**
 * What an admin does in a namespace before JumpNodes there can run: bind the operator's
 * key-secrets ClusterRole (it reads the opt-in label) and create each JumpNode's key Secret
 * (`<name>-key`, the default of jumpNode()) with the opt-in label.
 */
export async function allowRunnerKeys(
  admin: Clients,
  info: ControlPlaneInfo,
  namespace: string,
  jumpNodes: string[],
): Promise<void> {
  await bindKeySecretReader(admin, info, namespace);
  for (const jn of jumpNodes)
    await admin.core.createNamespacedSecret({
      namespace,
      body: {
        metadata: { name: `${jn}-key`, labels: { [LABELS.runnerKey]: 'true' } },
        stringData: { 'ssh-privatekey': 'not read by the operator' },
      },
    });
}

/**
 * The operator and security tests' set-up: the shared control plane, the admin's clients, the
 * manifests applied once (beforeAll), and the namespace a test file opens and closes in its own
 * hooks, with the admin's reads of it.
 */
export function testBed() {
  const info = clusterInfo();
  const admin = adminClients(info);
  let ns: { name: string; cleanup: () => Promise<void> } | undefined;
  const N = () => {
    if (!ns) throw new Error('no test namespace is open');
    return ns.name;
  };
  beforeAll(() => applyManifests(info));
  return {
    info,
    admin,
    N,
    ...namespaceReader(admin, N),
    /** A fresh namespace, with the opted-in key Secrets of `jumpNodes` (allowRunnerKeys). */
    async open(prefix: string, jumpNodes: string[] = []): Promise<void> {
      ns = await createNamespace(kubeConfig(info), prefix);
      if (jumpNodes.length) await allowRunnerKeys(admin, info, ns.name, jumpNodes);
    },
    async close(): Promise<void> {
      await ns?.cleanup();
      ns = undefined;
    },
  };
}

/** Clients for the test body (admin). */
export function adminClients(info: ControlPlaneInfo): Clients {
  return makeClients(kubeConfig(info, 'admin'));
}

/** `kubectl auth can-i <args> --as <user>`: its answer, or the error text of a "no". */
export function canI(info: ControlPlaneInfo, user: string, args: string[]): Promise<string> {
  return kubectl(info, ['auth', 'can-i', ...args, '--as', user]).catch((e: Error) => e.message);
}

/** The admin's reads of objects in the namespace `namespace()`; a missing one reads as undefined. */
export function namespaceReader(admin: Clients, namespace: () => string) {
  const orMissing = <T>(read: Promise<T>): Promise<T | undefined> =>
    read.catch((e) => {
      if (isNotFound(e)) return undefined;
      throw e;
    });
  return {
    service: (name: string) =>
      orMissing(admin.core.readNamespacedService({ name, namespace: namespace() })),
    deployment: (name: string) =>
      orMissing(admin.apps.readNamespacedDeployment({ name, namespace: namespace() })),
    /** The Events regarding the object `name`. */
    events: async (name: string) =>
      (
        await admin.events.listNamespacedEvent({
          namespace: namespace(),
          fieldSelector: `regarding.name=${name}`,
        })
      ).items,
  };
}

/** The operator in this process, with the restricted `operator` token and the manifests' RBAC. */
export async function startInProcess(
  info: ControlPlaneInfo,
  namespace: string,
  env: Record<string, string> = {},
): Promise<RunningOperator> {
  const config = loadOperatorConfig({
    JFO_NAMESPACE: namespace,
    JFO_HTTP_HOST: '127.0.0.1',
    JFO_HTTP_PORT: '0',
    JFO_LEADER_ELECTION: 'false',
    JFO_RUNNER_IMAGE: 'jupyterhub-forward-operator:test',
    ...env,
  });
  const op = await startOperator(config, { kc: kubeConfig(info, 'operator'), log: silentLogger() });
  await op.synced;
  return op;
}

/** Waits until both work queues are empty and no reconcile runs (three checks in a row). */
export async function settle(op: RunningOperator): Promise<void> {
  let quiet = 0;
  await eventually('the work queues to drain', () => {
    const { servers, nodes } = op.controllers;
    const busy = [servers, nodes].some((c) => c.queue.len() > 0 || c.queue.inFlight() > 0);
    quiet = busy ? 0 : quiet + 1;
    return quiet >= 3;
  });
}

export interface OperatorProcess {
  child: ChildProcess;
  logs: Record<string, unknown>[];
  name: string;
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Log lines whose message is `message`. */
  lines(message: string): Record<string, unknown>[];
}

/** A kubeconfig file for the restricted `operator` token user. */
export async function operatorKubeconfig(
  info: ControlPlaneInfo,
): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'jfo-op-kc-'));
  const path = join(dir, 'kubeconfig');
  await writeFile(
    path,
    kubeconfigYaml(info.server, info.caFile, { operator: info.users.operator }, 'operator'),
    { mode: 0o600 },
  );
  return { path, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Runs `node dist/cli.js operator` with the given environment. */
export function spawnOperator(
  name: string,
  kubeconfigPath: string,
  env: Record<string, string>,
): OperatorProcess {
  const p = spawnCli(['operator'], {
    KUBECONFIG: kubeconfigPath,
    JFO_HTTP_HOST: '127.0.0.1',
    JFO_HTTP_PORT: '0',
    JFO_POD_NAME: name,
    JFO_RUNNER_IMAGE: 'jupyterhub-forward-operator:test',
    ...env,
  });
  return {
    child: p.child,
    logs: p.lines,
    name,
    exited: p.exited,
    lines: (message) => p.lines.filter((l) => l.message === message),
    async stop(signal = 'SIGTERM') {
      await p.stop(signal);
    },
  };
}

export interface OwnControlPlane {
  cp: ControlPlane;
  admin: Clients;
  /** A kubeconfig file of the restricted `operator` user. */
  kubeconfig: string;
  /** createServers() and allHavePorts() in the plane's namespace. */
  createServers(prefix: string, count: number): Promise<string[]>;
  allHavePorts(names: string[]): Promise<boolean>;
  stop(): Promise<void>;
}

/**
 * A control plane of the test's own, for tests that disturb it (built dist/ alongside): the
 * CRDs, the manifests' RBAC, the namespace `namespace` with the opted-in key Secrets of
 * `jumpNodes` (allowRunnerKeys). stop() removes all of it.
 */
export async function ownControlPlane(
  namespace: string,
  jumpNodes: string[] = [],
): Promise<OwnControlPlane> {
  const [cp] = await Promise.all([startControlPlane(), ensureDist()]);
  let kc: { path: string; cleanup: () => Promise<void> } | undefined;
  const stop = async () => {
    await kc?.cleanup();
    await cp.stop();
  };
  try {
    await kubectl(cp, ['apply', '--server-side', '-k', 'crds/']);
    await kubectl(cp, ['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
    await applyManifests(cp);
    await kubectl(cp, ['create', 'namespace', namespace]);
    const admin = makeClients(kubeConfig(cp, 'admin'));
    kc = await operatorKubeconfig(cp);
    if (jumpNodes.length) await allowRunnerKeys(admin, cp, namespace, jumpNodes);
    return {
      cp,
      admin,
      kubeconfig: kc.path,
      createServers: (prefix, count) => createServers(admin, namespace, prefix, count),
      allHavePorts: (names) => allHavePorts(admin, namespace, names),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The value of a Prometheus metric line from the process's /metrics. */
export async function metric(port: number, name: string, labels = ''): Promise<number | undefined> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  const text = await res.text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  return line ? Number(line.split(' ').pop()) : undefined;
}

/** The HTTP port an operator process reports in its "Started operator" log line. */
export async function httpPortOf(p: OperatorProcess): Promise<number> {
  return eventually(`${p.name} to start`, () => {
    const started = p.lines('Started operator')[0];
    return started ? (started.httpPort as number) : undefined;
  });
}

export { k8s };
