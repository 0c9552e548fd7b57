// The tunnel runner of one JumpNode: watches the JumpNode, its key Secret and its
// ForwardedServers, and converges one SSH session, the local listeners, the remote forwards and
// the probes to them without restarting (reconcile). Status goes out through a coalescing,
// rate-limited queue; health and metrics through a small HTTP server.
import type { KubeConfig } from '@kubernetes/client-node';
import { RESTARTED_AT_ANNOTATION } from '../api/types.js';
import { systemClock, type Clock } from '../clock.js';
import type { Clients } from '../kube/client.js';
import type { Logger } from '../log.js';
import type { RunnerConfig } from './config.js';
import { connectionSettings, desiredForwards, type DesiredForwards } from './desired.js';
import { buildForwarding, countBytes, type Forwarding } from './forwarding.js';
import { startHttpServer, type Readiness } from './http.js';
import { createMetrics, type RunnerMetrics } from './metrics.js';
import { eventRecorder } from './recorder.js';
import { buildReporting } from './reporting.js';
import { RestartTracker } from './restart.js';
import { sessionEvents } from './session-events.js';
import { JUMP_NODE_KEY } from './status.js';
import { startWatch } from './watch.js';

export interface RunnerDeps {
  kc: KubeConfig;
  clients: Clients;
  log: Logger;
  clock?: Clock;
}

export interface Runner {
  httpPort: number;
  readiness(): Readiness;
  /** Stops accepting (after the drain delay) and waits for open connections (up to the timeout). */
  drain(): Promise<void>;
  close(): Promise<void>;
}

export async function startRunner(config: RunnerConfig, deps: RunnerDeps): Promise<Runner> {
  const { log, clients } = deps;
  const clock = deps.clock ?? systemClock;
  let desired: DesiredForwards = desiredForwards([], config.jumpNode);
  let draining = false;
  let closed = false;

  const metrics = createMetrics((m) => collect(m));
  const mark = (key: string) => queue.mark(key);
  const fwd = buildForwarding(config, { log, clock, metrics, mark });
  const { session, prober, local, remote } = fwd;
  const restart = new RestartTracker();
  const { status, queue } = buildReporting(
    config,
    { clients, log, clock, metrics },
    {
      forwarding: fwd,
      desired: () => desired,
      jumpNode: () => watch.jumpNode(),
      server: (name) => watch.server(name),
      synced: () => watch.synced(),
      restartHandled: () => restart.handled(),
    },
  );
  const markAll = () => {
    queue.mark(JUMP_NODE_KEY);
    for (const key of desired.servers.keys()) queue.mark(key);
  };

  // Status of a changed object is computed after the reconcile that follows the change, so it
  // never describes the forwards as they were before it.
  let scheduled = false;
  const toMark = new Set<string>();
  const reconcileSoon = (...keys: string[]) => {
    for (const k of keys) toMark.add(k);
    if (scheduled || closed) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      if (closed) return;
      reconcile();
      for (const k of toMark) queue.mark(k);
      toMark.clear();
    });
  };
  const reconcile = () => {
    const jn = watch.jumpNode();
    watch.followSecret(jn?.spec.privateKeySecretRef?.name);
    if (watch.synced()) session.configure(connectionSettings(jn, watch.secret()));
    const value = jn?.metadata.annotations?.[RESTARTED_AT_ANNOTATION];
    if (jn && restart.observe(value, jn.status?.lastRestartHandled) === 'reconnect')
      session.reconnectNow(`${RESTARTED_AT_ANNOTATION}=${value}`);
    const previous = desired;
    desired = desiredForwards(watch.servers(), config.jumpNode);
    if (!draining) local.sync(desired.local);
    remote.sync(desired.remote);
    prober.sync(new Map(desired.local.map((f) => [f.key, f.target])));
    for (const key of previous.servers.keys()) if (!desired.servers.has(key)) status.forget(key);
  };

  const watch = startWatch(
    deps.kc,
    clients,
    { namespace: config.namespace, jumpNode: config.jumpNode, log, clock },
    {
      jumpNodeChanged: () => reconcileSoon(JUMP_NODE_KEY),
      serverChanged: (key, deleted) => (deleted ? reconcileSoon() : reconcileSoon(key)),
      secretChanged: () => reconcileSoon(),
      synced: () => {
        reconcileSoon();
        setImmediate(markAll);
      },
      resync: () => {
        reconcileSoon();
        markAll();
      },
    },
  );

  const recorder = eventRecorder(clients.events, { pod: config.podName, clock, log });
  const notify = sessionEvents(session, recorder, () => watch.jumpNode());
  session.on('ready', (client) => {
    remote.onReady(client);
    prober.probeAllSoon();
    restart.connected();
    markAll();
  });
  session.on('down', () => {
    remote.onDown();
    markAll();
  });
  session.on('change', () => {
    notify();
    markAll();
  });
  prober.start();

  const collect = (m: RunnerMetrics) => collectGauges(m, fwd, desired);
  const readiness = (): Readiness => {
    const s = session.snapshot();
    return {
      ready: !draining && watch.synced() && s.phase === 'connected',
      ssh: s.phase,
      ...(s.problem ? { problem: s.problem } : {}),
      synced: watch.synced(),
      draining,
      forwards: local.count(),
      listening: local.listeningCount(),
      remoteForwards: desired.remote.length,
      remoteRegistered: remote.registeredCount(),
    };
  };
  const http = await startHttpServer({
    host: config.httpHost,
    port: config.httpPort,
    log,
    registry: metrics.registry,
    readiness,
  });

  return {
    httpPort: http.port,
    readiness,
    async drain() {
      if (draining) return;
      draining = true;
      log.info('Draining tunnel runner', { delayMs: config.drainDelayMs });
      await new Promise((r) => setTimeout(r, config.drainDelayMs));
      local.closeListeners();
      const left = await local.waitIdle(config.drainTimeoutMs);
      log.info('Drained tunnel runner', { openConnectionsLeft: left });
    },
    async close() {
      if (closed) return;
      closed = true;
      prober.stop();
      queue.stop();
      local.closeListeners();
      await remote.unregisterAll(2000);
      await watch.stop();
      local.destroyAll();
      remote.destroyAll();
      await session.close();
      await http.close();
    },
  };
}

/** Brings the gauges (and the bytes of open connections) up to date before a scrape. */
function collectGauges(m: RunnerMetrics, fwd: Forwarding, desired: DesiredForwards): void {
  const s = fwd.session.snapshot();
  m.sshConnected.set(s.phase === 'connected' ? 1 : 0);
  const listening = fwd.local.listeningCount();
  m.forwards.set({ state: 'listening' }, listening);
  m.forwards.set({ state: 'failed' }, fwd.local.count() - listening);
  const registered = fwd.remote.registeredCount();
  m.remoteForwards.set({ state: 'registered' }, registered);
  m.remoteForwards.set({ state: 'pending' }, desired.remote.length - registered);
  m.activeConnections.set(fwd.local.activeConnections());
  const b = fwd.local.takeActiveBytes();
  countBytes(m, b.in, b.out);
}
