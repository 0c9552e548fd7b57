// The `ssh -L` half: one TCP listener per ForwardedServer on its runner port; every accepted
// connection becomes a direct-tcpip channel (forwardOut) to the server's target, opened by the
// jump node.
//
// Listeners stay bound while the SSH session is down, and connections accepted then are reset at
// once (fail fast: the Service's other endpoints or the client's retry do better than a queue).
// A listener that cannot bind (port in use, no permission) is retried every RETRY_MS and its
// error is reported in TunnelReady.
import net from 'node:net';
import type ssh2 from 'ssh2';
import type { ClientChannel } from 'ssh2';
import type { HostPort } from '../api/types.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { errorMessage } from '../log-lines.js';
import type { Patch } from './patch.js';
import type { LocalForwardSpec } from './desired.js';
import { autoCork } from './cork.js';
import type { SshSession } from './session.js';
import { splice, type SpliceResult } from './splice.js';

export interface ListenerState {
  port: number;
  target: HostPort;
  listening: boolean;
  error?: string;
}

export interface ForwardHooks {
  /** A user connection got its channel (true) or the target could not be reached (false). */
  observed?(key: string, ok: boolean, message: string): void;
  accepted?(): void;
  rejected?(result: 'ssh_down' | 'channel_failed'): void;
  opened?(seconds: number): void;
  closed?(result: SpliceResult): void;
  listenerChanged?(key: string): void;
}

interface Listener {
  key: string;
  port: number;
  target: HostPort;
  server: net.Server;
  listening: boolean;
  error?: string;
  retry?: unknown;
}

interface Active {
  sock: net.Socket;
  client: ssh2.Client;
  counted: { in: number; out: number };
}

const RETRY_MS = 10_000;

export class LocalForwards {
  private readonly listeners = new Map<string, Listener>();
  private readonly active = new Set<Active>();

  constructor(
    private readonly opts: {
      listenHost: string;
      session: SshSession;
      log: Logger;
      clock: Clock;
      hooks?: ForwardHooks;
    },
  ) {
    // The channels of a dead connection are gone: reset their clients at once (not a clean FIN).
    opts.session.on('down', () => {
      for (const a of this.active) if (a.client !== opts.session.client()) a.sock.resetAndDestroy();
    });
  }

  state(key: string): ListenerState | undefined {
    const l = this.listeners.get(key);
    return l && { port: l.port, target: l.target, listening: l.listening, error: l.error };
  }

  activeConnections(): number {
    return this.active.size;
  }

  /** Bytes moved by open connections since they were last counted; marks them counted. */
  takeActiveBytes(): { in: number; out: number } {
    const sum = { in: 0, out: 0 };
    for (const a of this.active) {
      sum.in += a.sock.bytesRead - a.counted.in;
      sum.out += a.sock.bytesWritten - a.counted.out;
      a.counted = { in: a.sock.bytesRead, out: a.sock.bytesWritten };
    }
    return sum;
  }

  /** The keys of every listener. */
  keys(): IterableIterator<string> {
    return this.listeners.keys();
  }

  /**
   * Applies a change of the desired listeners: closes removed ones and those whose port changes
   * (all of them before any new bind, so ports can move between keys), binds new ports, and
   * retargets the others in place.
   */
  update(p: Patch<LocalForwardSpec>): void {
    for (const key of p.removed) {
      const l = this.listeners.get(key);
      if (l) this.remove(l);
    }
    const specs = Object.values(p.set);
    for (const spec of specs) {
      const l = this.listeners.get(spec.key);
      if (l && l.port !== spec.port) this.remove(l);
    }
    for (const spec of specs) {
      const l = this.listeners.get(spec.key);
      if (!l) this.add(spec);
      else if (spec.target.host !== l.target.host || spec.target.port !== l.target.port) {
        l.target = { ...spec.target };
        this.opts.hooks?.listenerChanged?.(spec.key);
      }
    }
  }

  /** Stops accepting: closes every listener (open connections continue). */
  closeListeners(): void {
    for (const l of [...this.listeners.values()]) this.remove(l);
  }

