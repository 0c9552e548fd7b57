// The `ssh -R` half: for each ForwardedServer with spec.remoteForward, the jump node listens on
// bindAddress:bindPort (tcpip-forward, ssh2 forwardIn) and hands every connection to the runner,
// which connects it to the in-cluster target.
//
// Remote forwards live only as long as the SSH connection: every registration is repeated on each
// new connection ('ready'), and one the jump node refused (port taken, e.g. by another runner
// replica that holds it) is retried every RETRY_MS while connected. ssh2 matches incoming
// connections by the exact "bindAddress:bindPort" string that was registered.
import net from 'node:net';
import type ssh2 from 'ssh2';
import type { HostPort } from '../api/types.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { errorMessage } from '../log-lines.js';
import type { Patch } from './patch.js';
import type { RemoteForwardSpec } from './desired.js';
import { autoCork } from './cork.js';
import { splice, type SpliceResult } from './splice.js';

export interface RemoteState {
  bind: string;
  target: HostPort;
  registered: boolean;
  error?: string;
}

export interface RemoteHooks {
  changed?(key: string): void;
  connection?(result: 'ok' | 'target_failed' | 'unknown'): void;
  closed?(result: SpliceResult): void;
}

interface Registration {
  key: string;
  spec: RemoteForwardSpec;
  /** The client this forward is registered on (undefined: not registered). */
  on?: ssh2.Client;
  pending: boolean;
  error?: string;
}

const RETRY_MS = 10_000;
const CONNECT_TIMEOUT_MS = 10_000;

const bindOf = (s: RemoteForwardSpec) => `${s.bindAddress}:${s.bindPort}`;

export class RemoteForwards {
  private readonly regs = new Map<string, Registration>();
  /** The same registrations by "bindAddress:bindPort", for incoming connections. */
  private readonly byBind = new Map<string, Registration>();
  private client?: ssh2.Client;
  private retryTimer?: unknown;
  private readonly sockets = new Set<net.Socket>();

  constructor(private readonly opts: { log: Logger; clock: Clock; hooks?: RemoteHooks }) {}

  state(key: string): RemoteState | undefined {
    const r = this.regs.get(key);
    if (!r) return undefined;
    const registered = !!r.on && r.on === this.client;
    return { bind: bindOf(r.spec), target: r.spec.target, registered, error: r.error };
  }

  /** Applies a change of the desired remote forwards; a forward whose bind changes starts over. */
  update(p: Patch<RemoteForwardSpec>): void {
    for (const key of p.removed) {
      const r = this.regs.get(key);
      if (r) this.unregister(r);
    }
    const specs = Object.values(p.set);
    for (const spec of specs) {
      const r = this.regs.get(spec.key);
      if (r && bindOf(spec) !== bindOf(r.spec)) this.unregister(r);
      else if (r) r.spec = spec;
    }
    for (const spec of specs) {
      if (this.regs.has(spec.key)) continue;
      const r: Registration = { key: spec.key, spec, pending: false };
      this.regs.set(spec.key, r);
      this.byBind.set(bindOf(spec), r);
      this.register(r);
    }
  }

  /** A new SSH connection: nothing is registered on it yet. */
  onReady(client: ssh2.Client): void {
    this.client = client;
    client.on('tcp connection', (info, accept, reject) => this.onConnection(info, accept, reject));
    for (const r of this.regs.values()) {
      r.on = undefined;
      r.pending = false;
      this.opts.hooks?.changed?.(r.key);
      this.register(r);
    }
  }

  onDown(): void {
    this.client = undefined;
    this.clearRetry();
    // Their channels died with the connection.
    for (const s of this.sockets) s.resetAndDestroy();
    for (const r of this.regs.values()) this.opts.hooks?.changed?.(r.key);
  }

