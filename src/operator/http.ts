// /healthz, /readyz and /metrics on plain node:http (three GET endpoints need no framework).
//   /healthz: the process and its event loop run.
//   /readyz: every informer has listed once (a standby replica is ready too: it only waits).
//   /metrics: Prometheus text format.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from '../log.js';
import { errorMessage } from '../log.js';

export interface HealthSource {
  /** Names of informers that have not listed yet. */
  unsynced(): string[];
}

export interface HttpServer {
  port: number;
  close(): Promise<void>;
}

export async function startHttpServer(
  host: string,
  port: number,
  registry: Registry,
  health: HealthSource,
  log: Logger,
): Promise<HttpServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (code: number, type: string, body: string) => {
      res.writeHead(code, { 'Content-Type': type }).end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return send(405, 'application/json', JSON.stringify({ status: 405, message: 'Only GET' }));
    if (path === '/healthz') return send(200, 'text/plain', 'ok\n');
    if (path === '/readyz') {
      const waiting = health.unsynced();
      if (waiting.length === 0) return send(200, 'text/plain', 'ok\n');
      const message = `Waiting for informers: ${waiting.join(', ')}`;
      return send(503, 'application/json', JSON.stringify({ status: 503, message }));
    }
    if (path === '/metrics') {
      registry.metrics().then(
        (text) => send(200, registry.contentType, text),
        (err) =>
          send(
            500,
            'application/json',
            JSON.stringify({ status: 500, message: errorMessage(err) }),
          ),
      );
      return;
    }
    send(404, 'application/json', JSON.stringify({ status: 404, message: `No route ${path}` }));
  });
  server.on('clientError', (err, socket) => {
    log.debug('Bad HTTP request', { error: errorMessage(err) });
    socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => log.error('HTTP server failed', { error: errorMessage(err) }));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
