// The operator as a real process (`node dist/cli.js operator`) with the restricted `operator`
// token and the RBAC of `kubectl apply -k manifests/`: SIGKILL in the middle of a large
// reconcile, two replicas with leader election, and two replicas without it racing for ports.
import type { ForwardedServer } from '../../src/api/types.js';
import { clusterInfo, createNamespace, kubeConfig } from '../harness/cluster.js';
import { ensureDist } from '../harness/util.js';
import {
  adminClients,
  allowRunnerKeys,
  applyManifests,
  eventually,
  forwardedServer,
  httpPortOf,
  jumpNode,
  metric,
  operatorKubeconfig,
  spawnOperator,
  type OperatorProcess,
} from './operator-support.js';

jest.setTimeout(300_000);

const info = clusterInfo();
const admin = adminClients(info);
let ns: { name: string; cleanup: () => Promise<void> };
let kc: { path: string; cleanup: () => Promise<void> };
const procs: OperatorProcess[] = [];

beforeAll(async () => {
  await Promise.all([ensureDist(), applyManifests(info)]);
  kc = await operatorKubeconfig(info);
});
afterAll(async () => kc?.cleanup());

beforeEach(async () => {
  ns = await createNamespace(kubeConfig(info), 'opp');
  await allowRunnerKeys(admin, info, ns.name, ['hpc', 'tiny', 'race']);
});
afterEach(async () => {
  await Promise.all(procs.splice(0).map((p) => p.stop('SIGKILL')));
  await ns.cleanup();
  // The manifests allow renewing only this Lease; a killed leader leaves it held.
  await admin.coordination
    .deleteNamespacedLease({ name: 'jupyterhub-forward-operator', namespace: 'jfo-system' })
    .catch(() => undefined);
});

function start(name: string, env: Record<string, string> = {}): OperatorProcess {
  const p = spawnOperator(name, kc.path, {
    JFO_NAMESPACE: ns.name,
    JFO_LEADER_ELECTION_NAMESPACE: 'jfo-system',
    JFO_WORKERS: '4',
    ...env,
  });
  procs.push(p);
  return p;
}

async function createServers(count: number, prefix: string, node: string): Promise<string[]> {
  const names: string[] = [];
  for (let i = 0; i < count; i += 20) {
    const batch = Array.from({ length: Math.min(20, count - i) }, (_, j) =>
      forwardedServer(ns.name, `${prefix}${i + j}`, '', { jumpNodeRef: { name: node } }),
    );
    const made = await Promise.all(batch.map((fs) => admin.forwardedServers.create(ns.name, fs)));
    names.push(...made.map((m) => m.metadata.name));
  }
  return names;
}

const servers = async () => (await admin.forwardedServers.list(ns.name)).items;
const withPort = (list: ForwardedServer[]) => list.filter((f) => f.status?.runnerPort);
const claims = async () =>
  (
    await admin.coordination.listNamespacedLease({
      namespace: ns.name,
      labelSelector: 'app.kubernetes.io/component=port-claim',
    })
  ).items;
const services = async () => (await admin.core.listNamespacedService({ namespace: ns.name })).items;

/** Every live server holds exactly one claim, which its status names; no claim or Service is left over. */
async function expectConverged(expectedLive: ForwardedServer[], node: string): Promise<void> {
  const live = new Map(expectedLive.map((f) => [f.metadata.name, f]));
  const ports = expectedLive.map((f) => f.status!.runnerPort!);
  expect(new Set(ports).size).toBe(ports.length);
  const cl = await claims();
  expect(cl.map((c) => c.spec?.holderIdentity).sort()).toEqual([...live.keys()].sort());
  for (const c of cl) {
    const owner = live.get(c.spec!.holderIdentity!)!;
    expect(c.metadata?.ownerReferences?.[0]?.uid).toBe(owner.metadata.uid);
    expect(c.metadata?.name).toBe(`${node}-port-${owner.status?.runnerPort}`);
  }
  const svc = await services();
  expect(svc.map((s) => s.metadata?.name).sort()).toEqual([...live.keys()].sort());
  for (const s of svc)
    expect(s.spec?.ports?.[0]?.targetPort).toBe(live.get(s.metadata!.name!)!.status!.runnerPort);
}

