// The facade's settings, parsed once from the environment into a frozen object. Nothing else in
// the facade reads process.env. Every variable is documented in docs/facade.md.
import type { LogLevel } from '../log.js';
import type { EventCaps } from '../resources/events.js';

export interface FacadeConfig {
  namespace: string;
  httpHost: string;
  httpPort: number;
  /** JupyterHub's API URL, e.g. http://hub:8081/hub/api; undefined: static tokens only. */
  hubApiUrl?: string;
  hubTimeoutMs: number;
  authCacheMs: number;
  staticTokensPath?: string;
  staticTokensReloadMs: number;
  bodyLimitBytes: number;
  /** Longest long-poll actually held (a client's `wait` is capped to it). */
  maxWaitSeconds: number;
  /** Longest progress stream; clients resume with Last-Event-ID. */
  streamMaxSeconds: number;
  eventCaps: EventCaps;
  logLevel: LogLevel;
}

type Env = Record<string, string | undefined>;

const LEVELS: readonly LogLevel[] = ['error', 'warn', 'info', 'debug'];

function integer(env: Env, key: string, def: number, min: number, max: number): number {
  const raw = env[key]?.trim();
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new Error(`${key} must be an integer from ${min} to ${max}, got "${raw}"`);
  return n;
}

function text(env: Env, key: string): string | undefined {
  const v = env[key]?.trim();
  return v ? v : undefined;
}

function hubUrl(env: Env): string | undefined {
  const raw = text(env, 'JFO_HUB_API_URL');
  if (!raw) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`JFO_HUB_API_URL must be a URL like http://hub:8081/hub/api, got "${raw}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new Error(`JFO_HUB_API_URL must be http or https, got "${raw}"`);
  return raw.replace(/\/+$/, '');
}

/** Parses and validates; throws one Error naming the variable at fault. */
export function parseFacadeConfig(env: Env): Readonly<FacadeConfig> {
  const namespace = text(env, 'JFO_NAMESPACE');
  if (!namespace) throw new Error('JFO_NAMESPACE must name the namespace of the ForwardedServers');
  const logLevel = (text(env, 'JFO_LOG_LEVEL') ?? 'info') as LogLevel;
  if (!LEVELS.includes(logLevel))
    throw new Error(`JFO_LOG_LEVEL must be one of ${LEVELS.join(', ')}, got "${logLevel}"`);
  const config: FacadeConfig = {
    namespace,
    httpHost: text(env, 'JFO_HTTP_HOST') ?? '0.0.0.0',
    httpPort: integer(env, 'JFO_HTTP_PORT', 8080, 0, 65535),
    hubApiUrl: hubUrl(env),
    hubTimeoutMs: integer(env, 'JFO_HUB_TIMEOUT_SECONDS', 5, 1, 120) * 1000,
    authCacheMs: integer(env, 'JFO_AUTH_CACHE_SECONDS', 30, 0, 3600) * 1000,
    staticTokensPath: text(env, 'JFO_STATIC_TOKENS'),
    staticTokensReloadMs: integer(env, 'JFO_STATIC_TOKENS_RELOAD_SECONDS', 10, 1, 3600) * 1000,
    bodyLimitBytes: integer(env, 'JFO_BODY_LIMIT_BYTES', 262144, 1024, 16 * 1024 * 1024),
    maxWaitSeconds: integer(env, 'JFO_MAX_WAIT_SECONDS', 60, 1, 60),
    streamMaxSeconds: integer(env, 'JFO_STREAM_MAX_SECONDS', 900, 1, 86400),
    eventCaps: Object.freeze({
      maxCount: integer(env, 'JFO_EVENTS_MAX_COUNT', 100, 1, 200),
      maxBytes: integer(env, 'JFO_EVENTS_MAX_BYTES', 131072, 4096, 1024 * 1024),
    }),
    logLevel,
  };
  if (!config.hubApiUrl && !config.staticTokensPath)
    throw new Error('Set JFO_HUB_API_URL, JFO_STATIC_TOKENS or both: no token could be accepted');
  return Object.freeze(config);
}
