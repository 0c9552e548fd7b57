import {
  API_VERSION,
  type Condition,
  type ForwardedServer,
  type JumpNode,
} from '../../src/api/types.js';
import { findCondition, rfc3339 } from '../../src/resources/conditions.js';
import { computeJumpNodeStatus } from '../../src/resources/jumpnode-status.js';
import { computeServerStatus, type ServerObservation } from '../../src/resources/server-status.js';
import { jumpNodeEvents, serverEvents } from '../../src/resources/transitions.js';

const NOW = new Date('2026-01-01T12:00:00Z');
const T0 = '2026-01-01T11:00:00Z';

function server(
  spec: Partial<ForwardedServer['spec']>,
  conditions: Condition[] = [],
  generation = 2,
): ForwardedServer {
  return {
    apiVersion: API_VERSION,
    kind: 'ForwardedServer',
    metadata: { name: 'jupyter-alice', namespace: 'hub', uid: 'u', generation },
    spec: { user: { name: 'alice', id: 1 }, serverName: '', startId: 's', ...spec },
    status: { conditions },
  };
}
const cond = (
  type: string,
  status: Condition['status'],
  reason = 'R',
  extra: Partial<Condition> = {},
): Condition => ({
  type,
  status,
  reason,
  message: `${type} ${reason}`,
  lastTransitionTime: T0,
  ...extra,
});
const tunnel = { jumpNodeRef: { name: 'hpc' }, target: { host: 'n1', port: 8000 } };
const applied: ServerObservation = {
  serviceName: 'jupyter-alice',
  runnerPort: 20001,
  url: 'http://x',
};
const GRACE = 60_000;

