// The operator's part of a ForwardedServer's status (contract 0001 §A: phase, url, runnerPort,
// serviceName, observedGeneration and the conditions TargetKnown, ServiceReady, Ready), computed
// from what the reconcile observed and the runner's conditions. Pure: time is an argument.
import type {
  Condition,
  ForwardedServer,
  ForwardedServerPhase,
  ForwardedServerStatus,
} from '../api/types.js';
import {
  currentCondition,
  findCondition,
  nextCondition,
  type ConditionInput,
} from './conditions.js';
import { servicePort } from './service.js';

export type ServerProblem =
  'NameMismatch' | 'ResourceExists' | 'JumpNodeNotFound' | 'PortsExhausted' | 'TargetNotAllowed';

/** What one reconcile found and did. */
export interface ServerObservation {
  /** Set when spec.cancelRequested: true once the Service and the port claim are gone. */
  cancelDone?: boolean;
  problem?: { reason: ServerProblem; message: string };
  /** The Service exists and is ours. */
  serviceName?: string;
  /** Direct server whose target the cluster cannot route to: no Service, and why. */
  serviceSkipped?: string;
  runnerPort?: number;
  url?: string;
}

export interface OwnedServerStatus {
  phase: ForwardedServerPhase;
  conditions: Condition[];
  observedGeneration?: number;
  url?: string;
  runnerPort?: number;
  serviceName?: string;
}

export interface ServerStatusResult {
  status: OwnedServerStatus;
  /** When the phase will change by time alone (the missing-JumpNode grace period ends). */
  requeueAfterMs?: number;
}

export const OPERATOR_SERVER_CONDITIONS = ['TargetKnown', 'ServiceReady', 'Ready'] as const;

type Derived = { phase: ForwardedServerPhase; ready: ConditionInput; requeueAfterMs?: number };

export function computeServerStatus(
  fs: ForwardedServer,
  observed: ServerObservation,
  now: Date,
  jumpNodeGraceMs: number,
): ServerStatusResult {
  const prev = fs.status?.conditions;
  const gen = fs.metadata.generation;
  const derived = derive(fs, observed, now, jumpNodeGraceMs);
  const cond = (c: ConditionInput) => nextCondition(prev, c, now, gen);
  const status: OwnedServerStatus = {
    phase: derived.phase,
    conditions: [cond(targetKnown(fs)), cond(serviceReady(fs, observed)), cond(derived.ready)],
    ...(gen !== undefined ? { observedGeneration: gen } : {}),
    ...(observed.url ? { url: observed.url } : {}),
    ...(observed.runnerPort ? { runnerPort: observed.runnerPort } : {}),
    ...(observed.serviceName ? { serviceName: observed.serviceName } : {}),
  };
  return { status, ...(derived.requeueAfterMs ? { requeueAfterMs: derived.requeueAfterMs } : {}) };
}

function targetKnown(fs: ForwardedServer): ConditionInput {
  const t = fs.spec.target;
  return t
    ? {
        type: 'TargetKnown',
        status: 'True',
        reason: 'TargetReported',
        message: `Target is ${t.host}:${t.port}`,
      }
    : {
        type: 'TargetKnown',
        status: 'False',
        reason: 'WaitingForTarget',
        message:
          "Waiting for the remote system to report the notebook's host and port (setuptunnel)",
      };
}

function serviceReady(fs: ForwardedServer, o: ServerObservation): ConditionInput {
  const c = (status: 'True' | 'False', reason: string, message: string): ConditionInput => ({
    type: 'ServiceReady',
    status,
    reason,
    message,
  });
  if (o.cancelDone !== undefined)
    return o.cancelDone
      ? c('False', 'Cancelled', 'The Service was deleted and the runner port released')
      : c('False', 'Cancelling', 'Deleting the Service and releasing the runner port');
  if (o.problem) return c('False', o.problem.reason, o.problem.message);
  if (o.serviceSkipped) return c('False', 'TargetNotRoutable', o.serviceSkipped);
  if (!o.serviceName)
    return c(
      'False',
      'WaitingForTarget',
      'A direct server gets its Service once spec.target is set',
    );
  const jn = fs.spec.jumpNodeRef?.name;
  if (jn)
    return c(
      'True',
      'ServiceApplied',
      `Service ${o.serviceName} sends port ${servicePort(fs)} to runner port ${o.runnerPort} of JumpNode ${jn}`,
    );
  return c('True', 'ServiceApplied', `Service ${o.serviceName} points at the direct target`);
}

