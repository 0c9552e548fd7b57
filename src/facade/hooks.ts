// The facade's request pipeline, registered once on the root instance so that it applies to every
// route plugin: authentication and scope check (onRequest), well-formed strings and a JSON-object
// body (preValidation), the server lookup (preHandler), request metrics (onResponse), and the end
// of open long-polls on close (preClose). Routes declare what they need in `config` (request.ts).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Authenticator } from './auth.js';
import { badRequest, forbidden } from './errors.js';
import type { FacadeMetrics } from './metrics.js';
import { pathNames, type RouteConfig } from './request.js';
import { hasScope, scopeDeniedMessage, type ScopeTarget } from './scopes.js';
import { malformedAt } from './well-formed.js';

export interface HookDeps {
  auth: Authenticator;
  metrics: FacadeMetrics;
}

function scopeTarget(req: FastifyRequest, config: RouteConfig): ScopeTarget {
  const p = req.params as { user?: string; server?: string };
  if (config.target === 'global' || p.user === undefined) return { kind: 'global' };
  return { kind: 'server', user: p.user, server: p.server ?? '' };
}

const config = (req: FastifyRequest) => req.routeOptions.config as RouteConfig;

export function installHooks(app: FastifyInstance, deps: HookDeps): void {
  const { auth, metrics } = deps;
  app.decorateRequest('identity', null);
  app.decorateRequest('forwardedServer', null);

  app.addHook('onRequest', async (req) => {
    const c = config(req);
    if (!c.scope && !c.authenticated) return;
    const identity = await auth.identify(req.headers.authorization);
    req.identity = identity;
    if (c.scope && !hasScope(identity.scopes, c.scope, scopeTarget(req, c)))
      throw forbidden(scopeDeniedMessage([c.scope]));
  });

  app.addHook('preValidation', async (req) => {
    const where = malformedAt(req.params, 'path') ?? malformedAt(req.query, 'query');
    if (where)
      throw badRequest(`Bad Request: ${where} is not well-formed Unicode (a lone surrogate)`);
    if (!config(req).jsonBody) return;
    if (req.body === undefined || req.body === null)
      throw badRequest('Bad Request: empty body; expected a JSON object');
    if (typeof req.body !== 'object' || Array.isArray(req.body))
      throw badRequest('Bad Request: the body must be a JSON object');
  });

  app.addHook('preHandler', async (req) => {
    if (!config(req).lookup) return;
    const { user, server } = pathNames(req);
    req.forwardedServer = await app.service.find(user, server);
  });

  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ method: req.method, route, status: String(reply.statusCode) });
    metrics.requestDuration.observe({ method: req.method, route }, reply.elapsedTime / 1000);
  });

  app.addHook('preClose', async () => app.service.close());
}