  /** Resolves when no connection is open or after timeoutMs; returns how many were left. */
  async waitIdle(timeoutMs: number): Promise<number> {
    const deadline = this.opts.clock.now() + timeoutMs;
    while (this.active.size > 0 && this.opts.clock.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    return this.active.size;
  }

  destroyAll(): void {
    for (const a of this.active) a.sock.destroy();
  }

  private add(spec: LocalForwardSpec): void {
    const server = net.createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: true });
    const l: Listener = {
      key: spec.key,
      port: spec.port,
      target: { ...spec.target },
      server,
      listening: false,
    };
    this.listeners.set(spec.key, l);
    server.on('connection', (sock: net.Socket) => this.onConnection(l, autoCork(sock)));
    server.on('error', (err) => this.onListenError(l, err));
    server.on('listening', () => {
      l.listening = true;
      l.error = undefined;
      this.opts.log.debug('Listening for ForwardedServer', { key: l.key, port: l.port });
      this.opts.hooks?.listenerChanged?.(l.key);
    });
    server.listen({ port: l.port, host: this.opts.listenHost, backlog: 1024 });
  }

  private onListenError(l: Listener, err: Error): void {
    if (this.listeners.get(l.key) !== l) return;
    l.listening = false;
    l.error = `Cannot listen on ${this.opts.listenHost}:${l.port}: ${errorMessage(err)}`;
    this.opts.log.warn('Failed to listen for ForwardedServer', { key: l.key, error: l.error });
    this.opts.hooks?.listenerChanged?.(l.key);
    l.server.close();
    l.retry = this.opts.clock.setTimeout(() => {
      if (this.listeners.get(l.key) !== l) return;
      l.server.listen({ port: l.port, host: this.opts.listenHost, backlog: 1024 });
    }, RETRY_MS);
  }

  private remove(l: Listener): void {
    this.listeners.delete(l.key);
    if (l.retry !== undefined) this.opts.clock.clearTimeout(l.retry);
    l.server.close();
    l.server.on('error', () => {});
  }

  private onConnection(l: Listener, sock: net.Socket): void {
    const hooks = this.opts.hooks;
    sock.on('error', () => {});
    const client = this.opts.session.client();
    if (!client) {
      hooks?.rejected?.('ssh_down');
      sock.resetAndDestroy();
      return;
    }
    hooks?.accepted?.();
    const started = process.hrtime.bigint();
    const target = l.target;
    const onChannel = (err: Error | undefined, channel?: ClientChannel) => {
      if (err || !channel) {
        hooks?.rejected?.('channel_failed');
        hooks?.observed?.(l.key, false, channelError(err, target));
        sock.resetAndDestroy();
        return;
      }
      hooks?.opened?.(Number(process.hrtime.bigint() - started) / 1e9);
      hooks?.observed?.(l.key, true, '');
      if (sock.destroyed) {
        channel.on('error', () => {});
        channel.destroy();
        return;
      }
      const a: Active = { sock, client, counted: { in: 0, out: 0 } };
      this.active.add(a);
      const aborted = () => this.opts.session.client() !== client;
      splice(sock, channel, aborted, (r) => {
        this.active.delete(a);
        hooks?.closed?.({
          bytesIn: r.bytesIn - a.counted.in,
          bytesOut: r.bytesOut - a.counted.out,
        });
      });
    };
    try {
      client.forwardOut(
        sock.remoteAddress ?? '127.0.0.1',
        sock.remotePort ?? 0,
        target.host,
        target.port,
        onChannel,
      );
    } catch (err) {
      onChannel(err as Error);
    }
  }
}

/** The jump node's answer to a failed channel open, for conditions and logs. */
export function channelError(err: Error | undefined, target: HostPort): string {
  const reason = (err as { reason?: unknown } | undefined)?.reason;
  const why =
    reason === 1
      ? 'the jump node does not allow forwarding there (AllowTcpForwarding/PermitOpen)'
      : (err?.message ?? 'no channel').replace(/^\(SSH\) Channel open failure: /, '');
  return `The jump node cannot connect to ${target.host}:${target.port}: ${why}`;
}
