// buildApp(deps): the facade's fastify application, apart from the listener (server.ts), so tests
// drive it in-process with inject(). One error handler answers every failure as JupyterHub does,
// `{"status": n, "message": "..."}`; bodies are parsed as JSON whatever their content type (remote
// jobs post with curl's default form type, as they did to the hub) and never coerced.
import Fastify, { type FastifyError, type FastifyInstance, type FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import type { Clock } from '../clock.js';
import { errorMessage, type Logger } from '../log.js';
import type { Authenticator, Identity } from './auth.js';
import { HttpError, StoreError, badRequest, forbidden, storeErrorToHttp } from './errors.js';
import type { FacadeMetrics } from './metrics.js';
import { hasScope, scopeDeniedMessage, type ScopeTarget } from './scopes.js';
import type { ServerService } from './server-service.js';
import type { ServerStore } from './store.js';
import { registerHubRoutes } from './routes/hub-api.js';
import { registerSpawnerRoutes } from './routes/spawner-api.js';
import { registerOpsRoutes } from './routes/ops.js';
import { Waiters } from './waiters.js';

export interface AppDeps {
  service: ServerService;
  store: ServerStore;
  auth: Authenticator;
  metrics: FacadeMetrics;
  clock: Clock;
  log: Logger;
  bodyLimitBytes: number;
  /** A long-poll's `wait` is capped to this many seconds. */
  maxWaitSeconds?: number;
  /** Progress streams end after this many seconds. */
  streamMaxSeconds?: number;
}

/** Per-route settings read by the hooks below. */
export interface RouteConfig {
  /** Required JupyterHub scope; absent: no authentication (health, metrics, OpenAPI). */
  scope?: string;
  /** What the scope's filter is matched against (default: the path's user and server). */
  target?: 'global' | 'path';
  /** The route takes a JSON object body. */
  jsonBody?: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    identity: Identity | null;
  }
  // Declaration merging: routes' `config` carries the RouteConfig keys.
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface FastifyContextConfig extends RouteConfig {}
}

export interface RouteDeps extends AppDeps {
  waiters: Waiters;
}

function scopeTarget(req: FastifyRequest, config: RouteConfig): ScopeTarget {
  const p = req.params as { user?: string; server?: string };
  if (config.target === 'global' || p.user === undefined) return { kind: 'global' };
  return { kind: 'server', user: p.user, server: p.server ?? '' };
}

/** JSON.parse that drops `__proto__` keys (prototype-pollution hygiene). */
function parseJson(text: string): unknown {
  return JSON.parse(text, (k, v: unknown) => (k === '__proto__' ? undefined : v));
}

function toReply(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof StoreError) return storeErrorToHttp(err);
  const fe = err as FastifyError;
  if (fe.validation) return badRequest(`Bad Request: ${fe.message}`);
  if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500)
    return new HttpError(fe.statusCode, fe.message);
  return new HttpError(500, 'Internal Server Error');
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { log, metrics } = deps;
  const app = Fastify({
    logger: false,
    bodyLimit: deps.bodyLimitBytes,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 1024 },
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
  });
  const waiters = new Waiters(metrics);
  app.decorateRequest('identity', null);
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => {
    const text = String(body);
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, parseJson(text));
    } catch (err) {
      done(badRequest(`Bad Request: invalid JSON body (${errorMessage(err)})`), undefined);
    }
  });

  app.setErrorHandler((err, req, reply) => {
    const e = toReply(err);
    if (e.statusCode >= 500)
      log.error('Failed to answer a request', {
        method: req.method,
        url: req.routeOptions.url,
        error: errorMessage(err),
      });
    void reply
      .code(e.statusCode)
      .type('application/json')
      .send({ status: e.statusCode, message: e.message });
  });
  app.setNotFoundHandler((req, reply) => {
    void reply
      .code(404)
      .type('application/json')
      .send({ status: 404, message: `Not found: ${req.method} ${req.url.split('?')[0]}` });
  });

  app.addHook('onRequest', async (req) => {
    const config = req.routeOptions.config as RouteConfig;
    if (!config.scope) return;
    const identity = await deps.auth.identify(req.headers.authorization);
    req.identity = identity;
    if (!hasScope(identity.scopes, config.scope, scopeTarget(req, config)))
      throw forbidden(scopeDeniedMessage([config.scope]));
  });
  app.addHook('preValidation', async (req) => {
    if (!(req.routeOptions.config as RouteConfig).jsonBody) return;
    if (req.body === undefined || req.body === null)
      throw badRequest('Bad Request: empty body; expected a JSON object');
    if (typeof req.body !== 'object' || Array.isArray(req.body))
      throw badRequest('Bad Request: the body must be a JSON object');
  });
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ method: req.method, route, status: String(reply.statusCode) });
    metrics.requestDuration.observe({ method: req.method, route }, reply.elapsedTime / 1000);
  });
  app.addHook('preClose', async () => waiters.closeAll());

  await app.register(swagger, {
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
            type: 'apiKey',
            in: 'header',
            name: 'Authorization',
            description: '"token <t>" or "Bearer <t>": a JupyterHub token or a static token.',
          },
        },
      },
      security: [{ token: [] }],
    },
  });
  const routeDeps: RouteDeps = { ...deps, waiters };
  registerHubRoutes(app, routeDeps);
  registerSpawnerRoutes(app, routeDeps);
  registerOpsRoutes(app, routeDeps);
  return app;
}
