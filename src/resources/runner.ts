// The tunnel runner of a JumpNode: Deployment, ServiceAccount, Role and RoleBinding. Pure.
//
// The pod runs this project's image with `args: ["runner"]` (the image's ENTRYPOINT is
// `node /app/dist/cli.js`) and gets everything it needs from args, env and the key volume
// (contract 0001 §C), so a test can "play the kubelet" by running the same command locally. The
// pod template is deterministic: it changes only when an input changes, and the inputs the
// runner reads only at start-up (the key Secret's name and key) are hashed into an annotation to
// roll the pods.
//
// The private key reaches the runner as a Secret volume (one file), never through the API: the
// runner's Role grants nothing on Secrets. What a JumpNode may ask for is bounded by the
// operator's settings (runnerPolicyProblem): the image, the tolerations, and a key Secret that
// carries the opt-in label.
import { createHash } from 'node:crypto';
import type {
  V1Deployment,
  V1PolicyRule,
  V1Role,
  V1RoleBinding,
  V1ServiceAccount,
} from '@kubernetes/client-node';
import { API_VERSION, DEFAULTS, GROUP, JUMP_NODE, type JumpNode } from '../api/types.js';
import { LABELS, runnerLabels, runnerName, runnerSelector } from '../names.js';
import { controllerRef } from './meta.js';

export const RUNNER_CONTAINER = 'runner';
export const RUNNER_HTTP_PORT = 8080;
export const RUNNER_UID = 65532;
export const RUNNER_CONFIG_HASH_ANNOTATION = `${GROUP}/runner-config-hash`;

export const RUNNER_KEY_VOLUME = 'ssh-key';
export const RUNNER_KEY_DIR = '/etc/jupyterhub-forward-runner/ssh-key';
/** The one file of the key volume: the Secret's key `privateKeySecretRef.key`, renamed. */
export const RUNNER_KEY_FILE = `${RUNNER_KEY_DIR}/ssh-privatekey`;

export interface RunnerSettings {
  /** Image when spec.runner.image is not set (the operator's JFO_RUNNER_IMAGE). */
  image: string;
  logLevel: string;
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  /**
   * Other images spec.runner.image may name (JFO_RUNNER_ALLOWED_IMAGES): exact references, or
   * prefixes ending in `*`. The operator's own image is always allowed.
   */
  allowedImages?: readonly string[];
  /**
   * Taint keys spec.runner.tolerations may tolerate (JFO_RUNNER_ALLOWED_TOLERATION_KEYS); `*`
   * allows every toleration, including one without a key (which tolerates every taint).
   */
  allowedTolerationKeys?: readonly string[];
}

/** Why the operator refuses to run a JumpNode's runner as asked (no Deployment change). */
export interface RunnerProblem {
  reason:
    | 'ImageNotAllowed'
    | 'TolerationNotAllowed'
    | 'KeySecretNotFound'
    | 'KeySecretNotAllowed'
    | 'KeySecretUnreadable';
  message: string;
}

/** What the operator could learn about the key Secret: its labels, or why not. */
export type KeySecretLookup =
  { found: true; labels: Record<string, string> } | { found: false } | { forbidden: true };

/**
 * Whether the JumpNode may use the Secret it names: only a Secret the admin labelled
 * `forward.hub.jupyter.org/runner-key: "true"`, so a JumpNode writer cannot point the runner at
 * another Secret of the namespace (the kubelet mounts whatever the pod names). Pure.
 */
export function keySecretProblem(jn: JumpNode, lookup: KeySecretLookup): RunnerProblem | undefined {
  const { name } = keySecret(jn);
  const ns = jn.metadata.namespace ?? '';
  if ('forbidden' in lookup)
    return {
      reason: 'KeySecretUnreadable',
      message:
        `The operator may not read the labels of Secret ${name} in namespace ${ns}: bind the ` +
        `ClusterRole jupyterhub-forward-operator-key-secrets to it there (docs/security.md)`,
    };
  if (!lookup.found)
    return { reason: 'KeySecretNotFound', message: `Secret ${name} does not exist` };
  if (lookup.labels[LABELS.runnerKey] !== 'true')
    return {
      reason: 'KeySecretNotAllowed',
      message:
        `Secret ${name} is not labelled ${LABELS.runnerKey}=true: an admin must label a Secret ` +
        `before a JumpNode may use it as its private key`,
    };
  return undefined;
}

