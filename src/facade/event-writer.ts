// Stores posted progress events with group commit: events for one server that arrive while a
// write for it is in flight are written together in the next single status write. Each write is
// read (cache first, the API after a conflict) → decideEvents → applyStatus with the
// resourceVersion read, retried on conflict, so concurrent posts, in this replica or in others,
// never overwrite each other. When the store refuses a batch's write as such ('invalid' or
// 'rejected'), its events are written one by one, so one caller's bad event fails only that
// caller.
import type { EventCaps } from '../resources/events.js';
import { KeyedSerializer, retryOnConflict } from './concurrency.js';
import { isStoreError, notFound } from './errors.js';
import type { FacadeMetrics } from './metrics.js';
import { decideEvents, isStopping, type EventOutcome, type PendingEvent } from './server-logic.js';
import type { ServerStore } from './store.js';

const MAX_BATCH = 500;

type CancelResult = 'cancelled' | 'alreadyStopping' | 'otherStart';

/** The status write itself was refused (not a conflict, not an outage): `refusal` says why. */
class RefusedWrite extends Error {
  constructor(readonly refusal: unknown) {
    super('status write refused');
  }
}

interface Waiting {
  item: PendingEvent;
  resolve: (o: EventOutcome) => void;
  reject: (e: unknown) => void;
}

export interface EventWriterDeps {
  store: ServerStore;
  serializer: KeyedSerializer;
  caps: EventCaps;
  metrics: FacadeMetrics;
  writeAttempts: number;
}

export class EventWriter {
  private readonly queued = new Map<string, Waiting[]>();

  constructor(private readonly deps: EventWriterDeps) {}

  /** Resolves once the event is stored (or found not to be stored) in the server's status. */
  submit(name: string, item: PendingEvent): Promise<EventOutcome> {
    return new Promise((resolve, reject) => {
      const queue = this.queued.get(name);
      if (queue) queue.push({ item, resolve, reject });
      else {
        this.queued.set(name, [{ item, resolve, reject }]);
        void this.deps.serializer.run(name, () => this.flush(name));
      }
    });
  }

  private async flush(name: string): Promise<void> {
    const all = this.queued.get(name) ?? [];
    const batch = all.splice(0, MAX_BATCH);
    if (all.length) void this.deps.serializer.run(name, () => this.flush(name));
    else this.queued.delete(name);
    try {
      const outcomes = await this.write(
        name,
        batch.map((w) => w.item),
      );
      batch.forEach((w, i) => w.resolve(outcomes[i]!));
    } catch (err) {
      if (!(err instanceof RefusedWrite) || batch.length === 1)
        for (const w of batch) w.reject(err instanceof RefusedWrite ? err.refusal : err);
      else for (const w of batch) await this.writeAlone(name, w);
    }
  }

  private async writeAlone(name: string, w: Waiting): Promise<void> {
    try {
      w.resolve((await this.write(name, [w.item]))[0]!);
    } catch (err) {
      w.reject(err instanceof RefusedWrite ? err.refusal : err);
    }
  }

  private async write(name: string, items: PendingEvent[]): Promise<EventOutcome[]> {
    const { store, caps, metrics } = this.deps;
    let cancelStartId: string | undefined;
    let attempt = 0;
    const outcomes = await retryOnConflict(
      async () => {
        // The first attempt trusts the cache (which includes our own latest write); after a
        // conflict, read the source of truth.
        const fs = attempt++ === 0 ? await store.read(name) : await store.get(name);
        if (!fs) throw notFound(`No server ${name}`);
        const decision = decideEvents(fs, items, caps);
        if (decision.status) {
          await store
            .applyStatus(name, fs.metadata.resourceVersion!, decision.status)
            .catch((err: unknown) => {
              if (isStoreError(err, 'invalid') || isStoreError(err, 'rejected'))
                throw new RefusedWrite(err);
              throw err;
            });
          metrics.eventBatchSize.observe(items.length);
        }
        cancelStartId = decision.cancel ? fs.spec.startId : undefined;
        return decision.outcomes;
      },
      {
        attempts: this.deps.writeAttempts,
        onConflict: () => metrics.writeConflicts.inc({ operation: 'events' }),
      },
    );
    if (cancelStartId !== undefined) await this.requestCancel(name, cancelStartId);
    for (const o of outcomes) metrics.events.inc({ outcome: o });
    return outcomes;
  }

  /**
   * Sets spec.cancelRequested for the start `startId` after its failed event, inside the server's
   * serializer slot. A no-op once set; 'otherStart' when a new start replaced it.
   */
  private async requestCancel(name: string, startId: string): Promise<CancelResult> {
    const { store, metrics } = this.deps;
    return retryOnConflict(
      async (): Promise<CancelResult> => {
        const fs = await store.get(name);
        if (!fs) throw notFound(`No server ${name}`);
        if (startId !== undefined && fs.spec.startId !== startId) return 'otherStart';
        if (isStopping(fs)) return 'alreadyStopping';
        await store.patchSpec(name, fs.metadata.resourceVersion!, { cancelRequested: true });
        return 'cancelled';
      },
      {
        attempts: this.deps.writeAttempts,
        onConflict: () => metrics.writeConflicts.inc({ operation: 'cancel' }),
      },
    );
  }
}
