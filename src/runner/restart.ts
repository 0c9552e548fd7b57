// The JumpNode restart signal: any new value of the restarted-at annotation makes the runner drop
// its SSH connection and connect again at once; the value counts as handled (and goes to
// status.lastRestartHandled) when the new connection is up. A value already there when the runner
// starts is handled by its first connection unless the status says it was handled before.

export class RestartTracker {
  private initialized = false;
  private seen?: string;
  private pending?: string;
  private done?: string;

  /** Feeds the current annotation value; 'reconnect' means a new restart request. */
  observe(value: string | undefined, lastHandled: string | undefined): 'reconnect' | 'none' {
    if (!this.initialized) {
      this.initialized = true;
      this.seen = value;
      if (value !== undefined && value !== lastHandled) this.pending = value;
      return 'none';
    }
    if (value === this.seen) return 'none';
    this.seen = value;
    if (value === undefined) return 'none';
    this.pending = value;
    return 'reconnect';
  }

  /** A new SSH connection is up: the pending request is handled. */
  connected(): void {
    if (this.pending === undefined) return;
    this.done = this.pending;
    this.pending = undefined;
  }

  /** The last value this runner handled, if any. */
  handled(): string | undefined {
    return this.done;
  }
}
