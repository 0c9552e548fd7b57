import type { CoordinationV1Api, V1Lease } from '@kubernetes/client-node';
import { FakeClock } from '../../src/clock.js';
import { startLeaderElection, type LeaderElector } from '../../src/kube/leader.js';
import { silentLogger } from '../../src/log.js';

/** An in-memory Lease store with the API server's compare-and-swap on resourceVersion. */
class FakeLeases {
  lease: V1Lease | undefined;
  rv = 0;
  down = new Set<string>();
  api(who: string): CoordinationV1Api {
    const err = (code: number) => Object.assign(new Error(String(code)), { code });
    const check = () => {
      if (this.down.has(who)) throw new Error('ECONNREFUSED');
    };
    return {
      readNamespacedLease: async () => {
        check();
        if (!this.lease) throw err(404);
        return structuredClone(this.lease);
      },
      createNamespacedLease: async ({ body }: { body: V1Lease }) => {
        check();
        if (this.lease) throw err(409);
        this.lease = {
          ...structuredClone(body),
          metadata: { ...body.metadata, resourceVersion: String(++this.rv) },
        };
        return this.lease;
      },
      replaceNamespacedLease: async ({ body }: { body: V1Lease }) => {
        check();
        if (body.metadata?.resourceVersion !== this.lease?.metadata?.resourceVersion)
          throw err(409);
        this.lease = {
          ...structuredClone(body),
          metadata: { ...body.metadata, resourceVersion: String(++this.rv) },
        };
        return this.lease;
      },
    } as unknown as CoordinationV1Api;
  }
}

const flush = async () => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
};

function candidate(store: FakeLeases, clock: FakeClock, identity: string) {
  const events: string[] = [];
  const elector: LeaderElector = startLeaderElection({
    api: store.api(identity),
    namespace: 'ns',
    name: 'lock',
    identity,
    leaseDurationMs: 15_000,
    renewDeadlineMs: 10_000,
    retryPeriodMs: 2_000,
    clock,
    log: silentLogger(),
    onStartedLeading: () => events.push('start'),
    onStoppedLeading: () => events.push('stop'),
  });
  return { elector, events };
}

async function step(clock: FakeClock, ms: number, by = 500) {
  for (let t = 0; t < ms; t += by) {
    clock.advance(by);
    await flush();
  }
}

describe('leader election', () => {
  it('elects exactly one of two candidates and keeps it while it renews', async () => {
    const store = new FakeLeases();
    const clock = new FakeClock(1_000_000);
    const a = candidate(store, clock, 'a');
    await flush();
    const b = candidate(store, clock, 'b');
    await step(clock, 60_000);
    expect(a.elector.isLeader()).toBe(true);
    expect(b.elector.isLeader()).toBe(false);
    expect(a.events).toEqual(['start']);
    expect(b.events).toEqual([]);
    expect(store.lease?.spec?.holderIdentity).toBe('a');
    await a.elector.close();
    await b.elector.close();
  });

  it('hands over at once when the leader releases the Lease on close()', async () => {
    const store = new FakeLeases();
    const clock = new FakeClock(1_000_000);
    const a = candidate(store, clock, 'a');
    await flush();
    const b = candidate(store, clock, 'b');
    await step(clock, 4_000);
    await a.elector.close();
    expect(a.events).toEqual(['start', 'stop']);
    await step(clock, 3_000);
    expect(b.elector.isLeader()).toBe(true);
    expect(store.lease?.spec?.leaseTransitions).toBe(1);
    await b.elector.close();
  });

  it('takes over from a dead leader only after the lease duration; the old leader stops first', async () => {
    const store = new FakeLeases();
    const clock = new FakeClock(1_000_000);
    const a = candidate(store, clock, 'a');
    await flush();
    const b = candidate(store, clock, 'b');
    await step(clock, 4_000);
    store.down.add('a');
    const cutAt = clock.now();
    let aStoppedAt = 0;
    let bStartedAt = 0;
    for (let t = 0; t < 30_000 && !bStartedAt; t += 250) {
      clock.advance(250);
      await flush();
      if (!aStoppedAt && !a.elector.isLeader()) aStoppedAt = clock.now();
      if (!bStartedAt && b.elector.isLeader()) bStartedAt = clock.now();
    }
    expect(a.events).toEqual(['start', 'stop']);
    expect(aStoppedAt - cutAt).toBeLessThanOrEqual(10_500);
    expect(bStartedAt - cutAt).toBeGreaterThanOrEqual(13_000);
    expect(aStoppedAt).toBeLessThan(bStartedAt);
    store.down.delete('a');
    await step(clock, 10_000);
    expect(a.elector.isLeader()).toBe(false);
    expect(b.elector.isLeader()).toBe(true);
    await a.elector.close();
    await b.elector.close();
  });

  it('leads again after the API server was unreachable for longer than the renew deadline', async () => {
    const store = new FakeLeases();
    const clock = new FakeClock(1_000_000);
    const a = candidate(store, clock, 'a');
    await step(clock, 2_000);
    store.down.add('a');
    await step(clock, 20_000);
    expect(a.elector.isLeader()).toBe(false);
    store.down.delete('a');
    await step(clock, 3_000);
    expect(a.elector.isLeader()).toBe(true);
    expect(a.events).toEqual(['start', 'stop', 'start']);
    await a.elector.close();
  });
});
