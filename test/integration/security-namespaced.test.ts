// The namespaced install (manifests/namespaced) on a control plane of its own: the operator's
// rules are bound per watched namespace, nothing cluster-wide, and the operator still runs the
// JumpNodes of every namespace it watches.
import { startControlPlane, type ControlPlane } from '../../src/dev/control-plane.js';
import { makeClients, type Clients } from '../../src/kube/client.js';
import { LABELS, runnerName } from '../../src/names.js';
import type { RunningOperator } from '../../src/operator/operator.js';
import { kubeConfig } from '../harness/cluster.js';
import { kubectl } from '../harness/kubectl.js';
import { canI, eventually, jumpNode, startInProcess } from './operator-support.js';

jest.setTimeout(180_000);

let cp: ControlPlane | undefined;
let admin: Clients;
let op: RunningOperator | undefined;

beforeAll(async () => {
  cp = await startControlPlane({ controllerManager: false });
  admin = makeClients(kubeConfig(cp, 'admin'));
  for (const ns of ['jhub', 'hub2', 'other']) await kubectl(cp, ['create', 'namespace', ns]);
  // The parent kustomization in the hub's namespace (JFO_NAMESPACE=jhub), watched/ in hub2.
  // As an admin would: the kubectl context's namespace is the hub's (objects of jfo-system keep
  // theirs, which `-n` would refuse).
  await kubectl(cp, ['config', 'set-context', '--current', '--namespace=jhub']);
  await kubectl(cp, ['apply', '--server-side', '-k', 'manifests/namespaced/']);
  await kubectl(cp, [
    '-n',
    'hub2',
    'apply',
    '--server-side',
    '-k',
    'manifests/namespaced/watched/',
  ]);
  await kubectl(cp, ['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
});

afterAll(async () => {
  await op?.close();
  await cp?.stop();
});

const can = (args: string[]) => canI(cp!, cp!.users.operator.name, args);

it('binds no ClusterRole and grants the operator its rules only in the watched namespaces', async () => {
  const crbs = await admin.rbac.listClusterRoleBinding();
  expect(
    crbs.items.filter((b) => b.subjects?.some((s) => s.name === 'jupyterhub-forward-operator')),
  ).toEqual([]);
  for (const ns of ['jhub', 'hub2']) {
    expect(await can(['patch', 'deployments', '-n', ns])).toMatch(/^yes/);
    expect(await can(['create', 'roles', '-n', ns])).toMatch(/^yes/);
  }
  for (const ns of ['kube-system', 'other']) {
    expect(await can(['patch', 'deployments', '-n', ns])).toMatch(/no/);
    expect(await can(['create', 'rolebindings', '-n', ns])).toMatch(/no/);
    expect(await can(['patch', 'services', '-n', ns])).toMatch(/no/);
    expect(await can(['create', 'endpointslices.discovery.k8s.io', '-n', ns])).toMatch(/no/);
    expect(await can(['get', 'secrets', '-n', ns])).toMatch(/no/);
  }
  expect(await can(['list', 'secrets', '--all-namespaces'])).toMatch(/no/);
  expect(await can(['list', 'deployments', '--all-namespaces'])).toMatch(/no/);
  for (const ns of ['jhub', 'hub2'])
    expect(await can(['get', 'secrets', '-n', ns])).toMatch(/^yes/);
  expect(await can(['create', 'leases', '-n', 'jfo-system'])).toMatch(/^yes/);
});

it('runs the JumpNodes of every watched namespace with those Roles only', async () => {
  // The key-secrets bindings: jhub's from manifests/facade, hub2's from manifests/namespaced/watched.
  for (const namespace of ['jhub', 'hub2'])
    await admin.core.createNamespacedSecret({
      namespace,
      body: {
        metadata: { name: 'hpc-key', labels: { [LABELS.runnerKey]: 'true' } },
        stringData: { 'ssh-privatekey': 'not read by the operator' },
      },
    });
  op = await startInProcess(cp!, 'jhub,hub2', {
    JFO_LEADER_ELECTION: 'true',
    JFO_LEADER_ELECTION_NAMESPACE: 'jfo-system',
  });
  for (const ns of ['jhub', 'hub2']) await admin.jumpNodes.create(ns, jumpNode(ns, 'hpc'));
  for (const ns of ['jhub', 'hub2'])
    await eventually(`the runner Deployment in ${ns}`, () =>
      admin.apps
        .readNamespacedDeployment({ name: runnerName('hpc'), namespace: ns })
        .catch(() => undefined),
    );
});
