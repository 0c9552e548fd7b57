// Table-driven reconciles of the ForwardedServer and JumpNode controllers on a fake context
// (controller-fixture.ts): given the objects, the writes the reconcile sends, the Events it
// records and the phase it leaves. The same controllers against the real API server:
// test/integration/operator-controllers.test.ts.
import type { V1Service } from '@kubernetes/client-node';
import type { ForwardedServer, JumpNode } from '../../src/api/types.js';
import { NotLeaderError } from '../../src/controller/context.js';
import { runnerName } from '../../src/names.js';
import { buildPortClaim } from '../../src/resources/ports.js';
import {
  buildRunnerDeployment,
  buildRunnerRole,
  buildRunnerRoleBinding,
  buildRunnerServiceAccount,
} from '../../src/resources/runner.js';
import {
  NS,
  child,
  forwardedServer,
  jumpNode,
  newFixture,
  uidOf,
  type Action,
} from './controller-fixture.js';

const FS = 'jupyter-alice';
const RUNNER = runnerName('hpc');
const fsAction = (verb: string) => `${verb} ForwardedServer ${NS}/${FS}` as Action;
const svc = (verb: string) => `${verb} Service ${NS}/${FS}` as Action;
const anyClaim = (verb: string) =>
  expect.stringMatching(new RegExp(`^${verb} Lease ${NS}/hpc-port-\\d+$`));

const direct = (host = 'node1.example.org') =>
  forwardedServer('alice', '', { target: { host, port: 8888 } });
const tunnelled = (extra: Partial<ForwardedServer['spec']> = {}) =>
  forwardedServer('alice', '', {
    target: { host: 'node1', port: 8888 },
    jumpNodeRef: { name: 'hpc' },
    ...extra,
  });
const hpc = jumpNode('hpc');
/** The port claim the operator would have created for `owner`. */
const portClaim = (owner: ForwardedServer, port = 23000) =>
  buildPortClaim(
    { ...owner, metadata: { ...owner.metadata, uid: uidOf(owner.kind, owner.metadata.name) } },
    'hpc',
    port,
  );
const someoneElse = forwardedServer('bob', 'other');

interface ServerCase {
  name: string;
  /** The ForwardedServer reconciled (default jupyter-alice). */
  key?: string;
  objects: () => Parameters<typeof newFixture>[0];
  actions: unknown[];
  events: string[];
  phase?: string;
  reason?: string;
}

