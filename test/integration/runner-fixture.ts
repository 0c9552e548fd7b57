// Shared set-up of the runner's integration tests. startRemoteSite() gives each test file one
// remote site: a namespace on the test control plane, the network namespaces of a jump node and
// a compute node (the compute node is reachable only through the jump node), OpenSSH sshd on the
// jump node, an HTTP/websocket target on the compute node, and the Secret with the key sshd
// accepts. On it, site.jumpNode() / site.server() / site.runner() create JumpNodes,
// ForwardedServers and runner processes; site.close() removes all of it.
//
// A runner runs as a real process (`node dist/cli.js runner`, playing the kubelet) with the
// environment of contract 0001 §C and its key Secret written to a file as the kubelet mounts the
// key volume, under its ServiceAccount with exactly the Role the operator
// grants it and a real token from the TokenRequest API. runnerPort is set the way the operator
// would set it, by server-side apply under a separate field manager.
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import {
  API_VERSION,
  type Condition,
  type ForwardedServer,
  type JumpNode,
  type JumpNodeSpec,
} from '../../src/api/types.js';
import { makeClients, type Clients } from '../../src/kube/client.js';
import { LABELS, runnerName } from '../../src/names.js';
import { runnerRules as operatorRunnerRules } from '../../src/resources/runner.js';
import {
  clusterInfo,
  createNamespace,
  kubeConfig,
  serviceAccountToken,
} from '../harness/cluster.js';
import {
  createRemoteTopology,
  startTargetServer,
  type RemoteTopology,
  type TargetServer,
} from '../harness/netns.js';
import { startSshd, type Sshd } from '../harness/sshd.js';
import { spawnCli, waitFor as pollUntil } from '../harness/util.js';

/** Plays the operator when it sets status.runnerPort. */
export const TEST_PORT_MANAGER = 'jfo-test-port-allocator';

/** waitFor with this fixture's defaults: 30 s, every 50 ms. */
export const waitFor = <T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 30_000,
  everyMs = 50,
): Promise<T> => pollUntil(what, fn, timeoutMs, everyMs);

/** OpenSSH's SHA256 fingerprint of a public key line. */
export function fingerprintOf(publicKeyLine: string): string {
  const blob = Buffer.from(publicKeyLine.trim().split(/\s+/)[1] ?? '', 'base64');
  return 'SHA256:' + createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
}

export function condition(
  obj: { status?: { conditions?: Condition[] } } | undefined,
  type: string,
): Condition | undefined {
  return obj?.status?.conditions?.find((c) => c.type === type);
}

export interface TestNamespace {
  name: string;
  admin: Clients;
  cleanup(): Promise<void>;
}

export async function testNamespace(prefix: string): Promise<TestNamespace> {
  const kc = kubeConfig(clusterInfo(), 'admin');
  const ns = await createNamespace(kc, prefix);
  return { name: ns.name, admin: makeClients(kc), cleanup: ns.cleanup };
}

/** The Role the operator gives a JumpNode's runner: the operator's own builder, so they agree. */
export function runnerRules(jumpNode: string, secret: string): k8s.V1PolicyRule[] {
  return operatorRunnerRules({
    apiVersion: API_VERSION,
    kind: 'JumpNode',
    metadata: { name: jumpNode },
    spec: { host: 'unused', username: 'unused', privateKeySecretRef: { name: secret } },
  });
}

/** Creates the runner's ServiceAccount, Role and RoleBinding; returns a kubeconfig file path. */
export async function runnerKubeconfig(
  t: TestNamespace,
  jumpNode: string,
  secret: string,
  dir: string,
): Promise<string> {
  const name = runnerName(jumpNode);
  const namespace = t.name;
  const metadata = { name, namespace };
  await t.admin.core.createNamespacedServiceAccount({ namespace, body: { metadata } });
  await t.admin.rbac.createNamespacedRole({
    namespace,
    body: { metadata, rules: runnerRules(jumpNode, secret) },
  });
  await t.admin.rbac.createNamespacedRoleBinding({
    namespace,
    body: {
      metadata,
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
      subjects: [{ kind: 'ServiceAccount', name, namespace }],
    },
  });
  return serviceAccountKubeconfig(t, name, dir);
}

/**
 * A kubeconfig file with a real token of a ServiceAccount (TokenRequest API), as the kubelet
 * would mount it: e.g. for the runner ServiceAccount the operator created.
 */
