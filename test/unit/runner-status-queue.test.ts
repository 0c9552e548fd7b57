import { FakeClock } from '../../src/clock.js';
import { silentLogger } from '../../src/log.js';
import {
  StatusQueue,
  defaultConcurrency,
  type FlushOutcome,
} from '../../src/runner/status-queue.js';

/** Lets pending promise callbacks run. */
const settle = async () => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

/**
 * A queue whose flush behaves like RunnerStatus: it writes only when the key's state changed
 * since its last write (`change`), and can be told to fail.
 */
function setup(opts: Partial<{ qps: number; burst: number; minIntervalMs: number }> = {}) {
  const clock = new FakeClock(1_000_000);
  const writes: Array<[string, number]> = [];
  const version = new Map<string, number>();
  const written = new Map<string, number>();
  let fail = 0;
  const queue = new StatusQueue({
    clock,
    log: silentLogger(),
    qps: opts.qps ?? 10,
    burst: opts.burst ?? 2,
    minIntervalMs: opts.minIntervalMs ?? 1000,
    flush: async (key, acquire): Promise<FlushOutcome> => {
      const v = version.get(key) ?? 0;
      if ((written.get(key) ?? 0) === v) return { wrote: false };
      await acquire();
      if (fail > 0) {
        fail--;
        throw new Error('API down');
      }
      written.set(key, v);
      writes.push([key, clock.now() - 1_000_000]);
      return { wrote: true };
    },
  });
  const change = (key: string) => {
    version.set(key, (version.get(key) ?? 0) + 1);
    queue.mark(key);
  };
  const advance = async (ms: number) => {
    await settle();
    for (let t = 0; t < ms; t += 10) {
      clock.advance(10);
      await settle();
    }
  };
  return { clock, queue, writes, advance, change, failNext: (n: number) => (fail = n) };
}

