// The status applier against a fake status subresource that applies like server-side apply for
// one manager and returns the stored object with a new resourceVersion.
import { isDeepStrictEqual } from 'node:util';
import type { EventTarget } from '../../src/kube/recorder.js';
import {
  olderVersion,
  StatusApplier,
  type OwnedFields,
  type StatusObject,
} from '../../src/kube/status-applier.js';
import type { EventSpec } from '../../src/resources/transitions.js';

interface Obj extends StatusObject {
  status?: { phase?: string; other?: string };
}
type Fields = { phase: string };

const FIELDS: OwnedFields<Obj, Fields> = {
  apiVersion: 'v1',
  kind: 'Thing',
  fieldManager: 'me',
  read: (o) => (o.status?.phase ? { phase: o.status.phase } : undefined),
  transitions: (before, after) =>
    before?.phase === after.phase
      ? []
      : [{ type: 'Normal', reason: after.phase, action: 'Reconcile', note: `now ${after.phase}` }],
};

const obj = (rv: string, status?: Obj['status'], uid = 'u1'): Obj => ({
  metadata: { name: 'a', namespace: 'ns', uid, resourceVersion: rv },
  ...(status ? { status } : {}),
});

function fakeApi(start: Obj, opts: { fail?: number } = {}) {
  let stored = start;
  let rv = Number(start.metadata.resourceVersion);
  const calls: Array<{ fields: object; rv?: string; manager: string }> = [];
  return {
    calls,
    stored: () => stored,
    /** Another writer changes the object. */
    other(status: Obj['status']) {
      stored = {
        ...stored,
        metadata: { ...stored.metadata, resourceVersion: String(++rv) },
        status: { ...stored.status, ...status },
      };
      return stored;
    },
    client: {
      async applyStatus(
        _ns: string,
        _name: string,
        _apiVersion: string,
        _kind: string,
        fields: object,
        manager: string,
        resourceVersion?: string,
      ): Promise<Obj> {
        calls.push({ fields, rv: resourceVersion, manager });
        if (opts.fail) throw Object.assign(new Error(`status ${opts.fail}`), { code: opts.fail });
        const status = { ...stored.status, ...fields };
        if (isDeepStrictEqual(status, stored.status)) return stored;
        stored = { ...stored, metadata: { ...stored.metadata, resourceVersion: String(++rv) } };
        stored.status = status;
        return stored;
      },
    },
  };
}

function recorder() {
  const events: Array<{ target: EventTarget; event: EventSpec }> = [];
  return {
    events,
    record: (target: EventTarget, event: EventSpec) => events.push({ target, event }),
  };
}

describe('olderVersion', () => {
  it.each([
    ['9', '10', true],
    ['10', '9', false],
    ['10', '10', false],
    ['abc', '10', false],
    [undefined, '10', false],
    ['10', undefined, false],
  ])('%s older than %s: %s', (a, b, older) => {
    expect(olderVersion(a, b)).toBe(older);
  });
});

describe('StatusApplier.apply', () => {
  it.each([
    {
      name: 'writes fields the object does not have yet, with an Event for the transition',
      stored: obj('5'),
      fields: { phase: 'Ready' },
      outcome: 'written',
      calls: 1,
      reasons: ['Ready'],
    },
    {
      name: 'writes a change and records its transition',
      stored: obj('5', { phase: 'Pending', other: 'x' }),
      fields: { phase: 'Ready' },
      outcome: 'written',
      calls: 1,
      reasons: ['Ready'],
    },
    {
      name: 'skips a write that changes nothing, and records no transition',
      stored: obj('5', { phase: 'Ready', other: 'x' }),
      fields: { phase: 'Ready' },
      outcome: 'unchanged',
      calls: 0,
      reasons: [],
    },
  ])('$name', async ({ stored, fields, outcome, calls, reasons }) => {
    const api = fakeApi(stored);
    const rec = recorder();
    const applier = new StatusApplier(FIELDS, { client: api.client, recorder: rec });
    const r = await applier.apply(stored, fields);
    expect(r.outcome).toBe(outcome);
    expect(api.calls).toHaveLength(calls);
    expect(api.calls.every((c) => c.manager === 'me' && isDeepStrictEqual(c.fields, fields))).toBe(
      true,
    );
    expect(rec.events.map((e) => e.event.reason)).toEqual(reasons);
    expect(r.object.status?.phase).toBe('Ready');
  });

  it('records the events given for this reconcile even when the status is unchanged', async () => {
    const stored = obj('5', { phase: 'Ready' });
    const rec = recorder();
    const applier = new StatusApplier(FIELDS, { client: fakeApi(stored).client, recorder: rec });
    const repaired: EventSpec = { type: 'Normal', reason: 'Repaired', action: 'Apply', note: 'n' };
    await applier.apply(stored, { phase: 'Ready' }, { events: [repaired] });
    expect(rec.events).toEqual([
      { target: { apiVersion: 'v1', kind: 'Thing', metadata: stored.metadata }, event: repaired },
    ]);
  });

  it('passes the precondition and runs the hooks before the call, not before a skip', async () => {
    const order: string[] = [];
    const stored = obj('5', { phase: 'Pending' });
    const api = fakeApi(stored);
    const applier = new StatusApplier(FIELDS, {
      client: api.client,
      beforeWrite: () => void order.push('deps'),
    });
    await applier.apply(stored, { phase: 'Pending' }, { beforeWrite: () => void order.push('x') });
    expect(order).toEqual([]);
    await applier.apply(
      stored,
      { phase: 'Ready' },
      { resourceVersion: '5', beforeWrite: () => void order.push('opts') },
    );
    expect(order).toEqual(['opts', 'deps']);
    expect(api.calls[0]!.rv).toBe('5');
  });

  it('writes nothing when a hook throws (e.g. no longer the leader)', async () => {
    const stored = obj('5', { phase: 'Pending' });
    const api = fakeApi(stored);
    const applier = new StatusApplier(FIELDS, {
      client: api.client,
      beforeWrite: () => {
        throw new Error('not the leader');
      },
    });
    await expect(applier.apply(stored, { phase: 'Ready' })).rejects.toThrow('not the leader');
    expect(api.calls).toHaveLength(0);
  });

  it.each([
    { code: 404, outcome: 'gone' as const },
    { code: 409, error: 'status 409' },
    { code: 500, error: 'status 500' },
  ])('API error $code', async ({ code, outcome, error }) => {
    const stored = obj('5', { phase: 'Pending' });
    const seen: string[] = [];
    const applier = new StatusApplier(FIELDS, {
      client: fakeApi(stored, { fail: code }).client,
      observe: (o) => void seen.push(o),
    });
    const p = applier.apply(stored, { phase: 'Ready' });
    if (error) await expect(p).rejects.toThrow(error);
    else expect((await p).outcome).toBe(outcome);
    expect(seen).toEqual([outcome ?? 'error']);
  });
});