/** Whether the JumpNode asks only for what the operator's settings allow. Pure. */
export function runnerPolicyProblem(
  jn: JumpNode,
  settings: RunnerSettings,
): RunnerProblem | undefined {
  const image = jn.spec.runner?.image;
  if (image !== undefined && !imageAllowed(image, settings))
    return {
      reason: 'ImageNotAllowed',
      message:
        `spec.runner.image ${JSON.stringify(image)} is not allowed: the operator runs only its ` +
        `own image or one listed in JFO_RUNNER_ALLOWED_IMAGES`,
    };
  const keys = settings.allowedTolerationKeys ?? [];
  for (const t of jn.spec.runner?.tolerations ?? []) {
    if (keys.includes('*') || (t.key && keys.includes(t.key))) continue;
    return {
      reason: 'TolerationNotAllowed',
      message:
        `spec.runner.tolerations: tolerating ${t.key ? `taint ${JSON.stringify(t.key)}` : 'every taint'} ` +
        `is not allowed (JFO_RUNNER_ALLOWED_TOLERATION_KEYS)`,
    };
  }
  return undefined;
}

function imageAllowed(image: string, settings: RunnerSettings): boolean {
  if (image === settings.image) return true;
  return (settings.allowedImages ?? []).some((a) =>
    a.endsWith('*') ? image.startsWith(a.slice(0, -1)) : image === a,
  );
}

function meta(jn: JumpNode) {
  return {
    name: runnerName(jn.metadata.name),
    namespace: jn.metadata.namespace,
    labels: runnerLabels(jn.metadata.name),
    ownerReferences: [
      controllerRef({ apiVersion: API_VERSION, kind: JUMP_NODE.kind, metadata: jn.metadata }),
    ],
  };
}

export function keySecret(jn: JumpNode): { name: string; key: string } {
  const ref = jn.spec.privateKeySecretRef;
  return { name: ref.name, key: ref.key ?? DEFAULTS.privateKeySecretKey };
}

/** Hash of the inputs that need a pod restart to take effect. */
export function runnerConfigHash(jn: JumpNode): string {
  return createHash('sha256')
    .update(JSON.stringify(keySecret(jn)))
    .digest('hex')
    .slice(0, 16);
}

export function buildRunnerDeployment(jn: JumpNode, settings: RunnerSettings): V1Deployment {
  const name = jn.metadata.name;
  const runner = jn.spec.runner ?? {};
  const probe = (path: string, periodSeconds: number, failureThreshold: number) => ({
    httpGet: { path, port: 'http' },
    periodSeconds,
    timeoutSeconds: 2,
    failureThreshold,
  });
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(jn),
    spec: {
      replicas: runner.replicas ?? DEFAULTS.runnerReplicas,
      selector: { matchLabels: runnerSelector(name) },
      template: {
        metadata: {
          labels: runnerLabels(name),
          annotations: { [RUNNER_CONFIG_HASH_ANNOTATION]: runnerConfigHash(jn) },
        },
        spec: {
          serviceAccountName: runnerName(name),
          // Thousands of Services may share the namespace: no service environment variables.
          enableServiceLinks: false,
          terminationGracePeriodSeconds: 30,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: RUNNER_UID,
            runAsGroup: RUNNER_UID,
            // The key file belongs to this group (mode 0440), so the non-root runner reads it.
            fsGroup: RUNNER_UID,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          ...(runner.nodeSelector ? { nodeSelector: runner.nodeSelector } : {}),
          ...(runner.tolerations ? { tolerations: runner.tolerations } : {}),
          containers: [
            {
              name: RUNNER_CONTAINER,
              image: runner.image ?? settings.image,
              ...(settings.imagePullPolicy ? { imagePullPolicy: settings.imagePullPolicy } : {}),
              args: ['runner'],
              env: runnerEnv(jn, settings),
              ports: [{ name: 'http', containerPort: RUNNER_HTTP_PORT, protocol: 'TCP' }],
              livenessProbe: probe('/healthz', 10, 3),
              readinessProbe: probe('/readyz', 5, 2),
              ...(runner.resources ? { resources: runner.resources } : {}),
              volumeMounts: [
                { name: RUNNER_KEY_VOLUME, mountPath: RUNNER_KEY_DIR, readOnly: true },
              ],
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                runAsNonRoot: true,
                privileged: false,
                capabilities: { drop: ['ALL'] },
              },
            },
          ],
          volumes: [keyVolume(jn)],
        },
      },
    },
  };
}

