// The operator's part of a JumpNode's status (contract 0001 §A: observedGeneration,
// readyReplicas, forwards and the condition Ready), derived from the runner Deployment, the port
// claims and the runner's Connected condition. Pure.
import type { Condition, JumpNode, JumpNodeStatus } from '../api/types.js';
import {
  currentCondition,
  findCondition,
  nextCondition,
  type ConditionInput,
} from './conditions.js';

export interface JumpNodeObservation {
  /**
   * Why the runner is not running as asked: a child with the runner's name belongs to someone
   * else (ResourceExists), or the JumpNode asks for what the operator's policy refuses.
   */
  problem?: { reason: string; message: string };
  desiredReplicas: number;
  readyReplicas: number;
  /** ForwardedServers holding a runner port on this node. */
  forwards: number;
  /** Names or aliases this node shares with other JumpNodes (jumpnode-names.ts). */
  nameCollisions?: string[];
}

/** The operator's conditions on a JumpNode. */
export const OPERATOR_JUMPNODE_CONDITIONS = ['Ready', 'NamesUnique'] as const;

export interface OwnedJumpNodeStatus {
  observedGeneration?: number;
  readyReplicas: number;
  forwards: number;
  conditions: Condition[];
}

export function computeJumpNodeStatus(
  jn: JumpNode,
  o: JumpNodeObservation,
  now: Date,
): OwnedJumpNodeStatus {
  const gen = jn.metadata.generation;
  return {
    ...(gen !== undefined ? { observedGeneration: gen } : {}),
    readyReplicas: o.readyReplicas,
    forwards: o.forwards,
    conditions: [
      nextCondition(jn.status?.conditions, readyCondition(jn, o), now, gen),
      nextCondition(jn.status?.conditions, namesCondition(o), now, gen),
    ],
  };
}

function namesCondition(o: JumpNodeObservation): ConditionInput {
  const c = o.nameCollisions ?? [];
  return c.length
    ? {
        type: 'NamesUnique',
        status: 'False',
        reason: 'NameConflict',
        message: `${c.join('; ')}: the facade refuses requests naming it`,
      }
    : {
        type: 'NamesUnique',
        status: 'True',
        reason: 'NamesUnique',
        message: 'No other JumpNode of the namespace has this name or an alias of it',
      };
}

function readyCondition(jn: JumpNode, o: JumpNodeObservation): ConditionInput {
  const c = (status: 'True' | 'False', reason: string, message: string): ConditionInput => ({
    type: 'Ready',
    status,
    reason,
    message,
  });
  if (o.problem) return c('False', o.problem.reason, o.problem.message);
  if (o.desiredReplicas === 0) return c('False', 'ScaledToZero', 'spec.runner.replicas is 0');
  const pods = `${o.readyReplicas} of ${o.desiredReplicas} runner pods ready`;
  if (o.readyReplicas < 1) return c('False', 'RunnerUnavailable', pods);
  const connected = currentCondition(jn.status?.conditions, 'Connected', jn.metadata.generation);
  if (!connected) return c('False', 'Connecting', `${pods}; not connected to the jump node yet`);
  if (connected.status !== 'True')
    return c('False', 'NotConnected', `${pods}; ${connected.message || 'not connected'}`);
  return c('True', 'RunnerReady', `${pods}; connected to ${jn.spec.host}`);
}

export function ownedJumpNodeStatus(
  status: JumpNodeStatus | undefined,
): OwnedJumpNodeStatus | undefined {
  if (!status) return undefined;
  const conditions = OPERATOR_JUMPNODE_CONDITIONS.map((t) =>
    findCondition(status.conditions, t),
  ).filter((c): c is Condition => c !== undefined);
  return {
    ...(status.observedGeneration !== undefined
      ? { observedGeneration: status.observedGeneration }
      : {}),
    readyReplicas: status.readyReplicas ?? -1,
    forwards: status.forwards ?? -1,
    conditions,
  };
}
