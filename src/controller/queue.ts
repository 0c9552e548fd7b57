// A keyed work queue with the semantics of client-go's workqueue (rate-limiting + delaying):
//   - dedupe: a key waiting in the queue is queued once, however often it is added;
//   - single flight: a key being processed is never handed to a second worker; if it is added
//     meanwhile it is queued again when the first worker calls done();
//   - per-key exponential backoff with jitter (addRateLimited), reset by forget();
//   - addAfter() for requeueAfter, keeping the earliest deadline per key;
//   - shutDown() wakes every waiting worker with `undefined`;
//   - two priorities: 'high' keys are handed out before 'normal' ones (FIFO within each);
//     adding a waiting 'normal' key as 'high' moves it ahead; a key is still processed once per
//     add, whatever its priority.
// Time comes from an injected Clock and randomness from an injected function, so tests are exact.
import { systemClock, type Clock } from '../clock.js';

export interface BackoffOptions {
  /** Delay after the first failure. */
  initialMs: number;
  /** Cap of the delay. */
  maxMs: number;
}

export interface WorkQueueOptions {
  clock?: Clock;
  backoff?: BackoffOptions;
  /** Returns a number in [0, 1); jitter draws the delay from [cap/2, cap). */
  random?: () => number;
}

export const DEFAULT_BACKOFF: BackoffOptions = Object.freeze({ initialMs: 500, maxMs: 300_000 });

type Waiter = (key: string | undefined) => void;

/**
 * 'high': work on an object already being set up or changed (finish it first); 'normal': new
 * objects and periodic resyncs.
 */
export type Priority = 'high' | 'normal';

export class WorkQueue {
  // Waiting keys in order, per priority. An entry is stale (skipped) when its key is no longer
  // dirty or is in flight: a promoted key leaves its 'normal' entry behind.
  private readonly high: string[] = [];
  private readonly normal: string[] = [];
  /** Keys added and not yet handed out, with the priority they will be handed out with. */
  private readonly dirty = new Map<string, Priority>();
  private readonly processing = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly delayed = new Map<string, { at: number; timer: unknown }>();
  private readonly waiters: Waiter[] = [];
  private readonly clock: Clock;
  private readonly backoff: BackoffOptions;
  private readonly random: () => number;
  private shuttingDown = false;

  constructor(opts: WorkQueueOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.backoff = opts.backoff ?? DEFAULT_BACKOFF;
    this.random = opts.random ?? Math.random;
  }

  add(key: string, priority: Priority = 'normal'): void {
    if (this.shuttingDown) return;
    const queued = this.dirty.get(key);
    if (queued !== undefined) {
      if (priority === 'high' && queued === 'normal') {
        this.dirty.set(key, 'high');
        if (!this.processing.has(key)) this.high.push(key);
      }
      return;
    }
    this.dirty.set(key, priority);
    if (this.processing.has(key)) return;
    const waiter = this.waiters.shift();
    if (waiter) {
      this.dirty.delete(key);
      this.processing.add(key);
      waiter(key);
    } else (priority === 'high' ? this.high : this.normal).push(key);
  }

  /** Adds the key once `ms` have passed; an earlier pending deadline for the key wins. */
  addAfter(key: string, ms: number): void {
    if (this.shuttingDown) return;
    if (ms <= 0) return this.add(key);
    const at = this.clock.now() + ms;
    const pending = this.delayed.get(key);
    if (pending && pending.at <= at) return;
    if (pending) this.clock.clearTimeout(pending.timer);
    const timer = this.clock.setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, ms);
    this.delayed.set(key, { at, timer });
  }

  /** Adds the key after its per-key backoff; every call without forget() doubles the delay. */
  addRateLimited(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    const cap = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** Math.min(n, 30));
    const delay = Math.round(cap / 2 + (this.random() * cap) / 2);
    this.addAfter(key, delay);
    return delay;
  }

  /** Clears the failure count of a key (call after a successful reconcile). */
  forget(key: string): void {
    this.failures.delete(key);
  }

  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /**
   * The next key to process, or undefined once the queue shuts down or `signal` aborts. The
   * caller owns the key until it calls done(key).
   */
  get(signal?: AbortSignal): Promise<string | undefined> {
    if (this.shuttingDown || signal?.aborted) return Promise.resolve(undefined);
    const key = this.next();
    if (key !== undefined) {
      this.dirty.delete(key);
      this.processing.add(key);
      return Promise.resolve(key);
    }
    return new Promise((resolve) => {
      const waiter: Waiter = (k) => {
        signal?.removeEventListener('abort', onAbort);
        resolve(k);
      };
      const onAbort = () => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve(undefined);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  done(key: string): void {
    this.processing.delete(key);
    const priority = this.dirty.get(key);
    if (priority !== undefined) {
      this.dirty.delete(key);
      this.add(key, priority);
    }
  }

  /** The first waiting key, high priority first, skipping stale entries. */
  private next(): string | undefined {
    for (const list of [this.high, this.normal])
      for (let key = list.shift(); key !== undefined; key = list.shift())
        if (this.dirty.has(key) && !this.processing.has(key)) return key;
    return undefined;
  }

  /** Keys waiting to be processed (not counting delayed ones or those in flight). */
  len(): number {
    let n = 0;
    for (const key of this.dirty.keys()) if (!this.processing.has(key)) n++;
    return n;
  }

  /** Keys waiting for their addAfter/backoff deadline. */
  delayedLen(): number {
    return this.delayed.size;
  }

  inFlight(): number {
    return this.processing.size;
  }

  isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  /** Stops accepting keys, cancels delayed ones and releases every waiting worker. */
  shutDown(): void {
    this.shuttingDown = true;
    for (const { timer } of this.delayed.values()) this.clock.clearTimeout(timer);
    this.delayed.clear();
    for (const w of this.waiters.splice(0)) w(undefined);
  }
}
