// A fake ControllerContext for table-driven reconciler tests, after sample-controller's
// newFixture: the objects of a test fill both the informer caches and a fake API server; the
// reconcilers run against them with the real children/ports/status code above the client layer,
// and every write they send is recorded as an Action ("apply Service ns/name"). The caches do not
// see the writes (as a real informer would not, yet); the fake API server does, so a GET after a
// create finds the object.
import type { KubernetesObject, KubernetesObjectApi, V1Lease } from '@kubernetes/client-node';
import {
  API_VERSION,
  FORWARDED_SERVER,
  JUMP_NODE,
  type ForwardedServer,
  type JumpNode,
} from '../../src/api/types.js';
import { FakeClock } from '../../src/clock.js';
import { makeChildren } from '../../src/controller/children.js';
import { ClaimIndex } from '../../src/controller/claim-index.js';
import {
  NotLeaderError,
  type Cache,
  type Caches,
  type ControllerContext,
} from '../../src/controller/context.js';
import { forwardedServerReconciler } from '../../src/controller/forwardedserver.js';
import { jumpNodeReconciler } from '../../src/controller/jumpnode.js';
import type { EventRecorder } from '../../src/kube/recorder.js';
import type { CustomResourceClient } from '../../src/kube/client.js';
import { silentLogger } from '../../src/log.js';
import { LABELS, objectKey, serverResourceName } from '../../src/names.js';
import { controllerRef } from '../../src/resources/meta.js';
import { DEFAULT_DIRECT_POLICY } from '../../src/resources/target-policy.js';
import { HOST_KEY } from '../fixtures/full-objects.js';

export type Verb = 'apply' | 'delete' | 'create' | 'applyStatus';
/** One write the reconciler sent: "apply Service ns/name". */
export type Action = `${Verb} ${string} ${string}/${string}`;

export const NOW = Date.parse('2026-01-02T03:04:05Z');
export const NS = 'hub';

/** Any object the fake store holds: custom resources and built-in kinds alike. */
export interface StoreObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; uid?: string };
}

interface Obj extends KubernetesObject {
  metadata: NonNullable<KubernetesObject['metadata']> & { name: string; namespace?: string };
}

const apiError = (code: number, message: string) => Object.assign(new Error(message), { code });
// A JSON round trip, as over the wire (structuredClone would build objects of another realm
// under jest, which isDeepStrictEqual tells apart).
const copy = <T>(o: T): T => JSON.parse(JSON.stringify(o)) as T;

/** The uid the fixture gives an object that has none. */
export const uidOf = (kind: string, name: string) => `uid-${kind.toLowerCase()}-${name}`;
const id = (kind: string, ns: string | undefined, name: string) => `${kind}/${ns ?? ''}/${name}`;

