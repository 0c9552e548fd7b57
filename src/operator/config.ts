// The operator's configuration, parsed once from the environment into a frozen object. Nothing
// else in the operator reads process.env (client-node itself reads KUBECONFIG). Every variable is
// documented in docs/operator.md; a bad value stops the start with a message naming it.
import { EnvReader, LOG_LEVELS, type Env } from '../config/env.js';
import type { LogLevel } from '../log.js';
import { readDirectTargetPolicy, type DirectTargetPolicy } from '../resources/target-policy.js';

export interface OperatorConfig {
  /** JFO_NAMESPACE as given: '' watches all namespaces, else a comma-separated list. */
  namespace: string;
  /** The namespaces to watch; empty: all of them. */
  namespaces: string[];
  runnerImage: string;
  runnerImagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  runnerLogLevel: LogLevel;
  /** Images JumpNodes may ask for besides runnerImage (exact, or a prefix ending in `*`). */
  runnerAllowedImages: string[];
  /** Taint keys JumpNodes' runners may tolerate (`*`: any). */
  runnerAllowedTolerationKeys: string[];
  /** Where direct servers may lead (JFO_CLUSTER_CIDRS, JFO_DIRECT_ALLOWED_CIDRS). */
  directTargets: DirectTargetPolicy;
  httpHost: string;
  httpPort: number;
  logLevel: LogLevel;
  workers: number;
  resyncMs: number;
  jumpNodeGraceMs: number;
  localUrlHost?: string;
  podName?: string;
  podNamespace?: string;
  leaderElection: {
    enabled: boolean;
    namespace: string;
    name: string;
    leaseDurationMs: number;
    renewDeadlineMs: number;
    retryPeriodMs: number;
  };
}

/** The image the manifests run; the runner defaults to it (see manifests/operator). */
export const DEFAULT_IMAGE = 'jupyterhub-forward-operator:0.1.0';

const PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'] as const;
/** The longest duration a setting takes: about 24 days, the most a Node.js timer waits. */
const MAX_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

/** Parses the environment; throws one error that lists every problem. */
export function loadOperatorConfig(env: Env): Readonly<OperatorConfig> {
  const r = new EnvReader(env);
  const podNamespace = r.optional('JFO_POD_NAMESPACE');
  const namespace = r.optional('JFO_NAMESPACE') ?? '';
  const leaseDurationMs = r.seconds('JFO_LEASE_DURATION_SECONDS', 15, 1, MAX_SECONDS);
  const renewDeadlineMs = r.seconds('JFO_RENEW_DEADLINE_SECONDS', 10, 1, MAX_SECONDS);
  if (renewDeadlineMs >= leaseDurationMs)
    r.problems.push('JFO_RENEW_DEADLINE_SECONDS must be less than JFO_LEASE_DURATION_SECONDS');
  const namespaces = list(namespace);
  const config: OperatorConfig = {
    namespace,
    namespaces,
    runnerImage: r.string('JFO_RUNNER_IMAGE', DEFAULT_IMAGE),
    runnerImagePullPolicy: r.oneOf('JFO_RUNNER_IMAGE_PULL_POLICY', PULL_POLICIES),
    runnerLogLevel: r.oneOf('JFO_RUNNER_LOG_LEVEL', LOG_LEVELS, 'info'),
    runnerAllowedImages: list(r.optional('JFO_RUNNER_ALLOWED_IMAGES')),
    runnerAllowedTolerationKeys: list(r.optional('JFO_RUNNER_ALLOWED_TOLERATION_KEYS')),
    directTargets: readDirectTargetPolicy(r),
    httpHost: r.string('JFO_HTTP_HOST', '0.0.0.0'),
    httpPort: r.int('JFO_HTTP_PORT', 8080, 0, 65535),
    logLevel: r.oneOf('JFO_LOG_LEVEL', LOG_LEVELS, 'info'),
    workers: r.int('JFO_WORKERS', 16, 1, 64),
    resyncMs: r.seconds('JFO_RESYNC_SECONDS', 300, 10, MAX_SECONDS),
    jumpNodeGraceMs: r.seconds('JFO_JUMPNODE_GRACE_SECONDS', 60, 0, MAX_SECONDS),
    localUrlHost: r.optional('JFO_LOCAL_URL_HOST'),
    podName: r.optional('JFO_POD_NAME'),
    podNamespace,
    leaderElection: {
      enabled: r.bool('JFO_LEADER_ELECTION', true),
      namespace:
        r.optional('JFO_LEADER_ELECTION_NAMESPACE') ?? podNamespace ?? namespaces[0] ?? 'default',
      name: r.string('JFO_LEADER_ELECTION_NAME', 'jupyterhub-forward-operator'),
      leaseDurationMs,
      renewDeadlineMs,
      retryPeriodMs: r.seconds('JFO_RETRY_PERIOD_SECONDS', 2, 1, MAX_SECONDS),
    },
  };
  r.check('operator');
  if (!config.runnerImagePullPolicy) delete config.runnerImagePullPolicy;
  if (!config.localUrlHost) delete config.localUrlHost;
  return deepFreeze(config);
}

/** A comma-separated list; blanks dropped. */
function list(raw: string | undefined): string[] {
  return (raw ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function deepFreeze<T extends object>(o: T): Readonly<T> {
  for (const v of Object.values(o)) if (v && typeof v === 'object') deepFreeze(v as object);
  return Object.freeze(o);
}
