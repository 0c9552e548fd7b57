// The runner's view of the API: its JumpNode, the ForwardedServers of its namespace and the key
// Secret, each through a supervised informer. The runner's Role allows the JumpNode and the
// Secret only by name (resourceNames), so those two are listed and watched with the field
// selector metadata.name=<name>. The Secret informer follows spec.privateKeySecretRef.name.
import {
  CustomObjectsApi,
  type CoreV1Api,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type V1Secret,
} from '@kubernetes/client-node';
import { GROUP, JUMP_NODE, VERSION, type ForwardedServer, type JumpNode } from '../api/types.js';
import type { Clock } from '../clock.js';
import type { Clients } from '../kube/client.js';
import { makeSupervisedInformer, type SupervisedInformer } from '../kube/informer.js';
import { errorMessage, type Logger } from '../log.js';

export interface WatchHandlers {
  jumpNodeChanged(): void;
  serverChanged(key: string, deleted: boolean): void;
  secretChanged(): void;
  /** One of the informers finished its first list. */
  synced(): void;
  resync(): void;
}

export interface RunnerWatch {
  jumpNode(): JumpNode | undefined;
  servers(): readonly ForwardedServer[];
  server(name: string): ForwardedServer | undefined;
  secret(): V1Secret | undefined;
  synced(): boolean;
  /** Points the Secret informer at this name (no-op if unchanged). */
  followSecret(name: string | undefined): void;
  stop(): Promise<void>;
}

export function startWatch(
  kc: KubeConfig,
  clients: Clients,
  opts: { namespace: string; jumpNode: string; log: Logger; clock: Clock },
  on: WatchHandlers,
): RunnerWatch {
  const { namespace, log, clock } = opts;
  const custom = kc.makeApiClient(CustomObjectsApi);
  const byName = (name: string) => `metadata.name=${name}`;
  const begin = (inf: { start(): Promise<void> }, what: string) =>
    inf
      .start()
      .then(() => on.synced())
      .catch((err) =>
        log.debug('Informer stopped before sync', { what, error: errorMessage(err) }),
      );

  const jn = makeSupervisedInformer<KubernetesObject>(kc, {
    name: 'JumpNode',
    path: clients.jumpNodes.path(namespace),
    fieldSelector: byName(opts.jumpNode),
    list: async () =>
      (await custom.listNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace,
        plural: JUMP_NODE.plural,
        fieldSelector: byName(opts.jumpNode),
      })) as KubernetesListObject<KubernetesObject>,
    log,
    clock,
  });
  for (const e of ['add', 'update', 'delete'] as const) jn.on(e, () => on.jumpNodeChanged());

  const fs = makeSupervisedInformer<KubernetesObject>(kc, {
    name: 'ForwardedServer',
    path: clients.forwardedServers.path(namespace),
    list: () =>
      clients.forwardedServers.list(namespace) as unknown as Promise<
        KubernetesListObject<KubernetesObject>
      >,
    log,
    clock,
    onResync: () => on.resync(),
  });
  const key = (o: KubernetesObject) => `${namespace}/${o.metadata?.name ?? ''}`;
  fs.on('add', (o) => on.serverChanged(key(o), false));
  fs.on('update', (o) => on.serverChanged(key(o), false));
  fs.on('delete', (o) => on.serverChanged(key(o), true));

  let secretName: string | undefined;
  let secret: SupervisedInformer<V1Secret> | undefined;
  const followSecret = (name: string | undefined) => {
    if (name === secretName) return;
    secretName = name;
    const old = secret;
    secret = undefined;
    if (old) void old.stop();
    if (!name) return;
    secret = makeSecretInformer(kc, clients.core, { namespace, name, log, clock });
    for (const e of ['add', 'update', 'delete'] as const) secret.on(e, () => on.secretChanged());
    void begin(secret, 'Secret');
  };

  void begin(jn, 'JumpNode');
  void begin(fs, 'ForwardedServer');
  return {
    // The API's JSON is what the cache holds; api/types.ts describes exactly that shape.
    jumpNode: () => jn.get(opts.jumpNode, namespace) as JumpNode | undefined,
    servers: () => fs.list(namespace) as unknown as readonly ForwardedServer[],
    server: (name) => fs.get(name, namespace) as ForwardedServer | undefined,
    secret: () => (secretName ? secret?.get(secretName, namespace) : undefined),
    synced: () => jn.hasSynced() && fs.hasSynced() && (!secret || secret.hasSynced()),
    followSecret,
    async stop() {
      await Promise.all([jn.stop(), fs.stop(), secret?.stop()]);
    },
  };
}

function makeSecretInformer(
  kc: KubeConfig,
  core: CoreV1Api,
  o: { namespace: string; name: string; log: Logger; clock: Clock },
): SupervisedInformer<V1Secret> {
  const fieldSelector = `metadata.name=${o.name}`;
  return makeSupervisedInformer<V1Secret>(kc, {
    name: 'Secret',
    path: `/api/v1/namespaces/${o.namespace}/secrets`,
    fieldSelector,
    list: () =>
      core.listNamespacedSecret({ namespace: o.namespace, fieldSelector }) as Promise<
        KubernetesListObject<V1Secret>
      >,
    log: o.log,
    clock: o.clock,
  });
}
