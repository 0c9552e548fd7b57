// The JSON bodies the facade returns for a ForwardedServer. Pure.
import type { Condition, ForwardedServer, ProgressEvent } from '../api/types.js';
import { isActive } from './server-logic.js';

/** GET /api/users/progress/events/...: the reference's body (the key is `active`). */
export interface EventsView {
  events: ProgressEvent[];
  active: boolean;
  ready: boolean;
}

/** The spawner's view of one server (contract 0001 E). */
export interface ServerView {
  name: string;
  namespace: string;
  user: string;
  userId: number;
  serverName: string;
  startId: string;
  phase: string | null;
  url: string | null;
  ready: boolean;
  active: boolean;
  cancelRequested: boolean;
  conditions: Condition[];
  events: ProgressEvent[];
  eventsDropped: number;
  terminalEvent: ProgressEvent | null;
}

export function isReady(fs: ForwardedServer): boolean {
  return isActive(fs) && fs.status?.phase === 'Ready';
}

export function eventsView(fs: ForwardedServer): EventsView {
  return { events: fs.status?.events ?? [], active: isActive(fs), ready: isReady(fs) };
}

export function serverView(fs: ForwardedServer): ServerView {
  const s = fs.status ?? {};
  return {
    name: fs.metadata.name,
    namespace: fs.metadata.namespace ?? '',
    user: fs.spec.user.name,
    userId: fs.spec.user.id,
    serverName: fs.spec.serverName ?? '',
    startId: fs.spec.startId,
    phase: s.phase ?? null,
    url: s.url ?? null,
    ready: isReady(fs),
    active: isActive(fs),
    cancelRequested: fs.spec.cancelRequested === true,
    conditions: s.conditions ?? [],
    events: s.events ?? [],
    eventsDropped: s.eventsDropped ?? 0,
    terminalEvent: s.terminalEvent ?? null,
  };
}
