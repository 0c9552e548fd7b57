// SpacedTask: coalesced runs, spaced by a multiple of the previous run's duration.
import { FakeClock } from '../../src/clock.js';
import { SpacedTask } from '../../src/runner/spaced-task.js';

describe('SpacedTask', () => {
  /** A task that takes `cost` ms of (fake) elapsed time and records when it started. */
  function setup(cost: number, ratio?: number) {
    const clock = new FakeClock(1000);
    let work = 0; // elapsed time spent inside the task, added to the clock's time
    const elapsed = () => clock.now() + work;
    const starts: number[] = [];
    const task = new SpacedTask(
      () => {
        starts.push(elapsed());
        work += cost;
      },
      { clock, ratio, elapsed },
    );
    return { clock, task, starts, elapsed };
  }

  it('runs once for any number of requests before the run', () => {
    const { clock, task, starts } = setup(0);
    task.request();
    task.request();
    task.request();
    expect(task.pending()).toBe(true);
    clock.advance(0);
    expect(starts).toHaveLength(1);
    expect(task.pending()).toBe(false);
  });

  it('starts the next run no sooner than ratio x the last duration after it ended', () => {
    const { clock, task, starts } = setup(25, 4);
    task.request();
    clock.advance(0);
    task.request();
    clock.advance(99);
    expect(starts).toHaveLength(1);
    clock.advance(1);
    expect(starts).toHaveLength(2);
    // 25 ms of work, then 100 ms apart: the task takes a fifth of the time.
    expect(starts[1]! - starts[0]!).toBe(125);
  });

  it('runs at once after a quiet spell', () => {
    const { clock, task, starts } = setup(25, 4);
    task.request();
    clock.advance(0);
    clock.advance(500);
    task.request();
    clock.advance(0);
    expect(starts).toHaveLength(2);
  });

  it('drops a pending run on cancel', () => {
    const { clock, task, starts } = setup(0);
    task.request();
    task.cancel();
    expect(task.pending()).toBe(false);
    clock.advance(1000);
    expect(starts).toEqual([]);
  });
});
