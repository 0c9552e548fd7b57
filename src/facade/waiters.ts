// Long-polls and event streams wait for changes of one ForwardedServer. Each registers a close
// function here so that shutting the app down ends them at once instead of holding the listener
// open until their timeout.
import type { FacadeMetrics } from './metrics.js';

export class Waiters {
  private readonly open = new Set<() => void>();
  private closed = false;

  constructor(private readonly metrics: FacadeMetrics) {}

  /**
   * Registers `close`; returns the function to call when the wait ends by itself. After
   * closeAll(), `close` runs on the next microtask (never synchronously inside add()).
   */
  add(close: () => void): () => void {
    if (this.closed) {
      queueMicrotask(close);
      return () => {};
    }
    this.open.add(close);
    this.metrics.waiters.inc();
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.open.delete(close);
      this.metrics.waiters.dec();
    };
  }

  closeAll(): void {
    this.closed = true;
    for (const close of [...this.open]) close();
  }

  get size(): number {
    return this.open.size;
  }
}
