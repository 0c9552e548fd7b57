// startFacade(config, deps): builds the store, the authenticator and the app from a parsed
// config, listens, and fills the ForwardedServer cache in the background. Returns the bound address and close(), which stops accepting requests,
// ends long-polls and streams, and stops the informer.
import type { AddressInfo } from 'node:net';
import type { Clock } from '../clock.js';
import { makeClients, type k8s } from '../kube/client.js';
import type { Logger } from '../log.js';
import { buildApp } from './app.js';
import { Authenticator } from './auth.js';
import type { FacadeConfig } from './config.js';
import { KubeStore } from './kube-store.js';
import { createMetrics } from './metrics.js';
import { ServerService } from './server-service.js';
import { StaticTokenFile } from './static-tokens.js';

export interface FacadeDeps {
  kc: k8s.KubeConfig;
  log: Logger;
  clock: Clock;
}

export interface RunningFacade {
  url: string;
  port: number;
  close(): Promise<void>;
}

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
  const service = new ServerService({
    store,
    clock,
    metrics,
    caps: config.eventCaps,
    directTargets: config.directTargets,
  });
  const app = await buildApp({
    service,
    store,
    auth,
    metrics,
    clock,
    log,
    bodyLimitBytes: config.bodyLimitBytes,
    maxWaitSeconds: config.maxWaitSeconds,
    streamMaxSeconds: config.streamMaxSeconds,
  });
  try {
    await app.listen({ host: config.httpHost, port: config.httpPort });
  } catch (err) {
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
  const host = config.httpHost === '0.0.0.0' ? '127.0.0.1' : config.httpHost;
  log.info('Facade listening', {
    namespace: config.namespace,
    port,
    hub: config.hubApiUrl ?? null,
  });
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    async close() {
      await app.close();
      tokens?.stop();
      await store.close();
    },
  };
}
