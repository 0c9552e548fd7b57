// The ForwardedServer reconciler: read from the caches -> converge the children (port claim,
// Service, EndpointSlice) -> compute the status (pure) -> write it once if it changed -> record
// Events for the transitions -> release claims the status no longer names.
//
// Deletion needs no finalizer: the Service, EndpointSlice and port claim carry a controller
// reference to the ForwardedServer, and the garbage collector removes them with it (the
// reconcile of a vanished server deletes them too, without waiting for the collector).
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import {
  API_VERSION,
  FORWARDED_SERVER,
  type ForwardedServer,
  type JumpNode,
} from '../api/types.js';
import { StatusApplier, type OwnedFields } from '../kube/status-applier.js';
import { FIELD_MANAGER, serverResourceName, splitKey } from '../names.js';
import {
  computeServerStatus,
  ownedServerStatus,
  type OwnedServerStatus,
  type ServerObservation,
} from '../resources/server-status.js';
import {
  buildDirectEndpointSlice,
  unroutableReason,
  buildDirectService,
  buildTunnelService,
  serverUrl,
} from '../resources/service.js';
import { targetProblem } from '../resources/target-policy.js';
import { serverEvents, type EventSpec } from '../resources/transitions.js';
import type { EnsureResult } from './children.js';
import type { ControllerContext } from './context.js';
import type { ReconcileResult } from './controller.js';
import { ensurePort, heldClaims, releaseClaims, type Claim } from './ports.js';
import { deleteOrphans, type ChildSource } from './orphans.js';

interface Converged {
  observed: ServerObservation;
  release: Claim[];
  events: EventSpec[];
}

/** The operator's part of a ForwardedServer's status (contract 0001 §A). */
export const SERVER_STATUS: OwnedFields<ForwardedServer, OwnedServerStatus> = {
  apiVersion: API_VERSION,
  kind: FORWARDED_SERVER.kind,
  fieldManager: FIELD_MANAGER,
  read: (fs) => ownedServerStatus(fs.status),
  transitions: (before, after, fs) => serverEvents(before, after, fs.spec.jumpNodeRef?.name),
};

type ServerApplier = StatusApplier<ForwardedServer, OwnedServerStatus>;

export function forwardedServerReconciler(ctx: ControllerContext) {
  const status: ServerApplier = new StatusApplier(SERVER_STATUS, {
    client: ctx.forwardedServers,
    recorder: ctx.recorder,
    beforeWrite: ctx.guard,
  });
  return async (key: string): Promise<ReconcileResult | void> => {
    const { namespace, name } = splitKey(key);
    const cachedFs = ctx.caches.forwardedServers.get(name, namespace);
    if (!cachedFs) {
      status.forget(key);
      await deleteOrphans(
        ctx,
        { kind: FORWARDED_SERVER.kind, namespace, name },
        serverChildren(ctx),
      );
      return;
    }
    if (cachedFs.metadata.deletionTimestamp) return;
    const fs = status.view(cachedFs);
    if (fs.spec.cancelRequested) return cancel(ctx, status, fs);
    const c = await converge(ctx, fs);
    const next = computeServerStatus(
      fs,
      c.observed,
      new Date(ctx.clock.now()),
      ctx.settings.jumpNodeGraceMs,
    );
    await writeStatus(ctx, status, fs, next.status, c.events);
    await releaseClaims(ctx, c.release);
    const { requeueAfterMs } = next;
    return requeueAfterMs !== undefined ? { requeueAfterMs } : undefined;
  };
}

async function converge(ctx: ControllerContext, fs: ForwardedServer): Promise<Converged> {
  const expected = serverResourceName(fs.spec.user.name, fs.spec.serverName ?? '');
  if (fs.metadata.name !== expected) {
    const message = `metadata.name must be ${expected} for user "${fs.spec.user.name}" and server "${fs.spec.serverName ?? ''}" (it is also the Service name and what the hub looks up)`;
    return { observed: { problem: { reason: 'NameMismatch', message } }, release: [], events: [] };
  }
  const jn = fs.spec.jumpNodeRef
    ? ctx.caches.jumpNodes.get(fs.spec.jumpNodeRef.name, fs.metadata.namespace)
    : undefined;
  if (fs.spec.jumpNodeRef && !jn) return jumpNodeMissing(fs);
  const refused = fs.spec.target && targetProblem(fs.spec.target, jn, ctx.settings.directTargets);
  if (refused) return targetRefused(ctx, fs, refused);
  return jn ? convergeTunnel(ctx, fs, jn) : convergeDirect(ctx, fs);
}

