// The reference's hub endpoints, at the facade's root instead of under /hub.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ingestEvent } from '../event-ingest.js';
import { badRequest, conflict } from '../errors.js';
import { parseServiceAddress } from '../server-logic.js';
import { eventsView } from '../view.js';
import {
  empty,
  errorResponses,
  eventBody,
  eventsResponse,
  nodeParams,
  serverParams,
  setupTunnelBody,
  startIdQuerystring,
  userParams,
} from '../schemas.js';
import type { RouteDeps } from '../app.js';

const HUB = ['JupyterHub-compatible'];
const SETUPTUNNEL_FIELDS = new Set(['service', 'ssh_node', 'start_id']);

/** `/:user` and `/:user/:server` variants of one path (the default server has no segment). */
export function withServer(base: string) {
  return [
    { url: `${base}/:user`, params: userParams },
    { url: `${base}/:user/:server`, params: serverParams },
  ];
}

export function pathNames(req: FastifyRequest): { user: string; server: string } {
  const p = req.params as { user: string; server?: string };
  return { user: p.user, server: p.server ?? '' };
}

/** The start id of a callback: `?start_id=` or the body's `start_id` (they must agree). */
export function callbackStartId(req: FastifyRequest): string | undefined {
  const q = (req.query as { start_id?: string }).start_id;
  const b = (req.body as { start_id?: unknown } | undefined)?.start_id;
  if (b !== undefined && typeof b !== 'string') throw badRequest('start_id must be a string');
  if (q !== undefined && b !== undefined && q !== b)
    throw badRequest('start_id in the query and in the body differ');
  return q ?? b;
}

export function registerHubRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const { service, clock } = deps;
  for (const { url, params } of withServer('/api/users/progress/events')) {
    app.get(url, {
      config: { scope: 'read:servers' },
      schema: {
        tags: HUB,
        summary: 'Progress events of the current start (reference GET events)',
        params,
        response: { 200: eventsResponse, ...errorResponses },
      },
      handler: async (req, reply) => {
        const { user, server } = pathNames(req);
        void reply.header('Cache-Control', 'no-cache');
        return eventsView(await service.find(user, server));
      },
    });
    app.post(url, {
      config: { scope: 'access:servers', jsonBody: true },
      schema: {
        tags: HUB,
        summary: 'Post a progress event; `failed: true` cancels the start',
        params,
        querystring: startIdQuerystring,
        body: eventBody,
        response: {
          204: empty('Stored, or ignored because the start is stopping'),
          ...errorResponses,
        },
      },
      handler: async (req, reply) => {
        const { user, server } = pathNames(req);
        await service.find(user, server);
        const startId = callbackStartId(req);
        const { event, failed } = ingestEvent(
          req.body as Record<string, unknown>,
          new Date(clock.now()),
        );
        const outcome = await service.postEvent(user, server, { event, failed, startId });
        if (outcome === 'staleStart')
          throw conflict(`start_id ${JSON.stringify(startId)} is not the current start`);
        void reply.header('Cache-Control', 'no-cache').code(204).send();
      },
    });
  }

  for (const { url, params } of withServer('/api/users/setuptunnel')) {
    app.post(url, {
      config: { scope: 'access:servers', jsonBody: true },
      schema: {
        tags: HUB,
        summary: 'Report where the notebook listens (sets spec.target)',
        params,
        querystring: startIdQuerystring,
        body: setupTunnelBody,
        response: { 204: empty('Target set'), ...errorResponses },
      },
      handler: async (req, reply) => {
        const { user, server } = pathNames(req);
        await service.find(user, server);
        const body = req.body as { service?: string; ssh_node?: string };
        const refused = Object.keys(body).filter((k) => !SETUPTUNNEL_FIELDS.has(k));
        if (refused.length)
          throw badRequest(
            `Refused field(s) ${refused.join(', ')}: setuptunnel accepts only service, ssh_node and start_id; ` +
              'SSH keys, users, ports and options come from the JumpNode resource',
          );
        if (body.service === undefined)
          throw badRequest('Bad Request: service ("host:port") is required');
        const target = parseServiceAddress(body.service);
        await service.setupTunnel(user, server, target, body.ssh_node, callbackStartId(req));
        void reply.code(204).send();
      },
    });
  }

  app.get('/api/servers', {
    config: { scope: 'custom:servers:list', target: 'global' },
    schema: {
      tags: HUB,
      summary: 'Running and pending servers as "{userId}_{serverName}_{startId}"',
      response: { 200: { type: 'array', items: { type: 'string' } }, ...errorResponses },
    },
    handler: async () => service.listKeys(),
  });

  for (const method of ['GET', 'POST'] as const)
    app.route({
      method,
      url: '/api/recreateforward/:node',
      config: { scope: 'custom:sshnode:restart', target: 'global' },
      schema: {
        tags: HUB,
        summary: 'Make the runners of a JumpNode (name or alias) reconnect now',
        params: nodeParams,
        response: {
          202: {
            type: 'object',
            properties: {
              jumpNodes: { type: 'array', items: { type: 'string' } },
              restartedAt: { type: 'string' },
            },
          },
          ...errorResponses,
        },
      },
      handler: async (req, reply) => {
        const { node } = req.params as { node: string };
        void reply.code(202);
        return service.recreateForward(node);
      },
    });
}