describe('computeServerStatus: phase and Ready', () => {
  it.each<[string, ForwardedServer, ServerObservation, string, string, string]>([
    [
      'cancel in progress',
      server(tunnel),
      { cancelDone: false },
      'Cancelling',
      'False',
      'Cancelling',
    ],
    ['cancel done', server(tunnel), { cancelDone: true }, 'Cancelled', 'False', 'Cancelled'],
    [
      'name mismatch',
      server(tunnel),
      { problem: { reason: 'NameMismatch', message: 'm' } },
      'Failed',
      'False',
      'NameMismatch',
    ],
    [
      'foreign Service',
      server(tunnel),
      { problem: { reason: 'ResourceExists', message: 'm' } },
      'Failed',
      'False',
      'ResourceExists',
    ],
    [
      'ports exhausted',
      server(tunnel),
      { problem: { reason: 'PortsExhausted', message: 'm' } },
      'Pending',
      'False',
      'PortsExhausted',
    ],
    [
      'delayed: no target yet',
      server({ jumpNodeRef: { name: 'hpc' } }),
      applied,
      'WaitingForTarget',
      'False',
      'WaitingForTarget',
    ],
    ['tunnel not reported yet', server(tunnel), applied, 'Connecting', 'False', 'TunnelNotReady'],
    [
      'tunnel down',
      server(tunnel, [cond('TunnelReady', 'False', 'SSHDown')]),
      applied,
      'Connecting',
      'False',
      'TunnelNotReady',
    ],
    [
      'tunnel up',
      server(tunnel, [cond('TunnelReady', 'True')]),
      applied,
      'Ready',
      'True',
      'TunnelReady',
    ],
    [
      'tunnel up, target reachable',
      server(tunnel, [cond('TunnelReady', 'True'), cond('TargetReachable', 'True')]),
      applied,
      'Ready',
      'True',
      'TunnelReady',
    ],
    [
      'tunnel up, target refuses',
      server(tunnel, [cond('TunnelReady', 'True'), cond('TargetReachable', 'False')]),
      applied,
      'Connecting',
      'False',
      'TargetUnreachable',
    ],
    [
      'tunnel up for an older generation',
      server(tunnel, [cond('TunnelReady', 'True', 'R', { observedGeneration: 1 })]),
      applied,
      'Connecting',
      'False',
      'TunnelNotReady',
    ],
    [
      'direct with target',
      server({ target: { host: 'n1', port: 8000 } }),
      { serviceName: 'jupyter-alice', url: 'http://n1:8000' },
      'Ready',
      'True',
      'DirectTarget',
    ],
    ['direct without target', server({}), {}, 'WaitingForTarget', 'False', 'WaitingForTarget'],
    [
      'direct with a loopback target: usable by a hub on the same host, so Ready',
      server({ target: { host: '127.0.0.1', port: 8000 } }),
      { url: 'http://127.0.0.1:8000', serviceSkipped: 'No Service: loopback' },
      'Ready',
      'True',
      'DirectTarget',
    ],
  ])('%s -> %s', (_n, fs, observed, phase, readyStatus, readyReason) => {
    const { status } = computeServerStatus(fs, observed, NOW, GRACE);
    expect(status.phase).toBe(phase);
    const ready = status.conditions.find((c) => c.type === 'Ready')!;
    expect([ready.status, ready.reason]).toEqual([readyStatus, readyReason]);
    expect(ready.message).not.toBe('');
  });

  it('says why a direct server with an unroutable target has no Service', () => {
    const { status } = computeServerStatus(
      server({ target: { host: '127.0.0.1', port: 8000 } }),
      {
        url: 'http://127.0.0.1:8000',
        serviceSkipped: 'No Service: the target is a loopback address',
      },
      NOW,
      GRACE,
    );
    const svc = status.conditions.find((c) => c.type === 'ServiceReady')!;
    expect([svc.status, svc.reason, svc.message]).toEqual([
      'False',
      'TargetNotRoutable',
      'No Service: the target is a loopback address',
    ]);
    expect(status.url).toBe('http://127.0.0.1:8000');
  });

  it('writes only the operator conditions, with observedGeneration', () => {
    const { status } = computeServerStatus(
      server(tunnel, [cond('TunnelReady', 'True')]),
      applied,
      NOW,
      GRACE,
    );
    expect(status.conditions.map((c) => c.type)).toEqual(['TargetKnown', 'ServiceReady', 'Ready']);
    expect(status.conditions.every((c) => c.observedGeneration === 2)).toBe(true);
    expect(status.observedGeneration).toBe(2);
    expect(status).toMatchObject({
      url: 'http://x',
      runnerPort: 20001,
      serviceName: 'jupyter-alice',
    });
  });

  it('drops url and runnerPort when cancelled', () => {
    const { status } = computeServerStatus(server(tunnel), { cancelDone: true }, NOW, GRACE);
    expect(status.url).toBeUndefined();
    expect(status.runnerPort).toBeUndefined();
  });

  it('keeps lastTransitionTime while status and reason stay, moves it otherwise', () => {
    const prev = [
      cond('Ready', 'False', 'TunnelNotReady'),
      cond('TargetKnown', 'True', 'TargetReported'),
    ];
    const same = computeServerStatus(server(tunnel, prev), applied, NOW, GRACE).status;
    expect(same.conditions.find((c) => c.type === 'Ready')!.lastTransitionTime).toBe(T0);
    expect(same.conditions.find((c) => c.type === 'TargetKnown')!.lastTransitionTime).toBe(T0);
    const moved = computeServerStatus(
      server(tunnel, [...prev, cond('TunnelReady', 'True')]),
      applied,
      NOW,
      GRACE,
    ).status;
    expect(moved.conditions.find((c) => c.type === 'Ready')!.lastTransitionTime).toBe(
      '2026-01-01T12:00:00Z',
    );
  });

  it('is Pending while a missing JumpNode may still appear, then Failed', () => {
    const missing: ServerObservation = { problem: { reason: 'JumpNodeNotFound', message: 'gone' } };
    const first = computeServerStatus(server(tunnel), missing, NOW, GRACE);
    expect(first.status.phase).toBe('Pending');
    expect(first.requeueAfterMs).toBe(GRACE);
    const since = rfc3339(NOW.getTime() - 45_000);
    const prev = [cond('Ready', 'False', 'JumpNodeNotFound', { lastTransitionTime: since })];
    const later = computeServerStatus(server(tunnel, prev), missing, NOW, GRACE);
    expect(later.status.phase).toBe('Pending');
    expect(later.requeueAfterMs).toBe(15_000);
    const expired = computeServerStatus(
      server(tunnel, prev),
      missing,
      new Date(NOW.getTime() + 15_000),
      GRACE,
    );
    expect(expired.status.phase).toBe('Failed');
    expect(expired.requeueAfterMs).toBeUndefined();
  });

  it('is pure: the same input gives the same status', () => {
    const fs = server(tunnel, [cond('TunnelReady', 'True')]);
    expect(computeServerStatus(fs, applied, NOW, GRACE)).toEqual(
      computeServerStatus(fs, applied, NOW, GRACE),
    );
  });
});

