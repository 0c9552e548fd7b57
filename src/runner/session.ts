// The one SSH connection of a runner process (ssh2), kept alive for as long as the runner runs.
//
// Contract:
//   - one ssh2 Client per attempt, never reused after 'close' ('close' is the only terminal
//     event; 'error' always precedes it);
//   - the server's host key must be one of the pinned keys (or insecureSkipHostKeyCheck);
//   - keepalive is always on (JumpNode spec.keepalive), and TCP_NODELAY is set on the socket
//     (small SSH packets, such as channel set-up, are sent at once);
//   - after a failure the next attempt waits a capped, jittered exponential delay whose cap
//     never exceeds the keepalive bound; while the attempts never reach sshd (the port refuses,
//     the host is unreachable) the delay stays at 125–500 ms; reconnectNow() skips the wait (restart annotation);
//   - 'ready' is emitted with each new Client, 'down' when a ready Client is gone, 'change' on
//     any state change. Listeners must not throw.
import { EventEmitter } from 'node:events';
import net from 'node:net';
import ssh2 from 'ssh2';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { backoffDelay, reconnectPolicy, refusedPolicy } from './backoff.js';
import { autoCork } from './cork.js';
import type { ConnectionSettings, SettingsResult } from './connection-settings.js';
import { connectConfig } from './connect-config.js';
import { classify, logFields, type AttemptOutcome, type SessionProblem } from './problems.js';

export type { SessionProblem } from './problems.js';

export type SessionPhase = 'idle' | 'connecting' | 'connected' | 'waiting' | 'closed';

export interface SessionSnapshot {
  phase: SessionPhase;
  /** ms epoch of the current connection's 'ready'. */
  connectedSince?: number;
  /** Why the runner is not connected (or why the last attempt failed). */
  problem?: SessionProblem;
  failures: number;
  /** "user@host:port" of the configured jump node. */
  server?: string;
  insecure: boolean;
}

export interface SessionHooks {
  attempt?(): void;
  connected?(): void;
  failed?(reason: string): void;
  disconnected?(reason: string): void;
}

export interface SessionOptions {
  log: Logger;
  clock: Clock;
  random?: () => number;
  readyTimeoutMs: number;
  reconnectInitialMs: number;
  reconnectMaxMs: number;
  hooks?: SessionHooks;
}

/**
 * Socket errors of an attempt that never reached sshd (nothing listens, or the host or network is
 * not reachable yet): retrying them soon costs the jump node nothing.
 */
const NOT_REACHED = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH']);

/** A connection that lived this long resets the backoff. */
const STABLE_MS = 10_000;

interface Attempt extends AttemptOutcome {
  id: number;
  client: ssh2.Client;
  sock: net.Socket;
}

export class SshSession extends EventEmitter {
  private settings?: ConnectionSettings;
  private settingsProblem?: SessionProblem;
  private phase: SessionPhase = 'idle';
  private attempt?: Attempt;
  private attempts = 0;
  private failures = 0;
  private problem?: SessionProblem;
  private connectedSince?: number;
  private retryTimer?: unknown;

  constructor(private readonly opts: SessionOptions) {
    super();
  }

  snapshot(): SessionSnapshot {
    const s = this.settings;
    return {
      phase: this.phase,
      connectedSince: this.connectedSince,
      problem: this.phase === 'connected' ? undefined : (this.settingsProblem ?? this.problem),
      failures: this.failures,
      server: s ? `${s.username}@${s.host}:${s.port}` : undefined,
      insecure: !!s?.insecureSkipHostKeyCheck,
    };
  }

  /** The connected Client, or undefined while there is none. */
  client(): ssh2.Client | undefined {
    return this.phase === 'connected' ? this.attempt?.client : undefined;
  }

  /** Applies new settings: connects if idle, reconnects at once if the settings changed. */
  configure(result: SettingsResult): void {
    if (this.phase === 'closed') return;
    if (!result.ok) {
      this.settingsProblem = { reason: result.reason, message: result.message };
      if (result.reason === 'JumpNodeNotFound') {
        this.settings = undefined;
        this.stopAttempt('the JumpNode is gone');
        this.setPhase('idle');
      } else this.emit('change');
      return;
    }
    const changed = this.settings?.identity !== result.settings.identity;
    const hadProblem = !!this.settingsProblem;
    this.settingsProblem = undefined;
    this.settings = result.settings;
    if (changed) this.reconnectNow('connection settings changed');
    else if (hadProblem) this.emit('change');
  }

  /**
   * Drops the current connection (if any) and connects again without waiting; with `notBefore`
   * (ms epoch), a connection made at or after it is kept (it is already newer than the reason).
   */
  reconnectNow(reason: string, notBefore?: number): void {
    if (this.phase === 'closed' || !this.settings) return;
    const since = this.phase === 'connected' ? this.connectedSince : undefined;
    if (notBefore !== undefined && since !== undefined && since >= notBefore) {
      this.opts.log.info('Kept the connection to JumpNode: it is newer than the request', {
        reason,
      });
      return;
    }
    this.opts.log.info('Reconnecting to JumpNode', { reason });
    this.failures = 0;
    this.clearRetry();
    this.stopAttempt(reason);
    this.start();
  }

