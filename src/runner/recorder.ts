// Kubernetes Events (events.k8s.io/v1) for the runner's notable transitions: connected,
// disconnected, host key or authentication refused. The same reason and note for the same object
// is sent at most once per DEDUPE_MS, and a failure to record never affects forwarding.
import type { EventsV1Api } from '@kubernetes/client-node';
import type { Clock } from '../clock.js';
import { errorMessage, type Logger } from '../log.js';
import { APP_NAME } from '../names.js';

export interface Regarding {
  apiVersion: string;
  kind: string;
  name: string;
  namespace: string;
  uid?: string;
}

export interface EventRecorder {
  record(regarding: Regarding, type: 'Normal' | 'Warning', reason: string, note: string): void;
}

const DEDUPE_MS = 10 * 60 * 1000;

export function eventRecorder(
  api: EventsV1Api,
  opts: { pod: string; clock: Clock; log: Logger },
): EventRecorder {
  const sent = new Map<string, number>();
  return {
    record(regarding, type, reason, note) {
      const now = opts.clock.now();
      const id = `${regarding.kind}/${regarding.name}/${reason}/${note}`;
      const last = sent.get(id);
      if (last !== undefined && now - last < DEDUPE_MS) return;
      sent.set(id, now);
      if (sent.size > 1000) for (const [k, t] of sent) if (now - t >= DEDUPE_MS) sent.delete(k);
      const body = {
        apiVersion: 'events.k8s.io/v1',
        kind: 'Event',
        metadata: { generateName: `${regarding.name}.`, namespace: regarding.namespace },
        eventTime: new Date(now),
        reportingController: `${APP_NAME}/runner`,
        reportingInstance: opts.pod,
        action: reason === 'Connected' ? 'Connect' : 'Disconnect',
        reason,
        note: note.slice(0, 1024),
        type,
        regarding,
      };
      api
        .createNamespacedEvent({ namespace: regarding.namespace, body })
        .catch((err) =>
          opts.log.warn('Failed to record Event', { reason, error: errorMessage(err) }),
        );
    },
  };
}
