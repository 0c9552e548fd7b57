// The API server restarts while the operator runs: the operator (a real process with the
// manifests' RBAC, leader election on, watching all namespaces) resumes without a restart of its
// own. Uses a control plane of its own so the shared one is not disturbed.
import type { Clients } from '../../src/kube/client.js';
import {
  eventually,
  httpPortOf,
  jumpNode,
  metric,
  ownControlPlane,
  spawnOperator,
  type OperatorProcess,
  type OwnControlPlane,
} from './operator-support.js';

jest.setTimeout(300_000);

let plane: OwnControlPlane | undefined;
let admin: Clients;
let op: OperatorProcess | undefined;
const NS = 'restart';

beforeAll(async () => {
  plane = await ownControlPlane(NS, ['hpc']);
  admin = plane.admin;
});

afterAll(async () => {
  await op?.stop('SIGKILL');
  await plane?.stop();
});

const withPorts = (names: string[]) => plane!.allHavePorts(names);
const create = (prefix: string, count: number) => plane!.createServers(prefix, count);

it('resumes after the API server restarts, without restarting itself', async () => {
  // All namespaces, as the manifests run it (this control plane is ours alone).
  op = spawnOperator('op-restart', plane!.kubeconfig, {
    JFO_NAMESPACE: '',
    JFO_LEADER_ELECTION_NAMESPACE: 'jfo-system',
  });
  const port = await httpPortOf(op);
  await admin.jumpNodes.create(NS, jumpNode(NS, 'hpc'));
  const before = await create('before', 10);
  await eventually('the first servers to get ports', () => withPorts(before));
  const pid = op.child.pid;

  await plane!.cp.restartApiServer();

  // Changes made after the restart are picked up by the same process.
  const after = await create('after', 10);
  await admin.forwardedServers.delete(NS, before[0]!);
  await eventually('the new servers to get ports', () => withPorts(after), 120_000);
  await eventually("the deleted server's Service to go", async () => {
    const svcs = await admin.core.listNamespacedService({ namespace: NS });
    return !svcs.items.some((s) => s.metadata?.name === before[0]);
  });
  await admin.core.deleteNamespacedService({ name: after[0]!, namespace: NS });
  await eventually('the Service to be recreated', async () => {
    const svcs = await admin.core.listNamespacedService({ namespace: NS });
    return svcs.items.some((s) => s.metadata?.name === after[0]);
  });

  expect(op.child.exitCode).toBeNull();
  expect(op.child.pid).toBe(pid);
  expect(await metric(port, 'jfo_operator_leader')).toBe(1);
  const restarts =
    op.lines('Restarting ForwardedServer informer').length +
    op.lines('Re-listing ForwardedServer').length;
  process.stderr.write(
    `informer restarts logged: ${restarts}; leadership: ${op.lines('Started leading').length} start(s), ${op.lines('Stopped leading').length} stop(s)\n`,
  );
  expect(restarts).toBeGreaterThan(0);

  // SIGTERM: a clean exit that hands the Lease back.
  await op.stop('SIGTERM');
  expect(op.child.exitCode).toBe(0);
  expect(op.lines('Released Lease')).toHaveLength(1);
  const lease = await admin.coordination.readNamespacedLease({
    name: 'jupyterhub-forward-operator',
    namespace: 'jfo-system',
  });
  expect(lease.spec?.holderIdentity ?? '').toBe('');
});
