// metav1.Condition helpers and the API's two time formats, for every component. Pure: the time
// comes in as an argument.
import type { Condition } from '../api/types.js';

export type ConditionStatus = Condition['status'];

export interface ConditionInput {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
}

export function findCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

/**
 * The condition as it should be written: lastTransitionTime moves only when the status or the
 * reason changes, so an unchanged condition compares equal to the stored one. (The API
 * conventions name only the status; moving it on a new reason too lets "how long has this been
 * the reason" be read from the condition, which the missing-JumpNode grace period relies on.)
 */
export function nextCondition(
  previous: readonly Condition[] | undefined,
  input: ConditionInput,
  now: Date,
  observedGeneration?: number,
): Condition {
  const old = findCondition(previous, input.type);
  const lastTransitionTime =
    old && old.status === input.status && old.reason === input.reason
      ? old.lastTransitionTime
      : rfc3339(now);
  return {
    ...input,
    lastTransitionTime,
    ...(observedGeneration !== undefined ? { observedGeneration } : {}),
  };
}

/** Kubernetes metav1.Time: RFC 3339 with second precision. */
export function rfc3339(t: Date | number): string {
  return new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Kubernetes metav1.MicroTime: RFC 3339 with exactly six fractional digits (the API insists). */
export function microTime(t: Date | number): string {
  return new Date(t).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/**
 * A condition written by another component, or undefined when it is absent or was computed for
 * an older generation of the object (then it says nothing about the current spec).
 */
export function currentCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
  generation: number | undefined,
): Condition | undefined {
  const c = findCondition(conditions, type);
  if (!c) return undefined;
  if (
    c.observedGeneration !== undefined &&
    generation !== undefined &&
    c.observedGeneration < generation
  )
    return undefined;
  return c;
}
