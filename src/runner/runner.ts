// The tunnel runner of one JumpNode: watches the JumpNode, its key file and its
// ForwardedServers, and converges one SSH session, the local listeners, the remote forwards and
// the probes to them without restarting (reconcile). The forwards themselves live in the data
// plane, a worker thread (dataplane.ts), or in JFO_SSH_CONNECTIONS of them with one SSH session
// each (dataplane-group.ts); this thread is the control plane. Status goes out
// through a coalescing, rate-limited queue; health and metrics through a small HTTP server.
import type { KubeConfig } from '@kubernetes/client-node';
import { RESTARTED_AT_ANNOTATION } from '../api/types.js';
import { systemClock, type Clock } from '../clock.js';
import type { Clients } from '../kube/client.js';
import { makeEventRecorder } from '../kube/recorder.js';
import type { Logger } from '../log.js';
import { RUNNER_EVENT_SOURCE } from '../names.js';
import { startHealthServer, type Readiness } from '../runtime/health-server.js';
import type { RunnerConfig } from './config.js';
import { DataPlaneGroup, type DataPlane } from './dataplane-group.js';
import { startDataPlane } from './dataplane-thread.js';
import { desiredForwards, forwardInputs, type DesiredForwards } from './desired.js';
import { createMetrics, type RunnerMetrics } from './metrics.js';
import { buildReporting } from './reporting.js';
import { RestartTracker } from './restart.js';
import { sessionEvents } from './session-events.js';
import { SpacedTask } from './spaced-task.js';
import { JUMP_NODE_KEY } from './status.js';
import { readKeyFile, watchKeyFile, type PrivateKeyFile } from './key-file.js';
import { startWatch } from './watch.js';

/** The same session Event (reason and note) is recorded at most once in this window. */
const EVENT_DEDUPE_MS = 10 * 60 * 1000;

export interface RunnerDeps {
  kc: KubeConfig;
  clients: Clients;
  log: Logger;
  clock?: Clock;
  /** Fields on every log line of the data plane thread (the main logger's defaultMeta). */
  logFields?: Record<string, string>;
  /** The data plane thread died (a bug, never a peer's doing): its forwards are gone. */
  onFatal?(message: string): void;
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
  let mark = (_key: string) => {}; // until the status queue exists
  const start = (connection: number) =>
    startDataPlane(config, {
      log,
      logFields: {
        ...deps.logFields,
        ...(config.connections > 1 ? { connection: String(connection) } : {}),
      },
      metrics,
      mark: (key) => mark(key),
      onFatal: (message) => deps.onFatal?.(message),
    });
  const plane: DataPlane =
    config.connections === 1
      ? await start(0)
      : new DataPlaneGroup(
          await Promise.all(Array.from({ length: config.connections }, (_, i) => start(i))),
        );
  const restart = new RestartTracker();
  const { status, queue } = buildReporting(
    config,
    { clients, log, clock, metrics },
    {
      plane,
      desired: () => desired,
      jumpNode: () => watch.jumpNode(),
      server: (name) => watch.server(name),
      synced: () => watch.synced(),
      restartHandled: () => restart.handled(),
    },
  );
  mark = (key) => queue.mark(key);
  // Handled once the data plane reports connections made after the request.
  const checkRestart = () => {
    if (restart.check(plane.sessions())) queue.mark(JUMP_NODE_KEY);
  };
  const markAll = () => {
    queue.mark(JUMP_NODE_KEY);
    for (const key of desired.servers.keys()) queue.mark(key);
  };

  // Status of a changed object is computed after the reconcile that follows the change, so it
  // never describes the forwards as they were before it.
  const toMark = new Set<string>();
  let markAllAfter = false;
  const reconciler = new SpacedTask(
    () => {
      if (closed) return;
      reconcile();
      if (markAllAfter) markAll();
      markAllAfter = false;
      for (const k of toMark) queue.mark(k);
      toMark.clear();
    },
    { clock },
  );
  const reconcileSoon = (...keys: string[]) => {
    for (const k of keys) toMark.add(k);
    if (!closed) reconciler.request();
  };
  // Each ForwardedServer's forwardInputs as the watch last delivered it.
  const inputs = new Map<string, string>();
  // After a reconcile already scheduled, so that status follows the forwards it describes.
  const markSoon = (key: string) => (reconciler.pending() ? toMark.add(key) : queue.mark(key));
  // The key file as last read; read again when its directory changes and when the session
  // goes down (a reconnect then uses the current key). A change reconfigures the session.
  let key: PrivateKeyFile | undefined;
  let reading: Promise<void> | undefined;
  const refreshKey = (): Promise<void> =>
    (reading ??= readKeyFile(config.privateKeyFile).then((k) => {
      reading = undefined;
      const changed = k.data !== key?.data || k.error !== key?.error;
      key = k;
      if (changed) reconcileSoon();
    }));
  const reconcile = () => {
    const jn = watch.jumpNode();
    if (watch.synced() && key) plane.configure(jn, key);
    const value = jn?.metadata.annotations?.[RESTARTED_AT_ANNOTATION];
    const request = jn && restart.observe(value, jn.status?.lastRestartHandled, clock.now());
    // The data plane alone decides whether to reconnect or keep each connection.
    if (request)
      plane.reconnectNow(`${RESTARTED_AT_ANNOTATION}=${request.value}`, request.notBefore);
    checkRestart();
    const previous = desired;
    desired = desiredForwards(watch.servers(), config.jumpNode, jn);
    plane.sync(desired, draining);
    for (const key of previous.servers.keys())
      if (!desired.servers.has(key)) {
        status.forget(key);
        queue.forget(key);
      }
  };