/** A target the policy refuses gets no port, Service or EndpointSlice (none are left behind). */
async function targetRefused(
  ctx: ControllerContext,
  fs: ForwardedServer,
  message: string,
): Promise<Converged> {
  await deleteChild(ctx, fs, serviceRef(fs), ctx.caches.services);
  await deleteChild(ctx, fs, sliceRef(fs), ctx.caches.endpointSlices);
  const problem = { reason: 'TargetNotAllowed' as const, message };
  return { observed: { problem }, release: heldClaims(ctx, fs), events: [] };
}

/** Keeps the Service and the claim (the JumpNode may come back) and reports the problem. */
function jumpNodeMissing(fs: ForwardedServer): Converged {
  const node = fs.spec.jumpNodeRef!.name;
  const message = `JumpNode ${node} does not exist in namespace ${fs.metadata.namespace}`;
  const { runnerPort, serviceName, url } = fs.status ?? {};
  return {
    observed: { problem: { reason: 'JumpNodeNotFound', message }, runnerPort, serviceName, url },
    release: [],
    events: [],
  };
}

async function convergeTunnel(
  ctx: ControllerContext,
  fs: ForwardedServer,
  jn: JumpNode,
): Promise<Converged> {
  const { port, release } = await ensurePort(ctx, fs, jn);
  if (port === undefined) {
    const r = jn.spec.runner?.portRange;
    const range = r ? `${r.start}-${r.end}` : 'the default range';
    const message = `Every runner port of JumpNode ${jn.metadata.name} (${range}) is taken`;
    return { observed: { problem: { reason: 'PortsExhausted', message } }, release, events: [] };
  }
  const events: EventSpec[] = [];
  await deleteChild(ctx, fs, sliceRef(fs), ctx.caches.endpointSlices);
  const svc = buildTunnelService(fs, port);
  const r = await ctx.children.ensure(svc, cached(ctx.caches.services, fs), fs.metadata.uid!);
  if (r.outcome === 'foreign')
    return { observed: { problem: foreign(r), runnerPort: port }, release, events };
  events.push(...childEvents(fs, 'Service', r));
  const url = serverUrl(fs, { runnerPort: port, localUrlHost: ctx.settings.localUrlHost });
  return { observed: { serviceName: fs.metadata.name, runnerPort: port, url }, release, events };
}

async function convergeDirect(ctx: ControllerContext, fs: ForwardedServer): Promise<Converged> {
  const release = heldClaims(ctx, fs);
  const events: EventSpec[] = [];
  const uid = fs.metadata.uid!;
  const slice = buildDirectEndpointSlice(fs);
  if (slice) {
    const r = await ctx.children.ensure(slice, cached(ctx.caches.endpointSlices, fs), uid);
    if (r.outcome === 'foreign') return { observed: { problem: foreign(r) }, release, events };
  } else await deleteChild(ctx, fs, sliceRef(fs), ctx.caches.endpointSlices);
  const svc = buildDirectService(fs);
  if (!svc) {
    await deleteChild(ctx, fs, serviceRef(fs), ctx.caches.services);
    const t = fs.spec.target;
    const why = t && unroutableReason(t.host);
    if (!t || !why) return { observed: {}, release, events };
    const serviceSkipped = `No Service: the target ${t.host} is ${why}, which the cluster cannot route to; only a hub on the target's host can use the URL`;
    return { observed: { url: serverUrl(fs, {}), serviceSkipped }, release, events };
  }
  const r = await ctx.children.ensure(svc, cached(ctx.caches.services, fs), uid);
  if (r.outcome === 'foreign') return { observed: { problem: foreign(r) }, release, events };
  events.push(...childEvents(fs, 'Service', r));
  const url = serverUrl(fs, {});
  return { observed: { serviceName: fs.metadata.name, url }, release, events };
}

