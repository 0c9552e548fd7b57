// The leading operator misses its renewal deadline (its process is stopped longer than the renew
// deadline, as a loaded machine or a slow API server does) and, holding the Lease still, leads
// again: a server created while it stood by is reconciled, and the new term does not requeue
// every server (which would put the whole fleet ahead of that change). A real operator process
// with the manifests' RBAC and leader election, on a control plane of its own.
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
const NS = 'renewal';
const IDLE = 30;

beforeAll(async () => {
  plane = await ownControlPlane(NS);
  admin = plane.admin;
});

afterAll(async () => {
  if (op) op.child.kill('SIGCONT');
  await op?.stop('SIGKILL');
  await plane?.stop();
});

const withPorts = (names: string[]) => plane!.allHavePorts(names);
const create = (prefix: string, count: number) => plane!.createServers(prefix, count);

const FS = 'controller="ForwardedServer"';
async function reconciles(port: number): Promise<number> {
  let n = 0;
  for (const result of ['success', 'error', 'permanent'])
    n += (await metric(port, 'jfo_operator_reconcile_total', `${FS},result="${result}"`)) ?? 0;
  return n;
}
/** True when no ForwardedServer key waits, is delayed or is being reconciled. */
async function idle(port: number): Promise<boolean> {
  for (const m of ['depth', 'delayed', 'in_flight'])
    if ((await metric(port, `jfo_operator_workqueue_${m}`, FS)) !== 0) return false;
  return true;
}

it('leads again after a missed renewal without requeueing every server, and misses no change', async () => {
  op = spawnOperator('op-renewal', plane!.kubeconfig, {
    JFO_NAMESPACE: '',
    JFO_LEADER_ELECTION_NAMESPACE: 'jfo-system',
    JFO_RENEW_DEADLINE_SECONDS: '2',
    JFO_LEASE_DURATION_SECONDS: '60',
    JFO_RETRY_PERIOD_SECONDS: '1',
  });
  const port = await httpPortOf(op);
  await admin.jumpNodes.create(NS, jumpNode(NS, 'hpc'));
  const servers = await create('idle', IDLE);
  await eventually('the servers to get ports', () => withPorts(servers), 120_000);
  await eventually('the work queue to drain', () => idle(port), 120_000);
  const before = await reconciles(port);
  expect(op.lines('Stopped leading')).toHaveLength(0);

  // Stopped for longer than the renew deadline, far less than the Lease duration: when it runs
  // again, its deadline has passed (it stops leading) and its next renewal succeeds.
  op.child.kill('SIGSTOP');
  const late = await create('late', 1);
  await new Promise((r) => setTimeout(r, 4000));
  op.child.kill('SIGCONT');

  await eventually('the operator to stop and start leading', () => {
    const stopped = op!.lines('Stopped leading').length;
    return stopped >= 1 && op!.lines('Started leading').length === stopped + 1;
  });
  await eventually('the server created meanwhile to get a port', () => withPorts(late), 120_000);
  await eventually('the work queue to drain', () => idle(port), 120_000);
  const after = await reconciles(port);
  process.stderr.write(`ForwardedServer reconciles across the missed renewal: ${after - before}\n`);
  // The new server (a few reconciles as its children and status appear), not every server.
  expect(after - before).toBeGreaterThan(0);
  expect(after - before).toBeLessThan(IDLE);
  expect(await metric(port, 'jfo_operator_leader')).toBe(1);
});