describe('StatusQueue', () => {
  it('coalesces marks of a queued key into one write', async () => {
    const s = setup();
    for (let i = 0; i < 10; i++) s.change('a');
    await s.advance(100);
    expect(s.writes).toEqual([['a', 0]]);
  });

  it('spaces writes of one key by minIntervalMs', async () => {
    const s = setup({ minIntervalMs: 1000 });
    s.change('a');
    await s.advance(100);
    s.change('a');
    s.change('a');
    await s.advance(2000);
    expect(s.writes.map(([, t]) => t)).toEqual([0, 1000]);
  });

  it('limits all writes with the token bucket (burst, then qps)', async () => {
    const s = setup({ qps: 10, burst: 2, minIntervalMs: 0 });
    for (const k of ['a', 'b', 'c', 'd', 'e']) s.change(k);
    await s.advance(1000);
    const times = s.writes.map(([, t]) => t);
    expect(times.slice(0, 2)).toEqual([0, 0]);
    // Then one every 100 ms.
    for (let i = 2; i < times.length; i++)
      expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(90);
    expect(times).toHaveLength(5);
  });

  it('spends no token on unchanged status', async () => {
    const s = setup({ qps: 1, burst: 1, minIntervalMs: 0 });
    for (const k of ['x', 'y', 'z']) s.queue.mark(k);
    s.change('real');
    await s.advance(50);
    expect(s.writes).toEqual([['real', 0]]);
  });

  it('retries a failed write with backoff', async () => {
    const s = setup({ minIntervalMs: 0 });
    s.failNext(2);
    s.change('a');
    await s.advance(5000);
    expect(s.writes).toHaveLength(1);
    expect(s.writes[0]![1]).toBeGreaterThanOrEqual(500 + 1000);
    expect(s.queue.pending()).toBe(0);
  });

  it('writes nothing after stop()', async () => {
    const s = setup({ qps: 1, burst: 1, minIntervalMs: 0 });
    s.change('a');
    s.change('b');
    await s.advance(10);
    s.queue.stop();
    s.change('c');
    await s.advance(5000);
    expect(s.writes.map(([k]) => k)).toEqual(['a']);
  });

  it.each([
    [1, 4],
    [20, 4],
    [100, 20],
    [1000, 200],
  ])('at qps %d keeps up to %d writes in flight', (qps, n) => {
    expect(defaultConcurrency(qps)).toBe(n);
  });

  it('reaches its qps while each write takes 200 ms (the in-flight cap is not the limit)', async () => {
    const clock = new FakeClock(0);
    let inFlight = 0;
    let maxInFlight = 0;
    const done: number[] = [];
    const queue = new StatusQueue({
      clock,
      log: silentLogger(),
      qps: 100,
      burst: 1,
      minIntervalMs: 1000,
      flush: async (_key, acquire): Promise<FlushOutcome> => {
        await acquire();
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise<void>((r) => clock.setTimeout(r, 200));
        inFlight--;
        done.push(clock.now());
        return { wrote: true };
      },
    });
    for (let i = 0; i < 1000; i++) queue.mark(`k${i}`);
    for (let t = 0; t < 2000; t += 10) {
      clock.advance(10);
      await settle();
    }
    queue.stop();
    // 100/s for 2 s, less the first write's 200 ms: about 180; with 4 in flight it was 40.
    expect(done.length).toBeGreaterThanOrEqual(170);
    expect(maxInFlight).toBe(20);
  });

  /** A queue whose flush only records the key (nothing to write). */
  function recording(clock: FakeClock) {
    const flushed: string[] = [];
    const queue = new StatusQueue({
      clock,
      log: silentLogger(),
      qps: 100_000,
      burst: 100_000,
      minIntervalMs: 0,
      concurrency: 4,
      flush: async (key) => {
        flushed.push(key);
        return { wrote: false };
      },
    });
    return { queue, flushed };
  }

  it('starts due keys earliest first, keys due at the same time in the order marked', async () => {
    const s = setup();
    const { queue, flushed } = recording(s.clock);
    for (const [k, delay] of [
      ['late', 300],
      ['b', 100],
      ['a', 100],
      ['now', 0],
      ['mid', 200],
    ] as const)
      queue.mark(k, delay);
    await s.advance(400);
    expect(flushed).toEqual(['now', 'b', 'a', 'mid', 'late']);
  });

  it('orders thousands of keys by time, one flush each', async () => {
    const s = setup();
    const { queue, flushed } = recording(s.clock);
    // Keys i due at (i * 7919) % 5000 ms: all marked at once, in a scrambled order of times.
    const due = (i: number) => (i * 7919) % 5000;
    for (let i = 0; i < 5000; i++) queue.mark(`k${i}`, due(i));
    expect(queue.pending()).toBe(5000);
    await s.advance(5010);
    expect(flushed).toHaveLength(5000);
    const times = flushed.map((k) => due(Number(k.slice(1))));
    expect(times).toEqual([...times].sort((x, y) => x - y));
    expect(queue.pending()).toBe(0);
  });

  it('writes a key marked during its write once more, after it', async () => {
    const clock = new FakeClock(0);
    const started: string[] = [];
    const finish: Array<() => void> = [];
    const queue = new StatusQueue({
      clock,
      log: silentLogger(),
      qps: 100,
      burst: 100,
      minIntervalMs: 0,
      concurrency: 4,
      flush: (key) => {
        started.push(key);
        return new Promise((r) => finish.push(() => r({ wrote: true })));
      },
    });
    queue.mark('a');
    await settle();
    expect(started).toEqual(['a']);
    queue.mark('a');
    queue.mark('a');
    queue.mark('b');
    await settle();
    // b starts; a waits for its own write in flight.
    expect(started).toEqual(['a', 'b']);
    finish.shift()!();
    await settle();
    expect(started).toEqual(['a', 'b', 'a']);
    for (const f of finish.splice(0)) f();
    await settle();
    expect(started).toEqual(['a', 'b', 'a']);
    expect(queue.pending()).toBe(0);
  });

  it('forgets a deleted key: nothing queued, no interval kept', async () => {
    const s = setup({ minIntervalMs: 10_000 });
    s.change('gone');
    await s.advance(10);
    s.change('gone');
    expect(s.queue.pending()).toBe(1);
    s.queue.forget('gone');
    expect(s.queue.pending()).toBe(0);
    await s.advance(20_000);
    expect(s.writes).toEqual([['gone', 0]]);
    // A new object of the same name is written at once.
    s.change('gone');
    await s.advance(10);
    expect(s.writes).toEqual([
      ['gone', 0],
      ['gone', 20_010],
    ]);
  });
});