/** Objects in the caches and the fake API server; writes are recorded, not sent anywhere. */
export function newFixture(objects: readonly StoreObject[], opts: { leader?: boolean } = {}) {
  const actions: Action[] = [];
  const events: string[] = [];
  let rv = 100;
  const withIdentity = (o: StoreObject): Obj => {
    const meta = o.metadata ?? {};
    return copy({
      ...o,
      metadata: {
        uid: uidOf(o.kind!, meta.name!),
        resourceVersion: String(++rv),
        namespace: NS,
        generation: 1,
        ...meta,
      },
    }) as Obj;
  };
  const initial = objects.map(withIdentity);
  const api = new Map<string, Obj>(
    initial.map((o) => [id(o.kind!, o.metadata.namespace, o.metadata.name), o]),
  );
  const record = (verb: Verb, kind: string, ns: string | undefined, name: string) =>
    actions.push(`${verb} ${kind} ${ns ?? ''}/${name}`);

  // The informer caches: a snapshot of the objects of the test, by kind.
  const cacheOf = <T>(kind: string, filter: (o: Obj) => boolean = () => true): Cache<T> => {
    const items = initial.filter((o) => o.kind === kind && filter(o));
    return {
      get: (name, ns) =>
        items.find((o) => o.metadata.name === name && o.metadata.namespace === ns) as T | undefined,
      list: (ns) => items.filter((o) => ns === undefined || o.metadata.namespace === ns) as T[],
    };
  };
  const portClaims = cacheOf<V1Lease>(
    'Lease',
    (o) => o.metadata.labels?.[LABELS.component] === 'port-claim',
  );
  // The index the operator keeps from the claim informer's events, over the same snapshot.
  const claims = new ClaimIndex();
  for (const l of portClaims.list()) claims.upsert(l);
  const caches: Caches = {
    forwardedServers: cacheOf('ForwardedServer'),
    jumpNodes: cacheOf('JumpNode'),
    services: cacheOf('Service'),
    endpointSlices: cacheOf('EndpointSlice'),
    deployments: cacheOf('Deployment'),
    serviceAccounts: cacheOf('ServiceAccount'),
    roles: cacheOf('Role'),
    roleBindings: cacheOf('RoleBinding'),
    portClaims,
    claims,
  };

  const objectsApi = {
    read: async (ref: KubernetesObject) => {
      const o = api.get(id(ref.kind!, ref.metadata?.namespace, ref.metadata!.name!));
      if (!o) throw apiError(404, 'not found');
      return copy(o);
    },
    patch: async (desired: KubernetesObject) => {
      const { namespace, name } = desired.metadata as { namespace: string; name: string };
      record('apply', desired.kind!, namespace, name);
      const key = id(desired.kind!, namespace, name);
      api.set(key, withIdentity({ ...api.get(key), ...desired }));
      return desired;
    },
    delete: async (
      ref: KubernetesObject,
      _pretty?: string,
      _dryRun?: string,
      _grace?: number,
      _orphan?: boolean,
      _policy?: string,
      body?: { preconditions?: { uid?: string } },
    ) => {
      const { namespace, name } = ref.metadata as { namespace: string; name: string };
      record('delete', ref.kind!, namespace, name);
      const key = id(ref.kind!, namespace, name);
      const o = api.get(key);
      if (!o) throw apiError(404, 'not found');
      if (body?.preconditions?.uid && body.preconditions.uid !== o.metadata.uid)
        throw apiError(409, 'uid precondition failed');
      api.delete(key);
      return {};
    },
  } as unknown as KubernetesObjectApi;

  const coordination = {
    createNamespacedLease: async ({ namespace, body }: { namespace: string; body: Obj }) => {
      const name = body.metadata.name;
      record('create', 'Lease', namespace, name);
      const key = id('Lease', namespace, name);
      if (api.has(key)) throw apiError(409, 'already exists');
      api.set(
        key,
        withIdentity({ ...body, kind: 'Lease', metadata: { ...body.metadata, namespace } }),
      );
      return body;
    },
    readNamespacedLease: async ({ namespace, name }: { namespace: string; name: string }) => {
      const o = api.get(id('Lease', namespace, name));
      if (!o) throw apiError(404, 'not found');
      return copy(o);
    },
    deleteNamespacedLease: async ({ namespace, name }: { namespace: string; name: string }) => {
      record('delete', 'Lease', namespace, name);
      if (!api.delete(id('Lease', namespace, name))) throw apiError(404, 'not found');
      return {};
    },
  } as unknown as ControllerContext['coordination'];

  const statusClient = (kind: string) =>
    ({
      applyStatus: async (
        namespace: string,
        name: string,
        _v: string,
        _k: string,
        status: object,
      ) => {
        record('applyStatus', kind, namespace, name);
        const key = id(kind, namespace, name);
        const o = api.get(key);
        if (!o) throw apiError(404, 'not found');
        const stored = (o as { status?: object }).status;
        api.set(key, { ...o, status: { ...stored, ...status } } as Obj);
        return o;
      },
    }) as unknown as CustomResourceClient<never>;

  const recorder: EventRecorder = {
    record: (target, e) =>
      void events.push(`${e.type} ${e.reason} ${target.kind}/${target.metadata.name}`),
    close: async () => {},
  };
  const guard = () => {
    if (opts.leader === false) throw new NotLeaderError();
  };
  const ctx: ControllerContext = {
    caches,
    children: makeChildren(objectsApi, guard),
    coordination,
    forwardedServers: statusClient('ForwardedServer') as CustomResourceClient<ForwardedServer>,
    jumpNodes: statusClient('JumpNode') as CustomResourceClient<JumpNode>,
    recorder,
    clock: new FakeClock(NOW),
    log: silentLogger(),
    settings: {
      runner: { image: 'runner:1', logLevel: 'info' },
      jumpNodeGraceMs: 60_000,
      directTargets: DEFAULT_DIRECT_POLICY,
    },
    // Every key Secret is one the admin labelled for runners.
    keySecret: async () => ({ found: true, labels: { [LABELS.runnerKey]: 'true' } }),
    guard,
  };
  return {
    ctx,
    actions,
    events,
    /** The object as the fake API server holds it now. */
    stored: <T>(kind: string, name: string, ns = NS) =>
      api.get(id(kind, ns, name)) as T | undefined,
    /** Every object the fake API server holds now (to start the next fixture from). */
    all: () => [...api.values()],
    reconcileServer: (name: string) => forwardedServerReconciler(ctx)(objectKey(NS, name)),
    reconcileJumpNode: (name: string) => jumpNodeReconciler(ctx)(objectKey(NS, name)),
  };
}

// Builders of the test objects.

export function jumpNode(name: string, spec: Partial<JumpNode['spec']> = {}): JumpNode {
  return {
    apiVersion: API_VERSION,
    kind: JUMP_NODE.kind,
    metadata: { name, namespace: NS },
    spec: {
      host: 'login.example.org',
      username: 'tunnel',
      privateKeySecretRef: { name: `${name}-key` },
      hostKeys: [HOST_KEY],
      ...spec,
    },
  };
}

export function forwardedServer(
  user: string,
  server: string,
  spec: Partial<ForwardedServer['spec']> = {},
): ForwardedServer {
  return {
    apiVersion: API_VERSION,
    kind: FORWARDED_SERVER.kind,
    metadata: { name: serverResourceName(user, server), namespace: NS },
    spec: { user: { name: user, id: 1 }, serverName: server, startId: 'start-1', ...spec },
  };
}

/** A child object named `name`, controlled by `owner` (or by nobody). */
export function child(
  apiVersion: string,
  kind: string,
  name: string,
  owner?: StoreObject & { apiVersion: string; kind: string; metadata: { name: string } },
): StoreObject {
  const ownerReferences = owner
    ? [
        controllerRef({
          apiVersion: owner.apiVersion,
          kind: owner.kind,
          metadata: {
            name: owner.metadata.name,
            uid: owner.metadata.uid ?? uidOf(owner.kind, owner.metadata.name),
          },
        }),
      ]
    : undefined;
  return {
    apiVersion,
    kind,
    metadata: { name, namespace: NS, ownerReferences } as StoreObject['metadata'],
  };
}
