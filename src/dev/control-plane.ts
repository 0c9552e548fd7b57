// A real local Kubernetes control plane (etcd + kube-apiserver + kube-controller-manager) for
// tests and the local demo. Binaries come from scripts/build-testbin.sh (built from Go modules,
// cached outside the repository). Everything listens on free loopback ports and lives in one
// temporary directory that stop() removes.
//
// Contract: startControlPlane() resolves once the API server answers /readyz and the default
// namespace exists; stop() terminates all processes (also on process exit) and is idempotent.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { request } from 'node:https';
import { stringify } from 'yaml';
import { hasExited, stopChild } from './process.js';

const execFileP = promisify(execFile);

/** A token user of the control plane (static token file). */
export interface TokenUser {
  name: string;
  token: string;
  groups: string[];
}

export interface ControlPlaneInfo {
  /** https://127.0.0.1:<port> */
  server: string;
  /** PEM of the CA that signed the API server's certificate. */
  caFile: string;
  /** Kubeconfig with one context per token user; current context is `admin`. */
  kubeconfigPath: string;
  dir: string;
  binDir: string;
  users: Record<'admin' | 'operator' | 'viewer', TokenUser>;
  pids: { etcd: number; apiserver: number; controllerManager: number };
}

export interface ControlPlane extends ControlPlaneInfo {
  /** Stop and start kube-apiserver on the same port, with the same etcd (data survives). */
  restartApiServer(): Promise<void>;
  stop(): Promise<void>;
}

export interface ControlPlaneOptions {
  /** Directory with etcd, kube-apiserver, kube-controller-manager, kubectl. Default: build/cached. */
  binDir?: string;
  /** Namespace the operator service account lives in (for the `operator` token user). */
  operatorNamespace?: string;
  operatorServiceAccount?: string;
  /** Start kube-controller-manager (garbage collector, deployments, replica sets, namespaces). */
  controllerManager?: boolean;
  /** More kube-apiserver flags, after the defaults (a repeated flag overrides the default). */
  apiServerArgs?: string[];
  log?: (msg: string) => void;
}

const READY_TIMEOUT_MS = 60_000;

/** Returns the binary directory, building the binaries first if the cache is empty. */
export async function ensureTestBinaries(repoRoot = process.cwd()): Promise<string> {
  const script = join(repoRoot, 'scripts', 'build-testbin.sh');
  const { stdout } = await execFileP('bash', [script], {
    maxBuffer: 64 * 1024 * 1024,
    timeout: 60 * 60 * 1000,
  });
  const lines = stdout.trim().split('\n');
  return lines[lines.length - 1]!.trim();
}

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => res(port));
    });
  });
}

function token(): string {
  return randomBytes(24).toString('hex');
}

