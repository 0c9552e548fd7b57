// The runner's configuration, parsed once from the environment (contract 0001 §C plus the
// runner's own tuning knobs, all documented in docs/runner.md). Nothing else reads process.env.
import type { LogLevel } from '../log.js';

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
}

type Env = Record<string, string | undefined>;

const LOG_LEVELS: readonly LogLevel[] = ['error', 'warn', 'info', 'debug'];

class Reader {
  readonly problems: string[] = [];
  constructor(private readonly env: Env) {}

  required(name: string): string {
    const v = this.env[name]?.trim();
    if (!v) this.problems.push(`${name} is required`);
    return v ?? '';
  }

  string(name: string, fallback: string): string {
    const v = this.env[name]?.trim();
    return v ? v : fallback;
  }

  int(name: string, fallback: number, min: number, max: number): number {
    const raw = this.env[name]?.trim();
    if (!raw) return fallback;
    const n = Number(raw);
    if (!/^-?\d+$/.test(raw) || n < min || n > max) {
      this.problems.push(`${name} must be an integer from ${min} to ${max} (got "${raw}")`);
      return fallback;
    }
    return n;
  }

  /** A duration in seconds (decimals allowed), returned in milliseconds. */
  seconds(name: string, fallbackSeconds: number, min: number, max: number): number {
    const raw = this.env[name]?.trim();
    if (!raw) return fallbackSeconds * 1000;
    const n = Number(raw);
    if (!/^\d+(\.\d+)?$/.test(raw) || n < min || n > max) {
      this.problems.push(
        `${name} must be a number of seconds from ${min} to ${max} (got "${raw}")`,
      );
      return fallbackSeconds * 1000;
    }
    return Math.round(n * 1000);
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const raw = this.env[name]?.trim();
    if (!raw) return fallback;
    if (!(allowed as readonly string[]).includes(raw)) {
      this.problems.push(`${name} must be one of ${allowed.join(', ')} (got "${raw}")`);
      return fallback;
    }
    return raw as T;
  }
}

/** Parses the environment; throws one error that lists every problem. */
export function parseRunnerConfig(env: Env): Readonly<RunnerConfig> {
  const r = new Reader(env);
  const config: RunnerConfig = {
    namespace: r.required('JFO_NAMESPACE'),
    jumpNode: r.required('JFO_JUMPNODE'),
    podName: r.string('JFO_POD_NAME', env.HOSTNAME?.trim() || 'tunnel-runner'),
    httpPort: r.int('JFO_HTTP_PORT', 8080, 0, 65535),
    httpHost: r.string('JFO_HTTP_HOST', '0.0.0.0'),
    listenHost: r.string('JFO_LISTEN_HOST', '0.0.0.0'),
    logLevel: r.oneOf('JFO_LOG_LEVEL', LOG_LEVELS, 'info'),
    reconnectInitialMs: r.seconds('JFO_RECONNECT_INITIAL_SECONDS', 1, 0.05, 60),
    reconnectMaxMs: r.seconds('JFO_RECONNECT_MAX_SECONDS', 30, 0.1, 3600),
    sshReadyTimeoutMs: r.seconds('JFO_SSH_READY_TIMEOUT_SECONDS', 20, 1, 600),
    probeIntervalMs: r.seconds('JFO_PROBE_INTERVAL_SECONDS', 30, 1, 3600),
    probeTimeoutMs: r.seconds('JFO_PROBE_TIMEOUT_SECONDS', 5, 0.1, 300),
    probeConcurrency: r.int('JFO_PROBE_CONCURRENCY', 8, 1, 256),
    statusQps: r.int('JFO_STATUS_QPS', 20, 1, 1000),
    statusBurst: r.int('JFO_STATUS_BURST', 40, 1, 10000),
    statusMinIntervalMs: r.seconds('JFO_STATUS_MIN_INTERVAL_SECONDS', 1, 0, 3600),
    peerGraceMs: r.seconds('JFO_PEER_GRACE_SECONDS', 30, 0, 3600),
    drainDelayMs: r.seconds('JFO_DRAIN_DELAY_SECONDS', 2, 0, 600),
    drainTimeoutMs: r.seconds('JFO_DRAIN_TIMEOUT_SECONDS', 20, 0, 3600),
  };
  if (config.reconnectInitialMs > config.reconnectMaxMs)
    r.problems.push('JFO_RECONNECT_INITIAL_SECONDS must not exceed JFO_RECONNECT_MAX_SECONDS');
  if (r.problems.length) throw new Error(`Invalid runner configuration: ${r.problems.join('; ')}`);
  return Object.freeze(config);
}
