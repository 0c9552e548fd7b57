// Assembles the operator: informers -> handlers -> work queues -> controllers, the HTTP endpoints,
// and leader election. Informers run in every replica (a standby keeps warm caches); the
// controllers' workers run only while this replica leads, and every write checks leadership.
import { setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import { systemClock, type Clock } from '../clock.js';
import { makeChildren } from '../controller/children.js';
import {
  NotLeaderError,
  type ControllerContext,
  type OperatorSettings,
} from '../controller/context.js';
import { Controller, type ControllerObserver } from '../controller/controller.js';
import { forwardedServerReconciler } from '../controller/forwardedserver.js';
import { jumpNodeReconciler } from '../controller/jumpnode.js';
import { WorkQueue } from '../controller/queue.js';
import { apiMessage, apiStatus, makeClients, type Clients } from '../kube/client.js';
import type { KeySecretLookup } from '../resources/runner.js';
import { useKeepAlive } from '../kube/keepalive.js';
import { makeEventRecorder } from '../kube/recorder.js';
import { defaultIdentity, startLeaderElection, type LeaderElector } from '../kube/leader.js';
import type { Logger } from '../log.js';
import { OPERATOR_EVENT_SOURCE } from '../names.js';
import { startHealthServer } from '../runtime/health-server.js';
import type { OperatorConfig } from './config.js';
import { enqueueAll, wireHandlers } from './handlers.js';
import { makeInformers, type Informers } from './informers.js';
import { makeMetrics } from './metrics.js';

export interface OperatorDeps {
  kc: KubeConfig;
  log: Logger;
  clock?: Clock;
}

export interface RunningOperator {
  /** Resolves once every informer has listed. */
  synced: Promise<void>;
  httpPort: number;
  identity: string;
  isLeader(): boolean;
  informers: Informers;
  controllers: { servers: Controller; nodes: Controller };
  /** Stops the controllers (in-flight reconciles finish), informers and HTTP; releases the Lease. */
  close(): Promise<void>;
}

export async function startOperator(
  config: Readonly<OperatorConfig>,
  deps: OperatorDeps,
): Promise<RunningOperator> {
  const { log } = deps;
  const clock = deps.clock ?? systemClock;
  // Every worker of both controllers may have a request in flight, plus Events and the Lease.
  const closeConnections = useKeepAlive(deps.kc, { maxSockets: 2 * config.workers + 8 });
  const clients = makeClients(deps.kc);
  const identity = defaultIdentity(config.podName);
  let elector: LeaderElector | undefined;
  const isLeader = () => (config.leaderElection.enabled ? (elector?.isLeader() ?? false) : true);
  const guard = () => {
    if (!isLeader()) throw new NotLeaderError();
  };
  const informers = makeInformers(clients, {
    namespaces: config.namespaces,
    log,
    resyncMs: config.resyncMs,
    onResync: () => enqueueAll(informers, servers, nodes),
  });
  const controllers: Controller[] = [];
  const metrics = makeMetrics(
    () => controllers,
    () => informers.all,
  );
  const recorder = makeEventRecorder(clients.events, {
    controller: OPERATOR_EVENT_SOURCE,
    instance: identity,
    log,
    clock,
  });
  const ctx: ControllerContext = {
    caches: informers.caches,
    children: makeChildren(clients.objects, guard),
    coordination: clients.coordination,
    forwardedServers: clients.forwardedServers,
    jumpNodes: clients.jumpNodes,
    recorder,
    keySecret: (namespace, name) => keySecretLookup(clients, namespace, name),
    clock,
    log,
    guard,
    settings: settingsFrom(config),
  };
  const { servers, nodes } = makeControllers(ctx, config.workers, metrics.observer);
  controllers.push(servers, nodes);
  wireHandlers(informers, servers, nodes);
  // Ready once every informer has listed (a standby replica is ready too: it only waits).
  const http = await startHealthServer({
    host: config.httpHost,
    port: config.httpPort,
    log,
    registry: metrics.registry,
    readiness: () => {
      const waiting = informers.all.filter((i) => !i.hasSynced()).map((i) => i.name);
      return waiting.length ? { ready: false, waitingFor: waiting } : { ready: true };
    },
  });

  let stopping: Promise<void> = Promise.resolve();
  // The queues collect every informer event whether or not this replica leads (the initial list
  // adds every object), so a new leader already holds each key that changed since it started:
  // leading only starts the workers. Requeueing every object here would put the whole fleet
  // ahead of the changes that matter each time a slow API server makes a renewal miss its
  // deadline and the same replica leads again.
  const lead = () => {
    metrics.setLeader(true);
    for (const c of controllers) c.run();
  };
  const standBy = () => {
    metrics.setLeader(false);
    stopping = Promise.all(controllers.map((c) => c.stop())).then(() => {});
  };
  const synced = Promise.all(informers.all.map((i) => i.start())).then(() => {
    log.info('Informers synced', { informers: informers.all.length });
  });
  let closed = false;
  // Lead (or compete for the Lease) only with synced caches.
  void synced.then(
    () => {
      if (closed) return;
      if (!config.leaderElection.enabled) return lead();
      elector = startLeaderElection({
        ...electionTimings(config),
        api: clients.coordination,
        identity,
        clock,
        log,
        onStartedLeading: lead,
        onStoppedLeading: standBy,
      });
    },
    () => undefined,
  );

  return {
    synced,
    httpPort: http.port,
    identity,
    isLeader,
    informers,
    controllers: { servers, nodes },
    async close() {
      closed = true;
      if (elector) await elector.close();
      await Promise.all(controllers.map((c) => c.stop()));
      await stopping;
      for (const c of controllers) c.queue.shutDown();
      await Promise.all(informers.all.map((i) => i.stop()));
      await recorder.close();
      await http.close();
      closeConnections();
    },
  };
}

function settingsFrom(config: Readonly<OperatorConfig>): OperatorSettings {
  return {
    runner: {
      image: config.runnerImage,
      logLevel: config.runnerLogLevel,
      ...(config.runnerImagePullPolicy ? { imagePullPolicy: config.runnerImagePullPolicy } : {}),
      allowedImages: config.runnerAllowedImages,
      allowedTolerationKeys: config.runnerAllowedTolerationKeys,
    },
    ...(config.localUrlHost ? { localUrlHost: config.localUrlHost } : {}),
    jumpNodeGraceMs: config.jumpNodeGraceMs,
    directTargets: config.directTargets,
  };
}

function makeControllers(
  ctx: ControllerContext,
  workers: number,
  observer: ControllerObserver,
): { servers: Controller; nodes: Controller } {
  const { clock, log } = ctx;
  const common = { workers, log, clock, observer, describeError: describeApiError };
  return {
    servers: new Controller({
      ...common,
      name: 'ForwardedServer',
      queue: new WorkQueue({ clock }),
      reconcile: forwardedServerReconciler(ctx),
    }),
    nodes: new Controller({
      ...common,
      name: 'JumpNode',
      queue: new WorkQueue({ clock }),
      reconcile: jumpNodeReconciler(ctx),
    }),
  };
}

/** Accept header that makes the API server return only an object's metadata. */
const METADATA_ONLY = setHeaderOptions(
  'Accept',
  'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1',
);

/** The labels of a Secret, read as metadata only (needs `get` on Secrets of that namespace). */
async function keySecretLookup(
  clients: Clients,
  namespace: string,
  name: string,
): Promise<KeySecretLookup> {
  try {
    const meta = await clients.core.readNamespacedSecret({ name, namespace }, METADATA_ONLY);
    return { found: true, labels: meta.metadata?.labels ?? {} };
  } catch (err) {
    const status = apiStatus(err);
    if (status === 404) return { found: false };
    if (status === 403) return { forbidden: true };
    throw err;
  }
}

function electionTimings(config: Readonly<OperatorConfig>) {
  const le = config.leaderElection;
  return {
    namespace: le.namespace,
    name: le.name,
    leaseDurationMs: le.leaseDurationMs,
    renewDeadlineMs: le.renewDeadlineMs,
    retryPeriodMs: le.retryPeriodMs,
  };
}

function describeApiError(err: unknown): string {
  const status = apiStatus(err);
  return status ? `${status}: ${apiMessage(err)}` : apiMessage(err);
}
