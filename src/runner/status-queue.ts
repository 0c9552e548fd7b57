// Schedules status writes without storms.
//
//   - coalesce: marking a key that is already queued does nothing, and the status is computed
//     when the write happens (level-triggered), so ten changes in a row cost one write;
//   - rate-limit: a token bucket (qps, burst) over all writes, and at least minIntervalMs between
//     two writes of one key; in-flight writes are capped so that the bucket, not the cap, limits
//     the rate while the API server answers within 200 ms (defaultConcurrency);
//   - skip unchanged: flush() compares before it asks for a token (see RunnerStatus);
//   - retry: a failed flush is retried with per-key exponential backoff (1 s .. 60 s);
//   - due keys start earliest first (marked at the same time: in the order marked), and starting
//     the next ones costs O(log n) per key whatever the number queued: a runner re-checks every
//     forward's status, so thousands of keys may wait at once.
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

/** A queued key: not before `at`; `seq` orders keys marked for the same time. */
interface Slot {
  at: number;
  seq: number;
  key: string;
}

const earlier = (a: Slot, b: Slot) => a.at < b.at || (a.at === b.at && a.seq < b.seq);

/** A binary min-heap of slots, earliest first. */
class SlotHeap {
  private readonly items: Slot[] = [];
  peek(): Slot | undefined {
    return this.items[0];
  }
  push(slot: Slot): void {
    const h = this.items;
    h.push(slot);
    for (let i = h.length - 1; i > 0;) {
      const parent = (i - 1) >> 1;
      if (!earlier(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }
  pop(): void {
    const h = this.items;
    const last = h.pop();
    if (!h.length || !last) return;
    h[0] = last;
    for (let i = 0; ;) {
      const l = 2 * i + 1;
      let m = i;
      if (l < h.length && earlier(h[l]!, h[m]!)) m = l;
      if (l + 1 < h.length && earlier(h[l + 1]!, h[m]!)) m = l + 1;
      if (m === i) return;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
  clear(): void {
    this.items.length = 0;
  }
}

export class StatusQueue {
  /**
   * Every queued key's slot. `slots` holds the slots of the keys not in flight (a key marked
   * while its write is in flight joins when the write ends); a slot no longer in `due` is stale.
   */
  private readonly due = new Map<string, Slot>();
  private readonly slots = new SlotHeap();
  private seq = 0;
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
    const at = Math.max(now + delayMs, last === undefined ? 0 : last + this.opts.minIntervalMs);
    const queued = this.due.get(key);
    if (queued && queued.at <= at) return;
    const slot = { at, seq: this.seq++, key };
    this.due.set(key, slot);
    if (!this.inFlight.has(key)) this.slots.push(slot);
    this.pump();
  }

  pending(): number {
    return this.due.size + this.inFlight.size;
  }

  /** Drops what the queue remembers of a key (its object was deleted). */
  forget(key: string): void {
    this.due.delete(key);
    this.lastWrite.delete(key);
    this.failures.delete(key);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.opts.clock.clearTimeout(this.timer);
    if (this.tokenTimer !== undefined) this.opts.clock.clearTimeout(this.tokenTimer);
    this.due.clear();
    this.slots.clear();
    for (const w of this.waiters.splice(0)) w.reject(new Error('status queue stopped'));
  }

  /** The earliest slot still queued (stale ones are dropped on the way). */
  private next(): Slot | undefined {
    for (let s = this.slots.peek(); s; s = this.slots.peek()) {
      if (this.due.get(s.key) === s) return s;
      this.slots.pop();
    }
    return undefined;
  }

  private pump(): void {
    if (this.stopped) return;
    const now = this.opts.clock.now();
    const limit = this.opts.concurrency ?? defaultConcurrency(this.opts.qps);
    let slot = this.next();
    while (slot && slot.at <= now && this.inFlight.size < limit) {
      this.slots.pop();
      this.due.delete(slot.key);
      void this.run(slot.key);
      slot = this.next();
    }
    if (slot && slot.at > now && slot.at < this.timerAt) {
      if (this.timer !== undefined) this.opts.clock.clearTimeout(this.timer);
      this.timerAt = slot.at;
      this.timer = this.opts.clock.setTimeout(() => {
        this.timer = undefined;
        this.timerAt = Infinity;
        this.pump();
      }, slot.at - now);
    }
  }

  private async run(key: string): Promise<void> {
    this.inFlight.add(key);
    let recheckAfterMs: number | undefined;
    try {
      const outcome = await this.opts.flush(key, () => this.acquire());
      this.failures.delete(key);
      if (outcome.wrote) this.lastWrite.set(key, this.opts.clock.now());
      recheckAfterMs = outcome.recheckAfterMs;
    } catch (err) {
      if (!this.stopped) {
        const failures = (this.failures.get(key) ?? 0) + 1;
        this.failures.set(key, failures);
        recheckAfterMs = backoffDelay(failures, { initialMs: 1000, maxMs: 60_000 });
        this.opts.log.warn('Failed to write status', {
          key,
          error: errorMessage(err),
          retryInMs: recheckAfterMs,
        });
      }
    }
    this.inFlight.delete(key);
    if (this.stopped) return;
    // A mark that arrived during this write is queued now, and waits out the interval too.
    const again = this.due.get(key);
    if (again) {
      this.due.delete(key);
      this.mark(key, Math.max(0, again.at - this.opts.clock.now()));
    }
    if (recheckAfterMs !== undefined) this.mark(key, recheckAfterMs);
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