export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const log = opts.log ?? (() => {});
  const binDir = opts.binDir ?? (await ensureTestBinaries());
  const dir = await mkdtemp(join(tmpdir(), 'jfo-cp-'));
  const certDir = join(dir, 'certs');
  await mkdir(certDir, { recursive: true });
  const children = new Set<ChildProcess>();
  const killAll = () => {
    for (const c of children) if (!hasExited(c)) c.kill('SIGKILL');
  };
  process.once('exit', killAll);

  const opNs = opts.operatorNamespace ?? 'jfo-system';
  const opSa = opts.operatorServiceAccount ?? 'jupyterhub-forward-operator';
  const users = {
    admin: { name: 'admin', token: token(), groups: ['system:masters'] },
    operator: {
      name: `system:serviceaccount:${opNs}:${opSa}`,
      token: token(),
      groups: ['system:serviceaccounts', `system:serviceaccounts:${opNs}`],
    },
    viewer: { name: 'viewer', token: token(), groups: [] as string[] },
  };
  const tokenCsv = Object.values(users)
    .map((u, i) => `${u.token},${u.name},uid-${i},"${u.groups.join(',')}"`)
    .join('\n');
  await writeFile(join(dir, 'tokens.csv'), tokenCsv + '\n', { mode: 0o600 });

  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  await writeFile(join(certDir, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
  await writeFile(join(certDir, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));

  const [etcdClient, etcdPeer, apiPort] = await Promise.all([freePort(), freePort(), freePort()]);
  const run = (name: string, bin: string, args: string[]): ChildProcess => {
    const out = createWriteStream(join(dir, `${name}.log`), { flags: 'a' });
    const child = spawn(join(binDir, bin), args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.pipe(out);
    child.stderr!.pipe(out);
    children.add(child);
    child.on('exit', (code, sig) => {
      children.delete(child);
      log(`${name} exited (${code ?? sig})`);
    });
    return child;
  };

  const etcd = run('etcd', 'etcd', [
    '--name=test',
    `--data-dir=${join(dir, 'etcd')}`,
    `--listen-client-urls=http://127.0.0.1:${etcdClient}`,
    `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
    `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
    `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
    `--initial-cluster=test=http://127.0.0.1:${etcdPeer}`,
    '--unsafe-no-fsync=true',
    '--watch-progress-notify-interval=5s',
    '--log-level=warn',
  ]);

  const apiArgs = [
    `--etcd-servers=http://127.0.0.1:${etcdClient}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    `--secure-port=${apiPort}`,
    `--cert-dir=${certDir}`,
    '--service-cluster-ip-range=10.96.0.0/16',
    '--service-account-issuer=https://kubernetes.default.svc',
    `--service-account-key-file=${join(certDir, 'sa.pub')}`,
    `--service-account-signing-key-file=${join(certDir, 'sa.key')}`,
    '--authorization-mode=RBAC',
    `--token-auth-file=${join(dir, 'tokens.csv')}`,
    '--disable-admission-plugins=ServiceAccount',
    '--allow-privileged=true',
    '--endpoint-reconciler-type=none',
    '--profiling=false',
    '-v=1',
    ...(opts.apiServerArgs ?? []),
  ];
  let apiserver = run('kube-apiserver', 'kube-apiserver', apiArgs);
  const server = `https://127.0.0.1:${apiPort}`;
  const caFile = join(certDir, 'apiserver.crt');
  try {
    await waitReady(server, caFile, users.admin.token, () => hasExited(apiserver), dir);
  } catch (err) {
    killAll();
    throw err;
  }

  const kubeconfigPath = join(dir, 'kubeconfig');
  await writeFile(kubeconfigPath, kubeconfigYaml(server, caFile, users), { mode: 0o600 });

  let kcm: ChildProcess | undefined;
  if (opts.controllerManager !== false) {
    kcm = run('kube-controller-manager', 'kube-controller-manager', [
      `--kubeconfig=${kubeconfigPath}`,
      '--controllers=garbage-collector-controller,deployment-controller,replicaset-controller,namespace-controller,serviceaccount-controller',
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
      '--secure-port=0',
      '--concurrent-gc-syncs=5',
      '-v=1',
    ]);
  }

  let stopped = false;
  const cp: ControlPlane = {
    server,
    caFile,
    kubeconfigPath,
    dir,
    binDir,
    users,
    pids: { etcd: etcd.pid!, apiserver: apiserver.pid!, controllerManager: kcm?.pid ?? 0 },
    async restartApiServer() {
      await terminate(apiserver);
      apiserver = run('kube-apiserver', 'kube-apiserver', apiArgs);
      cp.pids.apiserver = apiserver.pid!;
      await waitReady(server, caFile, users.admin.token, () => hasExited(apiserver), dir);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      if (kcm) await terminate(kcm);
      await terminate(apiserver);
      await terminate(etcd);
      process.removeListener('exit', killAll);
      await rm(dir, { recursive: true, force: true });
    },
  };
  return cp;
}

/** SIGTERM, then SIGKILL after 10 s. */
async function terminate(child: ChildProcess): Promise<void> {
  await stopChild(child);
}

async function waitReady(
  server: string,
  caFile: string,
  adminToken: string,
  died: () => boolean,
  dir: string,
): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (died()) {
      const logTail = await tail(join(dir, 'kube-apiserver.log'));
      throw new Error(`kube-apiserver exited during start-up:\n${logTail}`);
    }
    if (existsSync(caFile)) {
      const ca = await readFile(caFile);
      const ready = await httpsStatus(`${server}/readyz`, ca, adminToken);
      const ns =
        ready === 200
          ? await httpsStatus(`${server}/api/v1/namespaces/default`, ca, adminToken)
          : 0;
      if (ready === 200 && ns === 200) return;
    }
    if (Date.now() > deadline) {
      const logTail = await tail(join(dir, 'kube-apiserver.log'));
      throw new Error(`kube-apiserver not ready after ${READY_TIMEOUT_MS} ms:\n${logTail}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

function httpsStatus(url: string, ca: Buffer, bearer: string): Promise<number> {
  return new Promise((res) => {
    const req = request(
      url,
      { ca, headers: { Authorization: `Bearer ${bearer}` }, timeout: 5000 },
      (r) => {
        r.resume();
        res(r.statusCode ?? 0);
      },
    );
    req.on('error', () => res(0));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

async function tail(path: string, lines = 30): Promise<string> {
  try {
    return (await readFile(path, 'utf8')).split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export function kubeconfigYaml(
  server: string,
  caFile: string,
  users: Record<string, TokenUser>,
  current = 'admin',
): string {
  const names = Object.keys(users);
  return stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'local', cluster: { server, 'certificate-authority': resolve(caFile) } }],
      users: names.map((n) => ({ name: n, user: { token: users[n]!.token } })),
      contexts: names.map((n) => ({ name: n, context: { cluster: 'local', user: n } })),
      'current-context': current,
    },
    { version: '1.1' },
  );
}
