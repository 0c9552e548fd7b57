// The operator's configuration, parsed once from the environment into a frozen object. Nothing
// else in the operator reads process.env (client-node itself reads KUBECONFIG). Every variable is
// documented in docs/operator.md; a bad value stops the start with a message naming it.
import type { LogLevel } from '../log.js';

export interface OperatorConfig {
  /** Namespace to watch; '' watches all namespaces. */
  namespace: string;
  runnerImage: string;
  runnerImagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  runnerLogLevel: LogLevel;
  httpHost: string;
  httpPort: number;
  logLevel: LogLevel;
  workers: number;
  resyncSeconds: number;
  jumpNodeGraceSeconds: number;
  localUrlHost?: string;
  podName?: string;
  podNamespace?: string;
  leaderElection: {
    enabled: boolean;
    namespace: string;
    name: string;
    leaseDurationSeconds: number;
    renewDeadlineSeconds: number;
    retryPeriodSeconds: number;
  };
}

/** The image the manifests run; the runner defaults to it (see manifests/operator). */
export const DEFAULT_IMAGE = 'jupyterhub-forward-operator:0.1.0';

const LEVELS: readonly LogLevel[] = ['error', 'warn', 'info', 'debug'];
const PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'] as const;

type Env = Record<string, string | undefined>;

export function loadOperatorConfig(env: Env): Readonly<OperatorConfig> {
  const get = (k: string) => (env[k] ?? '').trim() || undefined;
  const podNamespace = get('JFO_POD_NAMESPACE');
  const namespace = get('JFO_NAMESPACE') ?? '';
  const leaseDurationSeconds = int(env, 'JFO_LEASE_DURATION_SECONDS', 15, 1);
  const renewDeadlineSeconds = int(env, 'JFO_RENEW_DEADLINE_SECONDS', 10, 1);
  if (renewDeadlineSeconds >= leaseDurationSeconds)
    throw new Error('JFO_RENEW_DEADLINE_SECONDS must be less than JFO_LEASE_DURATION_SECONDS');
  const config: OperatorConfig = {
    namespace,
    runnerImage: get('JFO_RUNNER_IMAGE') ?? DEFAULT_IMAGE,
    runnerImagePullPolicy: oneOf(env, 'JFO_RUNNER_IMAGE_PULL_POLICY', PULL_POLICIES),
    runnerLogLevel: oneOf(env, 'JFO_RUNNER_LOG_LEVEL', LEVELS) ?? 'info',
    httpHost: get('JFO_HTTP_HOST') ?? '0.0.0.0',
    httpPort: int(env, 'JFO_HTTP_PORT', 8080, 0, 65535),
    logLevel: oneOf(env, 'JFO_LOG_LEVEL', LEVELS) ?? 'info',
    workers: int(env, 'JFO_WORKERS', 4, 1, 64),
    resyncSeconds: int(env, 'JFO_RESYNC_SECONDS', 300, 10),
    jumpNodeGraceSeconds: int(env, 'JFO_JUMPNODE_GRACE_SECONDS', 60, 0),
    localUrlHost: get('JFO_LOCAL_URL_HOST'),
    podName: get('JFO_POD_NAME'),
    podNamespace,
    leaderElection: {
      enabled: bool(env, 'JFO_LEADER_ELECTION', true),
      namespace: get('JFO_LEADER_ELECTION_NAMESPACE') ?? podNamespace ?? (namespace || 'default'),
      name: get('JFO_LEADER_ELECTION_NAME') ?? 'jupyterhub-forward-operator',
      leaseDurationSeconds,
      renewDeadlineSeconds,
      retryPeriodSeconds: int(env, 'JFO_RETRY_PERIOD_SECONDS', 2, 1),
    },
  };
  if (!config.runnerImagePullPolicy) delete config.runnerImagePullPolicy;
  if (!config.localUrlHost) delete config.localUrlHost;
  return deepFreeze(config);
}

function int(env: Env, key: string, dflt: number, min: number, max = 2 ** 31 - 1): number {
  const raw = env[key]?.trim();
  if (!raw) return dflt;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < min || n > max)
    throw new Error(`${key} must be an integer from ${min} to ${max}, got "${raw}"`);
  return n;
}

function bool(env: Env, key: string, dflt: boolean): boolean {
  const raw = env[key]?.trim().toLowerCase();
  if (!raw) return dflt;
  if (['true', '1', 'yes', 'on'].includes(raw)) return true;
  if (['false', '0', 'no', 'off'].includes(raw)) return false;
  throw new Error(`${key} must be true or false, got "${env[key]}"`);
}

function oneOf<T extends string>(env: Env, key: string, allowed: readonly T[]): T | undefined {
  const raw = env[key]?.trim();
  if (!raw) return undefined;
  if (!(allowed as readonly string[]).includes(raw))
    throw new Error(`${key} must be one of ${allowed.join(', ')}, got "${raw}"`);
  return raw as T;
}

function deepFreeze<T extends object>(o: T): Readonly<T> {
  for (const v of Object.values(o)) if (v && typeof v === 'object') deepFreeze(v as object);
  return Object.freeze(o);
}
