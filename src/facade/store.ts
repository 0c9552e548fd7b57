// What the facade needs from its storage: the ForwardedServers and JumpNodes of one namespace.
// KubeStore (kube-store.ts) is the real one; the unit tests' MemoryStore
// (test/unit/facade-memory-store.ts) keeps the same contract in memory.
//
// Contract shared by both:
//   - every write takes the resourceVersion it was computed from and fails with
//     StoreError('conflict') when the object changed since (optimistic concurrency), so callers
//     re-read, decide again and retry; `create` fails with 'conflict' when the name exists;
//   - `applyStatus` replaces exactly the facade-owned status fields (events, eventsDropped,
//     terminalEvent): a field left out is removed, other writers' fields are untouched;
//   - failures are StoreErrors: 'notFound', 'invalid' (the API's validation refused a value; the
//     message names the field), 'rejected' (the API could not take the request at all),
//     'unavailable' (anything else).
import type {
  ForwardedServer,
  ForwardedServerSpec,
  JumpNode,
  ProgressEvent,
} from '../api/types.js';

/** The status fields the facade owns (contract 0001 A). */
export interface FacadeStatus {
  events: ProgressEvent[];
  eventsDropped: number;
  terminalEvent?: ProgressEvent;
}

export interface ServerStore {
  readonly namespace: string;
  /** The current object from the source of truth (used before every write). */
  get(name: string): Promise<ForwardedServer | undefined>;
  /** A possibly slightly stale copy (cache), falling back to get() on a miss. */
  read(name: string): Promise<ForwardedServer | undefined>;
  list(): Promise<ForwardedServer[]>;
  create(fs: ForwardedServer): Promise<ForwardedServer>;
  /** Replaces metadata (labels) and spec; `fs.metadata.resourceVersion` is the precondition. */
  replace(fs: ForwardedServer): Promise<ForwardedServer>;
  patchSpec(name: string, rv: string, spec: Partial<ForwardedServerSpec>): Promise<ForwardedServer>;
  applyStatus(name: string, rv: string, status: FacadeStatus): Promise<ForwardedServer>;
  /** Deletes; `rv` (optional) is a precondition. Resolves false if it did not exist. */
  delete(name: string, rv?: string): Promise<boolean>;
  /** The JumpNodes of the namespace: from a cache once it is filled, unless `fresh`. */
  jumpNodes(fresh?: boolean): Promise<JumpNode[]>;
  annotateJumpNode(name: string, annotations: Record<string, string>): Promise<void>;
  /** Calls `fn` after every change of the named server (including deletion). */
  subscribe(name: string, fn: () => void): () => void;
  /** True once the caches hold complete lists. */
  ready(): boolean;
  start(): Promise<void>;
  close(): Promise<void>;
}
