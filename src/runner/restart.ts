// The JumpNode restart signal: any new value of the restarted-at annotation makes the runner drop
// its SSH connections and connect again at once; the value counts as handled (and goes to
// status.lastRestartHandled) when the new connection is up. A value already there when the runner
// starts is handled by its first connection unless the status says it was handled before.
// A value that is a time (the facade writes an RFC 3339 time) and that every current connection
// is newer than is handled at once without a reconnect: the runner reconnected on its own after
// the jump node restarted, and dropping those connections would only cut the users' sessions.
// (The two times come from different clocks; a runner clock ahead of the facade's may keep a
// connection made just before the restart, which then fails its keepalives like any dead one.)
import type { SessionSnapshot } from './session.js';

export type RestartAction = 'reconnect' | 'handled' | 'none';

export class RestartTracker {
  private initialized = false;
  private seen?: string;
  private pending?: string;
  private done?: string;

  /**
   * Feeds the current annotation value and the runner's connections. 'reconnect': a new restart
   * request; 'handled': a new request that the current connections already satisfy.
   */
  observe(
    value: string | undefined,
    lastHandled: string | undefined,
    sessions: Pick<SessionSnapshot, 'phase' | 'connectedSince'>[] = [],
  ): RestartAction {
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
    if (!newerThan(value, sessions)) return 'reconnect';
    this.connected();
    return 'handled';
  }

  /** Marks a pending request handled once every connection is newer than it. */
  check(sessions: Pick<SessionSnapshot, 'phase' | 'connectedSince'>[]): void {
    if (this.pending !== undefined && newerThan(this.pending, sessions)) this.connected();
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

/** The time (ms epoch) an annotation value names, or undefined when it is not a time. */
export function restartTime(value: string): number | undefined {
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : at;
}

/** Whether every session is connected and was connected at or after the time `value` names. */
function newerThan(
  value: string,
  sessions: Pick<SessionSnapshot, 'phase' | 'connectedSince'>[],
): boolean {
  const at = restartTime(value);
  if (at === undefined || sessions.length === 0) return false;
  return sessions.every(
    (s) => s.phase === 'connected' && s.connectedSince !== undefined && s.connectedSince >= at,
  );
}
