// Kubernetes Events on the JumpNode for SSH session transitions: Connected (Normal) when the
// session comes up, Disconnected when an established one is lost, and one Warning per new
// failure reason (HostKeyMismatch, AuthenticationFailed, ConnectionFailed, ...), so that
// `kubectl describe jumpnode` tells the story without the runner's logs.
import { API_VERSION, JUMP_NODE, type JumpNode } from '../api/types.js';
import type { EventRecorder } from './recorder.js';
import type { SessionSnapshot } from './session.js';

export function sessionEvents(
  session: () => SessionSnapshot,
  recorder: EventRecorder,
  jumpNode: () => JumpNode | undefined,
): () => void {
  let connected = false;
  let lastReason: string | undefined;
  return () => {
    const jn = jumpNode();
    if (!jn) return;
    const regarding = {
      apiVersion: API_VERSION,
      kind: JUMP_NODE.kind,
      name: jn.metadata.name,
      namespace: jn.metadata.namespace ?? '',
      uid: jn.metadata.uid,
    };
    const s = session();
    if (s.phase === 'connected') {
      if (!connected)
        recorder.record(regarding, 'Normal', 'Connected', `SSH session to ${s.server} is up`);
      connected = true;
      lastReason = undefined;
      return;
    }
    const problem = s.problem;
    if (connected && problem) {
      connected = false;
      recorder.record(regarding, 'Warning', 'Disconnected', problem.message);
      lastReason = problem.reason;
      return;
    }
    if (problem && problem.reason !== lastReason) {
      lastReason = problem.reason;
      recorder.record(regarding, 'Warning', problem.reason, problem.message);
    }
  };
}
