// Coalesced and spaced runs of a task whose cost grows with its input: the runner's reconcile
// derives every forward from every ForwardedServer, so under a stream of changes (a burst of
// creates) back-to-back runs would take the whole thread, which status writes, watches and
// metrics share.
//
// Contract:
//   - after request(), the task runs once, on a timer; requests before it runs join that run;
//   - a run starts no sooner than `ratio` times the previous run's duration after that run ended,
//     so under a stream of requests the task takes at most 1 / (1 + ratio) of the thread's time;
//     a request after a quiet spell runs on a timer of 0 ms;
//   - pending() is true from a request until its run starts; cancel() drops a pending run.
import type { Clock } from '../clock.js';

export class SpacedTask {
  private timer: unknown;
  private lastEnd = -Infinity;
  private lastCost = 0;
  private readonly ratio: number;
  private readonly elapsed: () => number;

  constructor(
    private readonly task: () => void,
    private readonly o: { clock: Clock; ratio?: number; elapsed?: () => number },
  ) {
    this.ratio = o.ratio ?? 4;
    this.elapsed = o.elapsed ?? (() => performance.now());
  }

  request(): void {
    if (this.timer !== undefined) return;
    const wait = Math.max(0, this.lastEnd + this.ratio * this.lastCost - this.elapsed());
    this.timer = this.o.clock.setTimeout(() => this.run(), wait);
  }

  pending(): boolean {
    return this.timer !== undefined;
  }

  cancel(): void {
    if (this.timer !== undefined) this.o.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private run(): void {
    this.timer = undefined;
    const start = this.elapsed();
    try {
      this.task();
    } finally {
      this.lastEnd = this.elapsed();
      this.lastCost = this.lastEnd - start;
    }
  }
}
