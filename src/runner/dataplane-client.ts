// The control plane's handle on the data plane (dataplane.ts): sends commands, keeps a mirror of
// the data plane's last reported state for synchronous reads (status, readiness, gauges), turns
// counter deltas into metrics, and re-emits the session's events after the state they belong to
// is mirrored. It works over any Transport: dataplane-thread.ts starts the data plane in a worker
// thread; tests run the core in the same thread.
//
// Contract:
//   - `ready()` resolves after the first state report, so reads never see an empty mirror of a
//     running data plane;
//   - `mark(key)` runs for every key the data plane reported as changed, after the mirror holds
//     that report; then 'ready' / 'down' / 'change' are emitted in the order they happened;
import { EventEmitter } from 'node:events';
import type { JumpNode } from '../api/types.js';
import { emptyState, type Command, type Report, type StatsDelta } from './dataplane-protocol.js';
import { applyPatch, diffKeys, emptyPatch, type Patch } from './patch.js';
import type { DataPlane } from './dataplane-group.js';
import type { DesiredForwards } from './desired.js';
import type { PrivateKeyFile } from './key-file.js';
import type { ListenerState } from './local-forwards.js';
import type { RunnerMetrics } from './metrics.js';
import type { ProbeResult } from './prober.js';
import type { RemoteState } from './remote-forwards.js';
import type { SessionSnapshot } from './session.js';

export interface Transport {
  send(cmd: Command): void;
  onReport(fn: (r: Report) => void): void;
  terminate(): Promise<void>;
}

export interface DataPlaneHooks {
  metrics: RunnerMetrics;
  mark(key: string): void;
}

export class DataPlaneClient extends EventEmitter implements DataPlane {
  private readonly state = emptyState();
  private openConnections = 0;
  private nextId = 0;
  private readonly pending = new Map<number, (value: number | null) => void>();
  private readonly first: Promise<void>;
  /** The inputs of the last `configure` sent (serialized). */
  private configured?: string;
  /** Each key's spec as last sent in a `sync` (serialized), per kind. */
  private readonly sent = {
    local: new Map<string, string>(),
    remote: new Map<string, string>(),
    probes: new Map<string, string>(),
  };

  constructor(
    private readonly transport: Transport,
    private readonly hooks: DataPlaneHooks,
  ) {
    super();
    let resolveFirst!: () => void;
    this.first = new Promise((r) => (resolveFirst = r));
    transport.onReport((r) => {
      if (r.type === 'state') {
        const s = this.state;
        s.session = r.patch.session;
        applyPatch(s.local, r.patch.local);
        applyPatch(s.remote, r.patch.remote);
        applyPatch(s.probes, r.patch.probes);
        resolveFirst();
        for (const key of r.marked) hooks.mark(key);
        for (const e of r.events) this.emit(e);
      } else if (r.type === 'stats') {
        applyStats(hooks.metrics, r.delta);
        this.openConnections = r.activeConnections;
      } else {
        this.pending.get(r.id)?.(r.value);
        this.pending.delete(r.id);
      }
    });
  }

  ready(): Promise<void> {
    return this.first;
  }

  /**
   * Sends the JumpNode and key file the session's settings derive from (connection-settings.ts
   * reads only the JumpNode's spec and the key file). The same again is not sent: deriving the
   * settings parses the key, and a reconcile follows every change of any ForwardedServer.
   */
  configure(jumpNode: JumpNode | undefined, key: PrivateKeyFile | undefined): void {
    const inputs = JSON.stringify([jumpNode?.spec ?? null, key ?? null]);
    if (inputs === this.configured) return;
    this.configured = inputs;
    this.transport.send({ type: 'configure', jumpNode, key });
  }

  reconnectNow(reason: string, notBefore?: number): void {
    this.transport.send({ type: 'reconnectNow', reason, notBefore });
  }

  /**
   * Converges the forwards to `desired`; with `keepListeners` the listeners stay as they are.
   * Sends only what changed since the previous sync (nothing at all when nothing did).
   */
  sync(desired: DesiredForwards, keepListeners: boolean): void {
    const sent = this.sent;
    const local = keepListeners ? undefined : specPatch(sent.local, desired.local, (f) => f);
    const remote = specPatch(sent.remote, desired.remote, (f) => f);
    const probes = specPatch(sent.probes, desired.local, (f) => f.target);
    if ([local, remote, probes].every((p) => !p || emptyPatch(p))) return;
    this.transport.send({ type: 'sync', local, remote, probes });
  }

