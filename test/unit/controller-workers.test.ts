import { FakeClock } from '../../src/clock.js';
import { Controller, PermanentError, type Reconciler } from '../../src/controller/controller.js';
import { WorkQueue } from '../../src/controller/queue.js';
import { silentLogger } from '../../src/log.js';

const flush = async (n = 5) => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

function setup(reconcile: Reconciler, workers = 2) {
  const clock = new FakeClock();
  const queue = new WorkQueue({
    clock,
    backoff: { initialMs: 1000, maxMs: 60_000 },
    random: () => 0,
  });
  const outcomes: string[] = [];
  const c = new Controller({
    name: 'Test',
    queue,
    reconcile,
    workers,
    log: silentLogger(),
    clock,
    observer: { reconciled: (_c, outcome) => outcomes.push(outcome) },
  });
  return { c, clock, queue, outcomes };
}

describe('Controller workers', () => {
  it('reconciles one key at a time even when it is added during its reconcile', async () => {
    let active = 0;
    let maxActive = 0;
    let calls = 0;
    let release!: () => void;
    const { c } = setup(async () => {
      calls++;
      active++;
      maxActive = Math.max(maxActive, active);
      if (calls === 1) await new Promise<void>((r) => (release = r));
      active--;
    }, 4);
    c.run();
    c.enqueue('ns/a');
    await flush();
    c.enqueue('ns/a');
    c.enqueue('ns/a');
    await flush();
    expect(calls).toBe(1);
    release();
    await flush();
    expect(calls).toBe(2);
    expect(maxActive).toBe(1);
    await c.stop();
  });

  it('runs different keys in parallel up to the number of workers', async () => {
    let active = 0;
    let maxActive = 0;
    const gates: (() => void)[] = [];
    const { c } = setup(async () => {
      active++;
      maxActive = Math.max(maxActive, active);
      await new Promise<void>((r) => gates.push(r));
      active--;
    }, 3);
    c.run();
    for (const k of ['a', 'b', 'c', 'd', 'e']) c.enqueue(`ns/${k}`);
    await flush();
    expect(maxActive).toBe(3);
    expect(c.queue.len()).toBe(2);
    while (gates.length) {
      gates.shift()!();
      await flush();
    }
    await c.stop();
    expect(maxActive).toBe(3);
  });

  it('retries a transient error with backoff and forgets it on success', async () => {
    let calls = 0;
    const { c, clock, queue, outcomes } = setup(async () => {
      calls++;
      if (calls <= 2) throw new Error('API unavailable');
    });
    c.run();
    c.enqueue('ns/a');
    await flush();
    expect(calls).toBe(1);
    expect(queue.numRequeues('ns/a')).toBe(1);
    clock.advance(499);
    await flush();
    expect(calls).toBe(1);
    clock.advance(1);
    await flush();
    expect(calls).toBe(2);
    clock.advance(1000);
    await flush();
    expect(calls).toBe(3);
    expect(queue.numRequeues('ns/a')).toBe(0);
    expect(outcomes).toEqual(['error', 'error', 'success']);
    await c.stop();
  });

  it('does not retry a PermanentError', async () => {
    let calls = 0;
    const { c, clock, queue, outcomes } = setup(async () => {
      calls++;
      throw new PermanentError('bad spec');
    });
    c.run();
    c.enqueue('ns/a');
    await flush();
    clock.advance(3_600_000);
    await flush();
    expect(calls).toBe(1);
    expect(queue.delayedLen()).toBe(0);
    expect(outcomes).toEqual(['permanent']);
    await c.stop();
  });

  it('requeues after requeueAfterMs', async () => {
    let calls = 0;
    const { c, clock } = setup(async () => {
      calls++;
      return calls === 1 ? { requeueAfterMs: 30_000 } : undefined;
    });
    c.run();
    c.enqueue('ns/a');
    await flush();
    clock.advance(29_999);
    await flush();
    expect(calls).toBe(1);
    clock.advance(1);
    await flush();
    expect(calls).toBe(2);
    await c.stop();
  });

  it('stop() waits for the reconcile in flight; keys added meanwhile wait for run()', async () => {
    let finished = false;
    let release!: () => void;
    let calls = 0;
    const { c } = setup(async () => {
      calls++;
      if (calls === 1) await new Promise<void>((r) => (release = r));
      finished = true;
    });
    c.run();
    c.enqueue('ns/a');
    await flush();
    const stopped = c.stop();
    c.enqueue('ns/b');
    await flush();
    expect(finished).toBe(false);
    release();
    await stopped;
    expect(finished).toBe(true);
    expect(calls).toBe(1);
    expect(c.queue.len()).toBe(1);
    c.run();
    await flush();
    expect(calls).toBe(2);
    await c.stop();
  });
});
