// The operator's supervised informers: the two custom resources (all of them) and the children
// it manages (label-selected, so a namespace full of unrelated Services costs nothing). With no
// namespaces they watch the whole cluster; with a list (the namespaced install, whose RBAC is
// Roles in those namespaces only) one informer per kind and namespace, seen as one.
import * as k8s from '@kubernetes/client-node';
import type { KubernetesListObject, KubernetesObject } from '@kubernetes/client-node';
import { FORWARDED_SERVER, GROUP, JUMP_NODE, VERSION } from '../api/types.js';
import { ClaimIndex } from '../controller/claim-index.js';
import type { Caches } from '../controller/context.js';
import type { Clients } from '../kube/client.js';
import { makeSupervisedInformer, type SupervisedInformer } from '../kube/informer.js';
import type { Logger } from '../log.js';
import { MANAGED_SELECTOR, PORT_CLAIM_SELECTOR } from '../names.js';

export type AnyInformer = SupervisedInformer<KubernetesObject> & { name: string };

/** The caches that are informers (the claim index is derived from portClaims). */
export type InformerKey = Exclude<keyof Caches, 'claims'>;

export interface Informers {
  all: AnyInformer[];
  byKind: Record<InformerKey, AnyInformer>;
  caches: Caches;
}

type Lister = (ns: string, labelSelector?: string) => Promise<unknown>;

interface Spec {
  key: InformerKey;
  name: string;
  /** Collection path below the API root, without namespace: e.g. ['api/v1', 'services']. */
  group: string;
  plural: string;
  selector?: string;
  list: Lister;
}

