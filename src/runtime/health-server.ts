// The health and metrics endpoints of every component, on plain node:http (a few read-only GET
// endpoints need no framework). The same answers everywhere:
//   GET /healthz  200 {"status":"ok"} while the event loop runs.
//   GET /readyz   200 or 503 with the JSON of readiness(): {"ready": bool, ...details}.
//   GET /metrics  the registry in Prometheus text format; 404 when no registry is given. With
//                 metricsToken set, only for "Authorization: Bearer <token>" (401 otherwise).
//   Anything else: 404 {"status":404,"message":...}; a method other than GET/HEAD: 405.
// Responses are not cached (cache-control: no-store).
import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { errorMessage, type Logger } from '../log.js';

export interface Readiness {
  ready: boolean;
  [detail: string]: unknown;
}

export interface HealthServerOptions {
  host: string;
  /** 0 picks a free port (see HealthServer.port). */
  port: number;
  log: Logger;
  /** Served at /metrics. */
  registry?: Registry;
  /** Called for every /readyz; without it the component is always ready. */
  readiness?(): Readiness;
  /** Brings values kept elsewhere up to date before a scrape. A rejection answers 500. */
  beforeScrape?(): Promise<void>;
  /** When set, /metrics requires this bearer token. */
  metricsToken?: string;
}

export interface HealthServer {
  port: number;
  /** Stops listening and ends open connections. */
  close(): Promise<void>;
}

function send(res: http.ServerResponse, status: number, body: unknown, type = 'application/json') {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(text);
}

function bearerMatches(header: string | undefined, token: string): boolean {
  const given = Buffer.from(/^Bearer (.+)$/i.exec(header ?? '')?.[1] ?? '');
  const want = Buffer.from(token);
  return given.length > 0 && given.length === want.length && timingSafeEqual(given, want);
}

export async function startHealthServer(opts: HealthServerOptions): Promise<HealthServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return send(res, 405, { status: 405, message: 'Only GET is supported' });
    if (path === '/healthz') return send(res, 200, { status: 'ok' });
    if (path === '/readyz') {
      const r = opts.readiness?.() ?? { ready: true };
      return send(res, r.ready ? 200 : 503, r);
    }
    if (path === '/metrics' && opts.registry) {
      if (
        opts.metricsToken !== undefined &&
        !bearerMatches(req.headers.authorization, opts.metricsToken)
      ) {
        res.setHeader('www-authenticate', 'Bearer');
        return send(res, 401, { status: 401, message: 'A bearer token is required' });
      }
      const registry = opts.registry;
      Promise.resolve(opts.beforeScrape?.())
        .then(() => registry.metrics())
        .then((text) => send(res, 200, text, registry.contentType))
        .catch((err: unknown) => send(res, 500, { status: 500, message: errorMessage(err) }));
      return;
    }
    send(res, 404, { status: 404, message: `No such endpoint: ${path}` });
  });
  server.on('clientError', (err, socket) => {
    opts.log.debug('Bad HTTP request to the health server', { error: errorMessage(err) });
    socket.destroy();
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => opts.log.error('Health server failed', { error: errorMessage(err) }));
  const port = (server.address() as AddressInfo).port;
  opts.log.info('Serving health and metrics', { host: opts.host, port });
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
