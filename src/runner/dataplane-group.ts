// Several data planes behind the interface of one (spec.runner.connections > 1): each has its own
// worker thread and SSH connection, and each forward belongs to exactly one of them, chosen by a
// stable hash of its key, so that a runner uses as many cores as it has connections.
//
// Contract:
//   - commands go to every data plane; `sync` hands each one only the forwards it owns;
//   - per-key reads (local, remote, probe, session(key)) answer from the owner of the key;
//   - session() without a key is connected only while every connection is; otherwise it is the
//     first connection that is not (its problem is the runner's problem);
//   - counts and open connections are sums; 'ready' / 'down' / 'change' of any data plane are
//     re-emitted.
import { EventEmitter } from 'node:events';
import type { JumpNode } from '../api/types.js';
import type { DesiredForwards } from './desired.js';
import type { PrivateKeyFile } from './key-file.js';
import type { ListenerState } from './local-forwards.js';
import type { ProbeResult } from './prober.js';
import type { RemoteState } from './remote-forwards.js';
import type { SessionSnapshot } from './session.js';

/** What the control plane uses of a data plane (DataPlaneClient, or a group of them). */
export interface DataPlane extends EventEmitter {
  configure(jumpNode: JumpNode | undefined, key: PrivateKeyFile | undefined): void;
  /** Drops the connections (those made before `notBefore`, ms epoch, if given) and reconnects. */
  reconnectNow(reason: string, notBefore?: number): void;
  sync(desired: DesiredForwards, keepListeners: boolean): void;
  closeListeners(): void;
  waitIdle(timeoutMs: number): Promise<number>;
  flushStats(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
  /** The session that carries `key`'s forward; without a key, the runner's (see the contract). */
  session(key?: string): SessionSnapshot;
  /** Every SSH connection's snapshot. */
  sessions(): SessionSnapshot[];
  local(key: string): ListenerState | undefined;
  remote(key: string): RemoteState | undefined;
  probe(key: string): ProbeResult | undefined;
  count(): number;
  listeningCount(): number;
  registeredCount(): number;
  activeConnections(): number;
}

/** The connection (0..n-1) that carries a forward: FNV-1a of its key, stable across restarts. */
export function connectionOf(key: string, n: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % n;
}

/** The part of `desired` that connection `i` of `n` carries. */
export function shareOf(desired: DesiredForwards, i: number, n: number): DesiredForwards {
  return {
    ...desired,
    local: desired.local.filter((f) => connectionOf(f.key, n) === i),
    remote: desired.remote.filter((f) => connectionOf(f.key, n) === i),
  };
}

export class DataPlaneGroup extends EventEmitter implements DataPlane {
  constructor(private readonly planes: DataPlane[]) {
    super();
    if (planes.length === 0) throw new Error('A data plane group needs at least one data plane');
    for (const p of planes)
      for (const e of ['ready', 'down', 'change'])
        p.on(e, (...args: unknown[]) => this.emit(e, ...args));
  }

  private owner(key: string): DataPlane {
    return this.planes[connectionOf(key, this.planes.length)]!;
  }

  private sum(f: (p: DataPlane) => number): number {
    return this.planes.reduce((n, p) => n + f(p), 0);
  }

  configure(jumpNode: JumpNode | undefined, key: PrivateKeyFile | undefined): void {
    for (const p of this.planes) p.configure(jumpNode, key);
  }

  reconnectNow(reason: string, notBefore?: number): void {
    for (const p of this.planes) p.reconnectNow(reason, notBefore);
  }

  sync(desired: DesiredForwards, keepListeners: boolean): void {
    const n = this.planes.length;
    this.planes.forEach((p, i) => p.sync(shareOf(desired, i, n), keepListeners));
  }

  closeListeners(): void {
    for (const p of this.planes) p.closeListeners();
  }

  async waitIdle(timeoutMs: number): Promise<number> {
    const left = await Promise.all(this.planes.map((p) => p.waitIdle(timeoutMs)));
    return left.reduce((a, b) => a + b, 0);
  }

  async flushStats(timeoutMs?: number): Promise<void> {
    await Promise.all(this.planes.map((p) => p.flushStats(timeoutMs)));
  }

  async close(): Promise<void> {
    await Promise.all(this.planes.map((p) => p.close()));
  }

  session(key?: string): SessionSnapshot {
    if (key !== undefined) return this.owner(key).session();
    const all = this.planes.map((p) => p.session());
    const down = all.find((s) => s.phase !== 'connected');
    if (down) return down;
    const since = all.map((s) => s.connectedSince ?? 0);
    return { ...all[0]!, connectedSince: Math.max(...since) };
  }

  sessions(): SessionSnapshot[] {
    return this.planes.flatMap((p) => p.sessions());
  }

  local(key: string): ListenerState | undefined {
    return this.owner(key).local(key);
  }

  remote(key: string): RemoteState | undefined {
    return this.owner(key).remote(key);
  }

  probe(key: string): ProbeResult | undefined {
    return this.owner(key).probe(key);
  }

  count(): number {
    return this.sum((p) => p.count());
  }

  listeningCount(): number {
    return this.sum((p) => p.listeningCount());
  }

  registeredCount(): number {
    return this.sum((p) => p.registeredCount());
  }

  activeConnections(): number {
    return this.sum((p) => p.activeConnections());
  }
}
