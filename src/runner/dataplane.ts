// The runner's data plane: the SSH session, listeners, remote forwards and probes (forwarding.ts),
// driven by commands and reporting its state as messages. It runs in a worker thread
// (dataplane-worker.ts) so that its garbage collector works on a heap of its own: the packet
// buffers of a busy tunnel trigger frequent full collections, and in the main thread each of
// them had to mark the Kubernetes client's heap as well (decision 0025). The control plane
// (watches, status, events, metrics) drives it through DataPlaneClient (dataplane-client.ts).
//
// Contract:
//   - commands are applied in order; `configure` takes the raw JumpNode and key file (plain
//     objects) and derives the connection settings here, so no Buffer crosses the thread boundary;
//   - `sync` carries the change of the desired forwards since the previous `sync` (a patch per
//     kind: specs to set by key, keys to remove), so its cost follows the change, not the number
//     of forwards;
//   - a `state` report carries what changed in the observable state since the previous report
//     (the session snapshot whole, the per-key states as a patch), the keys whose status may have
//     changed and the session events since then, in that order of application; reports are
//     coalesced to at most one per event-loop iteration, and one with nothing in it is not sent.
//     Only the keys touched since the previous report are compared: every per-key state change
//     goes through `mark` (forwarding.ts) or a `sync`/`closeListeners` that names the key;
//   - counters go out as deltas (`stats`) every STATS_MS, when asked (a `stats` request, before
//     its reply) and once more on close;
//   - `request` commands (waitIdle, close) are answered once with `reply` and the same id.
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { RunnerConfig } from './config.js';
import { connectionSettings } from './connection-settings.js';
import type {
  Command,
  Report,
  SessionEvent,
  StatePatch,
  StatsDelta,
} from './dataplane-protocol.js';
import { diffKeys, emptyPatch, type Patch } from './patch.js';
import { buildForwarding, type Forwarding, type ForwardingStats } from './forwarding.js';

const STATS_MS = 1000;

const emptyDelta = (): StatsDelta => ({
  sshAttempts: 0,
  sshFailures: {},
  sshDisconnects: {},
  probes: {},
  connections: {},
  channelOpenSeconds: [],
  bytesToTarget: 0,
  bytesFromTarget: 0,
  remoteConnections: {},
});

const bump = (r: Record<string, number>, k: string) => (r[k] = (r[k] ?? 0) + 1);

export class DataPlaneCore {
  private readonly fwd: Forwarding;
  private delta = emptyDelta();
  private readonly marked = new Set<string>();
  /** Keys whose state may differ from the last report (marked, synced or closed). */
  private readonly touched = new Set<string>();
  private events: SessionEvent[] = [];
  private scheduled = false;
  /** Each key's state as last reported (serialized), per kind; the session likewise. */
  private readonly sent = {
    local: new Map<string, string>(),
    remote: new Map<string, string>(),
    probes: new Map<string, string>(),
  };
  private sentSession?: string;
  private readonly statsTimer: unknown;
  private closed = false;

  constructor(
    config: RunnerConfig,
    private readonly o: { log: Logger; clock: Clock; post(r: Report): void },
  ) {
    const d = () => this.delta;
    const stats: ForwardingStats = {
      sshAttempt: () => d().sshAttempts++,
      sshFailed: (reason) => bump(d().sshFailures, reason),
      sshDisconnected: (reason) => bump(d().sshDisconnects, reason),
      probed: (ok) => bump(d().probes, ok ? 'reachable' : 'unreachable'),
      connection: (result) => bump(d().connections, result),
      channelOpened: (s) => d().channelOpenSeconds.push(s),
      bytes: (toTarget, fromTarget) => {
        d().bytesToTarget += toTarget;
        d().bytesFromTarget += fromTarget;
      },
      remoteConnection: (result) => bump(d().remoteConnections, result),
    };
    this.fwd = buildForwarding(config, {
      log: o.log,
      clock: o.clock,
      stats,
      mark: (key) => this.changed(key),
    });
    const { session, remote, prober } = this.fwd;
    session.on('ready', (client) => {
      remote.onReady(client);
      prober.probeAllSoon();
      this.changed(undefined, 'ready');
    });
    session.on('down', () => {
      remote.onDown();
      this.changed(undefined, 'down');
    });
    session.on('change', () => this.changed(undefined, 'change'));
    prober.start();
    this.statsTimer = o.clock.setInterval(() => this.postStats(), STATS_MS);
    this.changed();
  }

