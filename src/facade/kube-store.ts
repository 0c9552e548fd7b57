// The ServerStore over the Kubernetes API: ForwardedServers and JumpNodes of one namespace.
// Reads of ForwardedServers and JumpNodes are served from supervised informers' caches (so GETs,
// long-polls and alias lookups cost the API server nothing); every write goes to the API with the
// caller's resourceVersion as precondition. Status writes go through the status applier:
// server-side apply with the facade's field manager carrying exactly the fields it owns
// (contract 0001 A). The applier also remembers every object this store wrote until the informer
// shows that version (read-your-writes).
import {
  API_VERSION,
  FORWARDED_SERVER,
  JUMP_NODE,
  type ForwardedServer,
  type ForwardedServerSpec,
  type JumpNode,
} from '../api/types.js';
import { apiMessage, apiStatus, type Clients, type k8s } from '../kube/client.js';
import { makeSupervisedInformer, type SupervisedInformer } from '../kube/informer.js';
import { StatusApplier, type OwnedFields } from '../kube/status-applier.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { FACADE_FIELD_MANAGER, objectKey } from '../names.js';
import { StoreError } from './errors.js';
import type { FacadeStatus, ServerStore } from './store.js';

/** Maps a failed API call to a StoreError. */
export function toStoreError(err: unknown): StoreError {
  const code = apiStatus(err);
  const message = apiMessage(err);
  if (code === 409) return new StoreError('conflict', message);
  if (code === 404) return new StoreError('notFound', message);
  if (code === 422) return new StoreError('invalid', message);
  if (code === 400) return new StoreError('rejected', message);
  return new StoreError('unavailable', code ? `${code}: ${message}` : message);
}

async function call<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toStoreError(err);
  }
}

/** The facade's part of a ForwardedServer's status. */
const FACADE_STATUS: OwnedFields<ForwardedServer, FacadeStatus> = {
  apiVersion: API_VERSION,
  kind: FORWARDED_SERVER.kind,
  fieldManager: FACADE_FIELD_MANAGER,
  read: ({ status }) =>
    status && {
      events: status.events ?? [],
      eventsDropped: status.eventsDropped ?? 0,
      ...(status.terminalEvent ? { terminalEvent: status.terminalEvent } : {}),
    },
};

export class KubeStore implements ServerStore {
  // client-node's KubernetesObject types creationTimestamp as a Date; ours is the wire string.
  private readonly informer: SupervisedInformer<k8s.KubernetesObject>;
  private readonly nodes: SupervisedInformer<k8s.KubernetesObject>;
  private readonly listeners = new Map<string, Set<() => void>>();
  /** Writes status, and remembers our own latest writes until the informer catches up. */
  private readonly status: StatusApplier<ForwardedServer, FacadeStatus>;

  constructor(
    private readonly clients: Clients,
    readonly namespace: string,
    log: Logger,
    clock?: Clock,
  ) {
    const fsc = clients.forwardedServers;
    this.status = new StatusApplier(FACADE_STATUS, { client: fsc });
    this.informer = makeSupervisedInformer<k8s.KubernetesObject>(clients.kc, {
      name: FORWARDED_SERVER.kind,
      path: fsc.path(namespace),
      list: () => fsc.list(namespace) as never,
      log,
      clock,
    });
    const jnc = clients.jumpNodes;
    this.nodes = makeSupervisedInformer<k8s.KubernetesObject>(clients.kc, {
      name: JUMP_NODE.kind,
      path: jnc.path(namespace),
      list: () => jnc.list(namespace) as never,
      log,
      clock,
    });
    for (const event of ['add', 'update', 'delete'] as const)
      this.informer.on(event, (obj) => {
        const name = obj.metadata?.name ?? '';
        if (event === 'delete') this.status.forget(objectKey(this.namespace, name));
        this.notify(name);
      });
  }

  private notify(name: string): void {
    for (const fn of this.listeners.get(name) ?? []) fn();
  }

  private wrote(fs: ForwardedServer): ForwardedServer {
    this.status.remember(fs);
    this.notify(fs.metadata.name);
    return fs;
  }

  get(name: string): Promise<ForwardedServer | undefined> {
    return call(() => this.clients.forwardedServers.find(this.namespace, name));
  }

  async read(name: string): Promise<ForwardedServer | undefined> {
    return this.cached(name) ?? (await this.get(name));
  }

  /** The cached object, or our own write while the cache holds an older version. */
  private cached(name: string): ForwardedServer | undefined {
    const cached = this.informer.hasSynced()
      ? (this.informer.get(name, this.namespace) as unknown as ForwardedServer | undefined)
      : undefined;
    return cached && this.status.view(cached);
  }

  async list(): Promise<ForwardedServer[]> {
    if (this.informer.hasSynced())
      return this.informer.list(this.namespace) as unknown as ForwardedServer[];
    return (await call(() => this.clients.forwardedServers.list(this.namespace))).items;
  }

  async create(fs: ForwardedServer): Promise<ForwardedServer> {
    return this.wrote(await call(() => this.clients.forwardedServers.create(this.namespace, fs)));
  }

  async replace(fs: ForwardedServer): Promise<ForwardedServer> {
    return this.wrote(await call(() => this.clients.forwardedServers.replace(this.namespace, fs)));
  }

  async patchSpec(name: string, rv: string, spec: Partial<ForwardedServerSpec>) {
    const body = { metadata: { resourceVersion: rv }, spec };
    return this.wrote(
      await call(() => this.clients.forwardedServers.patch(this.namespace, name, body)),
    );
  }

  async applyStatus(name: string, rv: string, status: FacadeStatus) {
    // Compared with what we know of version rv; any other version is left to the precondition.
    const known = this.cached(name);
    const view: ForwardedServer =
      known?.metadata.resourceVersion === rv
        ? known
        : ({ metadata: { name, namespace: this.namespace, resourceVersion: rv } } as never);
    const r = await call(() => this.status.apply(view, status, { resourceVersion: rv }));
    if (r.outcome === 'gone') throw new StoreError('notFound', `ForwardedServer ${name} not found`);
    return r.outcome === 'written' ? this.wrote(r.object) : r.object;
  }

  async delete(name: string, rv?: string): Promise<boolean> {
    try {
      await call(() => this.clients.forwardedServers.delete(this.namespace, name, rv));
    } catch (err) {
      if (err instanceof StoreError && err.kind === 'notFound') return false;
      throw err;
    }
    this.status.forget(objectKey(this.namespace, name));
    this.notify(name);
    return true;
  }

  async jumpNodes(fresh = false): Promise<JumpNode[]> {
    if (!fresh && this.nodes.hasSynced())
      return this.nodes.list(this.namespace) as unknown as JumpNode[];
    return (await call(() => this.clients.jumpNodes.list(this.namespace))).items;
  }

  async annotateJumpNode(name: string, annotations: Record<string, string>): Promise<void> {
    await call(() =>
      this.clients.jumpNodes.patch(this.namespace, name, { metadata: { annotations } }),
    );
  }

  subscribe(name: string, fn: () => void): () => void {
    const set = this.listeners.get(name) ?? new Set();
    set.add(fn);
    this.listeners.set(name, set);
    return () => {
      set.delete(fn);
      if (set.size === 0 && this.listeners.get(name) === set) this.listeners.delete(name);
    };
  }

  ready(): boolean {
    return this.informer.hasSynced() && this.nodes.hasSynced();
  }

  async start(): Promise<void> {
    await Promise.all([this.informer.start(), this.nodes.start()]);
  }

  async close(): Promise<void> {
    await Promise.all([this.informer.stop(), this.nodes.stop()]);
  }
}
