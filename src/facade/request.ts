// What the facade's hooks attach to fastify and what its route plugins read from it: the
// service decorated on the instance, the caller's identity and the looked-up server on the
// request, and the per-route config keys. Route plugins import this module, never the app nor
// each other.
import type { FastifyRequest } from 'fastify';
import type { ForwardedServer } from '../api/types.js';
import type { Identity } from './auth.js';
import { badRequest } from './errors.js';
import { serverParams, userParams } from './schemas.js';
import type { ServerService } from './server-service.js';

/** Per-route settings read by the hooks (hooks.ts). */
export interface RouteConfig {
  /** Required JupyterHub scope; absent: no scope is checked. */
  scope?: string;
  /** A valid token is required, whatever its scopes. */
  authenticated?: boolean;
  /** What the scope's filter is matched against (default: the path's user and server). */
  target?: 'global' | 'path';
  /** The route takes a JSON object body. */
  jsonBody?: boolean;
  /** Look the path's server up before the handler (404 if absent): `req.forwardedServer`. */
  lookup?: boolean;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The facade's operations (server-service.ts). */
    service: ServerService;
  }
  interface FastifyRequest {
    identity: Identity | null;
    forwardedServer: ForwardedServer | null;
  }
  // Declaration merging: routes' `config` carries the RouteConfig keys.
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface FastifyContextConfig extends RouteConfig {}
}

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

/** The server the lookup hook found (routes with `config.lookup`). */
export function foundServer(req: FastifyRequest): ForwardedServer {
  if (!req.forwardedServer) throw new Error(`${req.routeOptions.url} has no lookup configured`);
  return req.forwardedServer;
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
