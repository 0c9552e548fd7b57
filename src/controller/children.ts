// Ensure and delete child objects (Service, Deployment, RBAC, EndpointSlice) with server-side
// apply under one field manager, never touching an object the owner does not control.
//
// Ensure = look in the informer cache, else GET (a foreign object without our labels is not in
// the cache) -> refuse if another owner controls it -> skip if it already matches -> apply.
import type { KubernetesObject, KubernetesObjectApi } from '@kubernetes/client-node';
import { PatchStrategy } from '@kubernetes/client-node';
import { isConflict, isNotFound } from '../kube/client.js';
import { FIELD_MANAGER } from '../names.js';
import { controllerOf, isControlledBy, isSubset } from '../resources/meta.js';

export type EnsureOutcome = 'created' | 'updated' | 'unchanged' | 'foreign';

export interface EnsureResult {
  outcome: EnsureOutcome;
  /** For 'foreign': who controls the object, for the condition message. */
  message?: string;
}

/** A child of a previous owner with the same name that the garbage collector has yet to delete. */
export class PendingGarbageCollection extends Error {}

export interface Children {
  ensure(
    desired: KubernetesObject,
    cached: KubernetesObject | undefined,
    ownerUid: string,
  ): Promise<EnsureResult>;
  /** Deletes the object if the owner controls it; returns whether something was deleted. */
  deleteOwned(
    ref: KubernetesObject,
    cached: KubernetesObject | undefined,
    ownerUid: string,
  ): Promise<boolean>;
}

export function makeChildren(objects: KubernetesObjectApi, guard: () => void): Children {
  const read = async (ref: KubernetesObject): Promise<KubernetesObject | undefined> => {
    try {
      return await objects.read(
        ref as KubernetesObject & { metadata: { name: string; namespace: string } },
      );
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  };
  return {
    async ensure(desired, cached, ownerUid) {
      const current = cached ?? (await read(desired));
      if (current) {
        const owner = controllerOf(current.metadata as never);
        if (!isControlledBy(current.metadata as never, ownerUid)) {
          if (current.metadata?.deletionTimestamp || sameOwnerName(owner, desired))
            throw new PendingGarbageCollection(
              `${desired.kind} ${desired.metadata?.name} of a previous owner is being deleted`,
            );
          return { outcome: 'foreign', message: foreignMessage(desired, owner) };
        }
        // Objects listed through typed APIs carry no apiVersion/kind: compare the rest.
        if (isSubset({ ...desired, apiVersion: undefined, kind: undefined }, current))
          return { outcome: 'unchanged' };
      }
      guard();
      await objects.patch(
        desired,
        undefined,
        undefined,
        FIELD_MANAGER,
        true,
        PatchStrategy.ServerSideApply,
      );
      return { outcome: current ? 'updated' : 'created' };
    },
    async deleteOwned(ref, cached, ownerUid) {
      const current = cached ?? (await read(ref));
      if (!current || !isControlledBy(current.metadata as never, ownerUid)) return false;
      guard();
      try {
        // The uid precondition keeps a stale cache from deleting a newer object of the same name.
        const preconditions = { uid: current.metadata?.uid };
        await objects.delete(ref, undefined, undefined, undefined, undefined, 'Background', {
          preconditions,
        });
      } catch (err) {
        if (!isNotFound(err) && !isConflict(err)) throw err;
      }
      return true;
    },
  };
}

function sameOwnerName(
  owner: { kind: string; name: string } | undefined,
  desired: KubernetesObject,
): boolean {
  const mine = controllerOf(desired.metadata as never);
  return !!owner && !!mine && owner.kind === mine.kind && owner.name === mine.name;
}

function foreignMessage(
  desired: KubernetesObject,
  owner: { kind: string; name: string } | undefined,
): string {
  const what = `${desired.kind} ${desired.metadata?.name}`;
  const by = owner ? `is controlled by ${owner.kind} ${owner.name}` : 'has no controller';
  return `${what} already exists and ${by}; the operator does not adopt it (delete or rename it)`;
}
