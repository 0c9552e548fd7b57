// The project's thin layer over @kubernetes/client-node: kubeconfig loading, error
// classification and typed access to the two custom resources. Everything that talks to the API
// server for ForwardedServer/JumpNode goes through CustomResources, so the group, version,
// plurals and patch content types live in one place.
import * as k8s from '@kubernetes/client-node';
import {
  FORWARDED_SERVER,
  GROUP,
  JUMP_NODE,
  VERSION,
  type ForwardedServer,
  type JumpNode,
} from '../api/types.js';

export { k8s };

/** Loads a kubeconfig file if a path is given, else the default chain (KUBECONFIG, ~/.kube, in-cluster). */
export function loadKubeConfig(path?: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  return kc;
}

/** HTTP status of a failed API call, or undefined for transport errors. */
export function apiStatus(err: unknown): number | undefined {
  if (err instanceof k8s.ApiException) return err.code;
  const code =
    (err as { code?: unknown; statusCode?: unknown } | null)?.statusCode ??
    (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

export const isNotFound = (err: unknown) => apiStatus(err) === 404;
export const isConflict = (err: unknown) => apiStatus(err) === 409;

/** The Status message of a failed API call (the body is a JSON string in client-node 1.x). */
export function apiMessage(err: unknown): string {
  if (err instanceof k8s.ApiException) {
    const body: unknown = err.body;
    if (typeof body === 'string') {
      try {
        const parsed = JSON.parse(body) as { message?: string };
        if (parsed.message) return parsed.message;
      } catch {
        return body || err.message;
      }
    }
    if (body && typeof body === 'object' && 'message' in body)
      return String((body as { message: unknown }).message);
    return err.message;
  }
  return err instanceof Error ? err.message : String(err);
}

export const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
export const jsonPatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.JsonPatch);
export const applyPatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.ServerSideApply);

interface KindInfo {
  plural: string;
}

/** Typed access to one namespaced custom resource kind. */
export class CustomResourceClient<T extends { metadata: { name: string } }> {
  constructor(
    private readonly api: k8s.CustomObjectsApi,
    private readonly kind: KindInfo,
  ) {}

  path(namespace: string): string {
    return `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${this.kind.plural}`;
  }

  private ids(namespace: string) {
    return { group: GROUP, version: VERSION, namespace, plural: this.kind.plural };
  }

  async get(namespace: string, name: string): Promise<T> {
    return (await this.api.getNamespacedCustomObject({ ...this.ids(namespace), name })) as T;
  }

  /** Returns undefined instead of throwing on 404. */
  async find(namespace: string, name: string): Promise<T | undefined> {
    try {
      return await this.get(namespace, name);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async list(
    namespace: string,
    labelSelector?: string,
  ): Promise<{ items: T[]; metadata?: { resourceVersion?: string } }> {
    return (await this.api.listNamespacedCustomObject({
      ...this.ids(namespace),
      labelSelector,
    })) as {
      items: T[];
      metadata?: { resourceVersion?: string };
    };
  }

  /** Creates with strict field validation: unknown fields are an error, not silently pruned. */
  async create(namespace: string, body: T): Promise<T> {
    return (await this.api.createNamespacedCustomObject({
      ...this.ids(namespace),
      body,
      fieldValidation: 'Strict',
    })) as T;
  }

  async replace(namespace: string, body: T): Promise<T> {
    return (await this.api.replaceNamespacedCustomObject({
      ...this.ids(namespace),
      name: body.metadata.name,
      body,
      fieldValidation: 'Strict',
    })) as T;
  }

  /** JSON merge patch of the main resource (spec, metadata). */
  async patch(namespace: string, name: string, body: object): Promise<T> {
    return (await this.api.patchNamespacedCustomObject(
      { ...this.ids(namespace), name, body, fieldValidation: 'Strict' },
      mergePatch,
    )) as T;
  }

  /** JSON patch (RFC 6902) of the main resource; use a `test` op on resourceVersion for CAS. */
  async jsonPatch(namespace: string, name: string, ops: object[]): Promise<T> {
    return (await this.api.patchNamespacedCustomObject(
      { ...this.ids(namespace), name, body: ops },
      jsonPatch,
    )) as T;
  }

  /** JSON merge patch of the status subresource. */
  async patchStatus(namespace: string, name: string, status: object): Promise<T> {
    return (await this.api.patchNamespacedCustomObjectStatus(
      { ...this.ids(namespace), name, body: { status } },
      mergePatch,
    )) as T;
  }

  /** JSON patch of the status subresource (e.g. with a resourceVersion `test` for CAS). */
  async jsonPatchStatus(namespace: string, name: string, ops: object[]): Promise<T> {
    return (await this.api.patchNamespacedCustomObjectStatus(
      { ...this.ids(namespace), name, body: ops },
      jsonPatch,
    )) as T;
  }

  /**
   * Server-side apply of the status fields owned by `fieldManager`. With `resourceVersion` the
   * apply is conditional: it fails with 409 if the object changed since that version.
   */
  async applyStatus(
    namespace: string,
    name: string,
    apiVersion: string,
    kind: string,
    status: object,
    fieldManager: string,
    resourceVersion?: string,
  ): Promise<T> {
    const metadata = resourceVersion ? { name, namespace, resourceVersion } : { name, namespace };
    return (await this.api.patchNamespacedCustomObjectStatus(
      {
        ...this.ids(namespace),
        name,
        body: { apiVersion, kind, metadata, status },
        fieldManager,
        force: true,
      },
      applyPatch,
    )) as T;
  }

  /** Deletes; with `resourceVersion` only that version (409 if the object changed since). */
  async delete(namespace: string, name: string, resourceVersion?: string): Promise<void> {
    const body = resourceVersion ? { preconditions: { resourceVersion } } : undefined;
    await this.api.deleteNamespacedCustomObject({ ...this.ids(namespace), name, body });
  }
}

export interface Clients {
  kc: k8s.KubeConfig;
  core: k8s.CoreV1Api;
  apps: k8s.AppsV1Api;
  rbac: k8s.RbacAuthorizationV1Api;
  coordination: k8s.CoordinationV1Api;
  events: k8s.EventsV1Api;
  objects: k8s.KubernetesObjectApi;
  forwardedServers: CustomResourceClient<ForwardedServer>;
  jumpNodes: CustomResourceClient<JumpNode>;
}

export function makeClients(kc: k8s.KubeConfig): Clients {
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  return {
    kc,
    core: kc.makeApiClient(k8s.CoreV1Api),
    apps: kc.makeApiClient(k8s.AppsV1Api),
    rbac: kc.makeApiClient(k8s.RbacAuthorizationV1Api),
    coordination: kc.makeApiClient(k8s.CoordinationV1Api),
    events: kc.makeApiClient(k8s.EventsV1Api),
    objects: k8s.KubernetesObjectApi.makeApiClient(kc),
    forwardedServers: new CustomResourceClient<ForwardedServer>(custom, FORWARDED_SERVER),
    jumpNodes: new CustomResourceClient<JumpNode>(custom, JUMP_NODE),
  };
}
