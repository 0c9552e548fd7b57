// Owner references and comparisons shared by the builders and controllers. Pure.
import type { ObjectMeta, OwnerReference } from '../api/types.js';

/** What an owner must expose to be referenced. */
export interface OwnerLike {
  apiVersion: string;
  kind: string;
  metadata: Pick<ObjectMeta, 'name' | 'uid'>;
}

/**
 * The controller reference that makes the garbage collector delete a child with its owner.
 * blockOwnerDeletion lets foreground deletion wait for the children (kubebuilder's convention;
 * clusters with OwnerReferencesPermissionEnforcement then need `update` on `<owner>/finalizers`).
 */
export function controllerRef(owner: OwnerLike): OwnerReference {
  if (!owner.metadata.uid) throw new Error(`${owner.kind} ${owner.metadata.name} has no uid`);
  return {
    apiVersion: owner.apiVersion,
    kind: owner.kind,
    name: owner.metadata.name,
    uid: owner.metadata.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** The owner reference with controller=true, if any. */
export function controllerOf(meta: { ownerReferences?: OwnerReference[] } | undefined) {
  return meta?.ownerReferences?.find((r) => r.controller === true);
}

export function isControlledBy(
  meta: { ownerReferences?: OwnerReference[] } | undefined,
  ownerUid: string | undefined,
): boolean {
  return ownerUid !== undefined && controllerOf(meta)?.uid === ownerUid;
}

/**
 * True when every field set in `desired` has the same value in `actual`: maps may carry extra
 * keys (API defaults, other managers' fields), lists must match element by element. Used to
 * skip a server-side apply that would change nothing.
 */
export function isSubset(desired: unknown, actual: unknown): boolean {
  if (desired === undefined) return true;
  if (desired === null || typeof desired !== 'object') return desired === actual;
  if (Array.isArray(desired)) {
    if (!Array.isArray(actual) || actual.length !== desired.length) return false;
    return desired.every((d, i) => isSubset(d, actual[i]));
  }
  if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return false;
  const a = actual as Record<string, unknown>;
  return Object.entries(desired as Record<string, unknown>).every(([k, v]) => isSubset(v, a[k]));
}
