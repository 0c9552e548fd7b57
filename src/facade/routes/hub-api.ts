// The reference's hub endpoints, at the facade's root instead of under /hub.
// Thin handlers over `app.service`; the hooks have authenticated the caller and, for routes with
// `lookup`, found the server.
import type { FastifyPluginAsync } from 'fastify';
import { badRequest, conflict } from '../errors.js';
import { callbackStartId, foundServer, withServer } from '../request.js';
import { parseServiceAddress } from '../server-logic.js';
import { eventsView } from '../view.js';
import {
  empty,
  errorResponses,
  eventBody,
  eventsResponse,
  nodeParams,
  setupTunnelBody,
  startIdQuerystring,
} from '../schemas.js';

const HUB = ['JupyterHub-compatible'];
const SETUPTUNNEL_FIELDS = new Set(['service', 'ssh_node', 'start_id']);

export const hubRoutes: FastifyPluginAsync = async (app) => {
  const { service } = app;
  for (const { url, params } of withServer('/api/users/progress/events')) {
    app.get(url, {
      config: { scope: 'read:servers', lookup: true },
      schema: {
        tags: HUB,
        summary: 'Progress events of the current start (reference GET events)',
        params,
        response: { 200: eventsResponse, ...errorResponses },
      },
      handler: async (req, reply) => {
        void reply.header('Cache-Control', 'no-cache');
        return eventsView(foundServer(req));
      },
    });
    app.post(url, {
      config: { scope: 'access:servers', jsonBody: true, lookup: true },
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
        const startId = callbackStartId(req);
        const body = req.body as Record<string, unknown>;
        const outcome = await service.postEvent(foundServer(req), body, startId);
        if (outcome === 'staleStart')
          throw conflict(`start_id ${JSON.stringify(startId)} is not the current start`);
        void reply.header('Cache-Control', 'no-cache').code(204).send();
      },
    });
  }

  for (const { url, params } of withServer('/api/users/setuptunnel')) {
    app.post(url, {
      config: { scope: 'access:servers', jsonBody: true, lookup: true },
      schema: {
        tags: HUB,
        summary: 'Report where the notebook listens (sets spec.target)',
        params,
        querystring: startIdQuerystring,
        body: setupTunnelBody,
        response: { 204: empty('Target set'), ...errorResponses },
      },
      handler: async (req, reply) => {
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
        await service.setupTunnel(foundServer(req), target, body.ssh_node, callbackStartId(req));
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
};
