// Health probes of every forward's target through the tunnel: a direct-tcpip channel is opened to
// the target (the jump node makes the TCP connection) and closed again. A channel that opens means
// reachable; an open failure or no answer within the timeout means unreachable.
//
// Probes are spread out: each target is probed every intervalMs (jittered by +-10%), at most
// `concurrency` at a time, and only while the SSH session is up. Real connections count as probes
// too (observe()), so a refused user connection shows up at once.
import type { HostPort } from '../api/types.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { Patch } from './patch.js';
import { channelError } from './local-forwards.js';
import type { SshSession } from './session.js';

export interface ProbeResult {
  reachable: boolean;
  message: string;
}

export interface ProberOptions {
  session: SshSession;
  clock: Clock;
  log: Logger;
  intervalMs: number;
  timeoutMs: number;
  concurrency: number;
  random?: () => number;
  /** Called when a key's result changes (reachable flips or the message changes). */
  changed?(key: string): void;
  /** Called after every probe run by the prober itself. */
  probed?(ok: boolean): void;
}

interface Entry {
  target: HostPort;
  due: number;
  running: boolean;
  result?: ProbeResult;
}

const TICK_MS = 250;

export class Prober {
  private readonly entries = new Map<string, Entry>();
  private running = 0;
  private ticker?: unknown;
  private readonly random: () => number;

  constructor(private readonly opts: ProberOptions) {
    this.random = opts.random ?? Math.random;
  }

  start(): void {
    this.ticker ??= this.opts.clock.setInterval(() => this.tick(), TICK_MS);
  }

  stop(): void {
    if (this.ticker !== undefined) this.opts.clock.clearInterval(this.ticker);
    this.ticker = undefined;
  }

  /** The latest result of `key`'s target (undefined: not probed yet, or not tracked). */
  result(key: string): ProbeResult | undefined {
    return this.entries.get(key)?.result;
  }

  /** Applies a change of the tracked targets; new or changed ones are probed soon. */
  update(p: Patch<HostPort>): void {
    const now = this.opts.clock.now();
    for (const key of p.removed) this.entries.delete(key);
    for (const [key, target] of Object.entries(p.set)) {
      const e = this.entries.get(key);
      if (e && e.target.host === target.host && e.target.port === target.port) continue;
      this.entries.set(key, { target: { ...target }, due: now, running: false });
      if (e?.result) this.opts.changed?.(key);
    }
  }

  /** Probes every target within the next `spreadMs` (after a reconnect). */
  probeAllSoon(spreadMs = 2000): void {
    const now = this.opts.clock.now();
    for (const e of this.entries.values()) e.due = now + Math.floor(this.random() * spreadMs);
  }

  /** Evidence from a real connection. */
  observe(key: string, reachable: boolean, message: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.record(key, e, reachable, message);
  }

  /**
   * Starts the due probes the free slots allow, fairly: targets never probed first (a new
   * forward's first status waits for its first probe), then the longest overdue. When probes
   * take longer than the interval allows, every target's period stretches alike; no target
   * waits for ever behind others that are due again.
   */
  private tick(): void {
    const client = this.opts.session.client();
    if (!client) return;
    const free = this.opts.concurrency - this.running;
    if (free <= 0) return;
    const now = this.opts.clock.now();
    const first = (a: Entry, b: Entry) => Number(!!a.result) - Number(!!b.result) || a.due - b.due;
    const next: Array<[string, Entry]> = [];
    for (const item of this.entries) {
      const e = item[1];
      if (e.running || e.due > now) continue;
      if (next.length === free && first(e, next[free - 1]![1]) >= 0) continue;
      let i = next.length;
      while (i > 0 && first(e, next[i - 1]![1]) < 0) i--;
      next.splice(i, 0, item);
      if (next.length > free) next.pop();
    }
    for (const [key, e] of next) this.probe(key, e);
  }

  private probe(key: string, e: Entry): void {
    const client = this.opts.session.client();
    if (!client) return;
    e.running = true;
    this.running++;
    const target = e.target;
    let settled = false;
    const finish = (ok: boolean | undefined, message: string) => {
      if (settled) return;
      settled = true;
      this.opts.clock.clearTimeout(timer);
      e.running = false;
      this.running--;
      const jitter = 0.9 + this.random() * 0.2;
      e.due = this.opts.clock.now() + Math.round(this.opts.intervalMs * jitter);
      // A probe cut short by the session going away says nothing about the target.
      if (ok === undefined || this.opts.session.client() !== client) return;
      if (this.entries.get(key) !== e || e.target !== target) return;
      this.opts.probed?.(ok);
      this.record(key, e, ok, message);
    };
    const timer = this.opts.clock.setTimeout(
      () =>
        finish(
          false,
          `The jump node got no connection to ${target.host}:${target.port} within ${this.opts.timeoutMs} ms`,
        ),
      this.opts.timeoutMs,
    );
    try {
      client.forwardOut('127.0.0.1', 0, target.host, target.port, (err, channel) => {
        if (channel) {
          channel.on('error', () => {});
          channel.destroy();
        }
        if (err && /No response from server|Not connected/.test(err.message))
          return finish(undefined, '');
        finish(!err, err ? channelError(err, target) : '');
      });
    } catch {
      finish(undefined, '');
    }
  }

  private record(key: string, e: Entry, reachable: boolean, message: string): void {
    // An entry's target never changes (a new target is a new entry): reachable again is no news.
    if (reachable && e.result?.reachable) return;
    const text = reachable
      ? `${e.target.host}:${e.target.port} accepts connections through the jump node`
      : message;
    const prev = e.result;
    if (prev && prev.reachable === reachable && prev.message === text) return;
    e.result = { reachable, message: text };
    if (!reachable)
      this.opts.log.info('Target of ForwardedServer is unreachable', { key, detail: text });
    this.opts.changed?.(key);
  }
}