  closeListeners(): void {
    this.sent.local.clear();
    this.transport.send({ type: 'closeListeners' });
  }

  /** Resolves with the number of connections still open after at most `timeoutMs`. */
  async waitIdle(timeoutMs: number): Promise<number> {
    return (await this.request({ op: 'waitIdle', timeoutMs })) ?? 0;
  }

  /**
   * Resolves once the data plane's counters up to now are applied to the metrics (or after
   * `timeoutMs`, so that a scrape never hangs on it).
   */
  async flushStats(timeoutMs = 1000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.request({ op: 'stats' }),
      new Promise((r) => (timer = setTimeout(r, timeoutMs))),
    ]);
    clearTimeout(timer);
  }

  /** Unregisters remote forwards, closes everything and ends the data plane. */
  async close(): Promise<void> {
    await this.request({ op: 'close' });
    await this.transport.terminate();
  }

  /** The session (one per data plane: every key's). */
  session(_key?: string): SessionSnapshot {
    return this.state.session;
  }
  sessions(): SessionSnapshot[] {
    return [this.state.session];
  }
  local(key: string): ListenerState | undefined {
    return this.state.local[key];
  }
  remote(key: string): RemoteState | undefined {
    return this.state.remote[key];
  }
  probe(key: string): ProbeResult | undefined {
    return this.state.probes[key];
  }
  count(): number {
    return Object.keys(this.state.local).length;
  }
  listeningCount(): number {
    return Object.values(this.state.local).filter((l) => l.listening).length;
  }
  registeredCount(): number {
    return Object.values(this.state.remote).filter((r) => r.registered).length;
  }
  /** Open forwarded connections, as of the last counters (flushStats brings them up to date). */
  activeConnections(): number {
    return this.openConnections;
  }

  private request(
    r: { op: 'waitIdle'; timeoutMs: number } | { op: 'stats' } | { op: 'close' },
  ): Promise<number | null> {
    const id = ++this.nextId;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.transport.send({ type: 'request', id, ...r } as Command);
    });
  }

  /** The worker is gone: answer every pending request so that shutdown never hangs. */
  failPending(): void {
    for (const resolve of this.pending.values()) resolve(null);
    this.pending.clear();
  }
}

function applyStats(m: RunnerMetrics, d: StatsDelta): void {
  if (d.sshAttempts) m.sshAttempts.inc(d.sshAttempts);
  for (const [reason, n] of Object.entries(d.sshFailures)) m.sshFailures.inc({ reason }, n);
  for (const [reason, n] of Object.entries(d.sshDisconnects)) m.sshDisconnects.inc({ reason }, n);
  for (const [result, n] of Object.entries(d.probes)) m.probes.inc({ result }, n);
  if (d.probes.unreachable) m.probeFailures.inc(d.probes.unreachable);
  for (const [result, n] of Object.entries(d.connections)) m.connections.inc({ result }, n);
  for (const s of d.channelOpenSeconds) m.channelOpenSeconds.observe(s);
  if (d.bytesToTarget) m.bytes.inc({ direction: 'to_target' }, d.bytesToTarget);
  if (d.bytesFromTarget) m.bytes.inc({ direction: 'from_target' }, d.bytesFromTarget);
  for (const [result, n] of Object.entries(d.remoteConnections))
    m.remoteConnections.inc({ result }, n);
}

/**
 * The change from the specs last sent (`sent`, updated in place) to `specs`: each key's `pick`ed
 * spec that is new or different, and the keys no longer there.
 */
function specPatch<S extends { key: string }, T>(
  sent: Map<string, string>,
  specs: readonly S[],
  pick: (s: S) => T,
): Patch<T> {
  const next = new Map(specs.map((s) => [s.key, pick(s)]));
  const keys = new Set([...sent.keys(), ...next.keys()]);
  return diffKeys(sent, keys, (k) => next.get(k));
}
