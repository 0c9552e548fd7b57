// Access to the shared test control plane from test files: a KubeConfig per token user and a
// fresh namespace per test, deleted afterwards.
import { readFileSync } from 'node:fs';
import * as k8s from '@kubernetes/client-node';
import type { ControlPlaneInfo } from '../../src/dev/control-plane.js';

export function clusterInfo(): ControlPlaneInfo {
  const path = process.env.JFO_TEST_CLUSTER;
  if (!path)
    throw new Error(
      'JFO_TEST_CLUSTER is not set: run integration tests through jest (global setup)',
    );
  return JSON.parse(readFileSync(path, 'utf8')) as ControlPlaneInfo;
}

/** A KubeConfig for one of the control plane's token users, or for an explicit bearer token. */
export function kubeConfig(
  info: ControlPlaneInfo,
  user: 'admin' | 'operator' | 'viewer' | { token: string } = 'admin',
): k8s.KubeConfig {
  const token = typeof user === 'string' ? info.users[user].token : user.token;
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'local', server: info.server, caFile: info.caFile, skipTLSVerify: false }],
    users: [{ name: 'u', token }],
    contexts: [{ name: 'c', cluster: 'local', user: 'u' }],
    currentContext: 'c',
  });
  return kc;
}

let counter = 0;

/** Creates a namespace with a unique name; returns it and a cleanup function. */
export async function createNamespace(
  kc: k8s.KubeConfig,
  prefix = 't',
): Promise<{ name: string; cleanup: () => Promise<void> }> {
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const name = `${prefix}-${process.pid}-${Date.now().toString(36)}-${counter++}`.slice(0, 63);
  await core.createNamespace({ body: { metadata: { name } } });
  return {
    name,
    cleanup: async () => {
      await core.deleteNamespace({ name }).catch(() => {});
    },
  };
}

/** A one-hour token of ServiceAccount `name` in `namespace` (TokenRequest API, as the admin). */
export async function serviceAccountToken(
  info: ControlPlaneInfo,
  namespace: string,
  name: string,
): Promise<string> {
  const core = kubeConfig(info, 'admin').makeApiClient(k8s.CoreV1Api);
  const tr = await core.createNamespacedServiceAccountToken({
    name,
    namespace,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  return tr.status!.token;
}
