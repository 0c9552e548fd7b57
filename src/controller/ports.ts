// Runner port allocation per JumpNode (decision 0011). A port is taken by creating the Lease
// `{jumpNode}-port-{port}` (src/resources/ports.ts): the API server admits one object per name,
// so creation is the compare-and-swap, and two operators can never both succeed for one port.
// The Lease is controlled by its ForwardedServer, so the garbage collector frees the port when
// the server is deleted, even while no operator runs. A server that ends up with more than one
// claim (two operators with different cache views) keeps the first in its probe order; the
// others are released after its status names the kept port.
import type { V1Lease } from '@kubernetes/client-node';
import type { ForwardedServer, JumpNode } from '../api/types.js';
import { isConflict, isNotFound } from '../kube/client.js';
import { LABELS } from '../names.js';
import { isControlledBy } from '../resources/meta.js';
import { buildPortClaim, choosePort, inRange, portRange, probeRank } from '../resources/ports.js';
import type { ControllerContext } from './context.js';

export interface Claim {
  jumpNode: string;
  port: number;
  lease: V1Lease;
}

export interface PortDecision {
  /** The port the server holds on its JumpNode; undefined when the range is exhausted. */
  port?: number;
  /** Claims to release once the status no longer names them. */
  release: Claim[];
}

/** Most create attempts per reconcile before giving up (and retrying with backoff). */
const MAX_ATTEMPTS = 16;

/** Claims the server holds (controlled by its uid and labelled with its name), from the index. */
export function heldClaims(ctx: ControllerContext, fs: ForwardedServer): Claim[] {
  const uid = fs.metadata.uid;
  if (!uid) return [];
  return ctx.caches.claims
    .heldBy(fs.metadata.namespace ?? '', uid)
    .filter((c) => c.holder === fs.metadata.name)
    .map(({ jumpNode, port, lease }) => ({ jumpNode, port, lease }));
}

/** Ports of a JumpNode held by anyone, from the index (a live view: read it, do not keep it). */
export function takenPorts(
  ctx: ControllerContext,
  namespace: string,
  jumpNode: string,
): ReadonlySet<number> {
  return ctx.caches.claims.taken(namespace, jumpNode);
}

export async function ensurePort(
  ctx: ControllerContext,
  fs: ForwardedServer,
  jn: JumpNode,
): Promise<PortDecision> {
  const range = portRange(jn);
  const held = heldClaims(ctx, fs);
  const valid = held
    .filter((c) => c.jumpNode === jn.metadata.name && inRange(c.port, range))
    .sort((a, b) => probeRank(fs, range, a.port) - probeRank(fs, range, b.port));
  const keep = valid[0];
  const release = held.filter((c) => c !== keep);
  if (keep) return { port: keep.port, release };
  const port = await claimFreePort(ctx, fs, jn);
  return { port, release };
}

async function claimFreePort(
  ctx: ControllerContext,
  fs: ForwardedServer,
  jn: JumpNode,
): Promise<number | undefined> {
  const ns = fs.metadata.namespace!;
  const range = portRange(jn);
  const taken = takenPorts(ctx, ns, jn.metadata.name);
  const tried = new Set<number>();
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const port = choosePort(fs, range, (p) => taken.has(p) || tried.has(p), fs.status?.runnerPort);
    if (port === undefined) return undefined;
    tried.add(port);
    if (await tryClaim(ctx, fs, jn.metadata.name, port)) return port;
  }
  throw new Error(
    `no free runner port on JumpNode ${jn.metadata.name} after ${MAX_ATTEMPTS} attempts`,
  );
}

/** Creates the claim; on a name conflict the port is ours only if we already hold it. */
async function tryClaim(
  ctx: ControllerContext,
  fs: ForwardedServer,
  jumpNode: string,
  port: number,
): Promise<boolean> {
  const body = buildPortClaim(fs, jumpNode, port);
  const namespace = fs.metadata.namespace!;
  ctx.guard();
  try {
    await ctx.coordination.createNamespacedLease({ namespace, body });
    return true;
  } catch (err) {
    if (!isConflict(err)) throw err;
  }
  try {
    const existing = await ctx.coordination.readNamespacedLease({
      namespace,
      name: body.metadata!.name!,
    });
    return (
      !existing.metadata?.deletionTimestamp &&
      isControlledBy(existing.metadata as never, fs.metadata.uid)
    );
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

export async function releaseClaims(
  ctx: ControllerContext,
  claims: readonly Claim[],
): Promise<void> {
  for (const c of claims) {
    const { name, namespace, uid } = c.lease.metadata ?? {};
    ctx.guard();
    try {
      await ctx.coordination.deleteNamespacedLease({
        name: name!,
        namespace: namespace!,
        body: { preconditions: { uid } },
      });
      ctx.log.info('Released runner port', {
        namespace,
        name: c.lease.metadata?.labels?.[LABELS.forwardedServer],
        jumpNode: c.jumpNode,
        port: c.port,
      });
    } catch (err) {
      if (!isNotFound(err) && !isConflict(err)) throw err;
    }
  }
}
