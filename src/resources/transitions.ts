// Which Kubernetes Events a status change deserves. Pure. Events mark transitions only, so a
// reconcile that changes nothing records nothing.
import type { Condition } from '../api/types.js';
import { findCondition } from './conditions.js';
import type { OwnedServerStatus, ServerProblem } from './server-status.js';

export interface EventSpec {
  type: 'Normal' | 'Warning';
  /** CamelCase reason, e.g. "Ready" or "JumpNodeNotFound". */
  reason: string;
  /** What the operator did or observed, e.g. "Reconcile". */
  action: string;
  note: string;
}

const SERVER_PROBLEMS: ReadonlySet<string> = new Set<ServerProblem>([
  'NameMismatch',
  'ResourceExists',
  'JumpNodeNotFound',
  'TargetNotAllowed',
  'PortsExhausted',
]);

interface StatusLike {
  phase?: string;
  runnerPort?: number;
  conditions?: Condition[];
}

/** The phases a new server passes before the operator has a port and a Service for it. */
const STARTING_PHASES: ReadonlySet<string | undefined> = new Set([
  undefined,
  'Pending',
  'WaitingForTarget',
]);

/**
 * A new server's first step to Connecting, waiting for the runner: no Event. Its way to Ready is
 * told once, by the Ready Event, whose note names the runner port and the JumpNode; if it never
 * gets there, its status says why (phase, the Ready condition's reason and message). Connecting
 * after the server was Ready (a lost tunnel), and Connecting for any other reason, are Events.
 */
function firstConnecting(prev: StatusLike | undefined, next: OwnedServerStatus): boolean {
  const ready = findCondition(next.conditions, 'Ready');
  return (
    next.phase === 'Connecting' &&
    ready?.reason === 'TunnelNotReady' &&
    STARTING_PHASES.has(prev?.phase) &&
    findCondition(prev?.conditions, 'Ready')?.status !== 'True'
  );
}

export function serverEvents(
  prev: StatusLike | undefined,
  next: OwnedServerStatus,
  jumpNode: string | undefined,
): EventSpec[] {
  const events: EventSpec[] = [];
  const before = findCondition(prev?.conditions, 'Ready');
  const ready = findCondition(next.conditions, 'Ready')!;
  const port =
    next.runnerPort && next.runnerPort !== prev?.runnerPort
      ? `Allocated runner port ${next.runnerPort} on JumpNode ${jumpNode}`
      : undefined;
  const problem = SERVER_PROBLEMS.has(ready.reason) && before?.reason !== ready.reason;
  if (problem)
    events.push({
      type: 'Warning',
      reason: ready.reason,
      action: 'Reconcile',
      note: ready.message,
    });
  if (!problem && firstConnecting(prev, next)) return events;
  if (!problem && next.phase !== prev?.phase)
    // One Event per transition: a new port is told together with the new phase.
    events.push({
      type: next.phase === 'Failed' ? 'Warning' : 'Normal',
      reason: next.phase,
      action: 'Reconcile',
      note: port ? `${port}. ${ready.message}` : ready.message,
    });
  else if (port)
    events.push({ type: 'Normal', reason: 'PortAllocated', action: 'AllocatePort', note: port });
  return events;
}

const JUMPNODE_WARNINGS: ReadonlySet<string> = new Set([
  'ResourceExists',
  'NotConnected',
  'ImageNotAllowed',
  'TolerationNotAllowed',
  'KeySecretNotFound',
  'KeySecretNotAllowed',
  'KeySecretUnreadable',
]);

export function jumpNodeEvents(prev: Condition[] | undefined, next: Condition[]): EventSpec[] {
  const events: EventSpec[] = [];
  const before = findCondition(prev, 'Ready');
  const ready = findCondition(next, 'Ready')!;
  if (before?.reason !== ready.reason || before.status !== ready.status)
    events.push({
      type: JUMPNODE_WARNINGS.has(ready.reason) ? 'Warning' : 'Normal',
      reason: ready.reason,
      action: 'Reconcile',
      note: ready.message,
    });
  const names = findCondition(next, 'NamesUnique');
  const namesBefore = findCondition(prev, 'NamesUnique');
  if (names?.status === 'False' && namesBefore?.message !== names.message)
    events.push({
      type: 'Warning',
      reason: names.reason,
      action: 'Reconcile',
      note: names.message,
    });
  return events;
}