describe('StatusApplier.view: its own write until the cache catches up', () => {
  it.each([
    {
      name: 'the cache still holds the version the write replaced: the written object',
      cacheRv: '5',
      viewRv: '6',
    },
    {
      name: "the cache holds another writer's version from before our write: the written object",
      cacheRv: 'other-before',
      viewRv: '7',
    },
    { name: 'the cache shows our write: the cache', cacheRv: 'written', viewRv: 'written' },
    {
      name: "the cache shows another writer's later version: the cache",
      cacheRv: 'other-after',
      viewRv: 'other-after',
    },
  ])('$name', async ({ cacheRv, viewRv }) => {
    const start = obj('5', { phase: 'Pending' });
    const api = fakeApi(start);
    const applier = new StatusApplier(FIELDS, { client: api.client });
    let before: Obj | undefined;
    if (cacheRv === 'other-before') before = api.other({ other: 'peer' }); // rv 6
    const { object: written } = await applier.apply(start, { phase: 'Ready' });
    const after = cacheRv === 'other-after' ? api.other({ other: 'later' }) : undefined;
    const cached =
      cacheRv === 'written' ? written : (after ?? before ?? obj(cacheRv, start.status));
    const expectedRv =
      viewRv === 'written'
        ? written.metadata.resourceVersion
        : viewRv === 'other-after'
          ? after!.metadata.resourceVersion
          : viewRv;
    const v = applier.view(cached);
    expect(v.metadata.resourceVersion).toBe(expectedRv);
    // Whatever the view, a second apply of the same fields sends nothing while it says Ready.
    if (v.status?.phase === 'Ready') {
      expect((await applier.apply(v, { phase: 'Ready' })).outcome).toBe('unchanged');
      expect(api.calls).toHaveLength(1);
    }
  });

  it('never masks a newer object: once the cache moved past the write, the memory is gone', async () => {
    const start = obj('5', { phase: 'Pending' });
    const api = fakeApi(start);
    const applier = new StatusApplier(FIELDS, { client: api.client });
    await applier.apply(start, { phase: 'Ready' }); // rv 6
    const later = api.other({ phase: 'Failed' }); // rv 7, e.g. a person's kubectl edit
    expect(applier.view(later)).toBe(later);
    expect(applier.view(start)).toBe(start); // memory dropped: a stale cache is just the cache
  });

  it('a recreated object (new uid) is never shadowed by the old one', async () => {
    const start = obj('5', { phase: 'Pending' });
    const applier = new StatusApplier(FIELDS, { client: fakeApi(start).client });
    await applier.apply(start, { phase: 'Ready' }); // rv 6, uid u1
    const recreated = obj('3', undefined, 'u2');
    expect(applier.view(recreated)).toBe(recreated);
  });

  it('forget() and remember()', async () => {
    const start = obj('5', { phase: 'Pending' });
    const applier = new StatusApplier(FIELDS, { client: fakeApi(start).client });
    const mine = obj('9', { phase: 'Mine' });
    applier.remember(mine);
    expect(applier.view(start)).toBe(mine);
    applier.forget('ns/a');
    expect(applier.view(start)).toBe(start);
  });
});
