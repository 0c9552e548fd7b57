// The ServerStore over the Kubernetes API: ForwardedServers and JumpNodes of one namespace.
// Reads are served from a supervised informer's cache (so GETs and long-polls cost the API
// server nothing); every write goes to the API with the caller's resourceVersion as precondition.
// Status writes are server-side applies with the facade's field manager carrying exactly the
// fields it owns (contract 0001 A).
import {
  API_VERSION,
  FORWARDED_SERVER,
  type ForwardedServer,
  type ForwardedServerSpec,
} from '../api/types.js';
import { apiMessage, apiStatus, type Clients, type k8s } from '../kube/client.js';
import { makeSupervisedInformer, type SupervisedInformer } from '../kube/informer.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { FACADE_FIELD_MANAGER } from '../names.js';
import { StoreError } from './errors.js';
import type { FacadeStatus, ServerStore } from './store.js';

/** Maps a failed API call to a StoreError. */
export function toStoreError(err: unknown): StoreError {
  const code = apiStatus(err);
  const message = apiMessage(err);
  if (code === 409) return new StoreError('conflict', message);
  if (code === 404) return new StoreError('notFound', message);
  if (code === 400 || code === 422) return new StoreError('invalid', message);
  return new StoreError('unavailable', code ? `${code}: ${message}` : message);
}

async function call<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toStoreError(err);
  }
}

/** resourceVersions are opaque, but etcd's are integers; compare them when both are. */
function newer(a: ForwardedServer, b: ForwardedServer): boolean {
  const ra = a.metadata.resourceVersion ?? '';
  const rb = b.metadata.resourceVersion ?? '';
  if (/^\d+$/.test(ra) && /^\d+$/.test(rb)) return BigInt(ra) > BigInt(rb);
  return false;
}

export class KubeStore implements ServerStore {
  // client-node's KubernetesObject types creationTimestamp as a Date; ours is the wire string.
  private readonly informer: SupervisedInformer<k8s.KubernetesObject>;
  private readonly listeners = new Map<string, Set<() => void>>();
  /** Our own latest writes, until the informer catches up (read-your-writes). */
  private readonly written = new Map<string, ForwardedServer>();

  constructor(
    private readonly clients: Clients,
    readonly namespace: string,
    log: Logger,
    clock?: Clock,
  ) {
    const fsc = clients.forwardedServers;
    this.informer = makeSupervisedInformer<k8s.KubernetesObject>(clients.kc, {
      name: FORWARDED_SERVER.kind,
      path: fsc.path(namespace),
      list: () => fsc.list(namespace) as never,
      log,
      clock,
    });
    for (const event of ['add', 'update', 'delete'] as const)
      this.informer.on(event, (obj) => {
        const fs = obj as unknown as ForwardedServer;
        const name = fs.metadata.name;
        const mine = this.written.get(name);
        if (mine && (event === 'delete' || !newer(mine, fs))) this.written.delete(name);
        this.notify(name);
      });
  }

  private notify(name: string): void {
    for (const fn of this.listeners.get(name) ?? []) fn();
  }

  private wrote(fs: ForwardedServer): ForwardedServer {
    this.written.set(fs.metadata.name, fs);
    this.notify(fs.metadata.name);
    return fs;
  }

  get(name: string): Promise<ForwardedServer | undefined> {
    return call(() => this.clients.forwardedServers.find(this.namespace, name));
  }

  async read(name: string): Promise<ForwardedServer | undefined> {
    const cached = this.informer.hasSynced()
      ? (this.informer.get(name, this.namespace) as unknown as ForwardedServer | undefined)
      : undefined;
    const mine = this.written.get(name);
    if (cached && mine) return newer(mine, cached) ? mine : cached;
    return cached ?? (await this.get(name));
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
    const fs = await call(() =>
      this.clients.forwardedServers.applyStatus(
        this.namespace,
        name,
        API_VERSION,
        FORWARDED_SERVER.kind,
        status,
        FACADE_FIELD_MANAGER,
        rv,
      ),
    );
    return this.wrote(fs);
  }

  async delete(name: string, rv?: string): Promise<boolean> {
    try {
      await call(() => this.clients.forwardedServers.delete(this.namespace, name, rv));
    } catch (err) {
      if (err instanceof StoreError && err.kind === 'notFound') return false;
      throw err;
    }
    this.written.delete(name);
    this.notify(name);
    return true;
  }

  async jumpNodes() {
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
    return this.informer.hasSynced();
  }

  start(): Promise<void> {
    return this.informer.start();
  }

  close(): Promise<void> {
    return this.informer.stop();
  }
}
