// Decisions of the facade over one ForwardedServer, as pure functions: which events to store,
// whether a callback belongs to the current start, how a setuptunnel `service` becomes a target,
// which JumpNode a name or alias means, what GET /api/servers lists and when a long-poll ends.
import type { ForwardedServer, HostPort, JumpNode, ProgressEvent } from '../api/types.js';
import { appendCapped, type EventCaps } from '../resources/events.js';
import { namesOf } from '../resources/jumpnode-names.js';
import { badRequest } from './errors.js';
import type { FacadeStatus } from './store.js';

/** A cancel was requested or the object is being deleted: the start is over for callbacks. */
export function isStopping(fs: ForwardedServer): boolean {
  return fs.spec.cancelRequested === true || Boolean(fs.metadata.deletionTimestamp);
}

/**
 * Running or pending, as GET /api/servers and `active` define it: the object exists, is not
 * being deleted, no cancel was requested and the operator has not declared it Cancelled or Failed.
 */
export function isActive(fs: ForwardedServer): boolean {
  const phase = fs.status?.phase;
  return !isStopping(fs) && phase !== 'Cancelled' && phase !== 'Failed';
}

/** `{userId}_{serverName}_{startId}`, the reference's reconciliation key. */
export function listKey(fs: ForwardedServer): string {
  return `${fs.spec.user.id}_${fs.spec.serverName ?? ''}_${fs.spec.startId}`;
}

/** The keys of GET /api/servers: servers that are not stopping, ordered by user id like the reference. */
export function listServers(items: readonly ForwardedServer[]): string[] {
  return items
    .filter((fs) => !isStopping(fs))
    .sort(
      (a, b) =>
        a.spec.user.id - b.spec.user.id ||
        (a.spec.serverName ?? '').localeCompare(b.spec.serverName ?? ''),
    )
    .map(listKey);
}

/** Every event ever stored for this start, including those dropped by the caps. */
export function eventTotal(fs: ForwardedServer): number {
  return (fs.status?.eventsDropped ?? 0) + (fs.status?.events?.length ?? 0);
}

export function facadeStatusOf(fs: ForwardedServer): FacadeStatus {
  const s = fs.status ?? {};
  const out: FacadeStatus = { events: s.events ?? [], eventsDropped: s.eventsDropped ?? 0 };
  if (s.terminalEvent) out.terminalEvent = s.terminalEvent;
  return out;
}

/** Has anything a long-poller waits for happened since `before` (`after` events then)? */
export function changedSince(
  before: ForwardedServer,
  after: number,
  now: ForwardedServer | undefined,
): boolean {
  if (!now) return true;
  return (
    eventTotal(now) > after ||
    now.status?.phase !== before.status?.phase ||
    now.spec.startId !== before.spec.startId ||
    now.spec.cancelRequested !== before.spec.cancelRequested ||
    Boolean(now.status?.terminalEvent) !== Boolean(before.status?.terminalEvent) ||
    Boolean(now.metadata.deletionTimestamp)
  );
}

/** One posted event waiting to be stored. */
export interface PendingEvent {
  event: ProgressEvent;
  failed: boolean;
  /** The `start_id` the caller gave, if any. */
  startId?: string;
}

export type EventOutcome =
  | 'stored'
  /** A cancel or delete was already requested: answered 204, nothing stored. */
  | 'ignored'
  /** A failed event: stored as the terminal event and the start is cancelled. */
  | 'cancelled'
  /** The caller's start_id is not the current one. */
  | 'staleStart';

export interface EventBatchDecision {
  outcomes: EventOutcome[];
  /** The new facade status, or undefined when nothing changes. */
  status?: FacadeStatus;
  cancel: boolean;
}

/** Decides a batch of events posted to one server, in arrival order. */
export function decideEvents(
  fs: ForwardedServer,
  items: readonly PendingEvent[],
  caps: EventCaps,
): EventBatchDecision {
  let stopping = isStopping(fs);
  let terminal: ProgressEvent | undefined;
  const added: ProgressEvent[] = [];
  const outcomes = items.map((item): EventOutcome => {
    if (item.startId !== undefined && item.startId !== fs.spec.startId) return 'staleStart';
    if (stopping) return 'ignored';
    if (item.failed) {
      stopping = true;
      terminal = item.event;
      return 'cancelled';
    }
    added.push(item.event);
    return 'stored';
  });
  if (added.length === 0 && !terminal) return { outcomes, cancel: false };
  const current = facadeStatusOf(fs);
  const capped = appendCapped(current.events, current.eventsDropped, added, caps);
  const status: FacadeStatus = { events: capped.events, eventsDropped: capped.dropped };
  const terminalEvent = terminal ?? current.terminalEvent;
  if (terminalEvent) status.terminalEvent = terminalEvent;
  return { outcomes, status, cancel: terminal !== undefined };
}

const DNS_NAME =
  /^[A-Za-z0-9]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)*\.?$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
const IPV6 = /^[0-9A-Fa-f:.]+$/;

export function isHost(host: string): boolean {
  if (host.length === 0 || host.length > 253) return false;
  return DNS_NAME.test(host) || IPV4.test(host) || (host.includes(':') && IPV6.test(host));
}

/**
 * Parses setuptunnel's `service`: `[http(s)://]host:port[/]`, IPv6 in brackets. Unlike the
 * reference's `split(":")` every other shape is a 400 with a message, before any write.
 */
export function parseServiceAddress(service: string): HostPort {
  const bare = service
    .trim()
    .replace(/^https?:\/\//i, '')
    .replace(/\/$/, '');
  const m = /^\[([0-9A-Fa-f:.]+)\]:(\d{1,5})$/.exec(bare) ?? /^([^:/[\]]+):(\d{1,5})$/.exec(bare);
  const host = m?.[1];
  const port = Number(m?.[2]);
  if (!host || !isHost(host) || !(port >= 1 && port <= 65535))
    throw badRequest(
      `service must be "host:port" (optionally with http:// or https://), got ${JSON.stringify(service)}`,
    );
  return { host, port };
}

/**
 * The JumpNodes a name or alias designates: every one with that name or alias. A name never
 * silently wins over another JumpNode's alias: more than one match is ambiguous.
 */
export function matchJumpNodes(nodes: readonly JumpNode[], nameOrAlias: string): JumpNode[] {
  return nodes.filter((n) => namesOf(n).includes(nameOrAlias));
}
