// The runner's view of the API: its JumpNode and the ForwardedServers of its namespace, each
// through a supervised informer. The runner's Role allows the JumpNode only by name
// (resourceNames), so it is listed and watched with the field selector metadata.name=<name>.
// The key Secret is not read through the API: it is a volume (key-file.ts).
// The ForwardedServer cache holds what the runner reads (metadata, spec, status.runnerPort and
// conditions), not the operator's progress events nor managedFields (trimServer).
import {
  CustomObjectsApi,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { GROUP, JUMP_NODE, VERSION, type ForwardedServer, type JumpNode } from '../api/types.js';
import type { Clock } from '../clock.js';
import type { Clients } from '../kube/client.js';
import { dropManagedFields, makeSupervisedInformer } from '../kube/informer.js';
import { errorMessage, type Logger } from '../log.js';

export interface WatchHandlers {
  jumpNodeChanged(): void;
  /** A ForwardedServer was added or changed (`fs`), or deleted (undefined). */
  serverChanged(key: string, fs: ForwardedServer | undefined): void;
  /** One of the informers finished its first list. */
  synced(): void;
  resync(): void;
}

export interface RunnerWatch {
  jumpNode(): JumpNode | undefined;
  servers(): readonly ForwardedServer[];
  server(name: string): ForwardedServer | undefined;
  synced(): boolean;
  stop(): Promise<void>;
}

/**
 * A ForwardedServer as the runner caches it: without metadata.managedFields and without the
 * progress events of its status (status.events, status.terminalEvent), which the runner never
 * reads. Everything else is kept.
 */
export function trimServer<T extends KubernetesObject>(obj: T): T {
  dropManagedFields(obj);
  const status = (obj as { status?: Partial<ForwardedServer['status']> }).status;
  if (status) {
    delete status.events;
    delete status.terminalEvent;
  }
  return obj;
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
    transform: trimServer,
    onResync: () => on.resync(),
  });
  const key = (o: KubernetesObject) => `${namespace}/${o.metadata?.name ?? ''}`;
  fs.on('add', (o) => on.serverChanged(key(o), o as ForwardedServer));
  fs.on('update', (o) => on.serverChanged(key(o), o as ForwardedServer));
  fs.on('delete', (o) => on.serverChanged(key(o), undefined));

  void begin(jn, 'JumpNode');
  void begin(fs, 'ForwardedServer');
  return {
    // The API's JSON is what the cache holds; api/types.ts describes exactly that shape.
    jumpNode: () => jn.get(opts.jumpNode, namespace) as JumpNode | undefined,
    servers: () => fs.list(namespace) as unknown as readonly ForwardedServer[],
    server: (name) => fs.get(name, namespace) as ForwardedServer | undefined,
    synced: () => jn.hasSynced() && fs.hasSynced(),
    async stop() {
      await Promise.all([jn.stop(), fs.stop()]);
    },
  };
}