function derive(fs: ForwardedServer, o: ServerObservation, now: Date, graceMs: number): Derived {
  const ready = (status: 'True' | 'False', reason: string, message: string): ConditionInput => ({
    type: 'Ready',
    status,
    reason,
    message,
  });
  if (o.cancelDone !== undefined) {
    const done = o.cancelDone;
    const msg = done
      ? 'The server was cancelled'
      : 'Cancelling: cleaning up the Service and the port';
    return {
      phase: done ? 'Cancelled' : 'Cancelling',
      ready: ready('False', done ? 'Cancelled' : 'Cancelling', msg),
    };
  }
  if (o.problem)
    return problemPhase(
      fs,
      o.problem,
      now,
      graceMs,
      ready('False', o.problem.reason, o.problem.message),
    );
  const t = fs.spec.target;
  if (!t)
    return {
      phase: 'WaitingForTarget',
      ready: ready('False', 'WaitingForTarget', targetKnown(fs).message),
    };
  const jn = fs.spec.jumpNodeRef?.name;
  if (!jn)
    return {
      phase: 'Ready',
      ready: ready('True', 'DirectTarget', `The hub reaches ${t.host}:${t.port} directly`),
    };
  const gen = fs.metadata.generation;
  const tunnel = currentCondition(fs.status?.conditions, 'TunnelReady', gen);
  const reach = currentCondition(fs.status?.conditions, 'TargetReachable', gen);
  if (tunnel?.status !== 'True') {
    const why =
      tunnel?.message || `Waiting for the tunnel runner of JumpNode ${jn} to open the forward`;
    return { phase: 'Connecting', ready: ready('False', 'TunnelNotReady', why) };
  }
  if (reach?.status === 'False')
    return {
      phase: 'Connecting',
      ready: ready(
        'False',
        'TargetUnreachable',
        reach.message || `${t.host}:${t.port} does not answer through the tunnel`,
      ),
    };
  return {
    phase: 'Ready',
    ready: ready(
      'True',
      'TunnelReady',
      `Runner port ${o.runnerPort} forwards through JumpNode ${jn} to ${t.host}:${t.port}`,
    ),
  };
}

/**
 * A missing JumpNode is Pending during the grace period (it may be created right after the
 * server) and Failed afterwards; exhausted ports stay Pending (a port may be freed); a name
 * mismatch or a foreign Service are Failed at once (nothing but a person can fix them).
 */
function problemPhase(
  fs: ForwardedServer,
  problem: NonNullable<ServerObservation['problem']>,
  now: Date,
  graceMs: number,
  readyCond: ConditionInput,
): Derived {
  if (problem.reason === 'PortsExhausted') return { phase: 'Pending', ready: readyCond };
  if (problem.reason !== 'JumpNodeNotFound') return { phase: 'Failed', ready: readyCond };
  const prev = findCondition(fs.status?.conditions, 'Ready');
  const since =
    prev?.reason === 'JumpNodeNotFound' ? Date.parse(prev.lastTransitionTime) : now.getTime();
  const left = since + graceMs - now.getTime();
  if (left <= 0) return { phase: 'Failed', ready: readyCond };
  return { phase: 'Pending', ready: readyCond, requeueAfterMs: left };
}

/** The operator-owned fields of a stored status, for comparison with a computed one. */
export function ownedServerStatus(
  status: ForwardedServerStatus | undefined,
): OwnedServerStatus | undefined {
  if (!status?.phase) return undefined;
  const conditions = OPERATOR_SERVER_CONDITIONS.map((t) =>
    findCondition(status.conditions, t),
  ).filter((c): c is Condition => c !== undefined);
  return {
    phase: status.phase,
    conditions,
    ...(status.observedGeneration !== undefined
      ? { observedGeneration: status.observedGeneration }
      : {}),
    ...(status.url ? { url: status.url } : {}),
    ...(status.runnerPort ? { runnerPort: status.runnerPort } : {}),
    ...(status.serviceName ? { serviceName: status.serviceName } : {}),
  };
}
