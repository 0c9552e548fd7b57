// The runner's configuration, parsed once from the environment (contract 0001 §C plus the
// runner's own tuning knobs, all documented in docs/runner.md). Nothing else reads process.env.
import { defaultConcurrency } from './status-queue.js';
import { EnvReader, LOG_LEVELS, type Env } from '../config/env.js';
import type { LogLevel } from '../log.js';
import { RUNNER_KEY_FILE } from '../resources/runner.js';

export interface RunnerConfig {
  namespace: string;
  jumpNode: string;
  podName: string;
  httpPort: number;
  /** Address of the /healthz, /readyz and /metrics server. */
  httpHost: string;
  /** Address every forward listener binds. */
  listenHost: string;
  logLevel: LogLevel;
  /** The private key: a file of the key Secret's volume (JFO_PRIVATE_KEY_FILE). */
  privateKeyFile: string;
  /** First reconnect delay; doubles per failure up to reconnectMaxMs (and the keepalive bound). */
  reconnectInitialMs: number;
  reconnectMaxMs: number;
  /** Time allowed for TCP connect + SSH handshake + authentication. */
  sshReadyTimeoutMs: number;
  probeIntervalMs: number;
  probeTimeoutMs: number;
  probeConcurrency: number;
  /** Status writes per second (token bucket) and burst, over all objects. */
  statusQps: number;
  statusBurst: number;
  /** Shortest time between two status writes of one object. */
  statusMinIntervalMs: number;
  /** How long this runner stays unhealthy before it contradicts a peer replica's True. */
  peerGraceMs: number;
  /** SIGTERM: keep accepting this long (endpoints update), then wait drainTimeoutMs for streams. */
  drainDelayMs: number;
  drainTimeoutMs: number;
  /** SSH connections, each with its own data plane thread; forwards are spread over them. */
  connections: number;
}

/** Parses the environment; throws one error that lists every problem. */
export function parseRunnerConfig(env: Env): Readonly<RunnerConfig> {
  const r = new EnvReader(env);
  const config: RunnerConfig = {
    namespace: r.required('JFO_NAMESPACE'),
    jumpNode: r.required('JFO_JUMPNODE'),
    podName: r.string('JFO_POD_NAME', env.HOSTNAME?.trim() || 'tunnel-runner'),
    httpPort: r.int('JFO_HTTP_PORT', 8080, 0, 65535),
    httpHost: r.string('JFO_HTTP_HOST', '0.0.0.0'),
    listenHost: r.string('JFO_LISTEN_HOST', '0.0.0.0'),
    logLevel: r.oneOf('JFO_LOG_LEVEL', LOG_LEVELS, 'info'),
    privateKeyFile: r.string('JFO_PRIVATE_KEY_FILE', RUNNER_KEY_FILE),
    reconnectInitialMs: r.seconds('JFO_RECONNECT_INITIAL_SECONDS', 1, 0.05, 60),
    reconnectMaxMs: r.seconds('JFO_RECONNECT_MAX_SECONDS', 30, 0.1, 3600),
    sshReadyTimeoutMs: r.seconds('JFO_SSH_READY_TIMEOUT_SECONDS', 20, 1, 600),
    probeIntervalMs: r.seconds('JFO_PROBE_INTERVAL_SECONDS', 30, 1, 3600),
    probeTimeoutMs: r.seconds('JFO_PROBE_TIMEOUT_SECONDS', 5, 0.1, 300),
    probeConcurrency: r.int('JFO_PROBE_CONCURRENCY', 8, 1, 256),
    statusQps: r.int('JFO_STATUS_QPS', 100, 1, 1000),
    statusBurst: r.int('JFO_STATUS_BURST', 200, 1, 10000),
    statusMinIntervalMs: r.seconds('JFO_STATUS_MIN_INTERVAL_SECONDS', 1, 0, 3600),
    peerGraceMs: r.seconds('JFO_PEER_GRACE_SECONDS', 30, 0, 3600),
    drainDelayMs: r.seconds('JFO_DRAIN_DELAY_SECONDS', 2, 0, 600),
    drainTimeoutMs: r.seconds('JFO_DRAIN_TIMEOUT_SECONDS', 20, 0, 3600),
    connections: r.int('JFO_SSH_CONNECTIONS', 1, 1, 16),
  };
  if (config.reconnectInitialMs > config.reconnectMaxMs)
    r.problems.push('JFO_RECONNECT_INITIAL_SECONDS must not exceed JFO_RECONNECT_MAX_SECONDS');
  r.check('runner');
  return Object.freeze(config);
}

/**
 * API connections the runner may open at once: its status writes in flight (defaultConcurrency)
 * plus room for Events, key reads and list requests, so that no request waits for a connection
 * (see KeepAliveOptions.maxSockets).
 */
export function apiSockets(config: Pick<RunnerConfig, 'statusQps'>): number {
  return defaultConcurrency(config.statusQps) + 8;
}
