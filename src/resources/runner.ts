// The tunnel runner of a JumpNode: Deployment, ServiceAccount, Role and RoleBinding. Pure.
//
// The pod runs this project's image with `args: ["runner"]` (the image's ENTRYPOINT is
// `node /app/dist/cli.js`) and gets everything it needs from args and env (contract 0001 §C), so
// a test can "play the kubelet" by running the same command locally. The pod template is
// deterministic: it changes only when an input changes, and the inputs the runner reads only at
// start-up (the key Secret's name and key) are hashed into an annotation to roll the pods.
import { createHash } from 'node:crypto';
import type {
  V1Deployment,
  V1PolicyRule,
  V1Role,
  V1RoleBinding,
  V1ServiceAccount,
} from '@kubernetes/client-node';
import { API_VERSION, DEFAULTS, GROUP, JUMP_NODE, type JumpNode } from '../api/types.js';
import { runnerLabels, runnerName, runnerSelector } from '../names.js';
import { controllerRef } from './meta.js';

export const RUNNER_CONTAINER = 'runner';
export const RUNNER_HTTP_PORT = 8080;
export const RUNNER_UID = 65532;
export const RUNNER_CONFIG_HASH_ANNOTATION = `${GROUP}/runner-config-hash`;

export interface RunnerSettings {
  /** Image when spec.runner.image is not set (the operator's JFO_RUNNER_IMAGE). */
  image: string;
  logLevel: string;
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
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
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                runAsNonRoot: true,
                privileged: false,
                capabilities: { drop: ['ALL'] },
              },
            },
          ],
        },
      },
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
    { name: 'MALLOC_ARENA_MAX', value: '2' },
  ];
}

export function buildRunnerServiceAccount(jn: JumpNode): V1ServiceAccount {
  return { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(jn) };
}

/** Least privilege for one JumpNode's runner (see docs/operator.md, RBAC). */
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
    {
      apiGroups: [''],
      resources: ['secrets'],
      resourceNames: [keySecret(jn).name],
      verbs: ['get', 'list', 'watch'],
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
