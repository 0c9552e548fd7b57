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

/** Entries to set and keys to delete. */
export interface Patch<T> {
  set: Record<string, T>;
  removed: string[];
}

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

/**
 * The change of a keyed collection since it was last seen: `sent` holds each key's value as last
 * sent (serialized), `read(key)` its value now (undefined: gone). Compares only `keys`; updates
 * `sent` to the values returned in the patch.
 */
export function diffKeys<T>(
  sent: Map<string, string>,
  keys: Iterable<string>,
  read: (key: string) => T | undefined,
): Patch<T> {
  const patch: Patch<T> = { set: {}, removed: [] };
  for (const key of keys) {
    const value = read(key);
    if (value === undefined) {
      if (sent.delete(key)) patch.removed.push(key);
      continue;
    }
    const text = JSON.stringify(value);
    if (sent.get(key) === text) continue;
    sent.set(key, text);
    patch.set[key] = value;
  }
  return patch;
}

/** Whether a patch changes nothing. */
export const emptyPatch = (p: Patch<unknown>): boolean =>
  p.removed.length === 0 && Object.keys(p.set).length === 0;

/** Applies a patch to a record in place. */
export function applyPatch<T>(target: Record<string, T>, p: Patch<T>): void {
  for (const k of p.removed) delete target[k];
  Object.assign(target, p.set);
}

export const emptyState = (): DataPlaneState => ({
  session: { phase: 'idle', failures: 0, insecure: false },
  local: {},
  remote: {},
  probes: {},
});
