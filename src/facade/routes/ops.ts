// Operational endpoints: liveness and readiness (never need a token: probes), Prometheus metrics
// and the OpenAPI document. On the API listener `protect` is set: /metrics needs a token with
// JupyterHub's `read:metrics` scope and /openapi.json any valid token. The separate operations
// listener (JFO_OPS_PORT, not exposed by the Service) serves all four without a token.
import type { FastifyPluginAsync } from 'fastify';
import type { FacadeMetrics } from '../metrics.js';
import { errorResponses } from '../schemas.js';

export interface OpsOptions {
  metrics: FacadeMetrics;
  ready: () => boolean;
  openapi: () => unknown;
  protect: boolean;
}

const OPS = ['Operations'];
export const METRICS_SCOPE = 'read:metrics';

export const opsRoutes: FastifyPluginAsync<OpsOptions> = async (app, opts) => {
  const status = { type: 'object', properties: { status: { type: 'string' } } } as const;
  // security: [] documents that these need no token.
  app.get('/healthz', {
    schema: { tags: OPS, security: [], summary: 'Liveness', response: { 200: status } },
    handler: async () => ({ status: 'ok' }),
  });
  app.get('/readyz', {
    schema: {
      tags: OPS,
      security: [],
      summary: 'Ready once the ForwardedServer and JumpNode caches are filled',
      response: { 200: status, 503: status },
    },
    handler: async (_req, reply) => {
      if (opts.ready()) return { status: 'ok' };
      void reply.code(503);
      return { status: 'starting' };
    },
  });
  app.get('/metrics', {
    config: opts.protect ? { scope: METRICS_SCOPE, target: 'global' } : {},
    schema: {
      tags: OPS,
      summary: `Prometheus metrics (scope ${METRICS_SCOPE})`,
      response: {
        200: {
          description: 'The Prometheus text format',
          content: { 'text/plain': { schema: { type: 'string' } } },
        },
        403: errorResponses[403],
      },
    },
    handler: async (_req, reply) => {
      void reply.type(opts.metrics.registry.contentType);
      return opts.metrics.registry.metrics();
    },
  });
  app.get('/openapi.json', {
    config: opts.protect ? { authenticated: true } : {},
    schema: { hide: true },
    handler: async () => opts.openapi(),
  });
};
