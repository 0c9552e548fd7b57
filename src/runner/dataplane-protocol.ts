// The messages between the runner's control plane (dataplane-client.ts) and its data plane
// (dataplane.ts), and the patch helpers both sides use. No runtime imports: the control-plane
// thread loads this without the data plane's modules (ssh2 among them).
import type { HostPort, JumpNode } from '../api/types.js';
import type { LocalForwardSpec, RemoteForwardSpec } from './desired.js';
import type { PrivateKeyFile } from './key-file.js';
import type { ListenerState } from './local-forwards.js';
import type { ProbeResult } from './prober.js';
import type { RemoteState } from './remote-forwards.js';
import type { SessionSnapshot } from './session.js';
import type { Patch } from './patch.js';

export type SessionEvent = 'ready' | 'down' | 'change';

export interface DataPlaneState {
  session: SessionSnapshot;
  local: Record<string, ListenerState>;
  remote: Record<string, RemoteState>;
  probes: Record<string, ProbeResult>;
}

/** Counter increments since the previous `stats` report. */
export interface StatsDelta {
  sshAttempts: number;
  sshFailures: Record<string, number>;
  sshDisconnects: Record<string, number>;
  probes: Record<string, number>;
  connections: Record<string, number>;
  channelOpenSeconds: number[];
  bytesToTarget: number;
  bytesFromTarget: number;
  remoteConnections: Record<string, number>;
}

export type Command =
  | { type: 'configure'; jumpNode?: JumpNode; key?: PrivateKeyFile }
  | { type: 'reconnectNow'; reason: string; notBefore?: number }
  | {
      type: 'sync';
      /** Undefined while draining: the listeners stay as they are. */
      local?: Patch<LocalForwardSpec>;
      remote: Patch<RemoteForwardSpec>;
      probes: Patch<HostPort>;
    }
  | { type: 'closeListeners' }
  | { type: 'request'; id: number; op: 'waitIdle'; timeoutMs: number }
  | { type: 'request'; id: number; op: 'stats' }
  | { type: 'request'; id: number; op: 'close' };

export interface StatePatch {
  session: SessionSnapshot;
  local: Patch<ListenerState>;
  remote: Patch<RemoteState>;
  probes: Patch<ProbeResult>;
}

export type Report =
  | { type: 'state'; patch: StatePatch; marked: string[]; events: SessionEvent[] }
  | {
      type: 'stats';
      /** Includes the bytes open connections moved since the previous report. */
      delta: StatsDelta;
      activeConnections: number;
    }
  | { type: 'reply'; id: number; value: number | null };

export const emptyState = (): DataPlaneState => ({
  session: { phase: 'idle', failures: 0, insecure: false },
  local: {},
  remote: {},
  probes: {},
});
