// A real OpenSSH sshd as the jump node, the one set-up that the tests (test/harness/sshd.ts) and
// the benchmarks (bench/*.mjs, built as dist/dev/sshd.js) share: its own config, host key and
// authorized_keys in a temporary directory, TCP forwarding allowed, key login for one user (root
// by default: tests run as root). It runs on the host (free port on loopback) or inside a network
// namespace, can be killed (listener and every session process, like a crash) and started again
// with the same keys and port, and stop() removes everything, also after a failed test.
//
// Contract: kill() and stop() return once the listener process has exited (by its exit code or
// by the signal that ended it), never hang on a process that is already gone.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import {
  appendFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exitOf, hasExited } from './process.js';

const SSHD = '/usr/sbin/sshd';
const SSH_KEYGEN = '/usr/bin/ssh-keygen';

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], timeoutMs = 30_000): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

export interface SshdOptions {
  /** Run inside this network namespace (default: on the host). */
  netns?: string;
  /** Address to listen on (default 127.0.0.1 on the host, 0.0.0.0 in a namespace). */
  listenAddress?: string;
  /** Port (default: a free port on the host, 22 in a namespace). */
  port?: number;
  /** Login user (default root). */
  user?: string;
  /** Extra sshd_config lines, e.g. ["GatewayPorts yes"] or ["Ciphers aes128-gcm@openssh.com"]. */
  extraConfig?: string[];
  /** sshd's LogLevel (default VERBOSE; benchmarks use ERROR so that logging costs nothing). */
  logLevel?: string;
}

export interface Sshd {
  /** Address to connect to (the listen address, or 127.0.0.1 when listening on 0.0.0.0). */
  host: string;
  port: number;
  user: string;
  dir: string;
  /** "ssh-ed25519 AAAA..." of the server. */
  hostPublicKey: string;
  /** Path and OpenSSH text of the client's private key (authorized for `user`). */
  clientKeyPath: string;
  clientPrivateKey: string;
  /** "ssh-ed25519 AAAA..." of the client key. */
  clientPublicKey: string;
  /** Adds a public key line to authorized_keys. */
  authorize(publicKey: string): void;
  start(): Promise<void>;
  /** SIGKILL to the listener and all its session processes (the jump node "dies"). */
  kill(): Promise<void>;
  stop(): Promise<void>;
  pid(): number | undefined;
  /** Established TCP connections to the sshd port (counted inside its namespace). */
  established(): Promise<number>;
  /** sshd's log so far (stderr with -e). */
  log(): string;
}

async function keygen(path: string, comment: string): Promise<void> {
  const r = await run(SSH_KEYGEN, ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', path]);
  if (r.code !== 0) throw new Error(`ssh-keygen failed: ${r.stderr}`);
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

function descendants(root: number): number[] {
  const parent = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parent.set(Number(entry), ppid);
    } catch {
      // The process ended while we looked.
    }
  }
  const out: number[] = [];
  const walk = (pid: number) => {
    for (const [child, ppid] of parent) {
      if (ppid !== pid) continue;
      out.push(child);
      walk(child);
    }
  };
  walk(root);
  return out;
}

function config(
  o: { port: number; listen: string; dir: string; logLevel: string },
  extra: string[],
): string {
  return [
    `Port ${o.port}`,
    `ListenAddress ${o.listen}`,
    `HostKey ${join(o.dir, 'host_ed25519')}`,
    'PidFile none',
    `AuthorizedKeysFile ${join(o.dir, 'authorized_keys')}`,
    'PermitRootLogin prohibit-password',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    'StrictModes no',
    'AllowTcpForwarding yes',
    'PermitOpen any',
    'MaxStartups 200:30:400',
    `LogLevel ${o.logLevel}`,
    ...extra,
    '',
  ].join('\n');
}

export async function startSshd(opts: SshdOptions = {}): Promise<Sshd> {
  const dir = mkdtempSync(join(tmpdir(), 'jfo-sshd-'));
  mkdirSync('/run/sshd', { recursive: true });
  const listen = opts.listenAddress ?? (opts.netns ? '0.0.0.0' : '127.0.0.1');
  const port = opts.port ?? (opts.netns ? 22 : await freePort(listen));
  const user = opts.user ?? 'root';
  await keygen(join(dir, 'host_ed25519'), 'jfo-test-host');
  await keygen(join(dir, 'client_ed25519'), 'jfo-test-client');
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'client_ed25519.pub')));
  writeFileSync(
    join(dir, 'sshd_config'),
    config({ port, listen, dir, logLevel: opts.logLevel ?? 'VERBOSE' }, opts.extraConfig ?? []),
  );
  const hostPublicKey = readFileSync(join(dir, 'host_ed25519.pub'), 'utf8').trim();
  let child: ChildProcess | undefined;
  let logText = '';

  const inNs = (argv: string[]) =>
    opts.netns
      ? (['/usr/sbin/ip', ['netns', 'exec', opts.netns, ...argv]] as const)
      : ([argv[0]!, argv.slice(1)] as const);

  const listening = async (): Promise<boolean> => {
    const [cmd, args] = inNs(['/usr/bin/ss', '-Hltn', `sport = :${port}`]);
    const r = await run(cmd, [...args]);
    return r.stdout.trim().length > 0;
  };

  const kill = async () => {
    const c = child;
    child = undefined;
    if (!c?.pid || hasExited(c)) return;
    const pids = [c.pid, ...descendants(c.pid)];
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    await exitOf(c);
  };

  const start = async () => {
    if (child) throw new Error('sshd is already running');
    const [cmd, args] = inNs([SSHD, '-D', '-e', '-f', join(dir, 'sshd_config')]);
    const c = spawn(cmd, [...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = c;
    c.stderr!.on('data', (d: Buffer) => (logText += d.toString()));
    for (let i = 0; i < 200; i++) {
      if (hasExited(c)) throw new Error(`sshd exited (${c.exitCode ?? c.signalCode}): ${logText}`);
      if (await listening()) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    await kill();
    throw new Error(`sshd did not listen on port ${port}: ${logText}`);
  };

  await start().catch(async (err) => {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  });
  return {
    host: listen === '0.0.0.0' ? '127.0.0.1' : listen,
    port,
    user,
    dir,
    hostPublicKey,
    clientKeyPath: join(dir, 'client_ed25519'),
    clientPrivateKey: readFileSync(join(dir, 'client_ed25519'), 'utf8'),
    clientPublicKey: readFileSync(join(dir, 'client_ed25519.pub'), 'utf8').trim(),
    authorize: (publicKey) => appendFileSync(join(dir, 'authorized_keys'), `${publicKey.trim()}\n`),
    start,
    kill,
    stop: async () => {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
    pid: () => child?.pid,
    established: async () => {
      const [cmd, args] = inNs([
        '/usr/bin/ss',
        '-Htn',
        'state',
        'established',
        `( sport = :${port} )`,
      ]);
      const r = await run(cmd, [...args]);
      return r.stdout.split('\n').filter((l) => l.trim()).length;
    },
    log: () => logText,
  };
}
