import { Counter, Registry } from 'prom-client';
import { silentLogger } from '../../src/log.js';
import {
  startHealthServer,
  type HealthServer,
  type HealthServerOptions,
  type Readiness,
} from '../../src/runtime/health-server.js';

let server: HealthServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(opts: Partial<HealthServerOptions> = {}) {
  server = await startHealthServer({ host: '127.0.0.1', port: 0, log: silentLogger(), ...opts });
  const base = `http://127.0.0.1:${server.port}`;
  return async (path: string, init?: RequestInit) => {
    const res = await fetch(`${base}${path}`, init);
    return {
      status: res.status,
      type: res.headers.get('content-type'),
      res,
      body: await res.text(),
    };
  };
}

function registryWithCounter() {
  const registry = new Registry();
  const c = new Counter({ name: 'widgets_total', help: 'Widgets.', registers: [registry] });
  c.inc(3);
  return registry;
}

describe('startHealthServer', () => {
  it('answers /healthz with {"status":"ok"}, uncached', async () => {
    const get = await start();
    const r = await get('/healthz');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ status: 'ok' });
    expect(r.res.headers.get('cache-control')).toBe('no-store');
  });

  it('answers /readyz from readiness(): 200 when ready, 503 with the details when not', async () => {
    let state: Readiness = { ready: false, waitingFor: ['pods'] };
    const get = await start({ readiness: () => state });
    const down = await get('/readyz');
    expect(down.status).toBe(503);
    expect(JSON.parse(down.body)).toEqual({ ready: false, waitingFor: ['pods'] });
    state = { ready: true };
    expect((await get('/readyz')).status).toBe(200);
  });

  it('is ready without a readiness function', async () => {
    const get = await start();
    const r = await get('/readyz');
    expect([r.status, JSON.parse(r.body)]).toEqual([200, { ready: true }]);
  });

  it('serves the registry at /metrics after beforeScrape', async () => {
    const registry = new Registry();
    const c = new Counter({ name: 'scrapes_total', help: 'Scrapes.', registers: [registry] });
    const get = await start({ registry, beforeScrape: async () => void c.inc() });
    const r = await get('/metrics');
    expect(r.status).toBe(200);
    expect(r.type).toBe(registry.contentType);
    expect(r.body).toMatch(/^scrapes_total 1$/m);
  });

  it('answers 500 naming the error when beforeScrape rejects', async () => {
    const get = await start({
      registry: registryWithCounter(),
      beforeScrape: () => Promise.reject(new Error('worker gone')),
    });
    const r = await get('/metrics');
    expect([r.status, JSON.parse(r.body)]).toEqual([500, { status: 500, message: 'worker gone' }]);
  });

  it('has no /metrics without a registry', async () => {
    const get = await start();
    expect((await get('/metrics')).status).toBe(404);
  });

  it('with metricsToken, serves /metrics only to that bearer token', async () => {
    const get = await start({ registry: registryWithCounter(), metricsToken: 's3cret-token' });
    const none = await get('/metrics');
    expect(none.status).toBe(401);
    expect(none.res.headers.get('www-authenticate')).toBe('Bearer');
    expect(none.body).not.toMatch(/widgets_total/);
    for (const authorization of [
      'Bearer wrong-token!',
      'Bearer s3cret-tokeN',
      'Bearer ',
      's3cret-token',
    ]) {
      const r = await get('/metrics', { headers: { authorization } });
      expect([authorization, r.status]).toEqual([authorization, 401]);
    }
    const ok = await get('/metrics', { headers: { authorization: 'Bearer s3cret-token' } });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatch(/^widgets_total 3$/m);
    // Health and readiness stay open: kubelet probes carry no token.
    expect((await get('/healthz')).status).toBe(200);
    expect((await get('/readyz')).status).toBe(200);
  });

  it('answers 404 for other paths and 405 for other methods, in JSON', async () => {
    const get = await start();
    const missing = await get('/nope?x=1');
    expect([missing.status, JSON.parse(missing.body)]).toEqual([
      404,
      { status: 404, message: 'No such endpoint: /nope' },
    ]);
    const post = await get('/healthz', { method: 'POST' });
    expect(post.status).toBe(405);
  });

  it('fails to start on a port in use, and close() frees the port', async () => {
    await start();
    const taken = server!.port;
    await expect(
      startHealthServer({ host: '127.0.0.1', port: taken, log: silentLogger() }),
    ).rejects.toThrow(/EADDRINUSE/);
    await server!.close();
    server = await startHealthServer({ host: '127.0.0.1', port: taken, log: silentLogger() });
    expect(server.port).toBe(taken);
  });
});