  async close(): Promise<void> {
    if (this.phase === 'closed') return;
    this.clearRetry();
    const a = this.attempt;
    this.setPhase('closed');
    if (!a) return;
    await new Promise<void>((resolve) => {
      const done = () => resolve();
      a.client.once('close', done);
      const t = this.opts.clock.setTimeout(() => {
        a.sock.destroy();
        done();
      }, 2000);
      a.client.once('close', () => this.opts.clock.clearTimeout(t));
      try {
        a.client.end();
      } catch {
        a.sock.destroy();
      }
    });
  }

  private setPhase(phase: SessionPhase): void {
    this.phase = phase;
    this.emit('change');
  }

  private clearRetry(): void {
    if (this.retryTimer !== undefined) this.opts.clock.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }

  /** Forgets the current attempt; its late events are ignored. */
  private stopAttempt(reason: string): void {
    const a = this.attempt;
    if (!a) return;
    this.attempt = undefined;
    const wasReady = a.ready && this.phase === 'connected';
    this.connectedSince = undefined;
    try {
      a.client.end();
    } catch {
      // Not connected yet: nothing to say goodbye to.
    }
    a.sock.destroy();
    if (wasReady) {
      this.opts.hooks?.disconnected?.('Reconnecting');
      this.emit('down', reason);
    }
  }

  private start(): void {
    const s = this.settings;
    if (!s || this.phase === 'closed') return;
    const id = ++this.attempts;
    const sock = autoCork(
      net.connect({ host: s.host, port: s.port, noDelay: true, keepAlive: true }),
    );
    const client = new ssh2.Client();
    const a: Attempt = { id, client, sock, ready: false };
    this.attempt = a;
    this.setPhase('connecting');
    this.opts.hooks?.attempt?.();
    // ssh2 reports socket errors as client 'error' events; this one only keeps an early error
    // (before connect() attaches ssh2's handler) from being unhandled.
    sock.on('error', () => {});
    client.on('error', (err: Attempt['error']) => {
      a.error ??= err;
    });
    client.on('handshake', (n: ssh2.NegotiatedAlgorithms) =>
      this.opts.log.debug('Negotiated SSH algorithms', {
        kex: n.kex,
        hostKey: n.serverHostKey,
        cipher: n.cs.cipher,
      }),
    );
    client.on('ready', () => this.onReady(a));
    client.on('close', () => this.onClose(a));
    try {
      client.connect(
        connectConfig(s, sock, this.opts.readyTimeoutMs, (problem) => (a.hostKeyProblem = problem)),
      );
    } catch (err) {
      // connect() threw before ssh2 took the socket (e.g. a key it cannot use): no 'close' will
      // come, so this attempt ends here and is retried like any failed one.
      a.error = err as Error;
      sock.destroy();
      this.onClose(a);
    }
  }

  private onReady(a: Attempt): void {
    if (this.attempt !== a || this.phase === 'closed') return;
    a.ready = true;
    this.connectedSince = this.opts.clock.now();
    this.problem = undefined;
    const s = this.settings!;
    this.opts.log.info('Connected to JumpNode', {
      server: `${s.username}@${s.host}:${s.port}`,
      attempt: a.id,
      ...(s.insecureSkipHostKeyCheck ? { warning: 'host key not verified' } : {}),
    });
    this.opts.hooks?.connected?.();
    this.setPhase('connected');
    this.emit('ready', a.client);
  }

  private onClose(a: Attempt): void {
    if (this.attempt !== a) return;
    this.attempt = undefined;
    const since = this.connectedSince;
    this.connectedSince = undefined;
    this.problem = classify(a, this.settings);
    if (a.ready) {
      this.opts.log.warn('Lost the connection to JumpNode', logFields(this.problem));
      this.opts.hooks?.disconnected?.(this.problem.reason);
      if (since !== undefined && this.opts.clock.now() - since >= STABLE_MS) this.failures = 0;
      this.emit('down', this.problem.message);
    } else {
      this.opts.log.warn('Failed to connect to JumpNode', logFields(this.problem));
      this.opts.hooks?.failed?.(this.problem.reason);
    }
    if (this.phase === 'closed') return;
    this.failures++;
    this.scheduleRetry(!a.ready && NOT_REACHED.has(String(a.error?.code)));
  }

  private scheduleRetry(refused: boolean): void {
    const s = this.settings;
    if (!s) return this.setPhase('idle');
    const backoff = reconnectPolicy(this.opts.reconnectInitialMs, this.opts.reconnectMaxMs, {
      intervalMs: s.keepaliveIntervalMs,
      countMax: s.keepaliveCountMax,
    });
    const policy = refused ? refusedPolicy(backoff) : backoff;
    const delay = backoffDelay(this.failures, policy, this.opts.random);
    this.opts.log.debug('Scheduled reconnect to JumpNode', { delayMs: delay });
    this.retryTimer = this.opts.clock.setTimeout(() => {
      this.retryTimer = undefined;
      this.start();
    }, delay);
    this.setPhase('waiting');
  }
}
