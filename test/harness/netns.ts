// A "remote site" in network namespaces, for tests that must prove traffic crosses an SSH tunnel:
//
//   host (test process) ──veth── jump netns (sshd) ──veth── compute netns (notebook-like server)
//
// The host reaches the jump namespace only; the compute namespace is reachable only from the
// jump namespace (no route from the host, no IP forwarding in the jump namespace). Names carry the
// creating process id, so a later run removes what a crashed run left behind (sweepStale), and
// destroy() removes everything it created, also after a failure. Needs root and iproute2.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import net from 'node:net';
import { pidAlive, stopChild } from '../../src/dev/process.js';

const IP = '/usr/sbin/ip';
const PREFIX = 'jfo';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command (argument array, no shell); never rejects. */
export function run(cmd: string, args: string[], timeoutMs = 30_000): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

async function ip(args: string[]): Promise<string> {
  const r = await run(IP, args);
  if (r.code !== 0) throw new Error(`ip ${args.join(' ')} failed: ${r.stderr.trim()}`);
  return r.stdout;
}

export interface RemoteTopology {
  jumpNs: string;
  computeNs: string;
  /** Host side of the host<->jump link. */
  hostAddr: string;
  /** The jump node as the host sees it (sshd listens here). */
  jumpAddr: string;
  /** The jump node as the compute node sees it. */
  jumpInnerAddr: string;
  /** The compute node (target servers listen here), reachable from the jump node only. */
  computeAddr: string;
  /** Spawns a long-running process inside a namespace (argument array, no shell). */
  spawnIn(ns: string, argv: string[], opts?: { cwd?: string }): ChildProcess;
  /** Runs a command inside a namespace and waits for it. */
  runIn(ns: string, argv: string[], timeoutMs?: number): Promise<RunResult>;
  /** Takes the host<->jump link down (packets vanish, as with a dead node) or up again. */
  setJumpLink(up: boolean): Promise<void>;
  destroy(): Promise<void>;
}

/** Deletes namespaces (and their processes) left behind by test processes that no longer run. */
export async function sweepStale(): Promise<void> {
  const out = await run(IP, ['netns', 'list']);
  for (const line of out.stdout.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const m = new RegExp(`^${PREFIX}-(\\d+)-[0-9a-f]+-(jump|comp)$`).exec(name);
    if (!m || pidAlive(Number(m[1]))) continue;
    await deleteNamespace(name);
  }
}

