// How the runner's view becomes status: the wanted conditions from the forwarding state, written
// through RunnerStatus (server-side apply with the runner's field manager) and a StatusQueue
// (coalesced and rate-limited).
import type { ForwardedServer, JumpNode } from '../api/types.js';
import type { Clock } from '../clock.js';
import type { Clients } from '../kube/client.js';
import type { Logger } from '../log.js';
import { splitKey } from '../names.js';
import type { RunnerConfig } from './config.js';
import type { DataPlane } from './dataplane-group.js';
import type { DesiredForwards } from './desired.js';
import type { RunnerMetrics } from './metrics.js';
import { JUMP_NODE_KEY, RunnerStatus } from './status.js';
import { StatusQueue } from './status-queue.js';
import { wantedConnected, wantedServerConditions } from './wanted.js';

export interface ReportingSources {
  /** The data plane's state, read synchronously from its mirror. */
  plane: Pick<DataPlane, 'session' | 'local' | 'remote' | 'probe'>;
  desired(): DesiredForwards;
  /** The cached objects; undefined until the caches synced (nothing is written before). */
  jumpNode(): JumpNode | undefined;
  server(name: string): ForwardedServer | undefined;
  synced(): boolean;
  restartHandled(): string | undefined;
}

export function buildReporting(
  config: RunnerConfig,
  o: { clients: Clients; log: Logger; clock: Clock; metrics: RunnerMetrics },
  src: ReportingSources,
): { status: RunnerStatus; queue: StatusQueue } {
  const { plane } = src;
  const status = new RunnerStatus({
    clock: o.clock,
    peerGraceMs: config.peerGraceMs,
    current: (key) => {
      if (!src.synced()) return undefined;
      return key === JUMP_NODE_KEY ? src.jumpNode() : src.server(splitKey(key).name);
    },
    wantedServer: (key) => {
      const desired = src.desired();
      const fs = desired.servers.get(key);
      if (!fs) return undefined;
      // A listener being opened reports 'listening' (or its error) in a moment, and marks the key.
      const pending = { recheckAfterMs: config.probeTimeoutMs };
      const l = plane.local(key);
      if (l && !l.listening && !l.error) return pending;
      // Likewise the first probe of a connected forward (at most the probe timeout away): one
      // write with both conditions instead of two.
      if (l?.listening && plane.session(key).phase === 'connected' && !plane.probe(key))
        return pending;
      return wantedServerConditions({
        fs,
        listenHost: config.listenHost,
        pod: config.podName,
        session: plane.session(key),
        local: l,
        remote: plane.remote(key),
        conflict: desired.conflicts.get(key),
        refused: desired.refused.get(key),
        probe: plane.probe(key),
      });
    },
    wantedJumpNode: () => {
      const s = plane.session();
      const connected = wantedConnected(s, config.podName, src.jumpNode()?.metadata.generation);
      return { connected, since: s.connectedSince, restartHandled: src.restartHandled() };
    },
    forwardedServers: o.clients.forwardedServers,
    jumpNodes: o.clients.jumpNodes,
    written: (kind, result) =>
      result === 'unchanged'
        ? o.metrics.statusSkipped.inc({ kind })
        : o.metrics.statusWrites.inc({ kind, result }),
  });
  const queue = new StatusQueue({
    clock: o.clock,
    log: o.log,
    qps: config.statusQps,
    burst: config.statusBurst,
    minIntervalMs: config.statusMinIntervalMs,
    flush: (key, acquire) => status.flush(key, acquire),
  });
  return { status, queue };
}