  /** Applies one command. Never throws: a bad command is logged and dropped. */
  handle(cmd: Command): void {
    const { session, local, remote, prober } = this.fwd;
    try {
      switch (cmd.type) {
        case 'configure':
          session.configure(connectionSettings(cmd.jumpNode, cmd.key));
          break;
        case 'reconnectNow':
          session.reconnectNow(cmd.reason, cmd.notBefore);
          break;
        case 'sync':
          if (cmd.local) local.update(cmd.local);
          remote.update(cmd.remote);
          prober.update(cmd.probes);
          for (const p of [cmd.local, cmd.remote, cmd.probes]) if (p) this.touch(p);
          break;
        case 'closeListeners':
          this.closeListeners();
          break;
        case 'request':
          void this.request(cmd);
          return;
      }
    } catch (err) {
      this.o.log.error('Data plane command failed', { command: cmd.type, error: String(err) });
    }
    this.changed();
  }

  private async request(cmd: Extract<Command, { type: 'request' }>): Promise<void> {
    let value: number | null = null;
    try {
      if (cmd.op === 'waitIdle') value = await this.fwd.local.waitIdle(cmd.timeoutMs);
      else if (cmd.op === 'stats') this.postStats();
      else await this.close();
    } catch (err) {
      this.o.log.error('Data plane request failed', { op: cmd.op, error: String(err) });
    }
    this.o.post({ type: 'reply', id: cmd.id, value });
  }

  private async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const { session, local, remote, prober } = this.fwd;
    this.o.clock.clearInterval(this.statsTimer);
    prober.stop();
    this.closeListeners();
    await remote.unregisterAll(2000);
    local.destroyAll();
    remote.destroyAll();
    await session.close();
    this.postState();
    this.postStats();
  }

  /** Closes every listener; their removal is in the next report. */
  private closeListeners(): void {
    const { local } = this.fwd;
    for (const key of local.keys()) this.touched.add(key);
    local.closeListeners();
  }

  private touch(p: Patch<unknown>): void {
    for (const key of Object.keys(p.set)) this.touched.add(key);
    for (const key of p.removed) this.touched.add(key);
  }

  private changed(key?: string, event?: SessionEvent): void {
    if (key !== undefined) {
      this.marked.add(key);
      this.touched.add(key);
    }
    if (event) this.events.push(event);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.postState());
  }

  private postState(): void {
    this.scheduled = false;
    const { session, local, remote, prober } = this.fwd;
    const keys = this.touched;
    const patch: StatePatch = {
      session: session.snapshot(),
      local: diffKeys(this.sent.local, keys, (k) => local.state(k)),
      remote: diffKeys(this.sent.remote, keys, (k) => remote.state(k)),
      probes: diffKeys(this.sent.probes, keys, (k) => prober.result(k)),
    };
    keys.clear();
    const sessionText = JSON.stringify(patch.session);
    if (
      this.sentSession === sessionText &&
      this.marked.size === 0 &&
      this.events.length === 0 &&
      emptyPatch(patch.local) &&
      emptyPatch(patch.remote) &&
      emptyPatch(patch.probes)
    )
      return;
    const marked = [...this.marked];
    const events = this.events;
    this.marked.clear();
    this.events = [];
    this.sentSession = sessionText;
    this.o.post({ type: 'state', patch, marked, events });
  }

  private postStats(): void {
    const { local } = this.fwd;
    const delta = this.delta;
    this.delta = emptyDelta();
    const open = local.takeActiveBytes();
    delta.bytesToTarget += open.in;
    delta.bytesFromTarget += open.out;
    this.o.post({ type: 'stats', delta, activeConnections: local.activeConnections() });
  }
}
