// Unauthenticated operational endpoints: liveness, readiness, Prometheus metrics and the OpenAPI
// document.
import type { FastifyInstance } from 'fastify';
import type { RouteDeps } from '../app.js';

const OPS = ['Operations'];

export function registerOpsRoutes(app: FastifyInstance, deps: RouteDeps): void {
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
      summary: 'Ready once the ForwardedServer cache is filled',
      response: { 200: status, 503: status },
    },
    handler: async (_req, reply) => {
      if (deps.store.ready()) return { status: 'ok' };
      void reply.code(503);
      return { status: 'starting' };
    },
  });
  app.get('/metrics', {
    schema: {
      tags: OPS,
      security: [],
      summary: 'Prometheus metrics',
      produces: ['text/plain'],
      response: { 200: { type: 'string' } },
    },
    handler: async (_req, reply) => {
      void reply.type(deps.metrics.registry.contentType);
      return deps.metrics.registry.metrics();
    },
  });
  app.get('/openapi.json', {
    schema: { hide: true },
    handler: async () => app.swagger(),
  });
}
