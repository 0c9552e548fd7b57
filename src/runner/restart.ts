// The JumpNode restart signal. Any new value of the restarted-at annotation is sent to the data
// plane as one request: drop every SSH connection made before the request time and connect
// again at once. The data plane alone decides, per connection, whether to reconnect or keep it
// (a connection made at or after the request time is kept: the runner reconnected on its own
// after the jump node restarted, and dropping it would only cut the users' sessions).
// The value counts as handled (and goes to status.lastRestartHandled) once the data plane reports
// that every connection is up and was made at or after the request time.
//
// The request time is the time the value names (the facade writes an RFC 3339 time), or the time
// the runner saw the value when it is not a time. For "handled", the earlier of that and the time
// the runner saw the value counts, so that a facade clock ahead of the runner's cannot keep a
// reconnect made for the request from counting. A value already there when the runner starts is
// handled by its first connections (no request is sent) unless the status says it was handled.
import type { SessionSnapshot } from './session.js';

/** What to send to the data plane for a new restart value. */
export interface RestartRequest {
  value: string;
  /** ms epoch: connections made at or after it are kept. */
  notBefore: number;
}

type Sessions = Pick<SessionSnapshot, 'phase' | 'connectedSince'>[];

export class RestartTracker {
  private initialized = false;
  private seen?: string;
  private pending?: { value: string; since: number };
  private done?: string;

  /**
   * Feeds the current annotation value, the value the status says was handled and the runner's
   * clock. Returns the request to send to the data plane for a new value, else undefined.
   */
  observe(
    value: string | undefined,
    lastHandled: string | undefined,
    now: number,
  ): RestartRequest | undefined {
    if (!this.initialized) {
      this.initialized = true;
      this.seen = value;
      if (value !== undefined && value !== lastHandled)
        this.pending = { value, since: Math.min(restartTime(value) ?? now, now) };
      return undefined;
    }
    if (value === this.seen) return undefined;
    this.seen = value;
    if (value === undefined) return undefined;
    const notBefore = restartTime(value) ?? now;
    this.pending = { value, since: Math.min(notBefore, now) };
    return { value, notBefore };
  }

  /**
   * Marks the pending value handled once every connection is up and was made at or after its
   * request time. True when this call did so (the status has something new to say).
   */
  check(sessions: Sessions): boolean {
    const p = this.pending;
    if (p === undefined || !madeSince(p.since, sessions)) return false;
    this.done = p.value;
    this.pending = undefined;
    return true;
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

/** Whether there is a connection and every one is up and was made at or after `at`. */
function madeSince(at: number, sessions: Sessions): boolean {
  return (
    sessions.length > 0 &&
    sessions.every(
      (s) => s.phase === 'connected' && s.connectedSince !== undefined && s.connectedSince >= at,
    )
  );
}
