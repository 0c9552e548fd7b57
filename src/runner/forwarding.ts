// The forwarding machinery of a runner, wired to its metrics: the SSH session, the local
// listeners, the remote forwards and the prober. `mark` asks for a status update of a
// ForwardedServer key.
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { RunnerConfig } from './config.js';
import { LocalForwards } from './local-forwards.js';
import type { RunnerMetrics } from './metrics.js';
import { Prober } from './prober.js';
import { RemoteForwards } from './remote-forwards.js';
import { SshSession } from './session.js';

export interface Forwarding {
  session: SshSession;
  prober: Prober;
  local: LocalForwards;
  remote: RemoteForwards;
}

export function countBytes(m: RunnerMetrics, toTarget: number, fromTarget: number): void {
  if (toTarget > 0) m.bytes.inc({ direction: 'to_target' }, toTarget);
  if (fromTarget > 0) m.bytes.inc({ direction: 'from_target' }, fromTarget);
}

export function buildForwarding(
  config: RunnerConfig,
  o: { log: Logger; clock: Clock; metrics: RunnerMetrics; mark(key: string): void },
): Forwarding {
  const { log, clock, metrics } = o;
  const session = new SshSession({
    log,
    clock,
    readyTimeoutMs: config.sshReadyTimeoutMs,
    reconnectInitialMs: config.reconnectInitialMs,
    reconnectMaxMs: config.reconnectMaxMs,
    hooks: {
      attempt: () => metrics.sshAttempts.inc(),
      failed: (reason) => metrics.sshFailures.inc({ reason }),
      disconnected: (reason) => metrics.sshDisconnects.inc({ reason }),
    },
  });
  const prober = new Prober({
    session,
    clock,
    log,
    intervalMs: config.probeIntervalMs,
    timeoutMs: config.probeTimeoutMs,
    concurrency: config.probeConcurrency,
    changed: (key) => o.mark(key),
    probed: (ok) => {
      metrics.probes.inc({ result: ok ? 'reachable' : 'unreachable' });
      if (!ok) metrics.probeFailures.inc();
    },
  });
  const local = new LocalForwards({
    listenHost: config.listenHost,
    session,
    log,
    clock,
    hooks: {
      observed: (key, ok, message) => prober.observe(key, ok, message),
      accepted: () => metrics.connections.inc({ result: 'ok' }),
      rejected: (result) => metrics.connections.inc({ result }),
      opened: (s) => metrics.channelOpenSeconds.observe(s),
      closed: (r) => countBytes(metrics, r.bytesIn, r.bytesOut),
      listenerChanged: (key) => o.mark(key),
    },
  });
  const remote = new RemoteForwards({
    log,
    clock,
    hooks: {
      changed: (key) => o.mark(key),
      connection: (result) => metrics.remoteConnections.inc({ result }),
    },
  });
  return { session, prober, local, remote };
}