describe('operator process', () => {
  it('converges after a SIGKILL in the middle of reconciling 200 ForwardedServers, without duplicate ports or orphans', async () => {
    await admin.jumpNodes.create(ns.name, jumpNode(ns.name, 'hpc'));
    const names = await createServers(200, 'user', 'hpc');

    const first = start('op-0', { JFO_WORKERS: '2' });
    const atKill = await eventually(
      'the operator to be part-way through',
      async () => {
        const n = withPort(await servers()).length;
        return n >= 20 ? n : undefined;
      },
      120_000,
      50,
    );
    await first.stop('SIGKILL');
    const afterKill = withPort(await servers()).length;
    process.stderr.write(
      `SIGKILL after ${atKill} of 200 servers had a port (${afterKill} once it died)\n`,
    );
    expect(afterKill).toBeLessThan(200);

    // While no operator runs: delete 10 servers, cancel 5.
    for (const name of names.slice(0, 10)) await admin.forwardedServers.delete(ns.name, name);
    for (const name of names.slice(10, 15))
      await admin.forwardedServers.patch(ns.name, name, { spec: { cancelRequested: true } });

    const second = start('op-0', { JFO_WORKERS: '2' });
    const live = await eventually(
      'every server to converge',
      async () => {
        const all = await servers();
        const running = all.filter((f) => !f.spec.cancelRequested);
        const cancelled = all.filter((f) => f.spec.cancelRequested);
        const ok =
          all.length === 190 &&
          running.every((f) => f.status?.phase === 'WaitingForTarget' && f.status.runnerPort) &&
          cancelled.every((f) => f.status?.phase === 'Cancelled');
        return ok ? running : undefined;
      },
      180_000,
      500,
    );
    expect(live).toHaveLength(185);
    await expectConverged(live, 'hpc');
    const jn = await eventually('JumpNode forwards', async () => {
      const n = await admin.jumpNodes.get(ns.name, 'hpc');
      return n.status?.forwards === 185 ? n : undefined;
    });
    expect(jn.status?.forwards).toBe(185);
    expect(second.child.exitCode).toBeNull();
  });

  it('with two replicas and leader election, only the leader writes; the other takes over when it dies', async () => {
    await admin.jumpNodes.create(ns.name, jumpNode(ns.name, 'hpc'));
    const a = start('op-a');
    const b = start('op-b');
    const [pa, pb] = await Promise.all([httpPortOf(a), httpPortOf(b)]);
    const leaderGauge = async (port: number) => metric(port, 'jfo_operator_leader');
    const [leader, standby, leaderPort, standbyPort] = await eventually('one leader', async () => {
      const [la, lb] = await Promise.all([leaderGauge(pa), leaderGauge(pb)]);
      if (la === 1 && lb === 0) return [a, b, pa, pb] as const;
      if (lb === 1 && la === 0) return [b, a, pb, pa] as const;
      return undefined;
    });

    for (const port of [leaderPort, standbyPort]) {
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
      // A standby becomes ready too (once its caches synced): it only waits for leadership.
      await eventually(
        `readiness of the replica on port ${port}`,
        async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200,
      );
    }
    const names = await createServers(20, 'ha', 'hpc');
    await eventually('20 servers with ports', async () => withPort(await servers()).length === 20);
    expect(leader.lines('Updated ForwardedServer status').length).toBeGreaterThanOrEqual(20);
    expect(standby.lines('Updated ForwardedServer status')).toEqual([]);
    expect(
      await metric(
        standbyPort,
        'jfo_operator_reconcile_total',
        'controller="ForwardedServer",result="success"',
      ),
    ).toBeUndefined();
    expect(
      await metric(
        leaderPort,
        'jfo_operator_reconcile_total',
        'controller="ForwardedServer",result="success"',
      ),
    ).toBeGreaterThanOrEqual(20);
    expect(await metric(leaderPort, 'jfo_operator_informer_synced', 'informer="PortClaim"')).toBe(
      1,
    );
    expect(
      await metric(
        leaderPort,
        'jfo_operator_reconcile_duration_seconds_count',
        'controller="ForwardedServer"',
      ),
    ).toBeGreaterThanOrEqual(20);
    expect(
      await metric(leaderPort, 'jfo_operator_workqueue_depth', 'controller="JumpNode"'),
    ).toBeDefined();
    const ev = await admin.events.listNamespacedEvent({ namespace: ns.name });
    const ours = ev.items.filter(
      (e) => e.reportingController === 'forward.hub.jupyter.org/operator',
    );
    expect(ours.length).toBeGreaterThan(0);
    expect(new Set(ours.map((e) => e.reportingInstance))).toEqual(new Set([leader.name]));

    await leader.stop('SIGKILL');
    const more = await createServers(5, 'late', 'hpc');
    await eventually(
      'the standby to take over',
      async () => {
        const all = await servers();
        return more.every((n) => all.find((f) => f.metadata.name === n)?.status?.runnerPort);
      },
      90_000,
    );
    expect(await leaderGauge(standbyPort)).toBe(1);
    expect(standby.lines('Started leading')).toHaveLength(1);
    await expectConverged(withPort(await servers()), 'hpc');
    expect(names).toHaveLength(20);
  });

  it('without leader election, two replicas racing never hand out one port twice', async () => {
    // 200 servers on 260 ports: the probe orders overlap often, so the replicas collide.
    await admin.jumpNodes.create(
      ns.name,
      jumpNode(ns.name, 'race', { runner: { portRange: { start: 30000, end: 30259 } } }),
    );
    start('racer-a', { JFO_LEADER_ELECTION: 'false' });
    start('racer-b', { JFO_LEADER_ELECTION: 'false' });
    await Promise.all(procs.map((p) => httpPortOf(p)));
    await createServers(200, 'race', 'race');
    const live = await eventually(
      'all 200 servers to hold one port each',
      async () => {
        const all = await servers();
        const cl = await claims();
        const ok =
          all.length === 200 && all.every((f) => f.status?.runnerPort) && cl.length === 200;
        return ok ? all : undefined;
      },
      180_000,
      500,
    );
    await expectConverged(live, 'race');
    const wrote = procs.map((p) => p.lines('Updated ForwardedServer status').length);
    process.stderr.write(`status writes by the two racing replicas: ${wrote.join(', ')}\n`);
    expect(wrote.every((n) => n > 0)).toBe(true);
  });
});