export async function serviceAccountKubeconfig(
  t: TestNamespace,
  name: string,
  dir: string,
): Promise<string> {
  const namespace = t.name;
  const info = clusterInfo();
  const token = await serviceAccountToken(info, namespace, name);
  const path = join(dir, `kubeconfig-${name}`);
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      { name: 'test', cluster: { server: info.server, 'certificate-authority': info.caFile } },
    ],
    users: [{ name: 'runner', user: { token } }],
    contexts: [{ name: 'runner', context: { cluster: 'test', user: 'runner', namespace } }],
    'current-context': 'runner',
  };
  writeFileSync(path, JSON.stringify(config), { mode: 0o600 });
  return path;
}

export async function createKeySecret(
  t: TestNamespace,
  name: string,
  privateKey: string,
): Promise<void> {
  await t.admin.core.createNamespacedSecret({
    namespace: t.name,
    body: {
      metadata: { name, labels: { [LABELS.runnerKey]: 'true' } },
      type: 'kubernetes.io/ssh-auth',
      stringData: { 'ssh-privatekey': privateKey },
    },
  });
}

export async function createJumpNode(
  t: TestNamespace,
  name: string,
  spec: JumpNodeSpec,
): Promise<JumpNode> {
  return t.admin.jumpNodes.create(t.name, {
    apiVersion: API_VERSION,
    kind: 'JumpNode',
    metadata: { name, namespace: t.name },
    spec,
  });
}

/** Creates a ForwardedServer and sets its runner port like the operator would. */
export async function createServer(
  t: TestNamespace,
  name: string,
  spec: Partial<ForwardedServer['spec']> & { jumpNodeRef: { name: string } },
  runnerPort?: number,
): Promise<ForwardedServer> {
  const fs = await t.admin.forwardedServers.create(t.name, {
    apiVersion: API_VERSION,
    kind: 'ForwardedServer',
    metadata: { name, namespace: t.name },
    spec: { user: { name, id: 1 }, serverName: '', startId: 'start-1', ...spec },
  });
  if (runnerPort !== undefined) await setRunnerPort(t, name, runnerPort);
  return fs;
}

export async function setRunnerPort(t: TestNamespace, name: string, port: number): Promise<void> {
  await t.admin.forwardedServers.applyStatus(
    t.name,
    name,
    API_VERSION,
    'ForwardedServer',
    { runnerPort: port },
    TEST_PORT_MANAGER,
  );
}

export interface RunnerProcess {
  child: ChildProcess;
  httpPort: number;
  /** Every log line so far, parsed. */
  logs(): Array<Record<string, unknown>>;
  get(path: string): Promise<{ status: number; body: string }>;
  metric(name: string, labels?: Record<string, string>): Promise<number | undefined>;
  exited(): boolean;
  /** Sends SIGTERM (default) and waits for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface RunnerOptions {
  namespace: string;
  jumpNode: string;
  kubeconfig: string;
  pod?: string;
  listenHost?: string;
  env?: Record<string, string>;
}

/**
 * Writes the JumpNode's key to a file the way the kubelet mounts the runner's key volume (the
 * Secret's key `privateKeySecretRef.key`, or no file if either is missing); returns its path.
 */
async function mountKeyVolume(namespace: string, jumpNode: string): Promise<string> {
  const admin = makeClients(kubeConfig(clusterInfo(), 'admin'));
  const dir = mkdtempSync(join(tmpdir(), 'jfo-runner-key-'));
  const path = join(dir, 'ssh-privatekey');
  const jn = await admin.jumpNodes.get(namespace, jumpNode).catch(() => undefined);
  const ref = jn?.spec.privateKeySecretRef;
  if (!ref) return path;
  const secret = await admin.core
    .readNamespacedSecret({ name: ref.name, namespace })
    .catch(() => undefined);
  const data = secret?.data?.[ref.key ?? 'ssh-privatekey'];
  if (data) writeFileSync(path, Buffer.from(data, 'base64'), { mode: 0o600 });
  return path;
}

export async function startRunnerProcess(o: RunnerOptions): Promise<RunnerProcess> {
  const keyFile = o.env?.JFO_PRIVATE_KEY_FILE ?? (await mountKeyVolume(o.namespace, o.jumpNode));
  const env: Record<string, string> = {
    JFO_PRIVATE_KEY_FILE: keyFile,
    KUBECONFIG: o.kubeconfig,
    JFO_NAMESPACE: o.namespace,
    JFO_JUMPNODE: o.jumpNode,
    JFO_POD_NAME: o.pod ?? `${runnerName(o.jumpNode)}-test`,
    JFO_HTTP_PORT: '0',
    JFO_HTTP_HOST: '127.0.0.1',
    JFO_LISTEN_HOST: o.listenHost ?? '127.0.0.1',
    JFO_LOG_LEVEL: 'debug',
    JFO_RECONNECT_INITIAL_SECONDS: '0.2',
    JFO_PROBE_INTERVAL_SECONDS: '2',
    JFO_STATUS_MIN_INTERVAL_SECONDS: '0.2',
    JFO_DRAIN_DELAY_SECONDS: '0',
    JFO_DRAIN_TIMEOUT_SECONDS: '5',
    ...o.env,
  };
  const p = spawnCli(['runner'], env);
  const { child, lines } = p;
  // -1: the runner exited before serving (waitFor would retry a throw until its timeout).
  const httpPort = await waitFor('the runner to serve HTTP', () => {
    const l = lines.find((x) => x.message === 'Serving health and metrics');
    if (l) return Number(l.port);
    return p.running() ? undefined : -1;
  }).catch(async (err: unknown) => {
    await p.stop('SIGKILL');
    throw err;
  });
  if (httpPort < 0)
    throw new Error(
      `runner exited (${p.child.exitCode ?? p.child.signalCode}): ${JSON.stringify(lines)}`,
    );
  const get = (path: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: httpPort, path, agent: false }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        })
        .on('error', reject);
    });
  return {
    child,
    httpPort,
    logs: () => lines,
    get,
    async metric(name, labels = {}) {
      const { body } = await get('/metrics');
      for (const line of body.split('\n')) {
        if (!line.startsWith(name)) continue;
        const m = /^([a-z_:]+)(\{([^}]*)\})? (\S+)$/.exec(line);
        if (!m || m[1] !== name) continue;
        const have = Object.fromEntries(
          (m[3] ?? '')
            .split(',')
            .filter(Boolean)
            .map((kv) => {
              const [k, v] = kv.split('=');
              return [k, v!.replace(/^"|"$/g, '')];
            }),
        );
        if (Object.entries(labels).every(([k, v]) => have[k] === v)) return Number(m[4]);
      }
      return undefined;
    },
    exited: () => !p.running(),
    stop: (signal = 'SIGTERM') => p.stop(signal),
  };
}

