// The facade's Prometheus metrics, on a registry of its own (no global state: two apps in one
// process, as in tests, do not share counters).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface FacadeMetrics {
  registry: Registry;
  requests: Counter<'method' | 'route' | 'status'>;
  requestDuration: Histogram<'method' | 'route'>;
  events: Counter<'outcome'>;
  eventBatchSize: Histogram<string>;
  writeConflicts: Counter<'operation'>;
  auth: Counter<'source' | 'result'>;
  waiters: Gauge<string>;
}

export function createMetrics(opts: { defaultMetrics?: boolean } = {}): FacadeMetrics {
  const registry = new Registry();
  if (opts.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: 'jfo_facade_' });
  const registers = [registry];
  return {
    registry,
    requests: new Counter({
      name: 'jfo_facade_http_requests_total',
      help: 'HTTP requests answered, by method, route pattern and status code.',
      labelNames: ['method', 'route', 'status'],
      registers,
    }),
    requestDuration: new Histogram({
      name: 'jfo_facade_http_request_duration_seconds',
      help: 'Time to answer an HTTP request (long-polls and streams included).',
      labelNames: ['method', 'route'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60],
      registers,
    }),
    events: new Counter({
      name: 'jfo_facade_progress_events_total',
      help: 'Posted progress events by outcome: stored, ignored (stop pending), cancelled (failed event), staleStart.',
      labelNames: ['outcome'],
      registers,
    }),
    eventBatchSize: new Histogram({
      name: 'jfo_facade_event_batch_size',
      help: 'Events written to one ForwardedServer in one status write.',
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500],
      registers,
    }),
    writeConflicts: new Counter({
      name: 'jfo_facade_write_conflicts_total',
      help: 'Writes retried because the object changed since it was read (409), by operation.',
      labelNames: ['operation'],
      registers,
    }),
    auth: new Counter({
      name: 'jfo_facade_auth_total',
      help: 'Token checks by source (static, cache, hub) and result (ok, invalid, unavailable).',
      labelNames: ['source', 'result'],
      registers,
    }),
    waiters: new Gauge({
      name: 'jfo_facade_waiters',
      help: 'Open long-polls and event streams.',
      registers,
    }),
  };
}
