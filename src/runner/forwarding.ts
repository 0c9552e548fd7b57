// The forwarding machinery of a runner: the SSH session, the local listeners, the remote forwards
// and the prober, wired together and to a ForwardingStats sink. `mark` asks for a status update
// of a ForwardedServer key.
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { RunnerConfig } from './config.js';
import { LocalForwards } from './local-forwards.js';
import { Prober } from './prober.js';
import { RemoteForwards } from './remote-forwards.js';
import { SshSession } from './session.js';

export interface Forwarding {
  session: SshSession;
  prober: Prober;
  local: LocalForwards;
  remote: RemoteForwards;
}

/** What the forwarding machinery counts (the runner's metrics, see metrics.ts). */
export interface ForwardingStats {
  sshAttempt(): void;
  sshFailed(reason: string): void;
  sshDisconnected(reason: string): void;
  probed(reachable: boolean): void;
  connection(result: 'ok' | 'ssh_down' | 'channel_failed'): void;
  channelOpened(seconds: number): void;
  bytes(toTarget: number, fromTarget: number): void;
  remoteConnection(result: 'ok' | 'target_failed' | 'unknown'): void;
}

export function buildForwarding(
  config: RunnerConfig,
  o: { log: Logger; clock: Clock; stats: ForwardingStats; mark(key: string): void },
): Forwarding {
  const { log, clock, stats } = o;
  const session = new SshSession({
    log,
    clock,
    readyTimeoutMs: config.sshReadyTimeoutMs,
    reconnectInitialMs: config.reconnectInitialMs,
    reconnectMaxMs: config.reconnectMaxMs,
    hooks: {
      attempt: () => stats.sshAttempt(),
      failed: (reason) => stats.sshFailed(reason),
      disconnected: (reason) => stats.sshDisconnected(reason),
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
    probed: (ok) => stats.probed(ok),
  });
  const local = new LocalForwards({
    listenHost: config.listenHost,
    session,
    log,
    clock,
    hooks: {
      observed: (key, ok, message) => prober.observe(key, ok, message),
      accepted: () => stats.connection('ok'),
      rejected: (result) => stats.connection(result),
      opened: (s) => stats.channelOpened(s),
      closed: (r) => stats.bytes(r.bytesIn, r.bytesOut),
      listenerChanged: (key) => o.mark(key),
    },
  });
  const remote = new RemoteForwards({
    log,
    clock,
    hooks: {
      changed: (key) => o.mark(key),
      connection: (result) => stats.remoteConnection(result),
    },
  });
  return { session, prober, local, remote };
}