export function makeInformers(
  clients: Clients,
  opts: { namespaces: readonly string[]; log: Logger; resyncMs: number; onResync: () => void },
): Informers {
  const { core, apps, rbac, coordination } = clients;
  const custom = clients.kc.makeApiClient(k8s.CustomObjectsApi);
  const discovery = clients.kc.makeApiClient(k8s.DiscoveryV1Api);
  const cr =
    (plural: string): Lister =>
    (ns) =>
      ns
        ? custom.listNamespacedCustomObject({
            group: GROUP,
            version: VERSION,
            namespace: ns,
            plural,
          })
        : custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural });
  const typed =
    (
      nsList: (a: { namespace: string; labelSelector?: string }) => Promise<unknown>,
      all: (a: { labelSelector?: string }) => Promise<unknown>,
    ): Lister =>
    (ns, labelSelector) =>
      ns ? nsList({ namespace: ns, labelSelector }) : all({ labelSelector });
  const crGroup = `apis/${GROUP}/${VERSION}`;
  const specs: Spec[] = [
    {
      key: 'forwardedServers',
      name: FORWARDED_SERVER.kind,
      group: crGroup,
      plural: FORWARDED_SERVER.plural,
      list: cr(FORWARDED_SERVER.plural),
    },
    {
      key: 'jumpNodes',
      name: JUMP_NODE.kind,
      group: crGroup,
      plural: JUMP_NODE.plural,
      list: cr(JUMP_NODE.plural),
    },
    {
      key: 'services',
      name: 'Service',
      group: 'api/v1',
      plural: 'services',
      selector: MANAGED_SELECTOR,
      list: typed(
        (a) => core.listNamespacedService(a),
        (a) => core.listServiceForAllNamespaces(a),
      ),
    },
    {
      key: 'endpointSlices',
      name: 'EndpointSlice',
      group: 'apis/discovery.k8s.io/v1',
      plural: 'endpointslices',
      selector: MANAGED_SELECTOR,
      list: typed(
        (a) => discovery.listNamespacedEndpointSlice(a),
        (a) => discovery.listEndpointSliceForAllNamespaces(a),
      ),
    },
    {
      key: 'deployments',
      name: 'Deployment',
      group: 'apis/apps/v1',
      plural: 'deployments',
      selector: MANAGED_SELECTOR,
      list: typed(
        (a) => apps.listNamespacedDeployment(a),
        (a) => apps.listDeploymentForAllNamespaces(a),
      ),
    },
    {
      key: 'serviceAccounts',
      name: 'ServiceAccount',
      group: 'api/v1',
      plural: 'serviceaccounts',
      selector: MANAGED_SELECTOR,
      list: typed(
        (a) => core.listNamespacedServiceAccount(a),
        (a) => core.listServiceAccountForAllNamespaces(a),
      ),
    },
    {
      key: 'roles',
      name: 'Role',
      group: 'apis/rbac.authorization.k8s.io/v1',
      plural: 'roles',
      selector: MANAGED_SELECTOR,
      list: typed(
        (a) => rbac.listNamespacedRole(a),
        (a) => rbac.listRoleForAllNamespaces(a),
      ),
    },
    {
      key: 'roleBindings',
      name: 'RoleBinding',
      group: 'apis/rbac.authorization.k8s.io/v1',
      plural: 'rolebindings',
      selector: MANAGED_SELECTOR,
      list: typed(
        (a) => rbac.listNamespacedRoleBinding(a),
        (a) => rbac.listRoleBindingForAllNamespaces(a),
      ),
    },
    {
      key: 'portClaims',
      name: 'PortClaim',
      group: 'apis/coordination.k8s.io/v1',
      plural: 'leases',
      selector: PORT_CLAIM_SELECTOR,
      list: typed(
        (a) => coordination.listNamespacedLease(a),
        (a) => coordination.listLeaseForAllNamespaces(a),
      ),
    },
  ];
  const byKind = {} as Record<InformerKey, AnyInformer>;
  const namespaces = opts.namespaces.length ? opts.namespaces : [''];
  for (const s of specs) {
    const perNamespace = namespaces.map((ns) => {
      const path = `/${s.group}/${ns ? `namespaces/${ns}/` : ''}${s.plural}`;
      const informer = makeSupervisedInformer<KubernetesObject>(clients.kc, {
        name: s.name,
        path,
        labelSelector: s.selector,
        list: () => s.list(ns, s.selector) as Promise<KubernetesListObject<KubernetesObject>>,
        log: opts.log,
        resyncMs: opts.resyncMs,
        // One resync timer is enough: it re-enqueues every ForwardedServer and JumpNode.
        ...(s.key === 'forwardedServers' && ns === namespaces[0]
          ? { onResync: opts.onResync }
          : {}),
      });
      return [ns, informer] as const;
    });
    const informer = perNamespace.length === 1 ? perNamespace[0]![1] : combine(perNamespace);
    byKind[s.key] = Object.assign(informer, { name: s.name });
  }
  // Registered before any other handler: the index is current when a handler enqueues.
  const claims = new ClaimIndex();
  byKind.portClaims.on('add', (o) => claims.upsert(o as never));
  byKind.portClaims.on('update', (o) => claims.upsert(o as never));
  byKind.portClaims.on('delete', (o) => claims.remove(o as never));
  const caches = { ...(byKind as unknown as Omit<Caches, 'claims'>), claims } as Caches;
  return { all: Object.values(byKind), byKind, caches };
}

/** Informers of several namespaces as one (reads go to the object's namespace). */
function combine(
  parts: ReadonlyArray<readonly [string, SupervisedInformer<KubernetesObject>]>,
): SupervisedInformer<KubernetesObject> {
  const byNs = new Map(parts);
  const all = parts.map(([, i]) => i);
  return {
    on: (event, handler) => all.forEach((i) => i.on(event, handler)),
    get: (name, namespace) =>
      namespace !== undefined
        ? byNs.get(namespace)?.get(name, namespace)
        : all.map((i) => i.get(name)).find((o) => o !== undefined),
    list: (namespace) =>
      namespace !== undefined
        ? (byNs.get(namespace)?.list(namespace) ?? [])
        : all.flatMap((i) => i.list()),
    start: () => Promise.all(all.map((i) => i.start())).then(() => undefined),
    stop: () => Promise.all(all.map((i) => i.stop())).then(() => undefined),
    hasSynced: () => all.every((i) => i.hasSynced()),
    silenceMs: () => Math.max(...all.map((i) => i.silenceMs())),
    restarts: () => all.reduce((n, i) => n + i.restarts(), 0),
  };
}
