// Children whose controlling owner no longer exists. The garbage collector deletes them too, but
// it can lag (it picks up new resource types such as a just-installed CRD only periodically,
// decision 0011); deleting them as soon as the owner's deletion is seen frees ports and
// Services at once.
import type { KubernetesObject } from '@kubernetes/client-node';
import { controllerOf } from '../resources/meta.js';
import type { Cache, ControllerContext } from './context.js';

export interface ChildSource {
  apiVersion: string;
  kind: string;
  cache: Cache<KubernetesObject>;
}

export async function deleteOrphans(
  ctx: ControllerContext,
  owner: { kind: string; namespace: string; name: string },
  sources: readonly ChildSource[],
): Promise<number> {
  let deleted = 0;
  for (const s of sources) {
    for (const obj of s.cache.list(owner.namespace)) {
      const ref = controllerOf(obj.metadata as never);
      if (ref?.kind !== owner.kind || ref.name !== owner.name) continue;
      const target = {
        apiVersion: s.apiVersion,
        kind: s.kind,
        metadata: { name: obj.metadata!.name!, namespace: owner.namespace },
      };
      if (await ctx.children.deleteOwned(target, obj, ref.uid)) deleted++;
    }
  }
  if (deleted)
    ctx.log.info(`Deleted children of deleted ${owner.kind}`, {
      namespace: owner.namespace,
      name: owner.name,
      count: deleted,
    });
  return deleted;
}
