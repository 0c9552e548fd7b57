// Kubernetes Events (events.k8s.io/v1) for the runner's notable transitions: connected,
// disconnected, host key or authentication refused. The same reason and note for the same object
// is sent at most once per DEDUPE_MS, and a failure to record never affects forwarding.
import { randomBytes } from 'node:crypto';
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

const eventSuffix = (ms: number) => ms.toString(16) + randomBytes(4).toString('hex');

const microTime = (ms: number) => new Date(ms).toISOString().replace(/Z$/, '000Z');

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
        // Named like client-go's recorder: <object>.<hex time>, unique per event.
        metadata: { name: `${regarding.name}.${eventSuffix(now)}`, namespace: regarding.namespace },
        // MicroTime wants six fractional digits; client-node passes strings through unchanged.
        eventTime: microTime(now) as unknown as Date,
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
