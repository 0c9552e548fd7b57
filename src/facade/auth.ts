// Who is calling: a static token (static-tokens.ts) or a JupyterHub token, which the hub itself
// vouches for through `GET {hub_api}/user` (JupyterHub's documented way for services to check a
// token). The hub's answer (name, kind, expanded scopes) is cached for a short time, keyed by
// the token's SHA-256; concurrent checks of one token share one hub request. An unreachable or
// failing hub is a 503, never a 403: the caller's token may be fine.
import type { Clock } from '../clock.js';
import { errorMessage, type Logger } from '../log.js';
import { forbidden, unavailable } from './errors.js';
import type { FacadeMetrics } from './metrics.js';
import { sha256, type StaticIdentity } from './static-tokens.js';

export interface Identity {
  kind: 'user' | 'service' | 'static';
  name: string;
  /** Expanded scopes. */
  scopes: ReadonlySet<string>;
}

export const MISSING_CREDENTIALS = 'Missing or invalid credentials.';

/** The token of `Authorization: token <t>` or `Authorization: Bearer <t>`. */
export function tokenFromHeader(header: string | undefined): string | undefined {
  const m = /^\s*(token|bearer)\s+(\S+)\s*$/i.exec(header ?? '');
  return m?.[2];
}

export interface AuthOptions {
  /** e.g. http://hub:8081/hub/api; undefined: only static tokens are accepted. */
  hubApiUrl?: string;
  cacheMs: number;
  hubTimeoutMs: number;
  maxCacheEntries?: number;
  staticLookup?: (token: string) => StaticIdentity | undefined;
  clock: Clock;
  log: Logger;
  metrics: FacadeMetrics;
  fetch?: typeof fetch;
}

interface CacheEntry {
  expires: number;
  identity: Identity | null;
}

export class Authenticator {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly inflight = new Map<string, Promise<Identity | null>>();
  private readonly fetchFn: typeof fetch;

  constructor(private readonly opts: AuthOptions) {
    this.fetchFn = opts.fetch ?? fetch;
  }

  /** The caller's identity; a 403 HttpError for a missing or invalid token, 503 if the hub fails. */
  async identify(header: string | undefined): Promise<Identity> {
    const token = tokenFromHeader(header);
    const { metrics } = this.opts;
    if (!token) throw forbidden(MISSING_CREDENTIALS);
    const st = this.opts.staticLookup?.(token);
    if (st) {
      metrics.auth.inc({ source: 'static', result: 'ok' });
      return { kind: 'static', name: st.name, scopes: st.scopes };
    }
    if (!this.opts.hubApiUrl) {
      metrics.auth.inc({ source: 'static', result: 'invalid' });
      throw forbidden(MISSING_CREDENTIALS);
    }
    const key = sha256(token);
    const now = this.opts.clock.now();
    const hit = this.cache.get(key);
    let identity: Identity | null;
    if (hit && hit.expires > now) {
      identity = hit.identity;
      metrics.auth.inc({ source: 'cache', result: identity ? 'ok' : 'invalid' });
    } else {
      identity = await this.askHubOnce(key, token);
    }
    if (!identity) throw forbidden(MISSING_CREDENTIALS);
    return identity;
  }

  private askHubOnce(key: string, token: string): Promise<Identity | null> {
    const running = this.inflight.get(key);
    if (running) return running;
    const p = this.askHub(token)
      .then((identity) => {
        this.remember(key, identity);
        this.opts.metrics.auth.inc({ source: 'hub', result: identity ? 'ok' : 'invalid' });
        return identity;
      })
      .catch((err: unknown) => {
        this.opts.metrics.auth.inc({ source: 'hub', result: 'unavailable' });
        throw err;
      })
      .finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }

  private remember(key: string, identity: Identity | null): void {
    if (this.opts.cacheMs <= 0) return;
    const max = this.opts.maxCacheEntries ?? 10_000;
    this.cache.delete(key);
    while (this.cache.size >= max) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(key, { expires: this.opts.clock.now() + this.opts.cacheMs, identity });
  }

  private async askHub(token: string): Promise<Identity | null> {
    const url = `${this.opts.hubApiUrl!.replace(/\/+$/, '')}/user`;
    let res: Response;
    try {
      res = await this.fetchFn(url, {
        headers: { Authorization: `token ${token}`, Accept: 'application/json' },
        signal: AbortSignal.timeout(this.opts.hubTimeoutMs),
      });
    } catch (err) {
      this.opts.log.warn('JupyterHub unreachable for a token check', { error: errorMessage(err) });
      throw unavailable('JupyterHub is unreachable; cannot check the token, try again');
    }
    if (res.status === 401 || res.status === 403) {
      await res.body?.cancel();
      return null;
    }
    if (res.status !== 200) {
      await res.body?.cancel();
      this.opts.log.warn('JupyterHub failed a token check', { status: res.status, url });
      throw unavailable(`JupyterHub answered ${res.status} to a token check; try again`);
    }
    const identity = parseHubModel(await res.json().catch(() => undefined));
    if (!identity) throw unavailable('JupyterHub answered a token check with an unexpected body');
    return identity;
  }
}

/** The identity in JupyterHub's `/user` model; null if it is not one. */
export function parseHubModel(model: unknown): Identity | null {
  const m = model as { kind?: unknown; name?: unknown; scopes?: unknown } | undefined;
  if (!m || typeof m.name !== 'string' || !Array.isArray(m.scopes)) return null;
  const kind = m.kind === 'service' ? 'service' : 'user';
  return {
    kind,
    name: m.name,
    scopes: new Set(m.scopes.filter((s): s is string => typeof s === 'string')),
  };
}
