import type { Condition, ForwardedServer, JumpNode } from '../../src/api/types.js';
import { FakeClock } from '../../src/clock.js';
import { rfc3339 } from '../../src/resources/conditions.js';
import type { WantedCondition } from '../../src/runner/conditions.js';
import { JUMP_NODE_KEY, RunnerStatus, type StatusSources } from '../../src/runner/status.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const iso = rfc3339;

type Fields = { conditions: Condition[]; connectedSince?: string; lastRestartHandled?: string };

/** An API with one ForwardedServer and the JumpNode, applying like server-side apply would for one manager. */
function world() {
  const clock = new FakeClock(T0);
  let rv = 1;
  const fs: ForwardedServer = {
    apiVersion: 'forward.hub.jupyter.org/v1alpha1',
    kind: 'ForwardedServer',
    metadata: { name: 'alice', namespace: 'ns', resourceVersion: '1', generation: 1 },
    spec: { user: { name: 'alice', id: 1 }, startId: 's' },
    status: {
      phase: 'Connecting',
      conditions: [
        { type: 'Ready', status: 'False', reason: 'Op', message: '', lastTransitionTime: iso(T0) },
      ],
    },
  };
  const jn: JumpNode = {
    apiVersion: 'forward.hub.jupyter.org/v1alpha1',
    kind: 'JumpNode',
    metadata: { name: 'jn', namespace: 'ns', resourceVersion: '1', generation: 1 },
    spec: { host: 'h', username: 'u', privateKeySecretRef: { name: 'k' } },
    status: {},
  };
  const applied: Array<{ key: string; fields: Fields }> = [];
  let wanted: WantedCondition[] | { recheckAfterMs: number } | undefined;
  let connected: WantedCondition = {
    type: 'Connected',
    status: 'False',
    reason: 'Connecting',
    message: 'm',
  };
  let since: number | undefined;
  let restartHandled: string | undefined;
  /** What another writer (a peer replica) does to the object. */
  const peerWrites = (obj: ForwardedServer | JumpNode, status: object) => {
    Object.assign(obj.status!, status);
    obj.metadata.resourceVersion = String(++rv);
  };
  /** Server-side apply for one manager: the object as stored afterwards (the cache lags). */
  const apply = async <O extends ForwardedServer | JumpNode>(key: string, obj: O, f: object) => {
    const fields = JSON.parse(JSON.stringify(f)) as Fields;
    applied.push({ key, fields });
    const others = (obj.status?.conditions ?? []).filter(
      (c) => !fields.conditions.some((l) => l.type === c.type),
    );
    const status = { ...obj.status, ...fields, conditions: [...others, ...fields.conditions] };
    return { ...obj, metadata: { ...obj.metadata, resourceVersion: String(++rv) }, status } as O;
  };
  const src: StatusSources = {
    clock,
    peerGraceMs: 30_000,
    current: (key) => (key === JUMP_NODE_KEY ? jn : fs),
    wantedServer: () => wanted,
    wantedJumpNode: () => ({ connected, since, restartHandled }),
    forwardedServers: { applyStatus: (_ns, _n, _a, _k, f) => apply('ns/alice', fs, f) },
    jumpNodes: { applyStatus: (_ns, _n, _a, _k, f) => apply(JUMP_NODE_KEY, jn, f) },
  };
  return {
    clock,
    fs,
    jn,
    applied,
    status: new RunnerStatus(src),
    peerWrites,
    /** Lets the informer cache catch up with the last apply. */
    sync(key: string) {
      const obj = key === JUMP_NODE_KEY ? jn : fs;
      const last = applied.filter((a) => a.key === key).pop()!.fields;
      const others = (obj.status!.conditions ?? []).filter(
        (c) => !last.conditions.some((l) => l.type === c.type),
      );
      const {
        connectedSince: _c,
        lastRestartHandled: _l,
        ...rest
      } = obj.status as JumpNode['status'] & object;
      obj.status = { ...rest, ...last, conditions: [...others, ...last.conditions] } as never;
      obj.metadata.resourceVersion = String(++rv);
    },
    setWanted: (w: typeof wanted) => (wanted = w),
    setConnected: (c: WantedCondition, s?: number) => ((connected = c), (since = s)),
    setRestart: (v: string) => (restartHandled = v),
  };
}

const acquire = async () => {};
const apiError = (code: number, message: string) => Object.assign(new Error(message), { code });
const tunnel = (status: Condition['status'], reason: string): WantedCondition[] => [
  { type: 'TunnelReady', status, reason, message: `tunnel ${reason}`, observedGeneration: 1 },
  {
    type: 'TargetReachable',
    status: 'Unknown',
    reason: 'Probing',
    message: 'p',
    observedGeneration: 1,
  },
];

