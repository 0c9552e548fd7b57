// startFacade(config, deps): builds the store, the authenticator and the app from a parsed
// config, listens (with the configured timeouts and connection cap; the operations listener too
// when JFO_OPS_PORT is set), and fills the caches in the background. Returns the bound addresses
// and close(), which stops accepting requests, ends long-polls and stops the informers.
import type { AddressInfo } from 'node:net';
import type { Clock } from '../clock.js';
import { makeClients, type k8s } from '../kube/client.js';
import type { Logger } from '../log.js';
import { buildFacade, buildOpsApp } from './app.js';
import { Authenticator } from './auth.js';
import type { FacadeConfig } from './config.js';
import { KubeStore } from './kube-store.js';
import { capConnections } from './connections.js';
import { createMetrics } from './metrics.js';
import { StaticTokenFile } from './static-tokens.js';

export interface FacadeDeps {
  kc: k8s.KubeConfig;
  log: Logger;
  clock: Clock;
}

export interface RunningFacade {
  url: string;
  port: number;
  /** The operations listener's URL and port, when JFO_OPS_PORT is set. */
  opsUrl?: string;
  opsPort?: number;
  close(): Promise<void>;
}

const urlOf = (host: string, port: number) => {
  const h = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  return `http://${h.includes(':') ? `[${h}]` : h}:${port}`;
};

export async function startFacade(
  config: Readonly<FacadeConfig>,
  deps: FacadeDeps,
): Promise<RunningFacade> {
  const { log, clock } = deps;
  const metrics = createMetrics({ defaultMetrics: true });
  const tokens = config.staticTokensPath
    ? new StaticTokenFile(config.staticTokensPath, log, clock)
    : undefined;
  await tokens?.start(config.staticTokensReloadMs);
  const store = new KubeStore(makeClients(deps.kc), config.namespace, log, clock);
  const auth = new Authenticator({
    hubApiUrl: config.hubApiUrl,
    cacheMs: config.authCacheMs,
    hubTimeoutMs: config.hubTimeoutMs,
    staticLookup: tokens && ((t) => tokens.lookup(t)),
    clock,
    log,
    metrics,
  });
  const app = await buildFacade({
    store,
    auth,
    metrics,
    clock,
    log,
    caps: config.eventCaps,
    bodyLimitBytes: config.bodyLimitBytes,
    maxWaitSeconds: config.maxWaitSeconds,
    directTargets: config.directTargets,
    http: config.http,
  });
  const ops =
    config.opsPort === undefined ? undefined : await buildOpsApp(app, metrics, config.http);
  const refused = () =>
    log.warn('Refused a connection: every connection is busy', {
      maxConnections: config.http.maxConnections,
    });
  capConnections(app.server, config.http.maxConnections, refused);
  try {
    await app.listen({ host: config.httpHost, port: config.httpPort });
    await ops?.listen({ host: config.opsHost, port: config.opsPort });
  } catch (err) {
    await app.close();
    tokens?.stop();
    throw err;
  }
  // Listen first: until the cache is filled, /readyz is 503 and reads go to the API server. The
  // open listener also keeps the process alive while the informer backs off (its timers are
  // unref'd), e.g. while a fresh API server still answers 429.
  store.start().then(
    () => log.info('Synced ForwardedServer cache', { namespace: config.namespace }),
    (err: unknown) =>
      log.debug('ForwardedServer cache stopped before it synced', { error: String(err) }),
  );
  const port = (app.server.address() as AddressInfo).port;
  const opsPort = ops && (ops.server.address() as AddressInfo).port;
  log.info('Facade listening', {
    namespace: config.namespace,
    port,
    opsPort: opsPort ?? null,
    hub: config.hubApiUrl ?? null,
  });
  return {
    url: urlOf(config.httpHost, port),
    port,
    opsUrl: opsPort === undefined ? undefined : urlOf(config.opsHost, opsPort),
    opsPort,
    async close() {
      await app.close();
      await ops?.close();
      tokens?.stop();
      await store.close();
    },
  };
}
