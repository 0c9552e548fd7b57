// Kubernetes Events (events.k8s.io/v1) about the objects the operator reconciles. Recording
// never fails a reconcile: errors are logged, and events are sent in the background so a slow
// API server does not hold a worker. close() waits for the events in flight.
import type { EventsV1Api } from '@kubernetes/client-node';
import type { Logger } from '../log.js';
import { errorMessage } from '../log.js';
import { systemClock, type Clock } from '../clock.js';
import type { EventSpec } from '../resources/transitions.js';

export const REPORTING_CONTROLLER = 'forward.hub.jupyter.org/operator';

export interface EventTarget {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; uid?: string; resourceVersion?: string };
}

export interface EventRecorder {
  record(target: EventTarget, event: EventSpec): void;
  close(): Promise<void>;
}

/** metav1.MicroTime: RFC 3339 with exactly six fractional digits (the API server insists). */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export function makeEventRecorder(
  api: EventsV1Api,
  opts: { instance: string; log: Logger; clock?: Clock },
): EventRecorder {
  const clock = opts.clock ?? systemClock;
  const pending = new Set<Promise<void>>();
  let seq = 0;
  const send = async (target: EventTarget, event: EventSpec) => {
    const ns = target.metadata.namespace ?? 'default';
    const now = clock.now();
    const body = {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: {
        name: `${target.metadata.name}.${now.toString(16)}${(seq++ % 4096).toString(16).padStart(3, '0')}`,
        namespace: ns,
      },
      eventTime: microTime(now) as unknown as Date,
      reportingController: REPORTING_CONTROLLER,
      reportingInstance: opts.instance,
      action: event.action,
      reason: event.reason,
      type: event.type,
      note: event.note.slice(0, 1024),
      regarding: {
        apiVersion: target.apiVersion,
        kind: target.kind,
        name: target.metadata.name,
        namespace: ns,
        uid: target.metadata.uid,
        resourceVersion: target.metadata.resourceVersion,
      },
    };
    try {
      await api.createNamespacedEvent({ namespace: ns, body });
    } catch (err) {
      opts.log.warn('Failed to record Event', {
        namespace: ns,
        name: target.metadata.name,
        reason: event.reason,
        error: errorMessage(err),
      });
    }
  };
  return {
    record(target, event) {
      const p = send(target, event).finally(() => pending.delete(p));
      pending.add(p);
    },
    async close() {
      await Promise.all([...pending]);
    },
  };
}
