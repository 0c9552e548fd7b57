// Progress events kept in ForwardedServer status: capped by count and by bytes so that the object
// stays far below etcd's 1.5 MB limit. Pure.
import type { ProgressEvent } from '../api/types.js';

export interface EventCaps {
  /** Most events kept. */
  maxCount: number;
  /** Most bytes of JSON (UTF-8) for all kept events together. */
  maxBytes: number;
}

export const DEFAULT_EVENT_CAPS: EventCaps = Object.freeze({ maxCount: 100, maxBytes: 128 * 1024 });

export interface CappedEvents {
  events: ProgressEvent[];
  /** Total events dropped from the front so far (the previous count plus the ones dropped now). */
  dropped: number;
}

export function eventBytes(e: ProgressEvent): number {
  return Buffer.byteLength(JSON.stringify(e), 'utf8');
}

/**
 * Appends `added` to `existing` and drops the oldest events until both caps hold. The newest
 * event is always kept (callers bound single events by the CRD's field lengths).
 */
export function appendCapped(
  existing: readonly ProgressEvent[],
  previouslyDropped: number,
  added: readonly ProgressEvent[],
  caps: EventCaps = DEFAULT_EVENT_CAPS,
): CappedEvents {
  const all = [...existing, ...added];
  const sizes = all.map(eventBytes);
  let bytes = sizes.reduce((a, b) => a + b, 0);
  let start = 0;
  while (all.length - start > 1 && (all.length - start > caps.maxCount || bytes > caps.maxBytes)) {
    bytes -= sizes[start]!;
    start++;
  }
  return { events: all.slice(start), dropped: previouslyDropped + start };
}