describe('serverEvents', () => {
  const at = (fs: ForwardedServer, o: ServerObservation) =>
    computeServerStatus(fs, o, NOW, GRACE).status;
  it("records no Event for a new server's first Connecting; its Ready Event names the port", () => {
    const connecting = at(server(tunnel), applied);
    expect(connecting.phase).toBe('Connecting');
    expect(serverEvents(undefined, connecting, 'hpc')).toEqual([]);
    const pending = { phase: 'Pending', conditions: [] };
    expect(serverEvents(pending, connecting, 'hpc')).toEqual([]);
    const readyFs = server(tunnel, [cond('TunnelReady', 'True'), cond('TargetReachable', 'True')]);
    const ready = at(readyFs, applied);
    const ev = serverEvents(connecting, ready, 'hpc');
    expect(ev.map((e) => [e.type, e.reason])).toEqual([['Normal', 'Ready']]);
    expect(ev[0]!.note).toMatch(/^Runner port 20001 forwards through JumpNode hpc to /);
  });
  it('records Connecting after the server was Ready (a lost tunnel)', () => {
    const readyFs = server(tunnel, [cond('TunnelReady', 'True'), cond('TargetReachable', 'True')]);
    const ready = at(readyFs, applied);
    const lost = at(server(tunnel, [cond('TunnelReady', 'False', 'SSHDown')]), applied);
    const ev = serverEvents(ready, lost, 'hpc');
    expect(ev.map((e) => [e.type, e.reason])).toEqual([['Normal', 'Connecting']]);
  });
  it("records a new server's first Connecting for another reason than the tunnel", () => {
    const fs = server(tunnel, [cond('TunnelReady', 'True'), cond('TargetReachable', 'False')]);
    const next = at(fs, applied);
    expect(findCondition(next.conditions, 'Ready')?.reason).toBe('TargetUnreachable');
    const ev = serverEvents(undefined, next, 'hpc');
    expect(ev.map((e) => [e.type, e.reason])).toEqual([['Normal', 'Connecting']]);
    expect(ev[0]!.note).toMatch(/^Allocated runner port 20001 on JumpNode hpc\. /);
  });
  it('records a new port alone when the phase stays', () => {
    const prev = at(server(tunnel), applied);
    const next = at(server(tunnel), { ...applied, runnerPort: 20002 });
    expect(serverEvents(prev, next, 'hpc')).toEqual([
      {
        type: 'Normal',
        reason: 'PortAllocated',
        action: 'AllocatePort',
        note: 'Allocated runner port 20002 on JumpNode hpc',
      },
    ]);
  });
  it('records nothing when nothing changed', () => {
    const next = at(server(tunnel), applied);
    expect(serverEvents(next, next, 'hpc')).toEqual([]);
  });
  it('warns once about a problem, by its reason', () => {
    const prev = at(server(tunnel), applied);
    const next = at(server(tunnel), {
      problem: { reason: 'JumpNodeNotFound', message: 'JumpNode hpc is gone' },
    });
    expect(serverEvents(prev, next, 'hpc')).toEqual([
      {
        type: 'Warning',
        reason: 'JumpNodeNotFound',
        action: 'Reconcile',
        note: 'JumpNode hpc is gone',
      },
    ]);
  });
  it('warns when the phase becomes Failed', () => {
    const prev = { phase: 'Pending', conditions: [cond('Ready', 'False', 'JumpNodeNotFound')] };
    const next = {
      ...at(server(tunnel), { problem: { reason: 'JumpNodeNotFound', message: 'm' } }),
      phase: 'Failed' as const,
    };
    expect(serverEvents(prev, next, 'hpc').map((e) => [e.type, e.reason])).toEqual([
      ['Warning', 'Failed'],
    ]);
  });
});