describe('ForwardedServer reconcile', () => {
  const cases: ServerCase[] = [
    {
      name: 'direct target with a host name: Service, then status Ready',
      objects: () => [direct()],
      actions: [svc('apply'), fsAction('applyStatus')],
      events: [`Normal Ready ForwardedServer/${FS}`],
      phase: 'Ready',
    },
    {
      name: 'direct target with an IP: EndpointSlice and Service, then status',
      objects: () => [direct('10.1.2.3')],
      actions: [`apply EndpointSlice ${NS}/${FS}`, svc('apply'), fsAction('applyStatus')],
      events: [`Normal Ready ForwardedServer/${FS}`],
      phase: 'Ready',
    },
    {
      name: 'tunnel: claims a runner port, applies the Service, waits for the runner (no Event yet)',
      objects: () => [hpc, tunnelled()],
      actions: [anyClaim('create'), svc('apply'), fsAction('applyStatus')],
      events: [],
      phase: 'Connecting',
    },
    {
      name: 'tunnel with a claim already held: no new claim',
      objects: () => [hpc, tunnelled(), portClaim(tunnelled())],
      actions: [svc('apply'), fsAction('applyStatus')],
      events: [],
      phase: 'Connecting',
    },
    {
      name: 'JumpNode missing: no Service, no claim, Pending',
      objects: () => [tunnelled()],
      actions: [fsAction('applyStatus')],
      events: [`Warning JumpNodeNotFound ForwardedServer/${FS}`],
      phase: 'Pending',
      reason: 'JumpNodeNotFound',
    },
    {
      name: 'a Service of that name controlled by another owner is not touched',
      objects: () => [direct(), someoneElse, child('v1', 'Service', FS, someoneElse)],
      actions: [fsAction('applyStatus')],
      events: [`Warning ResourceExists ForwardedServer/${FS}`],
      reason: 'ResourceExists',
    },
    {
      name: 'a Service of that name without any controller is not adopted',
      objects: () => [hpc, tunnelled(), child('v1', 'Service', FS)],
      actions: [anyClaim('create'), fsAction('applyStatus')],
      events: [
        `Warning ResourceExists ForwardedServer/${FS}`,
        `Normal PortAllocated ForwardedServer/${FS}`,
      ],
      reason: 'ResourceExists',
    },
    {
      name: 'a name that does not match user and server: only the status says so',
      key: 'jupyter-mallory',
      objects: () => [{ ...direct(), metadata: { name: 'jupyter-mallory', namespace: NS } }],
      actions: ['applyStatus ForwardedServer hub/jupyter-mallory'],
      events: ['Warning NameMismatch ForwardedServer/jupyter-mallory'],
      reason: 'NameMismatch',
    },
    {
      name: 'cancel: status Cancelling first, then Service and claim go, then Cancelled',
      objects: () => [
        hpc,
        tunnelled({ cancelRequested: true }),
        child('v1', 'Service', FS, tunnelled()),
        portClaim(tunnelled()),
      ],
      actions: [
        fsAction('applyStatus'),
        svc('delete'),
        `delete Lease ${NS}/hpc-port-23000`,
        fsAction('applyStatus'),
      ],
      events: [`Normal Cancelling ForwardedServer/${FS}`, `Normal Cancelled ForwardedServer/${FS}`],
      phase: 'Cancelled',
    },
    {
      name: "deleted server: its Service and claim are deleted, a stranger's Service is not",
      objects: () => [
        child('v1', 'Service', FS, tunnelled()),
        portClaim(tunnelled()),
        child('v1', 'Service', 'jupyter-bob--other', someoneElse),
      ],
      actions: [svc('delete'), `delete Lease ${NS}/hpc-port-23000`],
      events: [],
    },
  ];

  it.each(cases)('$name', async (c) => {
    const fx = newFixture(c.objects());
    const key = c.key ?? FS;
    await fx.reconcileServer(key);
    expect(fx.actions).toEqual(c.actions);
    expect(fx.events).toEqual(c.events);
    const stored = fx.stored<ForwardedServer>('ForwardedServer', key);
    if (c.phase) expect(stored?.status?.phase).toBe(c.phase);
    if (c.reason)
      expect(stored?.status?.conditions?.find((x) => x.type === 'Ready')?.reason).toBe(c.reason);
  });

  it.each([
    ['direct', () => [direct()]],
    ['tunnel', () => [hpc, tunnelled()]],
    ['JumpNode missing', () => [tunnelled()]],
  ])('a second reconcile of the result (%s) writes nothing', async (_n, objects) => {
    const first = newFixture(objects());
    await first.reconcileServer(FS);
    expect(first.actions.length).toBeGreaterThan(0);
    const second = newFixture(first.all());
    await second.reconcileServer(FS);
    expect(second.actions).toEqual([]);
    expect(second.events).toEqual([]);
  });

  it('restores a Service that drifted, with a Repaired Event', async () => {
    const first = newFixture([direct()]);
    await first.reconcileServer(FS);
    const drifted = first.all().map((o) => {
      if (o.kind !== 'Service') return o;
      const service = o as V1Service;
      return { ...service, spec: { ...service.spec, externalName: 'evil.example.org' } };
    });
    const second = newFixture(drifted);
    await second.reconcileServer(FS);
    expect(second.actions).toEqual([svc('apply')]);
    expect(second.events).toEqual([`Normal Repaired ForwardedServer/${FS}`]);
  });

  it('writes nothing when not the leader', async () => {
    const fx = newFixture([hpc, tunnelled()], { leader: false });
    await expect(fx.reconcileServer(FS)).rejects.toBeInstanceOf(NotLeaderError);
    expect(fx.actions).toEqual([]);
  });
});

