// The runner's conditions and how several runner replicas share them. Pure.
//
// Every replica of a JumpNode's runner writes the same conditions with the same field manager
// (contract 0001 §A), so two replicas that see different things must not fight. The rule
// ("a peer's True wins while it may be alive"):
//   - True is written at once;
//   - a runner drops its own True at once;
//   - a True written by someone else (a peer, or this pod's predecessor) is contradicted only
//     after this runner has wanted non-True for peerGraceMs, and only if that True is older than
//     this runner's trouble: a peer that (re-)asserted True after the trouble began is alive and
//     serving, and the Service sends connections to it (readiness takes this pod out).
// A runner recognises its own writes by status and lastTransitionTime, remembered in memory.
// A condition written for an older generation of the object (another JumpNode's runner, or an
// older spec) asserts nothing about the current one: it is replaced at once, with a new time.
import type { Condition } from '../api/types.js';
import { rfc3339 } from '../resources/conditions.js';

export type ConditionStatus = Condition['status'];

export interface WantedCondition {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
  observedGeneration?: number;
}

export interface OwnWrite {
  status: ConditionStatus;
  lastTransitionTime: string;
}

export interface ResolveContext {
  now: number;
  /** What this process last wrote for this object and condition type. */
  own?: OwnWrite;
  /** Since when this runner has continuously wanted a non-True status (ms epoch). */
  notTrueSince?: number;
  peerGraceMs: number;
}

export interface Resolved {
  condition: Condition;
  /** The condition written by someone else was kept; look again after this many ms. */
  recheckAfterMs?: number;
}

function make(wanted: WantedCondition, lastTransitionTime: string): Condition {
  const c: Condition = {
    type: wanted.type,
    status: wanted.status,
    reason: wanted.reason,
    message: wanted.message,
    lastTransitionTime,
  };
  if (wanted.observedGeneration !== undefined) c.observedGeneration = wanted.observedGeneration;
  return c;
}

export function isOwn(current: Condition, own: OwnWrite | undefined): boolean {
  return (
    !!own && own.status === current.status && own.lastTransitionTime === current.lastTransitionTime
  );
}

/** The condition to send for `wanted`, given what the object currently says. */
export function resolveCondition(
  current: Condition | undefined,
  wanted: WantedCondition,
  ctx: ResolveContext,
): Resolved {
  const now = rfc3339(ctx.now);
  if (!current || olderGeneration(current, wanted)) return { condition: make(wanted, now) };
  const same = current.status === wanted.status && current.reason === wanted.reason;
  if (same) {
    const sameGeneration = current.observedGeneration === wanted.observedGeneration;
    const refresh =
      !sameGeneration || (current.message !== wanted.message && isOwn(current, ctx.own));
    return { condition: refresh ? make(wanted, current.lastTransitionTime) : current };
  }
  if (wanted.status === 'True' || current.status !== 'True' || isOwn(current, ctx.own)) {
    const keepTime = current.status === wanted.status;
    return { condition: make(wanted, keepTime ? current.lastTransitionTime : now) };
  }
  // A True that someone else wrote, and this runner does not see it.
  const since = ctx.notTrueSince ?? ctx.now;
  const troubleMs = ctx.now - since;
  if (troubleMs < ctx.peerGraceMs)
    return { condition: current, recheckAfterMs: ctx.peerGraceMs - troubleMs };
  const assertedAt = Date.parse(current.lastTransitionTime);
  if (Number.isFinite(assertedAt) && assertedAt >= Math.floor(since / 1000) * 1000)
    return { condition: current };
  return { condition: make(wanted, now) };
}

function olderGeneration(current: Condition, wanted: WantedCondition): boolean {
  const [c, w] = [current.observedGeneration, wanted.observedGeneration];
  return c !== undefined && w !== undefined && c < w;
}