/**
 * Runner ports: bindable ports outside the kernel's ephemeral range (32768-60999), so that no
 * outgoing connection of another process takes one between this check and the runner's listen.
 */
export async function runnerPorts(n: number, host = '127.0.0.1'): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) {
    const p = 20000 + Math.floor(Math.random() * 12000);
    if (ports.has(p)) continue;
    const free = await new Promise<boolean>((resolve) => {
      const srv = net.createServer();
      srv.once('error', () => resolve(false));
      srv.listen(p, host, () => srv.close(() => resolve(true)));
    });
    if (free) ports.add(p);
  }
  return [...ports];
}

export async function runnerPort(host = '127.0.0.1'): Promise<number> {
  return (await runnerPorts(1, host))[0]!;
}

/** A temporary directory removed by the returned function. */
export function tempDir(prefix: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** GET http://host:port/path through a fresh connection. */
export function httpGet(
  host: string,
  port: number,
  path = '/',
  timeoutMs = 10_000,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path, agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** The port of the target server on the compute node. */
export const TARGET_PORT = 8888;
/** The Secret holding the private key that the site's sshd accepts. */
export const KEY_SECRET = 'key';

export interface RemoteSite {
  t: TestNamespace;
  topo: RemoteTopology;
  sshd: Sshd;
  /** The target on the compute node (topo.computeAddr:TARGET_PORT); see restartTarget(). */
  target: TargetServer;
  /** A temporary directory removed by close(). */
  dir: string;
  /** The JumpNode spec that reaches this site's sshd with KEY_SECRET, pinning its host key. */
  jumpNodeSpec(extra?: Partial<JumpNodeSpec>): JumpNodeSpec;
  jumpNode(name: string, extra?: Partial<JumpNodeSpec>): Promise<JumpNode>;
  /**
   * A ForwardedServer named `name` through `jumpNode` to the site's target, with a free runner
   * port (or `runnerPort`; null: none set). Resolves to the runner port.
   */
  server(
    name: string,
    jumpNode: string,
    opts?: { runnerPort?: number | null; spec?: Partial<ForwardedServer['spec']> },
  ): Promise<number>;
  /**
   * `count` ForwardedServers `user-0` … through `jumpNode` to the site's target, each with its
   * own free runner port (made 20 at a time). Resolves to their names and runner ports.
   */
  servers(jumpNode: string, count: number): Promise<{ names: string[]; ports: number[] }>;
  /**
   * Waits until each named ForwardedServer has every condition of `types` True (one list per
   * poll); resolves to them in the order of `names`.
   */
  serversWith(
    names: string[],
    types: string[],
    timeoutMs?: number,
    everyMs?: number,
  ): Promise<ForwardedServer[]>;
  /**
   * A runner process for `jumpNode`, with its RBAC and token made once here unless
   * `opts.kubeconfig` is given (e.g. for the ServiceAccount the operator made); close() kills it.
   */
  runner(jumpNode: string, opts?: Partial<RunnerOptions>): Promise<RunnerProcess>;
  /** Starts the target again after target.stop(). */
  restartTarget(): Promise<void>;
  close(): Promise<void>;
}

export async function startRemoteSite(prefix: string): Promise<RemoteSite> {
  const tmp = tempDir('jfo-runner-');
  const runners: RunnerProcess[] = [];
  const kubeconfigs = new Map<string, Promise<string>>();
  let t: TestNamespace | undefined;
  let topo: RemoteTopology | undefined;
  let sshd: Sshd | undefined;
  let target: TargetServer | undefined;
  const close = async () => {
    for (const r of runners) await r.stop('SIGKILL');
    await target?.stop();
    await sshd?.stop();
    await topo?.destroy();
    await t?.cleanup();
    tmp.remove();
  };
  try {
    t = await testNamespace(prefix);
    topo = await createRemoteTopology();
    sshd = await startSshd({ netns: topo.jumpNs });
    target = await startTargetServer(topo, topo.computeNs, topo.computeAddr, TARGET_PORT);
    await createKeySecret(t, KEY_SECRET, sshd.clientPrivateKey);
  } catch (err) {
    await close();
    throw err;
  }
  const ns = t;
  const net = topo;
  const jump = sshd;
  const site: RemoteSite = {
    t: ns,
    topo: net,
    sshd: jump,
    target,
    dir: tmp.path,
    jumpNodeSpec: (extra = {}) => ({
      host: net.jumpAddr,
      port: jump.port,
      username: jump.user,
      privateKeySecretRef: { name: KEY_SECRET },
      hostKeys: [jump.hostPublicKey],
      ...extra,
    }),
    jumpNode: (name, extra) => createJumpNode(ns, name, site.jumpNodeSpec(extra)),
    async server(name, jumpNode, opts = {}) {
      const port = opts.runnerPort === undefined ? await runnerPort() : opts.runnerPort;
      await createServer(
        ns,
        name,
        {
          jumpNodeRef: { name: jumpNode },
          target: { host: net.computeAddr, port: TARGET_PORT },
          ...opts.spec,
        },
        port ?? undefined,
      );
      return port ?? 0;
    },
    async servers(jumpNode, count) {
      const ports = await runnerPorts(count);
      const names = ports.map((_, i) => `user-${i}`);
      for (let i = 0; i < count; i += 20)
        await Promise.all(
          names
            .slice(i, i + 20)
            .map((name, j) => site.server(name, jumpNode, { runnerPort: ports[i + j]! })),
        );
      return { names, ports };
    },
    serversWith: (names, types, timeoutMs = 60_000, everyMs = 50) =>
      waitFor(
        `${types.join(' and ')} on ${names.length > 3 ? `${names.length} ForwardedServers` : names.join(', ')}`,
        async () => {
          const all = (await ns.admin.forwardedServers.list(ns.name)).items;
          const found = names.map((n) => all.find((fs) => fs.metadata.name === n));
          const ready = found.every((fs) =>
            types.every((c) => condition(fs, c)?.status === 'True'),
          );
          return ready ? (found as ForwardedServer[]) : undefined;
        },
        timeoutMs,
        everyMs,
      ),
    async runner(jumpNode, opts = {}) {
      if (!opts.kubeconfig && !kubeconfigs.has(jumpNode))
        kubeconfigs.set(jumpNode, runnerKubeconfig(ns, jumpNode, KEY_SECRET, tmp.path));
      const kubeconfig = opts.kubeconfig ?? (await kubeconfigs.get(jumpNode)!);
      const r = await startRunnerProcess({ namespace: ns.name, jumpNode, ...opts, kubeconfig });
      runners.push(r);
      return r;
    },
    async restartTarget() {
      target = await startTargetServer(net, net.computeNs, net.computeAddr, TARGET_PORT);
      site.target = target;
    },
    close,
  };
  return site;
}
