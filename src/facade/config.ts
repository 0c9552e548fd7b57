// The facade's settings, parsed once from the environment into a frozen object. Nothing else in
// the facade reads process.env. Every variable is documented in docs/facade.md.
import { EnvReader, LOG_LEVELS, type Env } from '../config/env.js';
import type { LogLevel } from '../log.js';
import type { EventCaps } from '../resources/events.js';
import type { HttpLimits } from './app.js';
import { readDirectTargetPolicy, type DirectTargetPolicy } from '../resources/target-policy.js';

export interface FacadeConfig {
  namespace: string;
  httpHost: string;
  httpPort: number;
  /** Timeouts and connection cap of the API listener (and of the operations listener). */
  http: HttpLimits;
  /** Port of the operations listener (health, metrics, OpenAPI without a token); off if unset. */
  opsPort?: number;
  opsHost: string;
  /** JupyterHub's API URL, e.g. http://hub:8081/hub/api; undefined: static tokens only. */
  hubApiUrl?: string;
  hubTimeoutMs: number;
  authCacheMs: number;
  staticTokensPath?: string;
  staticTokensReloadMs: number;
  bodyLimitBytes: number;
  /** Longest long-poll actually held (a client's `wait` is capped to it). */
  maxWaitSeconds: number;
  eventCaps: EventCaps;
  /** Where direct servers may lead (JFO_CLUSTER_CIDRS, JFO_DIRECT_ALLOWED_CIDRS). */
  directTargets: DirectTargetPolicy;
  logLevel: LogLevel;
}

/** The hub API URL without trailing slashes; records a problem when it is not http(s). */
function hubUrl(r: EnvReader): string | undefined {
  const raw = r.optional('JFO_HUB_API_URL');
  if (!raw) return undefined;
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    r.problems.push(`JFO_HUB_API_URL must be a URL like http://hub:8081/hub/api (got "${raw}")`);
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    r.problems.push(`JFO_HUB_API_URL must be http or https (got "${raw}")`);
    return undefined;
  }
  return raw.replace(/\/+$/, '');
}

/** Parses the environment; throws one error that lists every problem. */
export function parseFacadeConfig(env: Env): Readonly<FacadeConfig> {
  const r = new EnvReader(env);
  const config: FacadeConfig = {
    namespace: r.required('JFO_NAMESPACE', 'must name the namespace of the ForwardedServers'),
    httpHost: r.string('JFO_HTTP_HOST', '0.0.0.0'),
    httpPort: r.int('JFO_HTTP_PORT', 8080, 0, 65535),
    http: Object.freeze({
      requestTimeoutMs: r.seconds('JFO_HTTP_REQUEST_TIMEOUT_SECONDS', 30, 0.1, 3600),
      headersTimeoutMs: r.seconds('JFO_HTTP_HEADERS_TIMEOUT_SECONDS', 10, 0.1, 3600),
      keepAliveTimeoutMs: r.seconds('JFO_HTTP_KEEPALIVE_TIMEOUT_SECONDS', 72, 0.1, 3600),
      idleTimeoutMs: r.seconds('JFO_HTTP_IDLE_TIMEOUT_SECONDS', 120, 1, 3600),
      maxConnections: r.int('JFO_HTTP_MAX_CONNECTIONS', 2048, 1, 1_000_000),
    }),
    opsPort:
      r.optional('JFO_OPS_PORT') === undefined ? undefined : r.int('JFO_OPS_PORT', 0, 0, 65535),
    opsHost: r.string('JFO_OPS_HOST', r.string('JFO_HTTP_HOST', '0.0.0.0')),
    hubApiUrl: hubUrl(r),
    hubTimeoutMs: r.seconds('JFO_HUB_TIMEOUT_SECONDS', 5, 1, 120),
    authCacheMs: r.seconds('JFO_AUTH_CACHE_SECONDS', 30, 0, 3600),
    staticTokensPath: r.optional('JFO_STATIC_TOKENS'),
    staticTokensReloadMs: r.seconds('JFO_STATIC_TOKENS_RELOAD_SECONDS', 10, 1, 3600),
    bodyLimitBytes: r.int('JFO_BODY_LIMIT_BYTES', 262144, 1024, 16 * 1024 * 1024),
    maxWaitSeconds: r.int('JFO_MAX_WAIT_SECONDS', 60, 1, 60),
    eventCaps: Object.freeze({
      maxCount: r.int('JFO_EVENTS_MAX_COUNT', 100, 1, 200),
      maxBytes: r.int('JFO_EVENTS_MAX_BYTES', 131072, 4096, 1024 * 1024),
    }),
    directTargets: readDirectTargetPolicy(r),
    logLevel: r.oneOf('JFO_LOG_LEVEL', LOG_LEVELS, 'info'),
  };
  const { http } = config;
  if (http.headersTimeoutMs > http.requestTimeoutMs)
    r.problems.push(
      'JFO_HTTP_HEADERS_TIMEOUT_SECONDS must not exceed JFO_HTTP_REQUEST_TIMEOUT_SECONDS',
    );
  if (http.idleTimeoutMs <= config.maxWaitSeconds * 1000)
    r.problems.push(
      'JFO_HTTP_IDLE_TIMEOUT_SECONDS must exceed JFO_MAX_WAIT_SECONDS (a long-poll sends nothing while it waits)',
    );
  if (config.opsPort !== undefined && config.opsPort !== 0 && config.opsPort === config.httpPort)
    r.problems.push('JFO_OPS_PORT must differ from JFO_HTTP_PORT');
  if (!env.JFO_HUB_API_URL?.trim() && !config.staticTokensPath)
    r.problems.push('Set JFO_HUB_API_URL, JFO_STATIC_TOKENS or both: no token could be accepted');
  r.check('facade');
  return Object.freeze(config);
}
