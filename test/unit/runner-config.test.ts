import { apiSockets, parseRunnerConfig } from '../../src/runner/config.js';
import { defaultConcurrency } from '../../src/runner/status-queue.js';

const base = { JFO_NAMESPACE: 'jhub', JFO_JUMPNODE: 'hpc' };

describe('parseRunnerConfig', () => {
  it('applies the documented defaults', () => {
    expect(parseRunnerConfig({ ...base, HOSTNAME: 'pod-1' })).toEqual({
      namespace: 'jhub',
      jumpNode: 'hpc',
      podName: 'pod-1',
      httpPort: 8080,
      httpHost: '0.0.0.0',
      listenHost: '0.0.0.0',
      logLevel: 'info',
      privateKeyFile: '/etc/jupyterhub-forward-runner/ssh-key/ssh-privatekey',
      reconnectInitialMs: 1000,
      reconnectMaxMs: 30_000,
      sshReadyTimeoutMs: 20_000,
      probeIntervalMs: 30_000,
      probeTimeoutMs: 5000,
      probeConcurrency: 8,
      statusQps: 100,
      statusBurst: 200,
      statusMinIntervalMs: 1000,
      peerGraceMs: 30_000,
      drainDelayMs: 2000,
      drainTimeoutMs: 20_000,
      connections: 1,
    });
  });

  it('reads every setting', () => {
    const c = parseRunnerConfig({
      ...base,
      JFO_POD_NAME: 'p',
      JFO_HTTP_PORT: '9090',
      JFO_HTTP_HOST: '127.0.0.1',
      JFO_LISTEN_HOST: '::',
      JFO_LOG_LEVEL: 'debug',
      JFO_RECONNECT_INITIAL_SECONDS: '0.5',
      JFO_RECONNECT_MAX_SECONDS: '10',
      JFO_SSH_READY_TIMEOUT_SECONDS: '7',
      JFO_PROBE_INTERVAL_SECONDS: '15',
      JFO_PROBE_TIMEOUT_SECONDS: '2.5',
      JFO_PROBE_CONCURRENCY: '4',
      JFO_STATUS_QPS: '5',
      JFO_STATUS_BURST: '10',
      JFO_STATUS_MIN_INTERVAL_SECONDS: '0',
      JFO_PEER_GRACE_SECONDS: '0',
      JFO_DRAIN_DELAY_SECONDS: '0',
      JFO_DRAIN_TIMEOUT_SECONDS: '60',
    });
    expect(c).toMatchObject({
      podName: 'p',
      httpPort: 9090,
      httpHost: '127.0.0.1',
      listenHost: '::',
      logLevel: 'debug',
      reconnectInitialMs: 500,
      reconnectMaxMs: 10_000,
      sshReadyTimeoutMs: 7000,
      probeIntervalMs: 15_000,
      probeTimeoutMs: 2500,
      probeConcurrency: 4,
      statusQps: 5,
      statusBurst: 10,
      statusMinIntervalMs: 0,
      peerGraceMs: 0,
      drainDelayMs: 0,
      drainTimeoutMs: 60_000,
    });
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('lists every problem in one error', () => {
    expect(() =>
      parseRunnerConfig({
        JFO_HTTP_PORT: 'eighty',
        JFO_LOG_LEVEL: 'loud',
        JFO_PROBE_TIMEOUT_SECONDS: '-1',
        JFO_RECONNECT_INITIAL_SECONDS: '20',
        JFO_RECONNECT_MAX_SECONDS: '10',
      }),
    ).toThrow(
      'Invalid runner configuration: JFO_NAMESPACE is required; JFO_JUMPNODE is required; ' +
        'JFO_HTTP_PORT must be an integer from 0 to 65535 (got "eighty"); ' +
        'JFO_LOG_LEVEL must be one of error, warn, info, debug (got "loud"); ' +
        'JFO_PROBE_TIMEOUT_SECONDS must be a number of seconds from 0.1 to 300 (got "-1"); ' +
        'JFO_RECONNECT_INITIAL_SECONDS must not exceed JFO_RECONNECT_MAX_SECONDS',
    );
  });
});

describe('apiSockets', () => {
  it.each([1, 20, 100, 1000])(
    'at JFO_STATUS_QPS %d leaves room beyond the status writes in flight',
    (statusQps) => {
      // A request that waits for a socket gets a false "Premature close" (KeepAliveOptions).
      expect(apiSockets({ statusQps })).toBeGreaterThanOrEqual(defaultConcurrency(statusQps) + 8);
    },
  );
});