describe('RunnerStatus', () => {
  it('writes both runner conditions, then skips while nothing changes (also before the cache catches up)', async () => {
    const w = world();
    w.setWanted(tunnel('True', 'Forwarding'));
    expect(await w.status.flush('ns/alice', acquire)).toEqual({ wrote: true });
    expect(w.applied[0]!.fields.conditions.map((c) => c.type)).toEqual([
      'TunnelReady',
      'TargetReachable',
    ]);
    // The cache has not seen the write yet: no second write.
    expect(await w.status.flush('ns/alice', acquire)).toEqual({ wrote: false });
    w.sync('ns/alice');
    w.clock.advance(5000);
    expect(await w.status.flush('ns/alice', acquire)).toEqual({ wrote: false });
    expect(w.applied).toHaveLength(1);
  });

  it('has nothing to say about a server without forward and without stale conditions', async () => {
    const w = world();
    w.setWanted(
      tunnel('False', 'WaitingForTarget').map((c) => ({
        ...c,
        reason: c.type === 'TunnelReady' ? 'WaitingForTarget' : 'NoTarget',
      })),
    );
    expect(await w.status.flush('ns/alice', acquire)).toEqual({ wrote: false });
    expect(w.applied).toHaveLength(0);
    w.setWanted(undefined);
    expect(await w.status.flush('ns/alice', acquire)).toEqual({ wrote: false });
  });

  it('writes nothing while a listener or first probe is pending, and asks to look again', async () => {
    const w = world();
    w.setWanted({ recheckAfterMs: 5000 });
    expect(await w.status.flush('ns/alice', acquire)).toEqual({
      wrote: false,
      recheckAfterMs: 5000,
    });
    expect(w.applied).toHaveLength(0);
  });

  it("keeps a peer's True and asks to look again after the grace period", async () => {
    const w = world();
    w.peerWrites(w.fs, {
      conditions: [
        {
          type: 'TunnelReady',
          status: 'True',
          reason: 'Forwarding',
          message: 'pod b',
          lastTransitionTime: iso(T0),
          observedGeneration: 1,
        },
        {
          type: 'TargetReachable',
          status: 'Unknown',
          reason: 'Probing',
          message: 'p',
          lastTransitionTime: iso(T0),
          observedGeneration: 1,
        },
      ],
    });
    w.clock.advance(10_000);
    w.setWanted(tunnel('False', 'ConnectionLost'));
    expect(await w.status.flush('ns/alice', acquire)).toEqual({
      wrote: false,
      recheckAfterMs: 30_000,
    });
    w.clock.advance(30_000);
    expect(await w.status.flush('ns/alice', acquire)).toEqual({ wrote: true });
    expect(w.applied[0]!.fields.conditions[0]).toMatchObject({
      status: 'False',
      reason: 'ConnectionLost',
    });
  });

  it('always applies the full set of JumpNode fields: keeps lastRestartHandled, drops connectedSince when down', async () => {
    const w = world();
    w.setConnected(
      { type: 'Connected', status: 'True', reason: 'Connected', message: 'up' },
      T0 + 500,
    );
    w.setRestart('r1');
    await w.status.flush(JUMP_NODE_KEY, acquire);
    expect(w.applied[0]!.fields).toEqual({
      conditions: [
        {
          type: 'Connected',
          status: 'True',
          reason: 'Connected',
          message: 'up',
          lastTransitionTime: iso(T0),
        },
      ],
      connectedSince: iso(T0 + 500),
      lastRestartHandled: 'r1',
    });
    w.sync(JUMP_NODE_KEY);
    w.clock.advance(60_000);
    w.setConnected({
      type: 'Connected',
      status: 'False',
      reason: 'ConnectionLost',
      message: 'down',
    });
    await w.status.flush(JUMP_NODE_KEY, acquire);
    expect(w.applied[1]!.fields).toEqual({
      conditions: [
        {
          type: 'Connected',
          status: 'False',
          reason: 'ConnectionLost',
          message: 'down',
          lastTransitionTime: iso(T0 + 60_000),
        },
      ],
      lastRestartHandled: 'r1',
    });
  });

  it("keeps a peer's connectedSince together with its Connected=True", async () => {
    const w = world();
    w.peerWrites(w.jn, {
      conditions: [
        {
          type: 'Connected',
          status: 'True',
          reason: 'Connected',
          message: 'pod b',
          lastTransitionTime: iso(T0),
        },
      ],
      connectedSince: iso(T0 - 1000),
      lastRestartHandled: 'r0',
    });
    w.clock.advance(1000);
    w.setConnected(
      { type: 'Connected', status: 'True', reason: 'Connected', message: 'pod a' },
      T0 + 900,
    );
    expect(await w.status.flush(JUMP_NODE_KEY, acquire)).toEqual({ wrote: false });
  });

  it('does not swallow API errors, and forgets objects that are gone', async () => {
    const w = world();
    w.setWanted(tunnel('True', 'Forwarding'));
    const failing = new RunnerStatus({
      clock: w.clock,
      peerGraceMs: 0,
      current: () => w.fs,
      wantedServer: () => tunnel('True', 'Forwarding'),
      wantedJumpNode: () => undefined,
      forwardedServers: { applyStatus: () => Promise.reject(apiError(404, 'gone')) },
      jumpNodes: { applyStatus: () => Promise.reject(apiError(404, 'gone')) },
    });
    expect(await failing.flush('ns/alice', acquire)).toEqual({ wrote: false });
    const broken = new RunnerStatus({
      clock: w.clock,
      peerGraceMs: 0,
      current: () => w.fs,
      wantedServer: () => tunnel('True', 'Forwarding'),
      wantedJumpNode: () => undefined,
      forwardedServers: { applyStatus: () => Promise.reject(apiError(403, 'forbidden')) },
      jumpNodes: { applyStatus: () => Promise.reject(apiError(403, 'forbidden')) },
    });
    await expect(broken.flush('ns/alice', acquire)).rejects.toThrow('forbidden');
  });
});
