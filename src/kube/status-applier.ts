// The one way a component writes status (decision 0016): it owns a fixed set of status fields of
// one kind (contract 0001 §A) and
//   - computes them from a view of the object: the informer cache, or the object as its own last
//     write returned it while the cache still holds an older version (view());
//   - skips a write that changes none of them;
//   - applies them by server-side apply with its field manager, carrying exactly those fields
//     (optionally conditional on a resourceVersion);
//   - records the Events of the transition it wrote.
// Callers serialise the writes of one object (one work-queue key in flight at a time).
import { isDeepStrictEqual } from 'node:util';
import { objectKey } from '../names.js';
import { isNotFound, type CustomResourceClient } from './client.js';
import type { EventRecorder } from './recorder.js';
import type { EventSpec } from '../resources/transitions.js';

export interface StatusObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
  };
  status?: object;
}

/** The status subresource of one kind. */
export type StatusClient<O extends StatusObject> = Pick<CustomResourceClient<O>, 'applyStatus'>;

/** The fields one component owns in one kind's status. */
export interface OwnedFields<O extends StatusObject, F extends object> {
  apiVersion: string;
  kind: string;
  fieldManager: string;
  /** The owned fields as `obj` has them, in the shape writes use; undefined when it has none. */
  read(obj: O): F | undefined;
  /** Events for a transition that was written. */
  transitions?(before: F | undefined, after: F, obj: O): EventSpec[];
}

export type ApplyOutcome = 'written' | 'unchanged' | 'gone';

export interface ApplyOptions {
  /** Events to record whether or not the status changes (e.g. a child was repaired). */
  events?: EventSpec[];
  /** The write fails with 409 if the object changed since this version. */
  resourceVersion?: string;
  /** Runs right before the API call (rate limit, leadership check); may wait or throw. */
  beforeWrite?(): void | Promise<void>;
}

export interface ApplierDeps<O extends StatusObject> {
  client: StatusClient<O>;
  recorder?: Pick<EventRecorder, 'record'>;
  /** Runs before every write, after ApplyOptions.beforeWrite. */
  beforeWrite?(): void | Promise<void>;
  /** Counts outcomes (metrics). */
  observe?(outcome: ApplyOutcome | 'error'): void;
}

const keyOf = (o: StatusObject) => objectKey(o.metadata.namespace ?? '', o.metadata.name);

/**
 * Whether resourceVersion `a` is older than `b`. They are opaque to clients in general; etcd's
 * are integers that grow with every write, which is what the API server here serves. Anything
 * else is never called older, so a cache that moved on always wins.
 */
export function olderVersion(a: string | undefined, b: string | undefined): boolean {
  if (!a || !b || !/^\d+$/.test(a) || !/^\d+$/.test(b)) return false;
  return BigInt(a) < BigInt(b);
}

export class StatusApplier<O extends StatusObject, F extends object> {
  private readonly written = new Map<string, O>();

  constructor(
    private readonly owned: OwnedFields<O, F>,
    private readonly deps: ApplierDeps<O>,
  ) {}

  /**
   * The object to compute from: `cached`, or the object as this applier last wrote it while the
   * cache holds an older version of the same object. Never modifies either.
   */
  view(cached: O): O {
    const key = keyOf(cached);
    const mine = this.written.get(key);
    if (!mine) return cached;
    const sameObject = !cached.metadata.uid || mine.metadata.uid === cached.metadata.uid;
    if (sameObject && olderVersion(cached.metadata.resourceVersion, mine.metadata.resourceVersion))
      return mine;
    this.written.delete(key);
    return cached;
  }

  /** Remembers an object this component wrote by other means (create, spec patch). */
  remember(obj: O): void {
    this.written.set(keyOf(obj), obj);
  }

  forget(key: string): void {
    this.written.delete(key);
  }

  /** The owned fields of `obj` (as read() gives them). */
  fields(obj: O): F | undefined {
    return this.owned.read(obj);
  }

  /**
   * Applies `fields` unless `view` already carries exactly them, records the Events, and
   * returns the object as the API server stored it ('gone': it no longer exists).
   */
  async apply(
    view: O,
    fields: F,
    opts: ApplyOptions = {},
  ): Promise<{ outcome: ApplyOutcome; object: O }> {
    for (const e of opts.events ?? []) this.record(view, e);
    const before = this.owned.read(view);
    if (before !== undefined && isDeepStrictEqual(before, fields)) {
      this.deps.observe?.('unchanged');
      return { outcome: 'unchanged', object: view };
    }
    await opts.beforeWrite?.();
    await this.deps.beforeWrite?.();
    const { name, namespace } = view.metadata;
    const { apiVersion, kind, fieldManager } = this.owned;
    let object: O;
    try {
      object = await this.deps.client.applyStatus(
        namespace ?? '',
        name,
        apiVersion,
        kind,
        fields,
        fieldManager,
        opts.resourceVersion,
      );
    } catch (err) {
      if (isNotFound(err)) {
        this.deps.observe?.('gone');
        this.forget(keyOf(view));
        return { outcome: 'gone', object: view };
      }
      this.deps.observe?.('error');
      throw err;
    }
    this.deps.observe?.('written');
    this.remember(object);
    for (const e of this.owned.transitions?.(before, fields, object) ?? []) this.record(object, e);
    return { outcome: 'written', object };
  }

  private record(obj: O, e: EventSpec): void {
    const { apiVersion, kind } = this.owned;
    this.deps.recorder?.record({ apiVersion, kind, metadata: obj.metadata }, e);
  }
}
