// Prometheus metrics of the operator (prom-client, one registry per operator instance).
import client from 'prom-client';
import type { ControllerObserver } from '../controller/controller.js';
import type { Controller } from '../controller/controller.js';

export interface InformerStats {
  name: string;
  restarts(): number;
  hasSynced(): boolean;
}

export interface OperatorMetrics {
  registry: client.Registry;
  observer: ControllerObserver;
  setLeader(leading: boolean): void;
}

export function makeMetrics(
  controllers: () => readonly Controller[],
  informers: () => readonly InformerStats[],
): OperatorMetrics {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: 'jfo_operator_' });
  const reconciles = new client.Counter({
    name: 'jfo_operator_reconcile_total',
    help: 'Reconciles by controller and result (success, error, permanent).',
    labelNames: ['controller', 'result'],
    registers: [registry],
  });
  const errors = new client.Counter({
    name: 'jfo_operator_reconcile_errors_total',
    help: 'Reconciles that failed (transient errors are retried with backoff).',
    labelNames: ['controller'],
    registers: [registry],
  });
  const duration = new client.Histogram({
    name: 'jfo_operator_reconcile_duration_seconds',
    help: 'Duration of one reconcile.',
    labelNames: ['controller'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const gauge = (
    name: string,
    help: string,
    labelNames: string[],
    collect: (g: client.Gauge) => void,
  ) =>
    new client.Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        collect(this);
      },
    });
  gauge('jfo_operator_workqueue_depth', 'Keys waiting for a worker.', ['controller'], (g) => {
    for (const c of controllers()) g.set({ controller: c.name }, c.queue.len());
  });
  gauge(
    'jfo_operator_workqueue_delayed',
    'Keys waiting for a backoff or requeue deadline.',
    ['controller'],
    (g) => {
      for (const c of controllers()) g.set({ controller: c.name }, c.queue.delayedLen());
    },
  );
  gauge('jfo_operator_workqueue_in_flight', 'Keys being reconciled.', ['controller'], (g) => {
    for (const c of controllers()) g.set({ controller: c.name }, c.queue.inFlight());
  });
  gauge(
    'jfo_operator_informer_restarts',
    'Restarts and re-lists of each informer.',
    ['informer'],
    (g) => {
      for (const i of informers()) g.set({ informer: i.name }, i.restarts());
    },
  );
  gauge('jfo_operator_informer_synced', '1 once the informer has listed.', ['informer'], (g) => {
    for (const i of informers()) g.set({ informer: i.name }, i.hasSynced() ? 1 : 0);
  });
  const leader = new client.Gauge({
    name: 'jfo_operator_leader',
    help: '1 while this process is the leader and runs the controllers.',
    registers: [registry],
  });
  return {
    registry,
    setLeader: (leading) => leader.set(leading ? 1 : 0),
    observer: {
      reconciled(controller, outcome, seconds) {
        reconciles.inc({ controller, result: outcome });
        if (outcome !== 'success') errors.inc({ controller });
        duration.observe({ controller }, seconds);
      },
    },
  };
}
