// TypeScript mirror of crds/forwardedservers.yaml and crds/jumpnodes.yaml.
// The CRDs are the source of truth for validation; these types must describe the same shape.
// test/unit/crds.test.ts checks that every field here exists in the schema and vice versa.

export const GROUP = 'forward.hub.jupyter.org';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

export const FORWARDED_SERVER = {
  kind: 'ForwardedServer',
  plural: 'forwardedservers',
  singular: 'forwardedserver',
} as const;

export const JUMP_NODE = {
  kind: 'JumpNode',
  plural: 'jumpnodes',
  singular: 'jumpnode',
} as const;

/** Annotation on a JumpNode: any new value makes its runners reconnect at once. */
export const RESTARTED_AT_ANNOTATION = `${GROUP}/restarted-at`;

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

/** A Kubernetes condition (metav1.Condition). */
export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export interface HostPort {
  /** DNS name or IP address. */
  host: string;
  port: number;
}

// ---------------------------------------------------------------------------------------------
// ForwardedServer

export interface ForwardedServerSpec {
  user: { name: string; id: number };
  /** "" is the user's default server. */
  serverName?: string;
  /** Identity of one start attempt (the reference's uuid4 hex `start_id`). */
  startId: string;
  /** Where the notebook listens, as seen from the jump node (or from the cluster when direct). */
  target?: HostPort;
  /** Absent: the target is reachable from the cluster without SSH (the direct case). */
  jumpNodeRef?: { name: string };
  service?: { port?: number; labels?: Record<string, string> };
  /** `ssh -R`: expose an in-cluster address on the jump node. */
  remoteForward?: { bindAddress?: string; bindPort: number; target: HostPort };
  cancelRequested?: boolean;
}

export type ForwardedServerPhase =
  'Pending' | 'WaitingForTarget' | 'Connecting' | 'Ready' | 'Cancelling' | 'Cancelled' | 'Failed';

export const FORWARDED_SERVER_PHASES: readonly ForwardedServerPhase[] = [
  'Pending',
  'WaitingForTarget',
  'Connecting',
  'Ready',
  'Cancelling',
  'Cancelled',
  'Failed',
];

/** A progress event, as JupyterHub's spawn page understands it. */
export interface ProgressEvent {
  progress?: number;
  message?: string;
  html_message?: string;
  failed?: boolean;
}

export interface ForwardedServerStatus {
  phase?: ForwardedServerPhase;
  conditions?: Condition[];
  /** What the hub returns from `start()`: `http://{service}.{namespace}.svc:{port}` or the direct target. */
  url?: string;
  /** Port the tunnel runner listens on for this server (allocated per JumpNode). */
  runnerPort?: number;
  serviceName?: string;
  events?: ProgressEvent[];
  /** Events dropped from the front of `events` to respect the caps. */
  eventsDropped?: number;
  /** The final failure or cancel event a UI shows after the stream ends (reference `last_event`). */
  terminalEvent?: ProgressEvent;
  observedGeneration?: number;
}

export interface ForwardedServer {
  apiVersion: typeof API_VERSION;
  kind: 'ForwardedServer';
  metadata: ObjectMeta;
  spec: ForwardedServerSpec;
  status?: ForwardedServerStatus;
}

// ---------------------------------------------------------------------------------------------
// JumpNode

export interface Toleration {
  key?: string;
  operator?: 'Exists' | 'Equal';
  value?: string;
  effect?: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
  tolerationSeconds?: number;
}

export interface ResourceRequirements {
  requests?: Record<string, string>;
  limits?: Record<string, string>;
}

export interface JumpNodeSpec {
  host: string;
  port?: number;
  username: string;
  privateKeySecretRef: { name: string; key?: string };
  /** OpenSSH public host keys (`ssh-ed25519 AAAA...`), as in known_hosts without the host field. */
  hostKeys?: string[];
  insecureSkipHostKeyCheck?: boolean;
  /** Names remote systems use for this node (the reference's `system` / `ssh_node`). */
  aliases?: string[];
  /** Where this node's forwards may lead (src/resources/target-policy.ts). */
  targetPolicy?: {
    allowedCIDRs?: string[];
    allowedPorts?: Array<{ start: number; end: number }>;
  };
  keepalive?: { intervalSeconds?: number; countMax?: number };
  runner?: {
    replicas?: number;
    /** SSH connections per runner pod, each in its own thread; forwards are spread over them. */
    connections?: number;
    image?: string;
    resources?: ResourceRequirements;
    nodeSelector?: Record<string, string>;
    tolerations?: Toleration[];
    portRange?: { start: number; end: number };
  };
}

export interface JumpNodeStatus {
  conditions?: Condition[];
  observedGeneration?: number;
  readyReplicas?: number;
  /** Number of ForwardedServers with a runner port on this node. */
  forwards?: number;
  connectedSince?: string;
  /** The value of the restarted-at annotation that the runners last acted on. */
  lastRestartHandled?: string;
}

export interface JumpNode {
  apiVersion: typeof API_VERSION;
  kind: 'JumpNode';
  metadata: ObjectMeta;
  spec: JumpNodeSpec;
  status?: JumpNodeStatus;
}

/** Defaults that the CRD schema applies; code reading objects from the API may rely on them. */
export const DEFAULTS = {
  jumpNodePort: 22,
  privateKeySecretKey: 'ssh-privatekey',
  keepaliveIntervalSeconds: 10,
  keepaliveCountMax: 3,
  runnerReplicas: 1,
  runnerConnections: 1,
  portRange: { start: 20000, end: 29999 },
  servicePort: 8888,
  remoteBindAddress: 'localhost',
} as const;
