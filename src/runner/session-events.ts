// Kubernetes Events on the JumpNode for SSH session transitions: Connected (Normal) when the
// session comes up, Disconnected when an established one is lost, and one Warning per new
// failure reason (HostKeyMismatch, AuthenticationFailed, ConnectionFailed, ...), so that
// `kubectl describe jumpnode` tells the story without the runner's logs.
import { API_VERSION, JUMP_NODE, type JumpNode } from '../api/types.js';
import type { EventRecorder } from '../kube/recorder.js';
import type { SessionSnapshot } from './session.js';

export function sessionEvents(
  session: () => SessionSnapshot,
  recorder: Pick<EventRecorder, 'record'>,
  jumpNode: () => JumpNode | undefined,
): () => void {
  let connected = false;
  let lastReason: string | undefined;
  return () => {
    const jn = jumpNode();
    if (!jn) return;
    const target = { apiVersion: API_VERSION, kind: JUMP_NODE.kind, metadata: jn.metadata };
    const record = (type: 'Normal' | 'Warning', reason: string, note: string) =>
      recorder.record(target, {
        type,
        reason,
        action: reason === 'Connected' ? 'Connect' : 'Disconnect',
        note,
      });
    const s = session();
    if (s.phase === 'connected') {
      if (!connected) record('Normal', 'Connected', `SSH session to ${s.server} is up`);
      connected = true;
      lastReason = undefined;
      return;
    }
    const problem = s.problem;
    if (connected && problem) {
      connected = false;
      record('Warning', 'Disconnected', problem.message);
      lastReason = problem.reason;
      return;
    }
    if (problem && problem.reason !== lastReason) {
      lastReason = problem.reason;
      record('Warning', problem.reason, problem.message);
    }
  };
}
