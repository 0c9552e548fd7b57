// Schedules status writes without storms.
//
//   - coalesce: marking a key that is already queued does nothing, and the status is computed
//     when the write happens (level-triggered), so ten changes in a row cost one write;
//   - rate-limit: a token bucket (qps, burst) over all writes, and at least minIntervalMs between
//     two writes of one key; in-flight writes are capped so that the bucket, not the cap, limits
//     the rate while the API server answers within 200 ms (defaultConcurrency);
//   - skip unchanged: flush() compares before it asks for a token (see RunnerStatus);
//   - retry: a failed flush is retried with per-key exponential backoff (1 s .. 60 s).
import type { Clock } from '../clock.js';
import { errorMessage, type Logger } from '../log.js';
import { backoffDelay } from './backoff.js';

export type FlushOutcome = { wrote: boolean; recheckAfterMs?: number };

export interface StatusQueueOptions {
  clock: Clock;
  log: Logger;
  qps: number;
  burst: number;
  minIntervalMs: number;
  /** Writes in flight at most; by default enough for `qps` at 200 ms per write (at least 4). */
  concurrency?: number;
  /** Computes and, if needed, writes one key's status; calls acquire() before writing. */
  flush(key: string, acquire: () => Promise<void>): Promise<FlushOutcome>;
}

/**
 * In-flight writes needed for the token bucket, not the in-flight cap, to be the limit while one
 * write takes up to 200 ms (a busy API server): qps x 0.2 s, at least 4.
 */
export function defaultConcurrency(qps: number): number {
  return Math.max(4, Math.ceil(qps / 5));
}

export class StatusQueue {
  private readonly due = new Map<string, number>();
  private readonly inFlight = new Set<string>();
  private readonly lastWrite = new Map<string, number>();
  private readonly failures = new Map<string, number>();
  private tokens: number;
  private refilledAt: number;
  private timer?: unknown;
  private timerAt = Infinity;
  private stopped = false;
  private readonly waiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  private tokenTimer?: unknown;

  constructor(private readonly opts: StatusQueueOptions) {
    this.tokens = opts.burst;
    this.refilledAt = opts.clock.now();
  }

  /** Queues a key for a write no earlier than delayMs from now (earliest request wins). */
  mark(key: string, delayMs = 0): void {
    if (this.stopped) return;
    const now = this.opts.clock.now();
    const last = this.lastWrite.get(key);
    const notBefore = Math.max(
      now + delayMs,
      last === undefined ? 0 : last + this.opts.minIntervalMs,
    );
    const queued = this.due.get(key);
    if (queued === undefined || notBefore < queued) this.due.set(key, notBefore);
    this.pump();
  }

  pending(): number {
    return this.due.size + this.inFlight.size;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.opts.clock.clearTimeout(this.timer);
    if (this.tokenTimer !== undefined) this.opts.clock.clearTimeout(this.tokenTimer);
    this.due.clear();
    for (const w of this.waiters.splice(0)) w.reject(new Error('status queue stopped'));
  }

  private pump(): void {
    if (this.stopped) return;
    const now = this.opts.clock.now();
    const limit = this.opts.concurrency ?? defaultConcurrency(this.opts.qps);
    let next = Infinity;
    for (const [key, at] of this.due) {
      if (this.inFlight.size >= limit) break;
      if (this.inFlight.has(key)) continue;
      if (at > now) {
        next = Math.min(next, at);
        continue;
      }
      this.due.delete(key);
      void this.run(key);
    }
    if (next < Infinity && next < this.timerAt) {
      if (this.timer !== undefined) this.opts.clock.clearTimeout(this.timer);
      this.timerAt = next;
      this.timer = this.opts.clock.setTimeout(() => {
        this.timer = undefined;
        this.timerAt = Infinity;
        this.pump();
      }, next - now);
    }
  }

  private async run(key: string): Promise<void> {
    this.inFlight.add(key);
    try {
      const outcome = await this.opts.flush(key, () => this.acquire());
      this.failures.delete(key);
      if (outcome.wrote) {
        const now = this.opts.clock.now();
        this.lastWrite.set(key, now);
        // A mark that arrived during this write waits out the interval too.
        const again = this.due.get(key);
        if (again !== undefined) this.due.set(key, Math.max(again, now + this.opts.minIntervalMs));
      }
      if (outcome.recheckAfterMs !== undefined) this.mark(key, outcome.recheckAfterMs);
    } catch (err) {
      this.inFlight.delete(key);
      if (this.stopped) return;
      const failures = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, failures);
      const delay = backoffDelay(failures, { initialMs: 1000, maxMs: 60_000 });
      this.opts.log.warn('Failed to write status', {
        key,
        error: errorMessage(err),
        retryInMs: delay,
      });
      this.mark(key, delay);
      return;
    }
    this.inFlight.delete(key);
    this.pump();
  }

  /** Takes one token from the bucket, waiting for a refill if it is empty. */
  private acquire(): Promise<void> {
    this.refill();
    if (this.tokens >= 1 && this.waiters.length === 0) {
      this.tokens -= 1;
      return Promise.resolve();
    }
    if (this.stopped) return Promise.reject(new Error('status queue stopped'));
    return new Promise((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      this.scheduleTokens();
    });
  }

  private refill(): void {
    const now = this.opts.clock.now();
    this.tokens = Math.min(
      this.opts.burst,
      this.tokens + ((now - this.refilledAt) * this.opts.qps) / 1000,
    );
    this.refilledAt = now;
  }

  private scheduleTokens(): void {
    if (this.tokenTimer !== undefined || this.stopped) return;
    const wait = Math.max(1, Math.ceil(((1 - this.tokens) * 1000) / this.opts.qps));
    this.tokenTimer = this.opts.clock.setTimeout(() => {
      this.tokenTimer = undefined;
      this.refill();
      while (this.waiters.length && this.tokens >= 1) {
        this.tokens -= 1;
        this.waiters.shift()!.resolve();
      }
      if (this.waiters.length) this.scheduleTokens();
    }, wait);
  }
}
