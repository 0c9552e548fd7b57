// The spawner's endpoints (contract 0001 E): create/replace, set the target once, read
// (long-poll), cancel and delete a ForwardedServer. Thin handlers over `app.service`.
import type { FastifyPluginAsync } from 'fastify';
import { badRequest, notFound } from '../errors.js';
import { foundServer, pathNames, withServer } from '../request.js';
import { eventTotal } from '../server-logic.js';
import { MAX_WAIT_SECONDS, type PatchTargetBody } from '../server-service.js';
import type { PutServerBody } from '../server-spec.js';
import { serverView } from '../view.js';
import {
  empty,
  errorResponses,
  patchServerBody,
  putServerBody,
  serverResponse,
  startIdQuerystring,
  waitQuerystring,
} from '../schemas.js';

const SPAWNER = ['Spawner'];

export const spawnerRoutes: FastifyPluginAsync = async (app) => {
  const { service } = app;
  for (const { url, params } of withServer('/api/forwardedservers')) {
    app.put(url, {
      config: { scope: 'servers', jsonBody: true },
      schema: {
        tags: SPAWNER,
        summary: 'Create or replace the ForwardedServer of a server (a new startId resets it)',
        params,
        body: putServerBody,
        response: { 200: serverResponse, 201: serverResponse, ...errorResponses },
      },
      handler: async (req, reply) => {
        const { user, server } = pathNames(req);
        const { created, fs } = await service.put(user, server, req.body as PutServerBody);
        void reply.code(created ? 201 : 200);
        return serverView(fs);
      },
    });

    app.patch(url, {
      config: { scope: 'servers', jsonBody: true },
      schema: {
        tags: SPAWNER,
        summary:
          'Set the target (and JumpNode) of the current start once: a server that has a target keeps it',
        params,
        body: patchServerBody,
        response: { 200: serverResponse, ...errorResponses },
      },
      handler: async (req) => {
        const { user, server } = pathNames(req);
        return serverView(await service.setTargetOnce(user, server, req.body as PatchTargetBody));
      },
    });

    app.get(url, {
      config: { scope: 'read:servers', lookup: true },
      schema: {
        tags: SPAWNER,
        summary: 'The server view; with ?after=n&wait=s waits until more than n events exist',
        params,
        querystring: waitQuerystring,
        response: { 200: serverResponse, ...errorResponses },
      },
      handler: async (req) => {
        const q = req.query as { after?: string; wait?: string };
        const waitS = q.wait === undefined ? 0 : Number(q.wait);
        if (waitS > MAX_WAIT_SECONDS) throw badRequest(`wait must be at most ${MAX_WAIT_SECONDS}`);
        const fs = foundServer(req);
        if (q.after === undefined || waitS <= 0 || eventTotal(fs) > Number(q.after))
          return serverView(fs);
        const latest = await service.waitForChange(fs, Number(q.after), waitS);
        if (!latest) throw notFound(`No ForwardedServer ${fs.metadata.name}`);
        return serverView(latest);
      },
    });

    app.post(`${url}/cancel`, {
      config: { scope: 'delete:servers', lookup: true },
      schema: {
        tags: SPAWNER,
        summary: 'Cancel the start or stop the server (sets spec.cancelRequested)',
        params,
        querystring: startIdQuerystring,
        response: { 202: empty('Cancel requested'), ...errorResponses },
      },
      handler: async (req, reply) => {
        const startId = (req.query as { start_id?: string }).start_id;
        await service.cancel(foundServer(req), startId);
        void reply.code(202).send();
      },
    });

    app.delete(url, {
      config: { scope: 'delete:servers', lookup: true },
      schema: {
        tags: SPAWNER,
        summary: 'Delete the ForwardedServer (the operator removes its Service)',
        params,
        response: { 204: empty('Deleted'), ...errorResponses },
      },
      handler: async (req, reply) => {
        await service.delete(foundServer(req));
        void reply.code(204).send();
      },
    });
  }
};
