// Writes the runner's status fields (contract 0001 §A) through the status applier, by
// server-side apply with the runner's field manager. Server-side apply removes fields a manager
// applied before and leaves out now, and every replica of the runner uses the same manager, so
// each apply carries the complete set of runner fields of that object: the ones this runner
// decides, and the current values of the ones it keeps (see conditions.ts for when a peer's
// condition is kept).
//
// Skip unchanged: the fields are compared with what the object says (the informer cache, or the
// object as this runner's own last write returned it while the cache has not caught up), and
// nothing is sent if they match.
import {
  API_VERSION,
  FORWARDED_SERVER,
  JUMP_NODE,
  type Condition,
  type ForwardedServer,
  type JumpNode,
} from '../api/types.js';
import type { Clock } from '../clock.js';
import { StatusApplier, type ApplyOutcome, type StatusClient } from '../kube/status-applier.js';
import { RUNNER_FIELD_MANAGER } from '../names.js';
import { findCondition, rfc3339 } from '../resources/conditions.js';
import { isOwn, resolveCondition, type OwnWrite, type WantedCondition } from './conditions.js';
import type { FlushOutcome } from './status-queue.js';
import { CONNECTED, TARGET_REACHABLE, TUNNEL_READY } from './wanted.js';

export const JUMP_NODE_KEY = '@jumpnode';

type Obj = ForwardedServer | JumpNode;
export type RunnerFields = {
  conditions: Condition[];
  connectedSince?: string;
  lastRestartHandled?: string;
};

export interface StatusSources {
  clock: Clock;
  peerGraceMs: number;
  /** The object as the informer cache has it. */
  current(key: string): Obj | undefined;
  /**
   * Wanted conditions for a ForwardedServer key; undefined = this runner has nothing to say;
   * `{ recheckAfterMs }` = not yet (a listener or first probe is pending): look again then, even
   * if the change that is expected to mark the key never comes.
   */
  wantedServer(key: string): WantedCondition[] | { recheckAfterMs: number } | undefined;
  wantedJumpNode():
    { connected: WantedCondition; since?: number; restartHandled?: string } | undefined;
  /** The status subresources (the runner's clients). */
  forwardedServers: StatusClient<ForwardedServer>;
  jumpNodes: StatusClient<JumpNode>;
  written?(kind: string, result: 'ok' | 'error' | 'gone' | 'unchanged'): void;
}

function normalize(c: Condition): Condition {
  const out: Condition = {
    type: c.type,
    status: c.status,
    reason: c.reason,
    message: c.message,
    lastTransitionTime: c.lastTransitionTime,
  };
  if (c.observedGeneration !== undefined) out.observedGeneration = c.observedGeneration;
  return out;
}

/** The runner's fields as an object has them, in the shape the runner applies. */
function runnerFields(obj: Obj, types: readonly string[]): RunnerFields {
  const status = obj.status as JumpNode['status'] & ForwardedServer['status'];
  const conditions = types
    .map((t) => findCondition(status?.conditions, t))
    .filter((c): c is Condition => !!c)
    .map(normalize);
  const out: RunnerFields = { conditions };
  if (types.includes(CONNECTED)) {
    if (status?.connectedSince) out.connectedSince = status.connectedSince;
    if (status?.lastRestartHandled) out.lastRestartHandled = status.lastRestartHandled;
  }
  return out;
}

const RESULT: Record<ApplyOutcome | 'error', 'ok' | 'error' | 'gone' | 'unchanged'> = {
  written: 'ok',
  unchanged: 'unchanged',
  gone: 'gone',
  error: 'error',
};

export class RunnerStatus {
  private readonly servers: StatusApplier<ForwardedServer, RunnerFields>;
  private readonly node: StatusApplier<JumpNode, RunnerFields>;
  private readonly own = new Map<string, OwnWrite>();
  private readonly notTrueSince = new Map<string, number>();

