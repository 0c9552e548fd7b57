// The event writer's group commit over a MemoryStore: events submitted while a write is pending
// are written together, and a batch whose write the store refuses is then written event by
// event, so one bad event fails only its own caller.
import { KeyedSerializer } from '../../src/facade/concurrency.js';
import { StoreError } from '../../src/facade/errors.js';
import { EventWriter } from '../../src/facade/event-writer.js';
import { createMetrics } from '../../src/facade/metrics.js';
import { DEFAULT_EVENT_CAPS } from '../../src/resources/events.js';
import { MemoryStore } from './facade-memory-store.js';

async function setUp() {
  const store = new MemoryStore('ns');
  await store.create({
    apiVersion: 'forward.hub.jupyter.org/v1alpha1',
    kind: 'ForwardedServer',
    metadata: { name: 'fs1' },
    spec: { user: { name: 'alice', id: 1 }, serverName: '', startId: 's1' },
  });
  const writer = new EventWriter({
    store,
    serializer: new KeyedSerializer(),
    caps: DEFAULT_EVENT_CAPS,
    metrics: createMetrics(),
    writeAttempts: 3,
  });
  return { store, writer };
}

const outcome = (p: Promise<unknown>) =>
  p.then(
    (o) => o,
    (e: unknown) => e,
  );

it('a refused batch is retried event by event: only the bad event fails', async () => {
  const { store, writer } = await setUp();
  const refused: number[] = [];
  store.refuseStatus = (status) => {
    if (!status.events.some((e) => e.message === 'poison')) return undefined;
    refused.push(status.events.length);
    return new StoreError('rejected', 'error decoding YAML');
  };
  const messages = ['a', 'b', 'c', 'd', 'e', 'poison', 'f', 'g', 'h', 'i', 'j'];
  // Submitted in one turn of the event loop: one batch.
  const results = await Promise.all(
    messages.map((message) => outcome(writer.submit('fs1', { event: { message }, failed: false }))),
  );
  expect(results.map((r) => (r instanceof StoreError ? r.kind : r))).toEqual(
    messages.map((m) => (m === 'poison' ? 'rejected' : 'stored')),
  );
  // First the whole batch, then the poison alone.
  expect(refused).toEqual([11, 6]);
  const stored = (await store.get('fs1'))!.status!.events!.map((e) => e.message);
  expect(stored).toEqual(messages.filter((m) => m !== 'poison'));
});

it('an outage fails the whole batch at once (no event-by-event retry)', async () => {
  const { store, writer } = await setUp();
  let writes = 0;
  store.beforeWrite = () => {
    writes++;
    throw new StoreError('unavailable', 'connect ECONNREFUSED');
  };
  const results = await Promise.all(
    ['a', 'b', 'c'].map((message) =>
      outcome(writer.submit('fs1', { event: { message }, failed: false })),
    ),
  );
  expect(results.map((r) => (r as StoreError).kind)).toEqual([
    'unavailable',
    'unavailable',
    'unavailable',
  ]);
  expect(writes).toBe(1);
});
