import { loadOperatorConfig, DEFAULT_IMAGE } from '../../src/operator/config.js';

describe('loadOperatorConfig', () => {
  it('has documented defaults', () => {
    const c = loadOperatorConfig({});
    expect(c).toEqual({
      namespace: '',
      namespaces: [],
      runnerImage: DEFAULT_IMAGE,
      runnerLogLevel: 'info',
      runnerAllowedImages: [],
      runnerAllowedTolerationKeys: [],
      directTargets: { clusterCidrs: ['10.96.0.0/12', '10.244.0.0/16'], allowedCidrs: [] },
      httpHost: '0.0.0.0',
      httpPort: 8080,
      logLevel: 'info',
      workers: 16,
      resyncMs: 300_000,
      jumpNodeGraceMs: 60_000,
      podName: undefined,
      podNamespace: undefined,
      leaderElection: {
        enabled: true,
        namespace: 'default',
        name: 'jupyterhub-forward-operator',
        leaseDurationMs: 15_000,
        renewDeadlineMs: 10_000,
        retryPeriodMs: 2000,
      },
    });
  });

  it('reads every variable', () => {
    const c = loadOperatorConfig({
      JFO_NAMESPACE: 'hub, hub-2',
      JFO_RUNNER_IMAGE: 'img:2',
      JFO_RUNNER_ALLOWED_IMAGES: 'registry.example.org/jfo/*, img:3',
      JFO_RUNNER_ALLOWED_TOLERATION_KEYS: 'hpc-gateway',
      JFO_RUNNER_IMAGE_PULL_POLICY: 'Never',
      JFO_RUNNER_LOG_LEVEL: 'debug',
      JFO_HTTP_HOST: '127.0.0.1',
      JFO_HTTP_PORT: '0',
      JFO_LOG_LEVEL: 'warn',
      JFO_WORKERS: '8',
      JFO_RESYNC_SECONDS: '60',
      JFO_JUMPNODE_GRACE_SECONDS: '5',
      JFO_LOCAL_URL_HOST: '127.0.0.1',
      JFO_POD_NAME: 'op-1',
      JFO_POD_NAMESPACE: 'jfo-system',
      JFO_LEADER_ELECTION: 'false',
      JFO_LEADER_ELECTION_NAME: 'l',
      JFO_LEASE_DURATION_SECONDS: '20',
      JFO_RENEW_DEADLINE_SECONDS: '12',
      JFO_RETRY_PERIOD_SECONDS: '3',
    });
    expect(c).toMatchObject({
      namespace: 'hub, hub-2',
      namespaces: ['hub', 'hub-2'],
      runnerImage: 'img:2',
      runnerAllowedImages: ['registry.example.org/jfo/*', 'img:3'],
      runnerAllowedTolerationKeys: ['hpc-gateway'],
      runnerImagePullPolicy: 'Never',
      runnerLogLevel: 'debug',
      httpHost: '127.0.0.1',
      httpPort: 0,
      logLevel: 'warn',
      workers: 8,
      resyncMs: 60_000,
      jumpNodeGraceMs: 5000,
      localUrlHost: '127.0.0.1',
      podName: 'op-1',
      podNamespace: 'jfo-system',
      leaderElection: {
        enabled: false,
        namespace: 'jfo-system',
        name: 'l',
        leaseDurationMs: 20_000,
        renewDeadlineMs: 12_000,
        retryPeriodMs: 3000,
      },
    });
  });

  it('takes the leader-election namespace from the pod, then the watched namespace', () => {
    expect(loadOperatorConfig({ JFO_NAMESPACE: 'hub' }).leaderElection.namespace).toBe('hub');
    expect(
      loadOperatorConfig({ JFO_NAMESPACE: 'hub', JFO_LEADER_ELECTION_NAMESPACE: 'x' })
        .leaderElection.namespace,
    ).toBe('x');
  });

  it('is frozen', () => {
    const c = loadOperatorConfig({});
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.leaderElection)).toBe(true);
  });

  it.each([
    ['JFO_HTTP_PORT', '70000', /JFO_HTTP_PORT must be an integer from 0 to 65535 \(got "70000"\)/],
    ['JFO_WORKERS', '0', /JFO_WORKERS must be an integer from 1/],
    ['JFO_WORKERS', 'four', /JFO_WORKERS must be an integer/],
    [
      'JFO_LOG_LEVEL',
      'verbose',
      /JFO_LOG_LEVEL must be one of error, warn, info, debug \(got "verbose"\)/,
    ],
    ['JFO_LEADER_ELECTION', 'maybe', /JFO_LEADER_ELECTION must be true or false/],
    ['JFO_RUNNER_IMAGE_PULL_POLICY', 'Sometimes', /JFO_RUNNER_IMAGE_PULL_POLICY must be one of/],
    ['JFO_RENEW_DEADLINE_SECONDS', '15', /must be less than JFO_LEASE_DURATION_SECONDS/],
    ['JFO_RESYNC_SECONDS', '5', /JFO_RESYNC_SECONDS must be a number of seconds from 10 to/],
    ['JFO_JUMPNODE_GRACE_SECONDS', '1m', /JFO_JUMPNODE_GRACE_SECONDS must be a number of seconds/],
  ])('rejects %s=%s with a message naming it', (key, value, msg) => {
    expect(() => loadOperatorConfig({ [key]: value })).toThrow(msg);
  });
});
