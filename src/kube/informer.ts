// A supervised informer around client-node's ListWatch (the machinery behind makeInformer).
//
// client-node 1.4's informer stops for good on the first watch error and can hang forever on a
// silent half-open watch. This wrapper:
//   - restarts it after an error with capped exponential backoff and full jitter (single flight);
//   - asks the API server to end every watch after `watchTimeoutSeconds`, so a healthy watch
//     reconnects regularly, and treats a watch that stays silent longer than `watchdogMs` as dead:
//     it builds a fresh ListWatch, re-lists, and reports objects that vanished meanwhile as
//     deletions;
//   - calls `onResync` every `resyncMs` so consumers can re-enqueue every cached object
//     (level-triggered: a missed event is repaired by the next resync);
//   - passes every listed or watched object through `transform` before it is cached or handed to
//     a handler; by default that drops metadata.managedFields, which no consumer reads and which
//     is the largest part of an object written by several field managers.
// Handlers registered with on() must not throw; an exception is caught and logged, never left
// to become an unhandled rejection inside client-node.
import {
  ListWatch,
  Watch,
  type KubeConfig,
  type KubernetesObject,
  type ListPromise,
} from '@kubernetes/client-node';
import type { Logger } from '../log.js';
import { systemClock, type Clock } from '../clock.js';

export type InformerEvent = 'add' | 'update' | 'delete';
type Handler<T> = (obj: T) => void;

export interface InformerOptions<T extends KubernetesObject> {
  /** Human name for logs and metrics, e.g. "ForwardedServer". */
  name: string;
  /** Collection path, e.g. /apis/forward.hub.jupyter.org/v1alpha1/namespaces/ns/forwardedservers */
  path: string;
  list: ListPromise<T>;
  labelSelector?: string;
  /** e.g. `metadata.name=foo` (lets RBAC with resourceNames allow the list and watch). */
  fieldSelector?: string;
  log: Logger;
  clock?: Clock;
  watchTimeoutSeconds?: number;
  watchdogMs?: number;
  resyncMs?: number;
  backoff?: { initialMs: number; maxMs: number };
  onResync?: () => void;
  onRestart?: (reason: string) => void;
  /**
   * Trims an object before it is cached and handed to handlers (it may change and return the
   * object it is given, which nothing else holds). It must keep metadata.name, namespace and
   * resourceVersion, and every field a consumer of this informer reads. Default:
   * dropManagedFields.
   */
  transform?: (obj: T) => T;
}

/** The default transform: the object without metadata.managedFields. */
export function dropManagedFields<T extends KubernetesObject>(obj: T): T {
  if (obj.metadata?.managedFields) delete obj.metadata.managedFields;
  return obj;
}

/** A Watch whose ADDED, MODIFIED and DELETED objects pass through `transform` first. */
function transformingWatch<T extends KubernetesObject>(
  watch: Watch,
  transform: (obj: T) => T,
): Watch {
  const objectEvents = new Set(['ADDED', 'MODIFIED', 'DELETED']);
  return {
    watch: (path, params, callback, done) =>
      watch.watch(
        path,
        params,
        (phase, obj, raw) =>
          callback(phase, objectEvents.has(phase) ? transform(obj as T) : obj, raw),
        done,
      ),
  } as Watch;
}

export interface SupervisedInformer<T extends KubernetesObject> {
  on(event: InformerEvent, handler: Handler<T>): void;
  get(name: string, namespace?: string): T | undefined;
  list(namespace?: string): readonly T[];
  /** Resolves after the first complete list; rejects only if stop() is called before that. */
  start(): Promise<void>;
  stop(): Promise<void>;
  hasSynced(): boolean;
  /** Milliseconds since the last event or (re)connect, per the injected clock. */
  silenceMs(): number;
  restarts(): number;
}