describe('computeJumpNodeStatus', () => {
  const jn = (conditions: Condition[] = []): JumpNode => ({
    apiVersion: API_VERSION,
    kind: 'JumpNode',
    metadata: { name: 'hpc', namespace: 'hub', generation: 3 },
    spec: { host: 'login', username: 'u', privateKeySecretRef: { name: 'k' } },
    status: { conditions },
  });
  it.each<[string, Condition[], Parameters<typeof computeJumpNodeStatus>[1], string, string]>([
    [
      'foreign child',
      [],
      {
        problem: { reason: 'ResourceExists', message: 'm' },
        desiredReplicas: 1,
        readyReplicas: 0,
        forwards: 0,
      },
      'False',
      'ResourceExists',
    ],
    [
      'scaled to zero',
      [],
      { desiredReplicas: 0, readyReplicas: 0, forwards: 0 },
      'False',
      'ScaledToZero',
    ],
    [
      'no pod ready',
      [],
      { desiredReplicas: 2, readyReplicas: 0, forwards: 3 },
      'False',
      'RunnerUnavailable',
    ],
    [
      'pods ready, not connected yet',
      [],
      { desiredReplicas: 2, readyReplicas: 1, forwards: 3 },
      'False',
      'Connecting',
    ],
    [
      'pods ready, connection failing',
      [cond('Connected', 'False', 'AuthFailed')],
      { desiredReplicas: 1, readyReplicas: 1, forwards: 0 },
      'False',
      'NotConnected',
    ],
    [
      'pods ready and connected',
      [cond('Connected', 'True')],
      { desiredReplicas: 1, readyReplicas: 1, forwards: 0 },
      'True',
      'RunnerReady',
    ],
  ])('%s -> Ready %s/%s', (_n, conditions, observed, status, reason) => {
    const s = computeJumpNodeStatus(jn(conditions), observed, NOW);
    expect(s.conditions.map((c) => c.type)).toEqual(['Ready', 'NamesUnique']);
    expect([s.conditions[0]!.status, s.conditions[0]!.reason]).toEqual([status, reason]);
    expect(s.conditions[1]).toMatchObject({ status: 'True', reason: 'NamesUnique' });
    expect(s.readyReplicas).toBe(observed.readyReplicas);
    expect(s.forwards).toBe(observed.forwards);
    expect(s.observedGeneration).toBe(3);
  });

  it('reports names shared with other JumpNodes as NamesUnique=False, with a Warning', () => {
    const observed = { desiredReplicas: 1, readyReplicas: 1, forwards: 0 };
    const ok = computeJumpNodeStatus(jn(), observed, NOW);
    const clash = computeJumpNodeStatus(
      jn(),
      { ...observed, nameCollisions: ['"hpc" also designates JumpNode impostor'] },
      NOW,
    );
    expect(clash.conditions[1]).toMatchObject({
      type: 'NamesUnique',
      status: 'False',
      reason: 'NameConflict',
      message: '"hpc" also designates JumpNode impostor: the facade refuses requests naming it',
    });
    expect(jumpNodeEvents(ok.conditions, clash.conditions)).toEqual([
      expect.objectContaining({ type: 'Warning', reason: 'NameConflict' }),
    ]);
    expect(jumpNodeEvents(clash.conditions, clash.conditions)).toEqual([]);
  });

  it('records an Event only when Ready changes', () => {
    const a = computeJumpNodeStatus(
      jn(),
      { desiredReplicas: 1, readyReplicas: 0, forwards: 0 },
      NOW,
    );
    expect(jumpNodeEvents(a.conditions, a.conditions)).toEqual([]);
    const b = computeJumpNodeStatus(
      jn(),
      {
        problem: { reason: 'ResourceExists', message: 'x' },
        desiredReplicas: 1,
        readyReplicas: 0,
        forwards: 0,
      },
      NOW,
    );
    expect(jumpNodeEvents(a.conditions, b.conditions)).toEqual([
      { type: 'Warning', reason: 'ResourceExists', action: 'Reconcile', note: 'x' },
    ]);
  });
});