/**
 * Cancel: the hub must no longer reach the server. The status drops url and runnerPort first
 * (Cancelling), so no reader sees a port after it was released; then the Service, the
 * EndpointSlice and the claims go; then the phase is Cancelled.
 */
async function cancel(
  ctx: ControllerContext,
  status: ServerApplier,
  fs: ForwardedServer,
): Promise<void> {
  const now = () => new Date(ctx.clock.now());
  const grace = ctx.settings.jumpNodeGraceMs;
  const claims = heldClaims(ctx, fs);
  const svc = cached(ctx.caches.services, fs);
  const slice = cached(ctx.caches.endpointSlices, fs);
  if (claims.length || svc || slice) {
    const cancelling = computeServerStatus(fs, { cancelDone: false }, now(), grace).status;
    fs = await writeStatus(ctx, status, fs, cancelling, []);
    await deleteChild(ctx, fs, serviceRef(fs), ctx.caches.services);
    await deleteChild(ctx, fs, sliceRef(fs), ctx.caches.endpointSlices);
    await releaseClaims(ctx, claims);
  }
  const done = computeServerStatus(fs, { cancelDone: true }, now(), grace).status;
  await writeStatus(ctx, status, fs, done, []);
}

/** Writes the operator's fields if they changed; returns the server as stored afterwards. */
async function writeStatus(
  ctx: ControllerContext,
  status: ServerApplier,
  fs: ForwardedServer,
  next: OwnedServerStatus,
  events: EventSpec[],
): Promise<ForwardedServer> {
  const r = await status.apply(fs, next, { events });
  if (r.outcome === 'written') {
    const { namespace, name } = fs.metadata;
    ctx.log.info('Updated ForwardedServer status', { namespace, name, phase: next.phase });
  }
  return r.object;
}

function childEvents(fs: ForwardedServer, kind: string, r: EnsureResult): EventSpec[] {
  const name = fs.metadata.name;
  if (r.outcome === 'updated')
    return [
      {
        type: 'Normal',
        reason: 'Repaired',
        action: 'Apply',
        note: `Restored ${kind} ${name} to its desired state`,
      },
    ];
  if (r.outcome === 'created' && fs.status?.serviceName)
    return [
      {
        type: 'Normal',
        reason: 'Recreated',
        action: 'Apply',
        note: `Recreated ${kind} ${name}, which had been deleted`,
      },
    ];
  return [];
}

function foreign(r: EnsureResult): NonNullable<ServerObservation['problem']> {
  return { reason: 'ResourceExists', message: r.message ?? 'an object with this name exists' };
}

function cached<T>(cache: { get(name: string, ns?: string): T | undefined }, fs: ForwardedServer) {
  return cache.get(fs.metadata.name, fs.metadata.namespace);
}

function serviceRef(fs: ForwardedServer): V1Service {
  const { name, namespace } = fs.metadata;
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace } };
}

function sliceRef(fs: ForwardedServer): V1EndpointSlice {
  const { name, namespace } = fs.metadata;
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace },
    addressType: 'IPv4',
    endpoints: [],
  };
}

/** Deletes a child the server controls; only looks it up when the cache has it. */
async function deleteChild<T extends { metadata?: object }>(
  ctx: ControllerContext,
  fs: ForwardedServer,
  ref: V1Service | V1EndpointSlice,
  cache: { get(name: string, ns?: string): T | undefined },
): Promise<void> {
  const current = cached(cache, fs);
  if (!current) return;
  await ctx.children.deleteOwned(ref, current as never, fs.metadata.uid!);
}

function serverChildren(ctx: ControllerContext): ChildSource[] {
  const c = ctx.caches;
  return [
    { apiVersion: 'v1', kind: 'Service', cache: c.services },
    { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', cache: c.endpointSlices },
    { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', cache: c.portClaims },
  ];
}
