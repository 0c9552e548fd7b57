// The spawner's endpoints (contract 0001 E): create/replace, read (long-poll), progress stream,
// cancel and delete a ForwardedServer.
import type { FastifyInstance } from 'fastify';
import type { ForwardedServer } from '../../api/types.js';
import { badRequest, conflict, notFound } from '../errors.js';
import { eventTotal } from '../server-logic.js';
import type { PutServerBody } from '../server-spec.js';
import { serverView } from '../view.js';
import {
  empty,
  errorResponses,
  progressQuerystring,
  putServerBody,
  serverResponse,
  startIdQuerystring,
  waitQuerystring,
} from '../schemas.js';
import type { RouteDeps } from '../app.js';
import { pathNames, withServer } from './hub-api.js';
import { streamProgress } from './progress-stream.js';

const SPAWNER = ['Spawner'];
export const MAX_WAIT_SECONDS = 60;

/** Has anything a long-poller waits for happened since `before`? */
export function changedSince(before: ForwardedServer, after: number, now?: ForwardedServer) {
  if (!now) return true;
  return (
    eventTotal(now) > after ||
    now.status?.phase !== before.status?.phase ||
    now.spec.startId !== before.spec.startId ||
    now.spec.cancelRequested !== before.spec.cancelRequested ||
    Boolean(now.status?.terminalEvent) !== Boolean(before.status?.terminalEvent) ||
    Boolean(now.metadata.deletionTimestamp)
  );
}

export function registerSpawnerRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const { service, store, clock, waiters } = deps;

  /** Resolves with the server once `changedSince` holds, after `waitMs`, or on shutdown. */
  const waitForChange = (first: ForwardedServer, after: number, waitMs: number) =>
    new Promise<ForwardedServer | undefined>((resolve) => {
      const name = first.metadata.name;
      let latest: ForwardedServer | undefined = first;
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        unsubscribe();
        clock.clearTimeout(timer);
        release();
        resolve(latest);
      };
      const release = waiters.add(finish);
      const timer = clock.setTimeout(finish, waitMs);
      const unsubscribe = store.subscribe(name, () => {
        store.read(name).then(
          (fs) => {
            latest = fs;
            if (changedSince(first, after, fs)) finish();
          },
          () => finish(),
        );
      });
    });

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

    app.get(url, {
      config: { scope: 'read:servers' },
      schema: {
        tags: SPAWNER,
        summary: 'The server view; with ?after=n&wait=s waits until more than n events exist',
        params,
        querystring: waitQuerystring,
        response: { 200: serverResponse, ...errorResponses },
      },
      handler: async (req) => {
        const { user, server } = pathNames(req);
        const q = req.query as { after?: string; wait?: string };
        const waitS = q.wait === undefined ? 0 : Number(q.wait);
        if (waitS > MAX_WAIT_SECONDS) throw badRequest(`wait must be at most ${MAX_WAIT_SECONDS}`);
        let fs = await service.find(user, server);
        if (q.after !== undefined && waitS > 0 && eventTotal(fs) <= Number(q.after))
          fs =
            (await waitForChange(
              fs,
              Number(q.after),
              Math.min(waitS, deps.maxWaitSeconds ?? MAX_WAIT_SECONDS) * 1000,
            )) ?? fs;
        const current = await store.read(fs.metadata.name);
        if (!current) throw notFound(`No ForwardedServer ${fs.metadata.name}`);
        return serverView(current);
      },
    });

    app.get(`${url}/progress`, {
      config: { scope: 'read:servers' },
      schema: {
        tags: SPAWNER,
        summary: 'Progress events as text/event-stream, ending with the terminal event or Ready',
        params,
        querystring: progressQuerystring,
        response: {
          200: {
            description: 'An event stream of `id: n` / `data: {event}` messages',
            content: { 'text/event-stream': { schema: { type: 'string' } } },
          },
          ...errorResponses,
        },
      },
      handler: async (req, reply) => {
        const { user, server } = pathNames(req);
        const fs = await service.find(user, server);
        const lastId = Number(req.headers['last-event-id']);
        const after = Number((req.query as { after?: string }).after ?? (lastId >= 0 ? lastId : 0));
        streamProgress(reply, deps, fs, after);
      },
    });

    app.post(`${url}/cancel`, {
      config: { scope: 'delete:servers' },
      schema: {
        tags: SPAWNER,
        summary: 'Cancel the start or stop the server (sets spec.cancelRequested)',
        params,
        querystring: startIdQuerystring,
        response: { 202: empty('Cancel requested'), ...errorResponses },
      },
      handler: async (req, reply) => {
        const { user, server } = pathNames(req);
        const startId = (req.query as { start_id?: string }).start_id;
        const result = await service.cancel(user, server, startId);
        if (result === 'otherStart')
          throw conflict(`start_id ${JSON.stringify(startId)} is not the current start`);
        void reply.code(202).send();
      },
    });

    app.delete(url, {
      config: { scope: 'delete:servers' },
      schema: {
        tags: SPAWNER,
        summary: 'Delete the ForwardedServer (the operator removes its Service)',
        params,
        response: { 204: empty('Deleted'), ...errorResponses },
      },
      handler: async (req, reply) => {
        const { user, server } = pathNames(req);
        await service.delete(user, server);
        void reply.code(204).send();
      },
    });
  }
}