  const watch = startWatch(
    deps.kc,
    clients,
    { namespace: config.namespace, jumpNode: config.jumpNode, log, clock },
    {
      jumpNodeChanged: () => reconcileSoon(JUMP_NODE_KEY),
      serverChanged: (key, fs) => {
        const before = inputs.get(key);
        if (!fs) inputs.delete(key);
        else inputs.set(key, forwardInputs(fs));
        // Only what the forwards are derived from needs a reconcile; any other change (status
        // written by this runner, a peer or the operator) only needs this key's status looked at.
        if (fs && before === inputs.get(key)) markSoon(key);
        else reconcileSoon(...(fs ? [key] : []));
      },
      synced: () => {
        markAllAfter = true;
        reconcileSoon();
      },
      resync: () => {
        void refreshKey();
        reconcileSoon();
        markAll();
      },
    },
  );
  const stopKeyWatch = watchKeyFile(config.privateKeyFile, log, () => void refreshKey());
  await refreshKey();

  const recorder = makeEventRecorder(clients.events, {
    controller: RUNNER_EVENT_SOURCE,
    instance: config.podName,
    clock,
    log,
    dedupeMs: EVENT_DEDUPE_MS,
  });
  const notify = sessionEvents(
    () => plane.session(),
    recorder,
    () => watch.jumpNode(),
  );
  plane.on('ready', () => {
    checkRestart();
    markAll();
  });
  plane.on('down', () => {
    void refreshKey();
    markAll();
  });
  plane.on('change', () => {
    notify();
    checkRestart();
    markAll();
  });

  const collect = (m: RunnerMetrics) => collectGauges(m, plane, desired);
  const readiness = (): Readiness => {
    const s = plane.session();
    return {
      ready: !draining && watch.synced() && s.phase === 'connected',
      ssh: s.phase,
      ...(s.problem ? { problem: s.problem } : {}),
      synced: watch.synced(),
      draining,
      forwards: plane.count(),
      listening: plane.listeningCount(),
      remoteForwards: desired.remote.length,
      remoteRegistered: plane.registeredCount(),
    };
  };
  const http = await startHealthServer({
    host: config.httpHost,
    port: config.httpPort,
    log,
    registry: metrics.registry,
    readiness,
    beforeScrape: () => plane.flushStats(),
  });

  return {
    httpPort: http.port,
    readiness,
    async drain() {
      if (draining) return;
      draining = true;
      log.info('Draining tunnel runner', { delayMs: config.drainDelayMs });
      await new Promise((r) => setTimeout(r, config.drainDelayMs));
      plane.closeListeners();
      const left = await plane.waitIdle(config.drainTimeoutMs);
      log.info('Drained tunnel runner', { openConnectionsLeft: left });
    },
    async close() {
      if (closed) return;
      closed = true;
      reconciler.cancel();
      queue.stop();
      stopKeyWatch();
      await watch.stop();
      await plane.close();
      await recorder.close();
      await http.close();
    },
  };
}

/** Brings the gauges up to date before a scrape. */
function collectGauges(m: RunnerMetrics, plane: DataPlane, desired: DesiredForwards): void {
  m.sshConnected.set(plane.session().phase === 'connected' ? 1 : 0);
  const listening = plane.listeningCount();
  m.forwards.set({ state: 'listening' }, listening);
  m.forwards.set({ state: 'failed' }, plane.count() - listening);
  const registered = plane.registeredCount();
  m.remoteForwards.set({ state: 'registered' }, registered);
  m.remoteForwards.set({ state: 'pending' }, desired.remote.length - registered);
  // Counted by the data plane and applied before every scrape (flushStats), bytes included.
  m.activeConnections.set(plane.activeConnections());
}