describe('JumpNode reconcile', () => {
  const runnerChildren = ['ServiceAccount', 'Role', 'RoleBinding', 'Deployment'];
  const applyAll = runnerChildren.map((k) => `apply ${k} ${NS}/${RUNNER}`);

  const cases: {
    name: string;
    objects: () => Parameters<typeof newFixture>[0];
    actions: string[];
    events: string[];
    ready?: string;
  }[] = [
    {
      name: 'new JumpNode: RBAC before the Deployment, then status',
      objects: () => [hpc],
      actions: [...applyAll, 'applyStatus JumpNode hub/hpc'],
      events: ['Normal RunnerUnavailable JumpNode/hpc'],
      ready: 'RunnerUnavailable',
    },
    {
      name: 'a ServiceAccount of that name controlled by another owner stops before the Role',
      objects: () => [hpc, someoneElse, child('v1', 'ServiceAccount', RUNNER, someoneElse)],
      actions: ['applyStatus JumpNode hub/hpc'],
      events: ['Warning ResourceExists JumpNode/hpc'],
      ready: 'ResourceExists',
    },
    {
      name: 'a Deployment of that name without a controller: RBAC applied, Deployment not adopted',
      objects: () => [hpc, child('apps/v1', 'Deployment', RUNNER)],
      actions: [...applyAll.slice(0, 3), 'applyStatus JumpNode hub/hpc'],
      events: ['Warning ResourceExists JumpNode/hpc'],
      ready: 'ResourceExists',
    },
    {
      name: 'deleted JumpNode: its runner objects are deleted, Deployment first',
      objects: () => {
        const owner = { ...hpc, metadata: { ...hpc.metadata, uid: uidOf('JumpNode', 'hpc') } };
        return [
          buildRunnerServiceAccount(owner),
          buildRunnerRole(owner),
          buildRunnerRoleBinding(owner),
          buildRunnerDeployment(owner, { image: 'runner:1', logLevel: 'info' }),
        ];
      },
      actions: ['Deployment', 'RoleBinding', 'Role', 'ServiceAccount'].map(
        (k) => `delete ${k} ${NS}/${RUNNER}`,
      ),
      events: [],
    },
  ];

  it.each(cases)('$name', async (c) => {
    const fx = newFixture(c.objects());
    await fx.reconcileJumpNode('hpc');
    expect(fx.actions).toEqual(c.actions);
    expect(fx.events).toEqual(c.events);
    if (c.ready) {
      const jn = fx.stored<JumpNode>('JumpNode', 'hpc');
      expect(jn?.status?.conditions?.find((x) => x.type === 'Ready')?.reason).toBe(c.ready);
    }
  });

  it('a second reconcile of the result writes nothing', async () => {
    const first = newFixture([hpc]);
    await first.reconcileJumpNode('hpc');
    const second = newFixture(first.all());
    await second.reconcileJumpNode('hpc');
    expect(second.actions).toEqual([]);
    expect(second.events).toEqual([]);
  });

  it('recreates a deleted Deployment with a Recreated Event', async () => {
    const first = newFixture([hpc]);
    await first.reconcileJumpNode('hpc');
    const second = newFixture(first.all().filter((o) => o.kind !== 'Deployment'));
    await second.reconcileJumpNode('hpc');
    expect(second.actions).toEqual([`apply Deployment ${NS}/${RUNNER}`]);
    expect(second.events).toEqual(['Normal Recreated JumpNode/hpc']);
  });

  it('counts the port claims on it as forwards', async () => {
    const fx = newFixture([
      hpc,
      tunnelled(),
      portClaim(tunnelled()),
      portClaim(tunnelled(), 23001),
    ]);
    await fx.reconcileJumpNode('hpc');
    expect(fx.stored<JumpNode>('JumpNode', 'hpc')?.status?.forwards).toBe(2);
  });

  it('writes nothing when not the leader', async () => {
    const fx = newFixture([hpc], { leader: false });
    await expect(fx.reconcileJumpNode('hpc')).rejects.toBeInstanceOf(NotLeaderError);
    expect(fx.actions).toEqual([]);
  });
});