  /** Asks the jump node to stop listening (best effort, for a graceful shutdown). */
  async unregisterAll(timeoutMs: number): Promise<void> {
    const client = this.client;
    this.clearRetry();
    if (!client) return;
    const pending = [...this.regs.values()]
      .filter((r) => r.on === client)
      .map(
        (r) =>
          new Promise<void>((resolve) => {
            try {
              client.unforwardIn(r.spec.bindAddress, r.spec.bindPort, () => resolve());
            } catch {
              resolve();
            }
          }),
      );
    const timeout = new Promise<void>((r) => this.opts.clock.setTimeout(r, timeoutMs));
    await Promise.race([Promise.all(pending), timeout]);
  }

  destroyAll(): void {
    for (const s of this.sockets) s.destroy();
  }

  private register(r: Registration): void {
    const client = this.client;
    if (!client || r.pending || r.on === client) return;
    r.pending = true;
    const done = (err: Error | undefined) => {
      r.pending = false;
      if (this.regs.get(r.key) !== r || this.client !== client) return;
      if (err) {
        r.error = `The jump node refused to listen on ${bindOf(r.spec)}: ${errorMessage(err)}`;
        this.opts.log.warn('Failed to register remote forward', { key: r.key, error: r.error });
        this.scheduleRetry();
      } else {
        r.on = client;
        r.error = undefined;
        this.opts.log.info('Registered remote forward', { key: r.key, bind: bindOf(r.spec) });
      }
      this.opts.hooks?.changed?.(r.key);
    };
    try {
      client.forwardIn(r.spec.bindAddress, r.spec.bindPort, (err) => done(err));
    } catch (err) {
      done(err as Error);
    }
  }

  private unregister(r: Registration): void {
    this.regs.delete(r.key);
    if (this.byBind.get(bindOf(r.spec)) === r) this.byBind.delete(bindOf(r.spec));
    const client = r.on;
    if (!client || client !== this.client) return;
    try {
      client.unforwardIn(r.spec.bindAddress, r.spec.bindPort, (err) => {
        if (err)
          this.opts.log.warn('Failed to cancel remote forward', { key: r.key, error: err.message });
      });
    } catch {
      // The connection is going away, and the forward with it.
    }
  }

  private scheduleRetry(): void {
    if (this.retryTimer !== undefined) return;
    this.retryTimer = this.opts.clock.setTimeout(() => {
      this.retryTimer = undefined;
      for (const r of this.regs.values()) if (!r.on || r.on !== this.client) this.register(r);
    }, RETRY_MS);
  }

  private clearRetry(): void {
    if (this.retryTimer !== undefined) this.opts.clock.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  private onConnection(
    info: ssh2.TcpConnectionDetails,
    accept: ssh2.AcceptConnection<ssh2.ClientChannel>,
    reject: ssh2.RejectConnection,
  ): void {
    const bind = `${info.destIP}:${info.destPort}`;
    const r = this.byBind.get(bind);
    if (!r) {
      this.opts.hooks?.connection?.('unknown');
      return reject();
    }
    const { host, port } = r.spec.target;
    const sock = autoCork(net.connect({ host, port, noDelay: true, allowHalfOpen: true }));
    this.sockets.add(sock);
    sock.on('close', () => this.sockets.delete(sock));
    const timer = this.opts.clock.setTimeout(
      () => sock.destroy(new Error(`no connection within ${CONNECT_TIMEOUT_MS} ms`)),
      CONNECT_TIMEOUT_MS,
    );
    const fail = (err: Error) => {
      this.opts.clock.clearTimeout(timer);
      this.opts.log.debug('Failed to reach remote forward target', {
        key: r.key,
        error: err.message,
      });
      this.opts.hooks?.connection?.('target_failed');
      reject();
    };
    sock.once('error', fail);
    sock.once('connect', () => {
      this.opts.clock.clearTimeout(timer);
      sock.off('error', fail);
      this.opts.hooks?.connection?.('ok');
      const client = this.client;
      const channel = accept();
      splice(
        sock,
        channel,
        () => this.client !== client,
        (res) => this.opts.hooks?.closed?.(res),
      );
    });
  }
}
