import { FakeClock } from '../../src/clock.js';
import { WorkQueue } from '../../src/controller/queue.js';

const flush = () => new Promise((r) => setImmediate(r));

describe('WorkQueue', () => {
  it('queues a key once however often it is added', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.add('a');
    q.add('b');
    q.add('a');
    expect(q.len()).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
    expect(q.len()).toBe(0);
  });

  it('never hands a key in flight to a second worker, and requeues it on done()', async () => {
    const q = new WorkQueue();
    q.add('a');
    const first = await q.get();
    q.add('a');
    let second: string | undefined = 'none';
    void q.get().then((k) => (second = k));
    await flush();
    expect(second).toBe('none');
    q.done(first!);
    await flush();
    expect(second).toBe('a');
  });

  it('wakes a waiting worker when a key arrives', async () => {
    const q = new WorkQueue();
    const got = q.get();
    q.add('x');
    expect(await got).toBe('x');
    expect(q.inFlight()).toBe(1);
  });

  it('adds a key after a delay, keeping the earliest deadline', () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    q.addAfter('a', 1000);
    q.addAfter('a', 5000);
    q.addAfter('a', 300);
    expect(q.delayedLen()).toBe(1);
    clock.advance(299);
    expect(q.len()).toBe(0);
    clock.advance(1);
    expect(q.len()).toBe(1);
    clock.advance(10_000);
    expect(q.len()).toBe(1);
  });

  it.each([
    // [failures so far, expected delay with random() = 0.5 (75 % of the cap)]
    [0, 375],
    [1, 750],
    [2, 1500],
    [5, 12_000],
    [10, 45_000],
  ])('backs off exponentially per key with jitter (failure %i -> %i ms)', (n, want) => {
    const q = new WorkQueue({ backoff: { initialMs: 500, maxMs: 60_000 }, random: () => 0.5 });
    let delay = 0;
    for (let i = 0; i <= n; i++) delay = q.addRateLimited('k');
    expect(delay).toBe(want);
    expect(q.numRequeues('k')).toBe(n + 1);
  });

  it('draws the delay from [cap/2, cap)', () => {
    const lo = new WorkQueue({ backoff: { initialMs: 1000, maxMs: 9000 }, random: () => 0 });
    const hi = new WorkQueue({ backoff: { initialMs: 1000, maxMs: 9000 }, random: () => 0.99 });
    expect(lo.addRateLimited('k')).toBe(500);
    expect(hi.addRateLimited('k')).toBe(995);
  });

  it('forget() resets the backoff of one key only', () => {
    const q = new WorkQueue({ backoff: { initialMs: 100, maxMs: 10_000 }, random: () => 0.999 });
    q.addRateLimited('a');
    q.addRateLimited('a');
    q.addRateLimited('b');
    q.forget('a');
    expect(q.numRequeues('a')).toBe(0);
    expect(q.numRequeues('b')).toBe(1);
    expect(q.addRateLimited('a')).toBe(100);
  });

  it('releases waiting workers on shutDown and then accepts nothing', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue({ clock });
    const waiting = [q.get(), q.get()];
    q.addAfter('late', 100);
    q.shutDown();
    expect(await Promise.all(waiting)).toEqual([undefined, undefined]);
    q.add('x');
    clock.advance(1000);
    expect(q.len()).toBe(0);
    expect(await q.get()).toBeUndefined();
    expect(clock.pending()).toBe(0);
  });

  it('returns undefined to a worker whose signal aborts', async () => {
    const q = new WorkQueue();
    const abort = new AbortController();
    const got = q.get(abort.signal);
    abort.abort();
    expect(await got).toBeUndefined();
    q.add('a');
    expect(q.len()).toBe(1);
  });

  describe('priorities', () => {
    /** Takes every waiting key, marking each done at once. */
    const drain = async (q: WorkQueue) => {
      const out: string[] = [];
      while (q.len() > 0) {
        const k = (await q.get())!;
        out.push(k);
        q.done(k);
      }
      return out;
    };

    it('hands out high before normal, FIFO within each', async () => {
      const q = new WorkQueue();
      q.add('n1');
      q.add('h1', 'high');
      q.add('n2');
      q.add('h2', 'high');
      expect(await drain(q)).toEqual(['h1', 'h2', 'n1', 'n2']);
    });

    it('moves a waiting normal key ahead when it is added as high, and hands it out once', async () => {
      const q = new WorkQueue();
      for (const k of ['a', 'b', 'c']) q.add(k);
      q.add('c', 'high');
      q.add('c');
      expect(q.len()).toBe(3);
      expect(await drain(q)).toEqual(['c', 'a', 'b']);
    });

    it('a promoted key that is added again later is processed once more, not twice', async () => {
      const q = new WorkQueue();
      q.add('a');
      q.add('b');
      q.add('b', 'high'); // leaves a stale 'normal' entry for b
      const first = (await q.get())!;
      expect(first).toBe('b');
      q.done('b');
      q.add('b'); // b waits again (normal)
      expect(await drain(q)).toEqual(['a', 'b']);
    });

    it('keeps the highest priority of the adds made while the key was in flight', async () => {
      const q = new WorkQueue();
      q.add('x');
      q.add('y');
      const k = (await q.get())!;
      expect(k).toBe('x');
      q.add('x');
      q.add('x', 'high');
      q.done('x');
      expect(await drain(q)).toEqual(['x', 'y']);
    });
  });
});
