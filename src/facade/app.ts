// buildFacade(deps): the facade's fastify application, apart from the listener (server.ts), so
// tests drive it in-process with inject() or listen() on it. The service is decorated on the
// instance; the request pipeline (hooks.ts) and the one error handler (errors.ts) are installed
// on the root, and each group of routes is a plugin that reads `app.service`. Bodies are parsed
// as JSON whatever their content type (remote jobs post with curl's default form type, as they
// did to the hub), never coerced, and every string in them must be well-formed Unicode.
import type { Server } from 'node:http';
import Fastify, { type FastifyHttpOptions, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import type { Clock } from '../clock.js';
import { errorMessage, type Logger } from '../log.js';
import { DEFAULT_EVENT_CAPS, type EventCaps } from '../resources/events.js';
import type { Authenticator } from './auth.js';
import { badRequest, errorHandler } from './errors.js';
import { installHooks } from './hooks.js';
import type { FacadeMetrics } from './metrics.js';
import { ServerService } from './server-service.js';
import type { DirectTargetPolicy } from '../resources/target-policy.js';
import type { ServerStore } from './store.js';
import { hubRoutes } from './routes/hub-api.js';
import { opsRoutes } from './routes/ops.js';
import { spawnerRoutes } from './routes/spawner-api.js';
import { malformedAt } from './well-formed.js';

/** Timeouts and limits of the HTTP listener (config.ts documents each). */
export interface HttpLimits {
  /** The whole request (headers and body) must arrive within this; else 408 and close. */
  requestTimeoutMs: number;
  /** The request's headers must arrive within this, counted from the connection's start too. */
  headersTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveTimeoutMs: number;
  /** A connection with no traffic at all for this long is closed (above the longest long-poll). */
  idleTimeoutMs: number;
  /** Open connections at most; see connections.ts. */
  maxConnections: number;
}

export interface FacadeAppDeps {
  store: ServerStore;
  auth: Authenticator;
  metrics: FacadeMetrics;
  clock: Clock;
  log: Logger;
  caps?: EventCaps;
  bodyLimitBytes?: number;
  /** A long-poll's `wait` is capped to this many seconds. */
  maxWaitSeconds?: number;
  /** Where direct servers may lead (the target policy); JumpNodes carry their own. */
  directTargets?: DirectTargetPolicy;
  /** Attempts of one read-decide-write step before a conflict becomes a 503. */
  writeAttempts?: number;
  /** Listener timeouts; absent: fastify's defaults (in-process tests). */
  http?: HttpLimits;
}

/** JSON.parse that drops `__proto__` keys (prototype-pollution hygiene). */
function parseJson(text: string): unknown {
  return JSON.parse(text, (k, v: unknown) => (k === '__proto__' ? undefined : v));
}

/** Fastify's listener options for `limits`. */
export function listenerOptions(limits: HttpLimits | undefined): FastifyHttpOptions<Server> {
  if (!limits) return {};
  return {
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionTimeout: limits.idleTimeoutMs,
    http: {
      headersTimeout: limits.headersTimeoutMs,
      // How often Node checks the two timeouts above; a fraction of the shorter one.
      connectionsCheckingInterval: Math.max(
        50,
        Math.min(1000, Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs) / 4),
      ),
    },
  };
}

const OPENAPI = {
  openapi: {
    openapi: '3.0.3',
    info: {
      title: 'jupyterhub-forward-operator facade',
      version: '0.1.0',
      description:
        'JupyterHub-compatible API over ForwardedServer and JumpNode resources. See docs/facade.md.',
    },
    components: {
      securitySchemes: {
        token: {
          type: 'apiKey' as const,
          in: 'header',
          name: 'Authorization',
          description: '"token <t>" or "Bearer <t>": a JupyterHub token or a static token.',
        },
      },
    },
    security: [{ token: [] }],
  },
};

export async function buildFacade(deps: FacadeAppDeps): Promise<FastifyInstance> {
  const { log, metrics } = deps;
  const app = Fastify({
    logger: false,
    bodyLimit: deps.bodyLimitBytes ?? 262144,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 1024 },
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
    ...listenerOptions(deps.http),
  });
  const service = new ServerService({
    store: deps.store,
    clock: deps.clock,
    metrics,
    caps: deps.caps ?? DEFAULT_EVENT_CAPS,
    writeAttempts: deps.writeAttempts,
    maxWaitSeconds: deps.maxWaitSeconds,
    directTargets: deps.directTargets,
  });
  app.decorate('service', service);

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => {
    const text = String(body);
    if (text.trim() === '') return done(null, undefined);
    let parsed: unknown;
    try {
      parsed = parseJson(text);
    } catch (err) {
      return done(badRequest(`Bad Request: invalid JSON body (${errorMessage(err)})`), undefined);
    }
    const where = malformedAt(parsed, 'body');
    if (where)
      return done(
        badRequest(`Bad Request: ${where} is not well-formed Unicode (a lone surrogate)`),
        undefined,
      );
    done(null, parsed);
  });

  app.setErrorHandler(errorHandler(log));
  app.setNotFoundHandler((req, reply) => {
    void reply
      .code(404)
      .type('application/json')
      .send({ status: 404, message: `Not found: ${req.method} ${req.url.split('?')[0]}` });
  });
  installHooks(app, { auth: deps.auth, metrics });

  await app.register(swagger, OPENAPI);
  await app.register(hubRoutes);
  await app.register(spawnerRoutes);
  await app.register(opsRoutes, {
    metrics,
    ready: () => service.ready(),
    openapi: () => app.swagger(),
    protect: true,
  });
  return app;
}

/**
 * The operations listener's app: /healthz, /readyz, /metrics and /openapi.json of `api`, without
 * a token, for a port that only the cluster reaches (JFO_OPS_PORT).
 */
export async function buildOpsApp(
  api: FastifyInstance,
  metrics: FacadeMetrics,
  http?: HttpLimits,
): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, ...listenerOptions(http) });
  await app.register(opsRoutes, {
    metrics,
    ready: () => api.service.ready(),
    openapi: () => api.swagger(),
    protect: false,
  });
  return app;
}