/**
 * The key Secret as a volume with one file. Optional, so a pod whose Secret or key is missing
 * still starts and the runner reports why it cannot connect (a Secret created or fixed later
 * appears in the volume without a restart).
 */
function keyVolume(jn: JumpNode) {
  const { name, key } = keySecret(jn);
  return {
    name: RUNNER_KEY_VOLUME,
    secret: {
      secretName: name,
      items: [{ key, path: 'ssh-privatekey' }],
      defaultMode: 0o440,
      optional: true,
    },
  };
}

/**
 * The runner's environment (contract 0001 §C). MALLOC_ARENA_MAX=2 keeps glibc from growing one
 * malloc arena per thread, which keeps the RSS of many idle forwards down (decision 0022);
 * glibc reads it at process start, so it has to be set here.
 */
export function runnerEnv(jn: JumpNode, settings: RunnerSettings) {
  return [
    { name: 'JFO_NAMESPACE', value: jn.metadata.namespace ?? '' },
    { name: 'JFO_JUMPNODE', value: jn.metadata.name },
    { name: 'JFO_POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'JFO_HTTP_PORT', value: String(RUNNER_HTTP_PORT) },
    { name: 'JFO_LOG_LEVEL', value: settings.logLevel },
    {
      name: 'JFO_SSH_CONNECTIONS',
      value: String(jn.spec.runner?.connections ?? DEFAULTS.runnerConnections),
    },
    { name: 'JFO_PRIVATE_KEY_FILE', value: RUNNER_KEY_FILE },
    { name: 'MALLOC_ARENA_MAX', value: '2' },
  ];
}

export function buildRunnerServiceAccount(jn: JumpNode): V1ServiceAccount {
  return { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(jn) };
}

/**
 * Least privilege for one JumpNode's runner (docs/security.md). Nothing on Secrets: the key is a
 * volume. Which status fields it may change is bounded by the policy in manifests/policy.
 */
export function runnerRules(jn: JumpNode): V1PolicyRule[] {
  const node = [jn.metadata.name];
  return [
    { apiGroups: [GROUP], resources: ['forwardedservers'], verbs: ['get', 'list', 'watch'] },
    { apiGroups: [GROUP], resources: ['forwardedservers/status'], verbs: ['get', 'patch'] },
    {
      apiGroups: [GROUP],
      resources: ['jumpnodes'],
      resourceNames: node,
      verbs: ['get', 'list', 'watch'],
    },
    {
      apiGroups: [GROUP],
      resources: ['jumpnodes/status'],
      resourceNames: node,
      verbs: ['get', 'patch'],
    },
    { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
    { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
  ];
}

export function buildRunnerRole(jn: JumpNode): V1Role {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: meta(jn),
    rules: runnerRules(jn),
  };
}

export function buildRunnerRoleBinding(jn: JumpNode): V1RoleBinding {
  const name = runnerName(jn.metadata.name);
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: meta(jn),
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
    subjects: [{ kind: 'ServiceAccount', name, namespace: jn.metadata.namespace }],
  };
}