/** Kills the processes inside a namespace of ours, then deletes it (which removes its veths). */
async function deleteNamespace(name: string): Promise<void> {
  const pids = await run(IP, ['netns', 'pids', name]);
  for (const pid of pids.stdout
    .split('\n')
    .map(Number)
    .filter((p) => p > 0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  await run(IP, ['netns', 'del', name]);
}

/** A /24 in 100.64.0.0/10 that no interface on the host uses yet. */
async function freeSubnet(): Promise<string> {
  const used = await run(IP, ['-4', '-o', 'addr', 'show']);
  for (;;) {
    const [a, b] = randomBytes(2);
    const net24 = `100.${64 + (a! % 64)}.${b}`;
    if (!used.stdout.includes(` ${net24}.`)) return net24;
  }
}

export async function createRemoteTopology(): Promise<RemoteTopology> {
  await sweepStale();
  const id = `${process.pid}-${randomBytes(3).toString('hex')}`;
  const short = randomBytes(4).toString('hex');
  const jumpNs = `${PREFIX}-${id}-jump`;
  const computeNs = `${PREFIX}-${id}-comp`;
  const [vHost, vJump, vJumpIn, vComp] = ['h', 'j', 'i', 'c'].map((c) => `jfo${c}${short}`);
  const s = await freeSubnet();
  const topo = {
    jumpNs,
    computeNs,
    hostAddr: `${s}.1`,
    jumpAddr: `${s}.2`,
    jumpInnerAddr: `${s}.5`,
    computeAddr: `${s}.6`,
  };
  const created: string[] = [];
  const destroy = async () => {
    await run(IP, ['link', 'del', vHost!]);
    for (const ns of created.reverse()) await deleteNamespace(ns);
  };
  try {
    for (const ns of [jumpNs, computeNs]) {
      await ip(['netns', 'add', ns]);
      created.push(ns);
      await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    await ip(['link', 'add', vHost!, 'type', 'veth', 'peer', 'name', vJump!, 'netns', jumpNs]);
    await ip(['addr', 'add', `${topo.hostAddr}/30`, 'dev', vHost!]);
    await ip(['link', 'set', vHost!, 'up']);
    await ip(['-n', jumpNs, 'addr', 'add', `${topo.jumpAddr}/30`, 'dev', vJump!]);
    await ip(['-n', jumpNs, 'link', 'set', vJump!, 'up']);
    await ip([
      '-n',
      jumpNs,
      'link',
      'add',
      vJumpIn!,
      'type',
      'veth',
      'peer',
      'name',
      vComp!,
      'netns',
      computeNs,
    ]);
    await ip(['-n', jumpNs, 'addr', 'add', `${topo.jumpInnerAddr}/30`, 'dev', vJumpIn!]);
    await ip(['-n', jumpNs, 'link', 'set', vJumpIn!, 'up']);
    await ip(['-n', computeNs, 'addr', 'add', `${topo.computeAddr}/30`, 'dev', vComp!]);
    await ip(['-n', computeNs, 'link', 'set', vComp!, 'up']);
    // The host even routes the compute subnet towards the jump node (otherwise its default route
    // would take the packets), and the jump node does not forward them: only sshd gets through.
    await ip(['route', 'add', `${s}.4/30`, 'via', topo.jumpAddr, 'dev', vHost!]);
    await ip(['-n', computeNs, 'route', 'add', 'default', 'via', topo.jumpInnerAddr]);
    await ip(['netns', 'exec', jumpNs, '/usr/sbin/sysctl', '-qw', 'net.ipv4.ip_forward=0']);
  } catch (err) {
    await destroy();
    throw err;
  }
  return {
    ...topo,
    spawnIn: (ns, argv, opts) =>
      spawn(IP, ['netns', 'exec', ns, ...argv], {
        cwd: opts?.cwd,
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    runIn: (ns, argv, timeoutMs) => run(IP, ['netns', 'exec', ns, ...argv], timeoutMs),
    // The jump side goes down, so the host's end merely loses carrier: the host keeps its route
    // and its packets vanish silently, as they do towards a node that died.
    setJumpLink: async (up) => {
      await ip(['-n', jumpNs, 'link', 'set', vJump!, up ? 'up' : 'down']);
    },
    destroy,
  };
}

/** True if a TCP connection to host:port succeeds within timeoutMs. */
export function canConnect(host: string, port: number, timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

/** Processes of ours that are still running in the namespaces (for leak checks). */
export function namespaceNames(): string[] {
  try {
    return readdirSync('/run/netns').filter((n) => n.startsWith(`${PREFIX}-${process.pid}-`));
  } catch {
    return [];
  }
}

// A notebook-like target: HTTP (GET / answers JSON with the peer address it saw, GET /bytes/N
// streams N bytes) and a websocket echo on the same port. Self-contained so that it runs with
// plain `node -e` inside a namespace.
const TARGET_SOURCE = String.raw`
const http = require('node:http');
const crypto = require('node:crypto');
const [port, host] = [Number(process.argv[1]), process.argv[2]];
const server = http.createServer((req, res) => {
  const m = /^\/bytes\/(\d+)$/.exec(req.url);
  if (m) {
    let left = Number(m[1]);
    const chunk = Buffer.alloc(64 * 1024, 120);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': left });
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, chunk.length);
        left -= n;
        if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return res.once('drain', pump);
      }
      res.end();
    };
    return pump();
  }
  const body = JSON.stringify({ target: 'compute', path: req.url, peer: req.socket.remoteAddress });
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(body);
});
server.on('upgrade', (req, sock) => {
  sock.on('error', () => {});
  const accept = crypto.createHash('sha1')
    .update(req.headers['sec-websocket-key'] + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
  sock.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    'Sec-WebSocket-Accept: ' + accept + '\r\n\r\n');
  let buf = Buffer.alloc(0);
  sock.on('data', (d) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 6) {
      const op = buf[0] & 15;
      let len = buf[1] & 127, off = 2;
      if (len === 126) { len = buf.readUInt16BE(2); off = 4; }
      if (buf.length < off + 4 + len) return;
      const mask = buf.subarray(off, off + 4);
      const data = Buffer.from(buf.subarray(off + 4, off + 4 + len)).map((b, i) => b ^ mask[i % 4]);
      buf = buf.subarray(off + 4 + len);
      if (op === 8) return sock.end();
      const text = Buffer.from('echo:' + Buffer.from(data).toString());
      const head = text.length < 126 ? Buffer.from([0x81, text.length])
        : Buffer.from([0x81, 126, text.length >> 8, text.length & 255]);
      sock.write(Buffer.concat([head, text]));
    }
  });
});
server.listen(port, host, () => process.stdout.write('listening\n'));
`;

export interface TargetServer {
  port: number;
  stop(): Promise<void>;
}

/** Starts the target server inside `ns` on host:port; resolves once it listens. */
export async function startTargetServer(
  topo: Pick<RemoteTopology, 'spawnIn'>,
  ns: string,
  host: string,
  port: number,
): Promise<TargetServer> {
  const child = topo.spawnIn(ns, [process.execPath, '-e', TARGET_SOURCE, String(port), host]);
  await new Promise<void>((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`target server exited (${code}): ${err}`)));
  });
  return {
    port,
    stop: async () => void (await stopChild(child, { signal: 'SIGKILL' })),
  };
}

/** Sends one websocket text message to ws://host:port/path and returns the first reply. */
export function websocketEcho(
  host: string,
  port: number,
  message: string,
  timeoutMs = 10_000,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port });
    const key = randomBytes(16).toString('base64');
    let buf = Buffer.alloc(0);
    let upgraded = false;
    const timer = setTimeout(() => finish(new Error('websocket: no answer')), timeoutMs);
    const finish = (err: Error | null, text?: string) => {
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(text!);
    };
    sock.on('error', (err) => finish(err));
    sock.on('close', () => finish(new Error('websocket: connection closed')));
    sock.on('connect', () => {
      sock.write(
        `GET /ws HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (!upgraded) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        if (!buf.subarray(0, end).toString().startsWith('HTTP/1.1 101'))
          return finish(new Error('websocket: upgrade refused'));
        upgraded = true;
        buf = buf.subarray(end + 4);
        const payload = Buffer.from(message);
        const mask = randomBytes(4);
        const masked = payload.map((b, i) => b ^ mask[i % 4]!);
        sock.write(Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]));
      }
      if (buf.length >= 2 && buf.length >= 2 + (buf[1]! & 127))
        finish(null, buf.subarray(2, 2 + (buf[1]! & 127)).toString());
    });
  });
}
