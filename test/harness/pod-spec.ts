// What the test kubelet (kubelet.ts) hands a container: its environment with downward-API fields
// and Secret/ConfigMap references resolved, its Secret and ConfigMap volumes written to a local
// directory (environment values pointing into a mount path are pointed there), and a kubeconfig
// with a token of the pod's ServiceAccount from the TokenRequest API, bound to the pod.
import { mkdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import type { Clients } from '../../src/kube/client.js';

export interface PodContext {
  /** The kubelet's own credentials (admin). */
  admin: Clients;
  /** The API server as the container reaches it. */
  api: { server: string; caFile: string };
  namespace: string;
}

/** Lifetime of the ServiceAccount token (the demo may run for hours; nothing refreshes it). */
const TOKEN_SECONDS = 24 * 3600;

function fieldValue(pod: k8s.V1Pod, path: string): string {
  const values: Record<string, string | undefined> = {
    'metadata.name': pod.metadata?.name,
    'metadata.namespace': pod.metadata?.namespace,
    'metadata.uid': pod.metadata?.uid,
    'spec.serviceAccountName': pod.spec?.serviceAccountName,
    'spec.nodeName': hostname(),
    'status.podIP': '127.0.0.1',
    'status.hostIP': '127.0.0.1',
  };
  const v = values[path];
  if (v === undefined) throw new Error(`The test kubelet does not resolve fieldRef ${path}`);
  return v;
}

/** The decoded data of a Secret or ConfigMap. */
async function dataOf(
  c: PodContext,
  kind: 'secret' | 'configMap',
  name: string,
): Promise<Record<string, string>> {
  const namespace = c.namespace;
  if (kind === 'configMap')
    return (await c.admin.core.readNamespacedConfigMap({ name, namespace })).data ?? {};
  const data = (await c.admin.core.readNamespacedSecret({ name, namespace })).data ?? {};
  return Object.fromEntries(
    Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]),
  );
}

/** For an optional volume, a missing object is no data; anything else is an error. */
const missing =
  (optional: boolean | undefined) =>
  (err: unknown): Record<string, string> => {
    if (optional && (err as { code?: number }).code === 404) return {};
    throw err;
  };

/** Writes Secret and ConfigMap volumes below `dir`; returns mountPath → local path. */
async function mountVolumes(c: PodContext, pod: k8s.V1Pod, dir: string) {
  const mounts = new Map<string, string>();
  for (const m of pod.spec!.containers[0]!.volumeMounts ?? []) {
    const vol = pod.spec!.volumes?.find((v) => v.name === m.name);
    const source = vol?.secret ?? vol?.configMap;
    // An optional volume whose object is missing is an empty directory, as with the kubelet.
    const data = vol?.secret
      ? await dataOf(c, 'secret', vol.secret.secretName!).catch(missing(vol.secret.optional))
      : vol?.configMap
        ? await dataOf(c, 'configMap', vol.configMap.name!).catch(missing(vol.configMap.optional))
        : undefined;
    if (!data) throw new Error(`The test kubelet only mounts Secret and ConfigMap volumes`);
    const local = join(dir, 'volumes', m.name);
    mkdirSync(local, { recursive: true });
    // `items` picks keys and names their files; a missing key is skipped only when optional.
    const files = source?.items
      ? source.items.flatMap((i) => {
          if (i.key in data) return [[i.path, data[i.key]!] as const];
          if (source.optional) return [];
          throw new Error(`Volume ${m.name}: key ${i.key} does not exist`);
        })
      : Object.entries(data);
    for (const [key, value] of files) writeFileSync(join(local, key), value, { mode: 0o600 });
    mounts.set(m.mountPath, local);
  }
  return mounts;
}

async function envValue(c: PodContext, pod: k8s.V1Pod, e: k8s.V1EnvVar): Promise<string> {
  const from = e.valueFrom;
  if (from?.fieldRef) return fieldValue(pod, from.fieldRef.fieldPath);
  if (from?.secretKeyRef)
    return (await dataOf(c, 'secret', from.secretKeyRef.name!))[from.secretKeyRef.key] ?? '';
  if (from?.configMapKeyRef)
    return (
      (await dataOf(c, 'configMap', from.configMapKeyRef.name!))[from.configMapKeyRef.key] ?? ''
    );
  return e.value ?? '';
}

/** A kubeconfig file with a token of the pod's ServiceAccount, bound to the pod. */
async function serviceAccountKubeconfig(c: PodContext, pod: k8s.V1Pod, dir: string) {
  const sa = pod.spec!.serviceAccountName ?? 'default';
  const { name, uid } = pod.metadata!;
  const tr = await c.admin.core.createNamespacedServiceAccountToken({
    name: sa,
    namespace: c.namespace,
    body: {
      spec: {
        audiences: [],
        expirationSeconds: TOKEN_SECONDS,
        boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name, uid },
      },
    },
  });
  const path = join(dir, 'kubeconfig');
  const cluster = { server: c.api.server, 'certificate-authority': c.api.caFile };
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'local', cluster }],
    users: [{ name: sa, user: { token: tr.status!.token } }],
    contexts: [{ name: 'pod', context: { cluster: 'local', user: sa, namespace: c.namespace } }],
    'current-context': 'pod',
  };
  writeFileSync(path, JSON.stringify(config), { mode: 0o600 });
  return path;
}

/** The container's environment, plus KUBECONFIG; volumes and the kubeconfig go below `dir`. */
export async function containerEnvironment(
  c: PodContext,
  pod: k8s.V1Pod,
  dir: string,
): Promise<Record<string, string>> {
  const mounts = await mountVolumes(c, pod, dir);
  const env: Record<string, string> = {};
  for (const e of pod.spec!.containers[0]!.env ?? []) {
    let value = await envValue(c, pod, e);
    for (const [mountPath, local] of mounts)
      if (value === mountPath || value.startsWith(`${mountPath}/`))
        value = local + value.slice(mountPath.length);
    env[e.name] = value;
  }
  env.KUBECONFIG = await serviceAccountKubeconfig(c, pod, dir);
  return env;
}
