// /healthz, /readyz and /metrics of the runner (node:http: three read-only endpoints need no
// framework). /healthz answers while the event loop runs; /readyz is 200 only while the runner can
// forward (SSH connected, caches synced, not draining), so the Service sends connections only to
// runner pods that can carry them.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { errorMessage, type Logger } from '../log.js';

export interface Readiness {
  ready: boolean;
  [detail: string]: unknown;
}

export interface HttpServerOptions {
  host: string;
  port: number;
  log: Logger;
  registry: Registry;
  readiness(): Readiness;
  /** Brings counters kept elsewhere (the data plane's) up to date before a scrape. */
  beforeScrape?(): Promise<void>;
}

export interface HttpServer {
  port: number;
  close(): Promise<void>;
}

function send(res: http.ServerResponse, status: number, body: unknown, type = 'application/json') {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(text);
}

export async function startHttpServer(opts: HttpServerOptions): Promise<HttpServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return send(res, 405, { status: 405, message: 'Only GET is supported' });
    if (path === '/healthz') return send(res, 200, { status: 'ok' });
    if (path === '/readyz') {
      const r = opts.readiness();
      return send(res, r.ready ? 200 : 503, r);
    }
    if (path === '/metrics') {
      Promise.resolve(opts.beforeScrape?.())
        .then(() => opts.registry.metrics())
        .then((text) => send(res, 200, text, opts.registry.contentType))
        .catch((err) => send(res, 500, { status: 500, message: errorMessage(err) }));
      return;
    }
    send(res, 404, { status: 404, message: `No such endpoint: ${path}` });
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => opts.log.error('HTTP server error', { error: errorMessage(err) }));
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
