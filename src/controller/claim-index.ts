// An index of the port claims in the informer cache, kept current from the informer's events:
// by holder (the controlling ForwardedServer's uid) and by JumpNode. A reconcile asks for the
// claims of one server or the ports of one JumpNode without scanning every claim, so its cost
// does not grow with the number of servers.
//
// Contract: feed every add/update/delete of the port claim informer to upsert/remove (a relist
// reports vanished objects as deletions). Objects that are not claims (parseClaim fails) are
// ignored; a claim whose labels change is moved.
import type { V1Lease } from '@kubernetes/client-node';
import { parseClaim } from '../resources/ports.js';
import { controllerOf } from '../resources/meta.js';
import { objectKey } from '../names.js';

export interface IndexedClaim {
  jumpNode: string;
  port: number;
  /** The ForwardedServer named by the claim's label. */
  holder: string;
  /** The uid of the claim's controller (undefined when it has none). */
  holderUid?: string;
  lease: V1Lease;
}

export interface ClaimIndexView {
  /** Claims in `namespace` controlled by the object with `uid`. */
  heldBy(namespace: string, uid: string): IndexedClaim[];
  /** Ports of `jumpNode` in `namespace` that some claim holds (a live view: do not keep it). */
  taken(namespace: string, jumpNode: string): ReadonlySet<number>;
}

const NONE: ReadonlySet<number> = new Set();

export class ClaimIndex implements ClaimIndexView {
  private readonly byKey = new Map<string, IndexedClaim>();
  /** namespace/uid -> lease key -> claim */
  private readonly byHolder = new Map<string, Map<string, IndexedClaim>>();
  /** namespace/jumpNode -> port -> number of claims naming it */
  private readonly byNode = new Map<string, Map<number, number>>();
  /** namespace/jumpNode -> ports with at least one claim (what taken() returns) */
  private readonly ports = new Map<string, Set<number>>();

  upsert(lease: V1Lease): void {
    const key = leaseKey(lease);
    this.removeKey(key);
    const c = parseClaim(lease);
    if (!c) return;
    const ns = lease.metadata?.namespace ?? '';
    const holderUid = controllerOf(lease.metadata as never)?.uid;
    const entry: IndexedClaim = { ...c, lease, ...(holderUid ? { holderUid } : {}) };
    this.byKey.set(key, entry);
    if (holderUid)
      getOrAdd(this.byHolder, objectKey(ns, holderUid), () => new Map()).set(key, entry);
    const node = objectKey(ns, c.jumpNode);
    const counts = getOrAdd(this.byNode, node, () => new Map<number, number>());
    counts.set(c.port, (counts.get(c.port) ?? 0) + 1);
    getOrAdd(this.ports, node, () => new Set()).add(c.port);
  }

  remove(lease: V1Lease): void {
    this.removeKey(leaseKey(lease));
  }

  heldBy(namespace: string, uid: string): IndexedClaim[] {
    const held = this.byHolder.get(objectKey(namespace, uid));
    return held ? [...held.values()] : [];
  }

  taken(namespace: string, jumpNode: string): ReadonlySet<number> {
    return this.ports.get(objectKey(namespace, jumpNode)) ?? NONE;
  }

  /** Number of claims indexed (for tests and metrics). */
  size(): number {
    return this.byKey.size;
  }

  private removeKey(key: string): void {
    const old = this.byKey.get(key);
    if (!old) return;
    this.byKey.delete(key);
    const ns = old.lease.metadata?.namespace ?? '';
    if (old.holderUid) {
      const hk = objectKey(ns, old.holderUid);
      const held = this.byHolder.get(hk);
      held?.delete(key);
      if (held?.size === 0) this.byHolder.delete(hk);
    }
    const node = objectKey(ns, old.jumpNode);
    const counts = this.byNode.get(node);
    const n = (counts?.get(old.port) ?? 0) - 1;
    if (n > 0) counts!.set(old.port, n);
    else {
      counts?.delete(old.port);
      this.ports.get(node)?.delete(old.port);
      if (counts?.size === 0) {
        this.byNode.delete(node);
        this.ports.delete(node);
      }
    }
  }
}

function leaseKey(lease: V1Lease): string {
  return objectKey(lease.metadata?.namespace ?? '', lease.metadata?.name ?? '');
}

function getOrAdd<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let v = map.get(key);
  if (v === undefined) map.set(key, (v = make()));
  return v;
}