  constructor(private readonly src: StatusSources) {
    const observe = (kind: string) => (outcome: ApplyOutcome | 'error') =>
      src.written?.(kind, RESULT[outcome]);
    this.servers = new StatusApplier(
      {
        apiVersion: API_VERSION,
        kind: FORWARDED_SERVER.kind,
        fieldManager: RUNNER_FIELD_MANAGER,
        read: (fs) => runnerFields(fs, [TUNNEL_READY, TARGET_REACHABLE]),
      },
      { client: src.forwardedServers, observe: observe(FORWARDED_SERVER.kind) },
    );
    this.node = new StatusApplier(
      {
        apiVersion: API_VERSION,
        kind: JUMP_NODE.kind,
        fieldManager: RUNNER_FIELD_MANAGER,
        read: (jn) => runnerFields(jn, [CONNECTED]),
      },
      { client: src.jumpNodes, observe: observe(JUMP_NODE.kind) },
    );
  }

  /** Forgets a deleted object. */
  forget(key: string): void {
    this.servers.forget(key);
    for (const m of [this.own, this.notTrueSince])
      for (const k of m.keys()) if (k.startsWith(`${key}#`)) m.delete(k);
  }

  async flush(key: string, acquire: () => Promise<void>): Promise<FlushOutcome> {
    const cached = this.src.current(key);
    if (!cached) return { wrote: false };
    const applier = (key === JUMP_NODE_KEY ? this.node : this.servers) as StatusApplier<
      Obj,
      RunnerFields
    >;
    const obj = applier.view(cached);
    const view = applier.fields(obj)!;
    const next = key === JUMP_NODE_KEY ? this.jumpNodeFields(view) : this.serverFields(key, view);
    if (!next) return { wrote: false };
    if (!next.fields) return { wrote: false, recheckAfterMs: next.recheckAfterMs };
    const r = await applier.apply(obj, next.fields, { beforeWrite: acquire });
    if (r.outcome === 'gone') return { wrote: false };
    if (r.outcome === 'written')
      for (const c of next.fields.conditions)
        this.own.set(`${key}#${c.type}`, {
          status: c.status,
          lastTransitionTime: c.lastTransitionTime,
        });
    return { wrote: r.outcome === 'written', recheckAfterMs: next.recheckAfterMs };
  }

  private resolveAll(key: string, view: RunnerFields, wanted: WantedCondition[]) {
    const now = this.src.clock.now();
    let recheckAfterMs: number | undefined;
    const kept: boolean[] = [];
    const conditions = wanted.map((w) => {
      const id = `${key}#${w.type}`;
      if (w.status === 'True') this.notTrueSince.delete(id);
      else if (!this.notTrueSince.has(id)) this.notTrueSince.set(id, now);
      const current = findCondition(view.conditions, w.type);
      const r = resolveCondition(current, w, {
        now,
        own: this.own.get(id),
        notTrueSince: this.notTrueSince.get(id),
        peerGraceMs: this.src.peerGraceMs,
      });
      if (r.recheckAfterMs !== undefined)
        recheckAfterMs = Math.min(recheckAfterMs ?? Infinity, r.recheckAfterMs);
      kept.push(!!current && r.condition === current && !isOwn(current, this.own.get(id)));
      return normalize(r.condition);
    });
    return { conditions, kept, recheckAfterMs };
  }

  private serverFields(key: string, view: RunnerFields) {
    const wanted = this.src.wantedServer(key);
    if (!wanted) return undefined;
    if (!Array.isArray(wanted)) return { fields: undefined, recheckAfterMs: wanted.recheckAfterMs };
    // Nothing to report yet and nothing stale to correct: no write for pending servers.
    const idle = wanted.every((w) => /^Waiting|^NoTarget$/.test(w.reason));
    if (idle && view.conditions.length === 0) return undefined;
    const { conditions, recheckAfterMs } = this.resolveAll(key, view, wanted);
    return { fields: { conditions }, recheckAfterMs };
  }

  private jumpNodeFields(view: RunnerFields) {
    const w = this.src.wantedJumpNode();
    if (!w) return undefined;
    const r = this.resolveAll(JUMP_NODE_KEY, view, [w.connected]);
    const connected = r.conditions[0]!;
    const fields: RunnerFields = { conditions: r.conditions };
    // connectedSince belongs to whoever reported Connected=True: ours, or the peer's we keep.
    if (connected.status === 'True') {
      const since = r.kept[0]
        ? view.connectedSince
        : w.since !== undefined
          ? rfc3339(w.since)
          : undefined;
      if (since) fields.connectedSince = since;
    }
    const restart = w.restartHandled ?? view.lastRestartHandled;
    if (restart) fields.lastRestartHandled = restart;
    return { fields, recheckAfterMs: r.recheckAfterMs };
  }
}
