// The runner's Prometheus metrics (prom-client, one registry per runner: no global state).
// Names and meanings are listed in docs/runner.md.
import client from 'prom-client';

export interface RunnerMetrics {
  registry: client.Registry;
  sshConnected: client.Gauge;
  sshAttempts: client.Counter;
  sshFailures: client.Counter<'reason'>;
  sshDisconnects: client.Counter<'reason'>;
  forwards: client.Gauge<'state'>;
  remoteForwards: client.Gauge<'state'>;
  connections: client.Counter<'result'>;
  activeConnections: client.Gauge;
  channelOpenSeconds: client.Histogram;
  bytes: client.Counter<'direction'>;
  remoteConnections: client.Counter<'result'>;
  probes: client.Counter<'result'>;
  probeFailures: client.Counter;
  statusWrites: client.Counter<'kind' | 'result'>;
  statusSkipped: client.Counter<'kind'>;
}

/** Builds the metrics. `collect` runs at every scrape and sets the gauges. */
export function createMetrics(collect: (m: RunnerMetrics) => void): RunnerMetrics {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry, prefix: 'jfo_runner_' });
  const r = [registry];
  const m: RunnerMetrics = {
    registry,
    sshConnected: new client.Gauge({
      name: 'jfo_runner_ssh_connected',
      help: '1 while the SSH connection to the jump node is up',
      registers: r,
      // Runs at scrape time, long after `m` is initialised.
      collect: () => collect(m),
    }),
    sshAttempts: new client.Counter({
      name: 'jfo_runner_ssh_connect_attempts_total',
      help: 'SSH connection attempts',
      registers: r,
    }),
    sshFailures: new client.Counter({
      name: 'jfo_runner_ssh_connect_failures_total',
      help: 'SSH connection attempts that failed, by condition reason',
      labelNames: ['reason'],
      registers: r,
    }),
    sshDisconnects: new client.Counter({
      name: 'jfo_runner_ssh_disconnects_total',
      help: 'Established SSH connections that ended (reconnects follow), by reason',
      labelNames: ['reason'],
      registers: r,
    }),
    forwards: new client.Gauge({
      name: 'jfo_runner_forwards',
      help: 'Local forwards (listeners), by state',
      labelNames: ['state'],
      registers: r,
    }),
    remoteForwards: new client.Gauge({
      name: 'jfo_runner_remote_forwards',
      help: 'Remote forwards, by state',
      labelNames: ['state'],
      registers: r,
    }),
    connections: new client.Counter({
      name: 'jfo_runner_connections_total',
      help: 'Connections accepted on forward listeners, by result (ok, ssh_down, channel_failed)',
      labelNames: ['result'],
      registers: r,
    }),
    activeConnections: new client.Gauge({
      name: 'jfo_runner_connections_active',
      help: 'Forwarded connections currently open',
      registers: r,
    }),
    channelOpenSeconds: new client.Histogram({
      name: 'jfo_runner_channel_open_seconds',
      help: 'Time from accepting a connection to the jump node opening its channel',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
      registers: r,
    }),
    bytes: new client.Counter({
      name: 'jfo_runner_bytes_total',
      help: 'Bytes forwarded through local forwards: to_target (client to notebook) and from_target',
      labelNames: ['direction'],
      registers: r,
    }),
    remoteConnections: new client.Counter({
      name: 'jfo_runner_remote_connections_total',
      help: 'Connections arriving through remote forwards, by result (ok, target_failed, unknown)',
      labelNames: ['result'],
      registers: r,
    }),
    probes: new client.Counter({
      name: 'jfo_runner_probes_total',
      help: 'Target probes through the tunnel, by result (reachable, unreachable)',
      labelNames: ['result'],
      registers: r,
    }),
    probeFailures: new client.Counter({
      name: 'jfo_runner_probe_failures_total',
      help: 'Target probes that found the target unreachable',
      registers: r,
    }),
    statusWrites: new client.Counter({
      name: 'jfo_runner_status_writes_total',
      help: 'Status writes (server-side apply), by kind and result',
      labelNames: ['kind', 'result'],
      registers: r,
    }),
    statusSkipped: new client.Counter({
      name: 'jfo_runner_status_unchanged_total',
      help: 'Status updates skipped because the object already said the same',
      labelNames: ['kind'],
      registers: r,
    }),
  };
  return m;
}
