// Two tools that let concurrent requests change one ForwardedServer without losing anything:
//   - KeyedSerializer runs the writes of one server one after another inside this process, so
//     requests of the same replica never race each other;
//   - retryOnConflict repeats a read-decide-write step when another writer (another replica, the
//     operator, kubectl) changed the object in between (a 409 on the resourceVersion precondition).
import { isStoreError } from './errors.js';

export class KeyedSerializer {
  private readonly tails = new Map<string, Promise<unknown>>();

  /** Runs `fn` after every earlier `run` with the same key has settled. */
  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const result = previous.then(fn, fn);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }

  /** Keys with work queued or running (for metrics and tests). */
  size(): number {
    return this.tails.size;
  }
}

export interface RetryOptions {
  attempts: number;
  /** Called before each retry with the attempt number (1 = first retry). */
  onConflict?: (attempt: number) => void;
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Runs `step` again on StoreError('conflict'), with a short jittered pause, up to `attempts` times. */
export async function retryOnConflict<T>(step: () => Promise<T>, opts: RetryOptions): Promise<T> {
  const sleep = opts.sleep ?? defaultSleep;
  for (let attempt = 1; ; attempt++) {
    try {
      return await step();
    } catch (err) {
      if (!isStoreError(err, 'conflict') || attempt >= opts.attempts) throw err;
      opts.onConflict?.(attempt);
      await sleep(Math.random() * Math.min(50, 2 * 2 ** attempt));
    }
  }
}

/**
 * A step decided on a cached copy something that only the source of truth may decide (a refusal
 * or a no-op: nothing was written, so no resourceVersion precondition checked the copy).
 */
export class Recheck extends Error {
  constructor() {
    super('decide again on the source of truth');
    this.name = 'Recheck';
  }
}

/**
 * A read-decide-write loop that starts from `first` (e.g. the request's lookup from the cache) and
 * after a conflict or a Recheck reads `get()` again. `step` learns whether its object is `first`;
 * any error it throws while deciding on `first`, other than a conflict, is treated as a Recheck.
 */
export async function retryFrom<T, O>(
  first: O,
  get: () => Promise<O>,
  step: (obj: O, cached: boolean) => Promise<T>,
  opts: RetryOptions,
): Promise<T> {
  let attempt = 0;
  return retryOnConflict(async () => {
    if (attempt++ > 0) return step(await get(), false);
    try {
      return await step(first, true);
    } catch (err) {
      if (isStoreError(err)) throw err;
      return step(await get(), false);
    }
  }, opts);
}