export function makeSupervisedInformer<T extends KubernetesObject>(
  kc: KubeConfig,
  opts: InformerOptions<T>,
): SupervisedInformer<T> {
  const clock = opts.clock ?? systemClock;
  const watchTimeout = opts.watchTimeoutSeconds ?? 300;
  const watchdogMs = opts.watchdogMs ?? (watchTimeout + 60) * 1000;
  const resyncMs = opts.resyncMs ?? 5 * 60 * 1000;
  const backoff = opts.backoff ?? { initialMs: 500, maxMs: 30_000 };
  const sep = opts.path.includes('?') ? '&' : '?';
  const path = `${opts.path}${sep}timeoutSeconds=${watchTimeout}&allowWatchBookmarks=true`;
  const handlers: Record<InformerEvent, Handler<T>[]> = { add: [], update: [], delete: [] };
  const log = opts.log;
  const transform = opts.transform ?? dropManagedFields;

  let current: ListWatch<T> | undefined;
  let stopped = true;
  let synced = false;
  let lastActivity = clock.now();
  let failures = 0;
  let restartCount = 0;
  let restartTimer: ReturnType<Clock['setTimeout']> | undefined;
  let watchdogTimer: ReturnType<Clock['setInterval']> | undefined;
  let resyncTimer: ReturnType<Clock['setInterval']> | undefined;
  let resolveSynced: (() => void) | undefined;
  let rejectSynced: ((e: Error) => void) | undefined;

  const emit = (event: InformerEvent, obj: T) => {
    lastActivity = clock.now();
    for (const h of handlers[event]) {
      try {
        h(obj);
      } catch (err) {
        log.error(`Informer handler failed for ${opts.name}`, { error: String(err) });
      }
    }
  };

  const keyOf = (o: T) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

  /** Builds a fresh ListWatch that inherits the previous cache for deletion detection. */
  const build = (previous: readonly T[]): ListWatch<T> => {
    const listFn: ListPromise<T> = async () => {
      const list = await opts.list();
      list.items = list.items.map(transform);
      const fresh = new Set(list.items.map(keyOf));
      for (const old of previous) if (!fresh.has(keyOf(old))) emit('delete', old);
      previous = [];
      failures = 0;
      if (!synced) {
        synced = true;
        // Let ListWatch fill its cache with this list before start() resolves.
        queueMicrotask(() => resolveSynced?.());
      }
      return list;
    };
    const lw = new ListWatch<T>(
      path,
      transformingWatch(new Watch(kc), transform),
      listFn,
      false,
      opts.labelSelector,
      opts.fieldSelector,
    );
    lw.on('add', (o) => emit('add', o));
    lw.on('update', (o) => emit('update', o));
    lw.on('delete', (o) => emit('delete', o));
    lw.on('connect', () => {
      lastActivity = clock.now();
    });
    lw.on('error', (err) => scheduleRestart(lw, describe(err)));
    return lw;
  };

  const scheduleRestart = (lw: ListWatch<T>, reason: string) => {
    if (stopped || lw !== current || restartTimer) return;
    failures++;
    const cap = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(failures - 1, 16));
    const delay = Math.round(cap / 2 + (Math.random() * cap) / 2);
    log.warn(`Restarting ${opts.name} informer`, { reason, delayMs: delay, failures });
    restartTimer = clock.setTimeout(() => {
      restartTimer = undefined;
      if (stopped || lw !== current) return;
      restartCount++;
      opts.onRestart?.(reason);
      lastActivity = clock.now();
      lw.start().catch((err) => scheduleRestart(lw, describe(err)));
    }, delay);
  };

  /** Replaces a silent watch with a fresh list+watch. */
  const relist = (reason: string) => {
    const old = current;
    if (!old || stopped) return;
    log.warn(`Re-listing ${opts.name}`, { reason });
    restartCount++;
    opts.onRestart?.(reason);
    const previous = old.list();
    void old.stop();
    current = build(previous);
    lastActivity = clock.now();
    current.start().catch((err) => scheduleRestart(current!, describe(err)));
  };

  return {
    on(event, handler) {
      handlers[event].push(handler);
    },
    get: (name, namespace) => current?.get(name, namespace),
    list: (namespace) => current?.list(namespace) ?? [],
    hasSynced: () => synced,
    silenceMs: () => clock.now() - lastActivity,
    restarts: () => restartCount,
    start() {
      if (!stopped) throw new Error(`${opts.name} informer already started`);
      stopped = false;
      const syncedPromise = new Promise<void>((res, rej) => {
        resolveSynced = res;
        rejectSynced = rej;
      });
      current = build([]);
      lastActivity = clock.now();
      current.start().catch((err) => scheduleRestart(current!, describe(err)));
      watchdogTimer = clock.setInterval(
        () => {
          if (clock.now() - lastActivity > watchdogMs)
            relist(`no watch activity for ${watchdogMs} ms`);
        },
        Math.max(1000, Math.min(watchdogMs / 4, 30_000)),
      );
      resyncTimer = clock.setInterval(() => opts.onResync?.(), resyncMs);
      return syncedPromise;
    },
    async stop() {
      stopped = true;
      if (restartTimer) clock.clearTimeout(restartTimer);
      if (watchdogTimer) clock.clearInterval(watchdogTimer);
      if (resyncTimer) clock.clearInterval(resyncTimer);
      restartTimer = watchdogTimer = resyncTimer = undefined;
      if (!synced) rejectSynced?.(new Error(`${opts.name} informer stopped before it synced`));
      await current?.stop();
    },
  };
}

function describe(err: unknown): string {
  if (!err) return 'watch ended';
  const e = err as { statusCode?: number; code?: number | string; message?: string };
  const code = e.statusCode ?? e.code;
  return code !== undefined ? `${code}: ${e.message ?? String(err)}` : (e.message ?? String(err));
}
