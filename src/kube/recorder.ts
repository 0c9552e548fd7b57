// Kubernetes Events (events.k8s.io/v1) for every component. Recording never fails or delays the
// caller: an Event is sent in the background and a failure is logged. With `dedupeMs`, an Event
// whose object, reason and note repeat within that window is dropped. close() waits for the
// Events in flight.
import { randomBytes } from 'node:crypto';
import type { EventsV1Api } from '@kubernetes/client-node';
import { systemClock, type Clock } from '../clock.js';
import { errorMessage, type Logger } from '../log.js';
import { microTime } from '../resources/conditions.js';
import type { EventSpec } from '../resources/transitions.js';

export interface EventTarget {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; uid?: string; resourceVersion?: string };
}

export interface EventRecorder {
  record(target: EventTarget, event: EventSpec): void;
  close(): Promise<void>;
}

export interface RecorderOptions {
  /** reportingController, e.g. forward.hub.jupyter.org/operator. */
  controller: string;
  /** reportingInstance: the pod or process identity. */
  instance: string;
  log: Logger;
  clock?: Clock;
  /** Drop an Event that repeats object, reason and note within this many ms (default: never). */
  dedupeMs?: number;
}

/** Most remembered Events for deduplication before expired ones are swept. */
const DEDUPE_SWEEP_AT = 1000;

export function makeEventRecorder(
  api: Pick<EventsV1Api, 'createNamespacedEvent'>,
  opts: RecorderOptions,
): EventRecorder {
  const clock = opts.clock ?? systemClock;
  const pending = new Set<Promise<void>>();
  const sent = new Map<string, number>();

  const repeated = (target: EventTarget, event: EventSpec, now: number): boolean => {
    const window = opts.dedupeMs;
    if (!window) return false;
    const m = target.metadata;
    const id = `${target.kind}/${m.namespace}/${m.name}/${event.reason}/${event.note}`;
    const last = sent.get(id);
    if (last !== undefined && now - last < window) return true;
    sent.set(id, now);
    if (sent.size > DEDUPE_SWEEP_AT)
      for (const [k, t] of sent) if (now - t >= window) sent.delete(k);
    return false;
  };

  const send = async (target: EventTarget, event: EventSpec, now: number) => {
    const ns = target.metadata.namespace ?? 'default';
    const body = {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      // Named like client-go's recorder: <object>.<hex time><random>, unique across processes.
      metadata: {
        name: `${target.metadata.name}.${now.toString(16)}${randomBytes(4).toString('hex')}`,
        namespace: ns,
      },
      // client-node passes the string through unchanged; its type says Date.
      eventTime: microTime(now) as unknown as Date,
      reportingController: opts.controller,
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
      const now = clock.now();
      if (repeated(target, event, now)) return;
      const p = send(target, event, now).finally(() => pending.delete(p));
      pending.add(p);
    },
    async close() {
      await Promise.all([...pending]);
    },
  };
}
