import type { Condition } from '../../src/api/types.js';
import { rfc3339 } from '../../src/resources/conditions.js';
import {
  resolveCondition,
  type OwnWrite,
  type WantedCondition,
} from '../../src/runner/conditions.js';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const at = (s: number) => rfc3339(T0 + s * 1000);

const cond = (
  status: Condition['status'],
  reason: string,
  sec: number,
  message = 'm',
): Condition => ({
  type: 'TunnelReady',
  status,
  reason,
  message,
  lastTransitionTime: at(sec),
});
const want = (status: Condition['status'], reason: string, message = 'm'): WantedCondition => ({
  type: 'TunnelReady',
  status,
  reason,
  message,
});
const own = (c: Condition): OwnWrite => ({
  status: c.status,
  lastTransitionTime: c.lastTransitionTime,
});

const GRACE = 30_000;

describe('resolveCondition', () => {
  type Row = [
    string,
    Condition | undefined,
    WantedCondition,
    { nowSec: number; own?: boolean; notTrueSinceSec?: number },
    { status: string; reason: string; time: number | 'kept'; recheck?: number },
  ];
  const peerTrue = cond('True', 'Forwarding', 10, 'via pod a');
  const rows: Row[] = [
    [
      'a new condition',
      undefined,
      want('True', 'Forwarding'),
      { nowSec: 50 },
      { status: 'True', reason: 'Forwarding', time: 50 },
    ],
    [
      'the same status and reason is kept as is',
      cond('False', 'X', 5),
      want('False', 'X'),
      { nowSec: 50 },
      { status: 'False', reason: 'X', time: 'kept' },
    ],
    [
      'a new reason keeps the transition time',
      cond('False', 'Connecting', 5),
      want('False', 'HostKeyMismatch'),
      { nowSec: 50 },
      { status: 'False', reason: 'HostKeyMismatch', time: 5 },
    ],
    [
      'True is written at once over False',
      cond('False', 'X', 5),
      want('True', 'Forwarding'),
      { nowSec: 50 },
      { status: 'True', reason: 'Forwarding', time: 50 },
    ],
    [
      'a runner drops its own True at once',
      peerTrue,
      want('False', 'ConnectionLost'),
      { nowSec: 50, own: true, notTrueSinceSec: 50 },
      { status: 'False', reason: 'ConnectionLost', time: 50 },
    ],
    [
      "a peer's True is kept during the grace period",
      peerTrue,
      want('False', 'ConnectionLost'),
      { nowSec: 50, notTrueSinceSec: 40 },
      { status: 'True', reason: 'Forwarding', time: 'kept', recheck: 20_000 },
    ],
    [
      "after the grace period, a peer's True older than the trouble is contradicted",
      peerTrue,
      want('False', 'ConnectionLost'),
      { nowSec: 80, notTrueSinceSec: 40 },
      { status: 'False', reason: 'ConnectionLost', time: 80 },
    ],
    [
      "a peer's True asserted after the trouble began is kept: that peer is alive",
      cond('True', 'Forwarding', 45),
      want('False', 'ConnectionLost'),
      { nowSec: 100, notTrueSinceSec: 40 },
      { status: 'True', reason: 'Forwarding', time: 'kept' },
    ],
    [
      'Unknown counts as not True too',
      peerTrue,
      want('Unknown', 'TunnelDown'),
      { nowSec: 50, notTrueSinceSec: 45 },
      { status: 'True', reason: 'Forwarding', time: 'kept', recheck: 25_000 },
    ],
  ];
  it.each(rows)('%s', (_name, current, wanted, ctx, expected) => {
    const r = resolveCondition(current, wanted, {
      now: T0 + ctx.nowSec * 1000,
      own: ctx.own && current ? own(current) : undefined,
      notTrueSince: ctx.notTrueSinceSec === undefined ? undefined : T0 + ctx.notTrueSinceSec * 1000,
      peerGraceMs: GRACE,
    });
    expect(r.condition.status).toBe(expected.status);
    expect(r.condition.reason).toBe(expected.reason);
    if (expected.time === 'kept') expect(r.condition).toBe(current);
    else expect(r.condition.lastTransitionTime).toBe(at(expected.time));
    expect(r.recheckAfterMs).toBe(expected.recheck);
  });

  it("refreshes its own message but never a peer's (no ping-pong between replicas)", () => {
    const current = cond('True', 'Forwarding', 10, 'via pod a');
    const ctx = { now: T0 + 60_000, peerGraceMs: GRACE };
    const mine = resolveCondition(current, want('True', 'Forwarding', 'via pod a, new target'), {
      ...ctx,
      own: own(current),
    });
    expect(mine.condition.message).toBe('via pod a, new target');
    expect(mine.condition.lastTransitionTime).toBe(current.lastTransitionTime);
    const peers = resolveCondition(current, want('True', 'Forwarding', 'via pod b'), ctx);
    expect(peers.condition).toBe(current);
  });

  it.each([
    { name: 'same status', wanted: 'True' as const, reason: 'Forwarding' },
    { name: 'a peer would be kept for the grace period', wanted: 'False' as const, reason: 'Down' },
  ])(
    'replaces a condition of an older generation at once, as a new assertion ($name)',
    ({ wanted, reason }) => {
      // E.g. the server moved here from another JumpNode, whose runner wrote True.
      const current = { ...cond('True', 'Forwarding', 10, 'via pod a'), observedGeneration: 1 };
      const r = resolveCondition(
        current,
        { ...want(wanted, reason, 'via pod b'), observedGeneration: 2 },
        { now: T0 + 60_000, peerGraceMs: GRACE, notTrueSince: T0 + 59_000 },
      );
      expect(r.recheckAfterMs).toBeUndefined();
      expect(r.condition).toMatchObject({
        status: wanted,
        observedGeneration: 2,
        lastTransitionTime: at(60),
      });
    },
  );
});
