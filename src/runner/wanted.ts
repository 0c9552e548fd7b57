// What the runner has to say about each object: the conditions it owns (contract 0001 §A), from
// its current view of the session, listeners, remote forwards and probes. Pure.
import type { ForwardedServer } from '../api/types.js';
import type { WantedCondition } from './conditions.js';
import type { ListenerState } from './local-forwards.js';
import type { ProbeResult } from './prober.js';
import type { RemoteState } from './remote-forwards.js';
import type { SessionSnapshot } from './session.js';

export const TUNNEL_READY = 'TunnelReady';
export const TARGET_REACHABLE = 'TargetReachable';
export const CONNECTED = 'Connected';

export interface ServerView {
  fs: ForwardedServer;
  listenHost: string;
  pod: string;
  session: SessionSnapshot;
  /** Set when the server has a target and a runner port (and no conflict). */
  local?: ListenerState;
  remote?: RemoteState;
  conflict?: string;
  /** Why the target policy refuses the target (no forward). */
  refused?: string;
  probe?: ProbeResult;
}

function sessionDown(s: SessionSnapshot): { reason: string; message: string } {
  const p = s.problem ?? {
    reason: s.phase === 'idle' ? 'NotConfigured' : 'Connecting',
    message: `Connecting to ${s.server ?? 'the jump node'}`,
  };
  return { reason: p.reason, message: `SSH connection is down: ${p.message}` };
}

function tunnelReady(v: ServerView): Omit<WantedCondition, 'type'> {
  const fs = v.fs;
  const pod = ` (runner pod ${v.pod})`;
  if (v.refused) return { status: 'False', reason: 'TargetNotAllowed', message: v.refused };
  if (v.conflict) return { status: 'False', reason: 'PortConflict', message: v.conflict };
  if (fs.spec.cancelRequested)
    return { status: 'False', reason: 'Cancelled', message: 'Cancelled: no forward is kept' };
  if (!v.local && !v.remote) {
    const reason = fs.spec.target ? 'WaitingForRunnerPort' : 'WaitingForTarget';
    const message = fs.spec.target
      ? 'status.runnerPort is not allocated yet'
      : 'spec.target is not set yet';
    return { status: 'False', reason, message };
  }
  if (v.local?.error) return { status: 'False', reason: 'ListenFailed', message: v.local.error };
  if (v.session.phase !== 'connected') {
    const down = sessionDown(v.session);
    const extra = v.local
      ? `; the listener on port ${v.local.port} stays open and resets new connections until it is back`
      : '';
    return { status: 'False', reason: down.reason, message: down.message + extra };
  }
  if (v.local && !v.local.listening)
    return { status: 'False', reason: 'Listening', message: `Opening port ${v.local.port}` };
  if (v.remote && !v.remote.registered)
    return {
      status: 'False',
      reason: v.remote.error ? 'RemoteForwardFailed' : 'RemoteForwardPending',
      message: v.remote.error ?? `Asking the jump node to listen on ${v.remote.bind}`,
    };
  const parts: string[] = [];
  if (v.local)
    parts.push(
      `${v.listenHost}:${v.local.port} forwards to ${v.local.target.host}:${v.local.target.port} through ${v.session.server}`,
    );
  if (v.remote)
    parts.push(
      `the jump node's ${v.remote.bind} forwards to ${v.remote.target.host}:${v.remote.target.port}`,
    );
  return { status: 'True', reason: 'Forwarding', message: parts.join('; ') + pod };
}

function targetReachable(v: ServerView): Omit<WantedCondition, 'type'> {
  if (!v.local) return { status: 'Unknown', reason: 'NoTarget', message: 'No forward to probe' };
  if (v.session.phase !== 'connected')
    return {
      status: 'Unknown',
      reason: 'TunnelDown',
      message: 'The target cannot be probed while the SSH connection is down',
    };
  if (!v.probe)
    return { status: 'Unknown', reason: 'Probing', message: 'The first probe has not finished' };
  return v.probe.reachable
    ? { status: 'True', reason: 'Reachable', message: v.probe.message }
    : { status: 'False', reason: 'Unreachable', message: v.probe.message };
}

/** TunnelReady and TargetReachable for one ForwardedServer. */
export function wantedServerConditions(v: ServerView): WantedCondition[] {
  const observedGeneration = v.fs.metadata.generation;
  const gen = observedGeneration === undefined ? {} : { observedGeneration };
  return [
    { type: TUNNEL_READY, ...tunnelReady(v), ...gen },
    { type: TARGET_REACHABLE, ...targetReachable(v), ...gen },
  ];
}

/** Connected for the JumpNode. */
export function wantedConnected(
  session: SessionSnapshot,
  pod: string,
  generation?: number,
): WantedCondition {
  const gen = generation === undefined ? {} : { observedGeneration: generation };
  if (session.phase === 'connected') {
    const warning = session.insecure
      ? '; WARNING: the host key is not verified (insecureSkipHostKeyCheck)'
      : '';
    return {
      type: CONNECTED,
      status: 'True',
      reason: 'Connected',
      message: `SSH session to ${session.server} is up${warning} (runner pod ${pod})`,
      ...gen,
    };
  }
  const down = sessionDown(session);
  return { type: CONNECTED, status: 'False', reason: down.reason, message: down.message, ...gen };
}
