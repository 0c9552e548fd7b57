// An in-memory ServerStore with the same contract as KubeStore (src/facade/store.ts):
// resourceVersion preconditions, 'conflict' on stale writes and existing names, change
// notifications. A test double for the facade's unit tests; the real behaviour is proven against
// the API server (test/integration/facade-*).
import type { ForwardedServer, ForwardedServerSpec, JumpNode } from '../../src/api/types.js';
import { StoreError } from '../../src/facade/errors.js';
import type { FacadeStatus, ServerStore } from '../../src/facade/store.js';

const clone = <T>(v: T): T => structuredClone(v);

export class MemoryStore implements ServerStore {
  private readonly servers = new Map<string, ForwardedServer>();
  private readonly nodes = new Map<string, JumpNode>();
  private readonly listeners = new Map<string, Set<() => void>>();
  private rv = 0;
  /** Test hook: called before every write; may throw to simulate failures or interleave writes. */
  beforeWrite?: (op: string, name: string) => void | Promise<void>;
  /** Test hook: a status write for which this returns an error fails with it. */
  refuseStatus?: (status: FacadeStatus) => StoreError | undefined;
  writes = 0;

  constructor(readonly namespace = 'test') {}

  private nextRv(): string {
    return String(++this.rv);
  }

  private changed(name: string): void {
    for (const fn of this.listeners.get(name) ?? []) fn();
  }

  private async current(op: string, name: string, rv?: string): Promise<ForwardedServer> {
    await this.beforeWrite?.(op, name);
    this.writes++;
    const fs = this.servers.get(name);
    if (!fs) throw new StoreError('notFound', `forwardedservers "${name}" not found`);
    if (rv !== undefined && fs.metadata.resourceVersion !== rv)
      throw new StoreError('conflict', `the object has been modified (${name})`);
    return fs;
  }

  private save(fs: ForwardedServer): ForwardedServer {
    fs.metadata.resourceVersion = this.nextRv();
    this.servers.set(fs.metadata.name, fs);
    this.changed(fs.metadata.name);
    return clone(fs);
  }

  async get(name: string) {
    const fs = this.servers.get(name);
    return fs && clone(fs);
  }
  read = this.get;
  async list() {
    return [...this.servers.values()].map(clone);
  }
  async create(fs: ForwardedServer) {
    await this.beforeWrite?.('create', fs.metadata.name);
    this.writes++;
    if (this.servers.has(fs.metadata.name))
      throw new StoreError('conflict', `forwardedservers "${fs.metadata.name}" already exists`);
    const stored = clone(fs);
    stored.metadata.namespace = this.namespace;
    stored.metadata.creationTimestamp = new Date(0).toISOString();
    delete stored.status;
    return this.save(stored);
  }
  async replace(fs: ForwardedServer) {
    const old = await this.current('replace', fs.metadata.name, fs.metadata.resourceVersion);
    return this.save({ ...clone(fs), status: old.status });
  }
  async patchSpec(name: string, rv: string, spec: Partial<ForwardedServerSpec>) {
    const old = await this.current('patchSpec', name, rv);
    return this.save({ ...old, spec: { ...old.spec, ...clone(spec) } });
  }
  async applyStatus(name: string, rv: string, status: FacadeStatus) {
    const old = await this.current('applyStatus', name, rv);
    const refusal = this.refuseStatus?.(status);
    if (refusal) throw refusal;
    const { events: _e, eventsDropped: _d, terminalEvent: _t, ...others } = old.status ?? {};
    return this.save({ ...old, status: { ...others, ...clone(status) } });
  }
  async delete(name: string, rv?: string) {
    try {
      await this.current('delete', name, rv);
    } catch (err) {
      if (err instanceof StoreError && err.kind === 'notFound') return false;
      throw err;
    }
    this.servers.delete(name);
    this.changed(name);
    return true;
  }
  async jumpNodes() {
    return [...this.nodes.values()].map(clone);
  }
  async annotateJumpNode(name: string, annotations: Record<string, string>) {
    const node = this.nodes.get(name);
    if (!node) throw new StoreError('notFound', `jumpnodes "${name}" not found`);
    node.metadata.annotations = { ...node.metadata.annotations, ...annotations };
  }
  subscribe(name: string, fn: () => void) {
    const set = this.listeners.get(name) ?? new Set();
    set.add(fn);
    this.listeners.set(name, set);
    return () => void set.delete(fn);
  }
  ready() {
    return true;
  }
  async start() {}
  async close() {}

  // Test helpers (not part of ServerStore).
  putJumpNode(node: JumpNode): void {
    this.nodes.set(node.metadata.name, clone(node));
  }
  /** Sets status fields as another writer (the operator) would. */
  setStatus(name: string, status: Partial<ForwardedServer['status']>): void {
    const fs = this.servers.get(name)!;
    this.save({ ...fs, status: { ...fs.status, ...status } });
  }
}
