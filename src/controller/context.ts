// What the reconcilers need, gathered in one object built by the operator (src/operator). The
// reconcilers read only from caches and write only through these clients, each write preceded
// by guard(), which throws once this process is no longer the leader.
import type {
  CoordinationV1Api,
  V1Deployment,
  V1EndpointSlice,
  V1Lease,
  V1Role,
  V1RoleBinding,
  V1Service,
  V1ServiceAccount,
} from '@kubernetes/client-node';
import type { ForwardedServer, JumpNode } from '../api/types.js';
import type { Clock } from '../clock.js';
import type { CustomResourceClient } from '../kube/client.js';
import type { Logger } from '../log.js';
import type { KeySecretLookup, RunnerSettings } from '../resources/runner.js';
import type { DirectTargetPolicy } from '../resources/target-policy.js';
import type { Children } from './children.js';
import type { ClaimIndexView } from './claim-index.js';
import type { EventRecorder } from '../kube/recorder.js';

/** A read-only informer cache. */
export interface Cache<T> {
  get(name: string, namespace?: string): T | undefined;
  list(namespace?: string): readonly T[];
}

export interface Caches {
  forwardedServers: Cache<ForwardedServer>;
  jumpNodes: Cache<JumpNode>;
  services: Cache<V1Service>;
  endpointSlices: Cache<V1EndpointSlice>;
  deployments: Cache<V1Deployment>;
  serviceAccounts: Cache<V1ServiceAccount>;
  roles: Cache<V1Role>;
  roleBindings: Cache<V1RoleBinding>;
  /** Port claims (Leases labelled as such). */
  portClaims: Cache<V1Lease>;
  /** The same port claims, indexed by holder and by JumpNode. */
  claims: ClaimIndexView;
}

export interface OperatorSettings {
  runner: RunnerSettings;
  /** Dev only: status.url of tunnelled servers is http://{localUrlHost}:{runnerPort}. */
  localUrlHost?: string;
  /** How long a ForwardedServer stays Pending when its JumpNode is missing before it is Failed. */
  jumpNodeGraceMs: number;
  /** Where direct servers may lead (JumpNodes carry their own policy). */
  directTargets: DirectTargetPolicy;
}

export interface ControllerContext {
  caches: Caches;
  children: Children;
  coordination: CoordinationV1Api;
  forwardedServers: CustomResourceClient<ForwardedServer>;
  jumpNodes: CustomResourceClient<JumpNode>;
  recorder: EventRecorder;
  /** The labels of a Secret (metadata only: the operator never reads Secret data). */
  keySecret(namespace: string, name: string): Promise<KeySecretLookup>;
  clock: Clock;
  log: Logger;
  settings: OperatorSettings;
  /** Throws NotLeaderError when this process must not write. */
  guard(): void;
}

export class NotLeaderError extends Error {
  constructor() {
    super('not the leader: refusing to write');
    this.name = 'NotLeaderError';
  }
}
