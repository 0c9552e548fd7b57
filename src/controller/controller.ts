// The worker loop shared by every controller: N workers take keys from a WorkQueue and call the
// reconciler. Outcomes:
//   - success: forget the key's backoff; requeue after `requeueAfterMs` if the result asks;
//   - PermanentError: log, forget, do not requeue (the reconciler has already recorded the
//     problem in a condition and an Event; the next change or resync retries);
//   - any other error: transient, requeue with the key's exponential backoff.
// run() and stop() may alternate (leader election pauses and resumes the workers); the queue
// keeps collecting keys while no worker runs.
import type { Logger } from '../log.js';
import { errorMessage } from '../log.js';
import { systemClock, type Clock } from '../clock.js';
import type { Priority, WorkQueue } from './queue.js';
import { splitKey } from '../names.js';

export interface ReconcileResult {
  /** Reconcile this key again after this many milliseconds (e.g. a grace period ends). */
  requeueAfterMs?: number;
}

export type Reconciler = (key: string) => Promise<ReconcileResult | void>;

/** An error that retrying cannot fix; the object's status already says why. */
export class PermanentError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PermanentError';
  }
}

export type ReconcileOutcome = 'success' | 'error' | 'permanent';

/** Hooks for metrics; implemented with prom-client by the operator. */
export interface ControllerObserver {
  reconciled(controller: string, outcome: ReconcileOutcome, seconds: number): void;
}

export interface ControllerOptions {
  name: string;
  queue: WorkQueue;
  reconcile: Reconciler;
  workers: number;
  log: Logger;
  clock?: Clock;
  observer?: ControllerObserver;
  /** Turns an error into a log message (e.g. the API server's Status message). */
  describeError?: (err: unknown) => string;
}

export class Controller {
  readonly name: string;
  readonly queue: WorkQueue;
  private readonly opts: ControllerOptions;
  private readonly clock: Clock;
  private abort: AbortController | undefined;
  private workers: Promise<void>[] = [];

  constructor(opts: ControllerOptions) {
    this.opts = opts;
    this.name = opts.name;
    this.queue = opts.queue;
    this.clock = opts.clock ?? systemClock;
  }

  enqueue(key: string, priority?: Priority): void {
    this.queue.add(key, priority);
  }

  running(): boolean {
    return this.abort !== undefined;
  }

  /** Starts the workers (no-op when they already run). */
  run(): void {
    if (this.abort) return;
    const abort = new AbortController();
    this.abort = abort;
    this.workers = Array.from({ length: Math.max(1, this.opts.workers) }, () =>
      this.worker(abort.signal),
    );
  }

  /** Stops taking keys and waits for the reconciles in flight to finish. */
  async stop(): Promise<void> {
    const abort = this.abort;
    if (!abort) return;
    this.abort = undefined;
    abort.abort();
    await Promise.all(this.workers);
    this.workers = [];
  }

  private async worker(signal: AbortSignal): Promise<void> {
    for (;;) {
      const key = await this.queue.get(signal);
      if (key === undefined) return;
      try {
        await this.process(key);
      } finally {
        this.queue.done(key);
      }
    }
  }

  private async process(key: string): Promise<void> {
    const { queue, log, observer } = this.opts;
    const started = this.clock.now();
    let outcome: ReconcileOutcome = 'success';
    try {
      const result = await this.opts.reconcile(key);
      queue.forget(key);
      if (result?.requeueAfterMs !== undefined) queue.addAfter(key, result.requeueAfterMs);
    } catch (err) {
      if (err instanceof PermanentError) {
        outcome = 'permanent';
        queue.forget(key);
        log.warn(`Gave up reconciling ${this.name}`, { ...splitKey(key), error: err.message });
      } else {
        outcome = 'error';
        const delayMs = queue.addRateLimited(key);
        log.warn(`Failed to reconcile ${this.name}`, {
          ...splitKey(key),
          error: (this.opts.describeError ?? errorMessage)(err),
          retryInMs: delayMs,
          attempts: queue.numRequeues(key),
        });
      }
    } finally {
      observer?.reconciled(this.name, outcome, (this.clock.now() - started) / 1000);
    }
  }
}
