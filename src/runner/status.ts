// Writes the runner's status fields (contract 0001 §A) by server-side apply with the runner's
// field manager. Server-side apply removes fields a manager applied before and leaves out now,
// and every replica of the runner uses the same manager, so each apply carries the complete set
// of runner fields of that object: the ones this runner decides, and the current values of the
// ones it keeps (see conditions.ts for when a peer's condition is kept).
//
// Skip unchanged: the body is compared with what the object says (the informer cache, or this
// runner's own last write while the cache has not caught up) and nothing is sent if it matches.
import {
  FORWARDED_SERVER,
  JUMP_NODE,
  type Condition,
  type ForwardedServer,
  type JumpNode,
} from '../api/types.js';
import type { Clock } from '../clock.js';
import { isNotFound } from '../kube/client.js';
import {
  findCondition,
  isOwn,
  resolveCondition,
  type OwnWrite,
  type WantedCondition,
} from './conditions.js';
import type { FlushOutcome } from './status-queue.js';
import { CONNECTED, TARGET_REACHABLE, TUNNEL_READY } from './wanted.js';

export const JUMP_NODE_KEY = '@jumpnode';

type Obj = ForwardedServer | JumpNode;
type RunnerFields = {
  conditions: Condition[];
  connectedSince?: string;
  lastRestartHandled?: string;
};

export interface StatusSources {
  clock: Clock;
  peerGraceMs: number;
  /** The object as the informer cache has it. */
  current(key: string): Obj | undefined;
  /** Wanted conditions for a ForwardedServer key; undefined = this runner has nothing to say. */
  wantedServer(key: string): WantedCondition[] | undefined;
  wantedJumpNode():
    { connected: WantedCondition; since?: number; restartHandled?: string } | undefined;
  apply(key: string, obj: Obj, status: RunnerFields): Promise<Obj>;
  written?(kind: string, result: 'ok' | 'error' | 'gone' | 'unchanged'): void;
}

interface Applied {
  rvBefore: string | undefined;
  fields: RunnerFields;
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

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

function runnerFields(obj: Obj, key: string): RunnerFields {
  const status = obj.status as JumpNode['status'] & ForwardedServer['status'];
  const types = key === JUMP_NODE_KEY ? [CONNECTED] : [TUNNEL_READY, TARGET_REACHABLE];
  const conditions = types
    .map((t) => findCondition(status?.conditions, t))
    .filter((c): c is Condition => !!c)
    .map(normalize);
  const out: RunnerFields = { conditions };
  if (key === JUMP_NODE_KEY) {
    if (status?.connectedSince) out.connectedSince = status.connectedSince;
    if (status?.lastRestartHandled) out.lastRestartHandled = status.lastRestartHandled;
  }
  return out;
}

export class RunnerStatus {
  private readonly applied = new Map<string, Applied>();
  private readonly own = new Map<string, OwnWrite>();
  private readonly notTrueSince = new Map<string, number>();

  constructor(private readonly src: StatusSources) {}

  /** Forgets a deleted object. */
  forget(key: string): void {
    this.applied.delete(key);
    for (const m of [this.own, this.notTrueSince])
      for (const k of m.keys()) if (k.startsWith(`${key}#`)) m.delete(k);
  }

  async flush(key: string, acquire: () => Promise<void>): Promise<FlushOutcome> {
    const obj = this.src.current(key);
    if (!obj) return { wrote: false };
    const view = this.view(key, obj);
    const next = key === JUMP_NODE_KEY ? this.jumpNodeFields(view) : this.serverFields(key, view);
    if (!next) return { wrote: false };
    const kind = key === JUMP_NODE_KEY ? JUMP_NODE.kind : FORWARDED_SERVER.kind;
    if (JSON.stringify(next.fields) === JSON.stringify(view)) {
      this.src.written?.(kind, 'unchanged');
      return { wrote: false, recheckAfterMs: next.recheckAfterMs };
    }
    await acquire();
    try {
      await this.src.apply(key, obj, next.fields);
    } catch (err) {
      if (isNotFound(err)) {
        this.src.written?.(kind, 'gone');
        return { wrote: false };
      }
      this.src.written?.(kind, 'error');
      throw err;
    }
    this.src.written?.(kind, 'ok');
    this.applied.set(key, { rvBefore: obj.metadata.resourceVersion, fields: next.fields });
    for (const c of next.fields.conditions)
      this.own.set(`${key}#${c.type}`, {
        status: c.status,
        lastTransitionTime: c.lastTransitionTime,
      });
    return { wrote: true, recheckAfterMs: next.recheckAfterMs };
  }

  /** The runner fields as they are now: the cache, or our own write if the cache is behind. */
  private view(key: string, obj: Obj): RunnerFields {
    const mine = this.applied.get(key);
    if (mine && mine.rvBefore === obj.metadata.resourceVersion) return mine.fields;
    return runnerFields(obj, key);
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
          ? iso(w.since)
          : undefined;
      if (since) fields.connectedSince = since;
    }
    const restart = w.restartHandled ?? view.lastRestartHandled;
    if (restart) fields.lastRestartHandled = restart;
    return { fields, recheckAfterMs: r.recheckAfterMs };
  }
}
