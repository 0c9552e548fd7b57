// What the runner should hold, derived from the JumpNode and the ForwardedServers (the SSH
// session's settings are in connection-settings.ts). Pure: the runner calls these on every change
// and converges its listeners and remote forwards towards the result.
import { DEFAULTS, type ForwardedServer, type HostPort, type JumpNode } from '../api/types.js';
import { objectKey } from '../names.js';
import { tunnelTargetCheck } from '../resources/target-policy.js';

export interface LocalForwardSpec {
  key: string;
  port: number;
  target: HostPort;
}

export interface RemoteForwardSpec {
  key: string;
  bindAddress: string;
  bindPort: number;
  target: HostPort;
}

export interface DesiredForwards {
  local: LocalForwardSpec[];
  remote: RemoteForwardSpec[];
  /** Keys whose forward lost a port clash to an older ForwardedServer, with the reason. */
  conflicts: Map<string, string>;
  /** Keys whose target the JumpNode's target policy refuses, with the reason (no forward). */
  refused: Map<string, string>;
  /**
   * Every ForwardedServer that names this JumpNode (the ones whose status the runner owns), as
   * of the last change of its forwardInputs (its status may have moved on since).
   */
  servers: Map<string, ForwardedServer>;
}

const byAge = (a: ForwardedServer, b: ForwardedServer) =>
  (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? '') ||
  a.metadata.name.localeCompare(b.metadata.name);

/**
 * Everything of a ForwardedServer that desiredForwards and the runner's wanted conditions
 * (wanted.ts) read, as one string: two versions of an object with the same inputs need no
 * reconcile, e.g. when only its status conditions changed (the runner's own writes).
 */
export function forwardInputs(fs: ForwardedServer): string {
  const m = fs.metadata;
  return JSON.stringify([
    m.uid,
    m.generation,
    m.creationTimestamp,
    m.deletionTimestamp,
    fs.spec,
    fs.status?.runnerPort,
  ]);
}

export function serverKey(fs: ForwardedServer): string {
  return objectKey(fs.metadata.namespace ?? '', fs.metadata.name);
}

/**
 * Forwards for the ForwardedServers of one JumpNode: a listener for each one with a target and a
 * runner port, a remote forward for each remoteForward. When two claim the same port, the older
 * one keeps it and the other is reported as a conflict (never silently shared). A cancelled
 * server keeps none: the hub must no longer reach it, nor it the hub.
 */
export function desiredForwards(
  servers: readonly ForwardedServer[],
  jumpNode: string,
  node?: JumpNode,
): DesiredForwards {
  const mine = servers
    .filter((fs) => fs.spec?.jumpNodeRef?.name === jumpNode && !fs.metadata.deletionTimestamp)
    .sort(byAge);
  const out: DesiredForwards = {
    local: [],
    remote: [],
    conflicts: new Map(),
    refused: new Map(),
    servers: new Map(),
  };
  const ports = new Map<number, string>();
  const binds = new Map<string, string>();
  const targetProblem = node && tunnelTargetCheck(node);
  for (const fs of mine) {
    const key = serverKey(fs);
    out.servers.set(key, fs);
    if (fs.spec.cancelRequested) continue;
    const port = fs.status?.runnerPort;
    const target = fs.spec.target;
    // Defence in depth: the facade and the operator refuse such a target too.
    const refused = target && targetProblem?.(target);
    if (refused) out.refused.set(key, refused);
    else if (port && target) {
      const holder = ports.get(port);
      if (holder) out.conflicts.set(key, `runner port ${port} is already used by ${holder}`);
      else {
        ports.set(port, fs.metadata.name);
        out.local.push({ key, port, target: { host: target.host, port: target.port } });
      }
    }
    const rf = fs.spec.remoteForward;
    if (rf) {
      const bindAddress = rf.bindAddress ?? DEFAULTS.remoteBindAddress;
      const bind = `${bindAddress}:${rf.bindPort}`;
      const holder = binds.get(bind);
      if (holder) out.conflicts.set(key, `remote forward ${bind} is already used by ${holder}`);
      else {
        binds.set(bind, fs.metadata.name);
        out.remote.push({ key, bindAddress, bindPort: rf.bindPort, target: { ...rf.target } });
      }
    }
  }
  return out;
}
