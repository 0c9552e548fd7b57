// Writing the operator's part of a ForwardedServer's status: server-side apply of the owned
// fields, only when they changed, Events for the transitions, and a memory of what was written
// for the next reconcile while the informer cache still shows the old status.
import { isDeepStrictEqual } from 'node:util';
import { API_VERSION, FORWARDED_SERVER, type ForwardedServer } from '../api/types.js';
import { isNotFound } from '../kube/client.js';
import { FIELD_MANAGER, objectKey } from '../names.js';
import { ownedServerStatus, type OwnedServerStatus } from '../resources/server-status.js';
import { serverEvents, type EventSpec } from '../resources/transitions.js';
import type { ControllerContext } from './context.js';
import type { WrittenStatus } from './written.js';

export type Written = WrittenStatus<ForwardedServer['status']>;

/**
 * Writes the operator's status fields if they changed, then records the transitions. Returns a
 * copy of the server with the written status (cached objects are never modified).
 */
export async function writeStatus(
  ctx: ControllerContext,
  written: Written,
  fs: ForwardedServer,
  status: OwnedServerStatus,
  childEvents: EventSpec[],
): Promise<ForwardedServer> {
  const target = { apiVersion: API_VERSION, kind: FORWARDED_SERVER.kind, metadata: fs.metadata };
  for (const e of childEvents) ctx.recorder.record(target, e);
  const stored = ownedServerStatus(fs.status);
  if (isDeepStrictEqual(stored, status)) return fs;
  const { namespace, name } = fs.metadata;
  ctx.guard();
  try {
    await ctx.forwardedServers.applyStatus(
      namespace!,
      name,
      API_VERSION,
      FORWARDED_SERVER.kind,
      status,
      FIELD_MANAGER,
    );
  } catch (err) {
    if (isNotFound(err)) return fs;
    throw err;
  }
  ctx.log.info('Updated ForwardedServer status', { namespace, name, phase: status.phase });
  for (const e of serverEvents(stored, status, fs.spec.jumpNodeRef?.name))
    ctx.recorder.record(target, e);
  const next = withOwned(fs.status, status);
  written.remember(objectKey(namespace!, name), fs.metadata.resourceVersion, next);
  return { ...fs, status: next };
}

/** The stored status with the operator's fields replaced, as the apply left it. */
function withOwned(
  stored: ForwardedServer['status'],
  owned: OwnedServerStatus,
): ForwardedServer['status'] {
  const { phase: _p, url: _u, runnerPort: _r, serviceName: _s, ...others } = stored ?? {};
  const mine = new Set(owned.conditions.map((c) => c.type));
  const conditions = [
    ...(stored?.conditions ?? []).filter((c) => !mine.has(c.type)),
    ...owned.conditions,
  ];
  return { ...others, ...owned, conditions };
}
