// The tunnel runner of one JumpNode: watches the JumpNode, its key Secret and its
// ForwardedServers, and converges one SSH session, the local listeners, the remote forwards and
// the probes to them without restarting. Status goes out through a coalescing, rate-limited
// queue; health and metrics through a small HTTP server.
import type { KubeConfig } from '@kubernetes/client-node';
import { API_VERSION, FORWARDED_SERVER, JUMP_NODE, RESTARTED_AT_ANNOTATION } from '../api/types.js';
import { systemClock, type Clock } from '../clock.js';
import type { Clients } from '../kube/client.js';
import type { Logger } from '../log.js';
import { RUNNER_FIELD_MANAGER, splitKey } from '../names.js';
import type { RunnerConfig } from './config.js';
import { connectionSettings, desiredForwards, type DesiredForwards } from './desired.js';
import { startHttpServer, type Readiness } from './http.js';
import { LocalForwards } from './local-forwards.js';
import { createMetrics, type RunnerMetrics } from './metrics.js';
import { Prober } from './prober.js';
import { eventRecorder } from './recorder.js';
import { RemoteForwards } from './remote-forwards.js';
import { SshSession } from './session.js';
import { JUMP_NODE_KEY, RunnerStatus } from './status.js';
import { StatusQueue } from './status-queue.js';
import { startWatch } from './watch.js';
import { wantedConnected, wantedServerConditions } from './wanted.js';
import { RestartTracker } from './restart.js';
import { sessionEvents } from './session-events.js';

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
  const ns = config.namespace;
  let desired: DesiredForwards = desiredForwards([], config.jumpNode);
  let draining = false;
  let closed = false;

  const metrics = createMetrics((m) => collect(m));
  const session = new SshSession({
    log,
    clock,
    readyTimeoutMs: config.sshReadyTimeoutMs,
    reconnectInitialMs: config.reconnectInitialMs,
    reconnectMaxMs: config.reconnectMaxMs,
    hooks: {
      attempt: () => metrics.sshAttempts.inc(),
      failed: (reason) => metrics.sshFailures.inc({ reason }),
      disconnected: (reason) => metrics.sshDisconnects.inc({ reason }),
    },
  });
  const prober = new Prober({
    session,
    clock,
    log,
    intervalMs: config.probeIntervalMs,
    timeoutMs: config.probeTimeoutMs,
    concurrency: config.probeConcurrency,
    changed: (key) => queue.mark(key),
    probed: (ok) => {
      metrics.probes.inc({ result: ok ? 'reachable' : 'unreachable' });
      if (!ok) metrics.probeFailures.inc();
    },
  });
  const local = new LocalForwards({
    listenHost: config.listenHost,
    session,
    log,
    clock,
    hooks: {
      observed: (key, ok, message) => prober.observe(key, ok, message),
      accepted: () => metrics.connections.inc({ result: 'ok' }),
      rejected: (result) => metrics.connections.inc({ result }),
      opened: (s) => metrics.channelOpenSeconds.observe(s),
      closed: (r) => countBytes(metrics, r.bytesIn, r.bytesOut),
      listenerChanged: (key) => queue.mark(key),
    },
  });
  const remote = new RemoteForwards({
    log,
    clock,
    hooks: {
      changed: (key) => queue.mark(key),
      connection: (result) => metrics.remoteConnections.inc({ result }),
    },
  });
  const restart = new RestartTracker();
  const status = new RunnerStatus({
    clock,
    peerGraceMs: config.peerGraceMs,
    current: (key) =>
      !watch.synced()
        ? undefined
        : key === JUMP_NODE_KEY
          ? watch.jumpNode()
          : watch.server(splitKey(key).name),
    wantedServer: (key) => {
      const fs = desired.servers.get(key);
      if (!fs) return undefined;
      return wantedServerConditions({
        fs,
        listenHost: config.listenHost,
        pod: config.podName,
        session: session.snapshot(),
        local: local.state(key),
        remote: remote.state(key),
        conflict: desired.conflicts.get(key),
        probe: prober.result(key),
      });
    },
    wantedJumpNode: () => {
      const s = session.snapshot();
      const connected = wantedConnected(s, config.podName, watch.jumpNode()?.metadata.generation);
      return { connected, since: s.connectedSince, restartHandled: restart.handled() };
    },
    apply: (key, obj, fields) => {
      const name = obj.metadata.name;
      return key === JUMP_NODE_KEY
        ? clients.jumpNodes.applyStatus(
            ns,
            name,
            API_VERSION,
            JUMP_NODE.kind,
            fields,
            RUNNER_FIELD_MANAGER,
          )
        : clients.forwardedServers.applyStatus(
            ns,
            name,
            API_VERSION,
            FORWARDED_SERVER.kind,
            fields,
            RUNNER_FIELD_MANAGER,
          );
    },
    written: (kind, result) =>
      result === 'unchanged'
        ? metrics.statusSkipped.inc({ kind })
        : metrics.statusWrites.inc({ kind, result }),
  });
  const queue = new StatusQueue({
    clock,
    log,
    qps: config.statusQps,
    burst: config.statusBurst,
    minIntervalMs: config.statusMinIntervalMs,
    flush: (key, acquire) => status.flush(key, acquire),
  });
  const markAll = () => {
    queue.mark(JUMP_NODE_KEY);
    for (const key of desired.servers.keys()) queue.mark(key);
  };

  let scheduled = false;
  const reconcileSoon = () => {
    if (scheduled || closed) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      if (!closed) reconcile();
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
    { namespace: ns, jumpNode: config.jumpNode, log, clock },
    {
      jumpNodeChanged: () => {
        reconcileSoon();
        queue.mark(JUMP_NODE_KEY);
      },
      serverChanged: (key, deleted) => {
        reconcileSoon();
        if (!deleted) queue.mark(key);
      },
      secretChanged: reconcileSoon,
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

  const collect = (m: RunnerMetrics) => {
    const s = session.snapshot();
    m.sshConnected.set(s.phase === 'connected' ? 1 : 0);
    const listening = local.listeningCount();
    m.forwards.set({ state: 'listening' }, listening);
    m.forwards.set({ state: 'failed' }, local.count() - listening);
    const registered = remote.registeredCount();
    m.remoteForwards.set({ state: 'registered' }, registered);
    m.remoteForwards.set({ state: 'pending' }, desired.remote.length - registered);
    m.activeConnections.set(local.activeConnections());
    const b = local.takeActiveBytes();
    countBytes(m, b.in, b.out);
  };

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

function countBytes(m: RunnerMetrics, toTarget: number, fromTarget: number): void {
  if (toTarget > 0) m.bytes.inc({ direction: 'to_target' }, toTarget);
  if (fromTarget > 0) m.bytes.inc({ direction: 'from_target' }, fromTarget);
}
