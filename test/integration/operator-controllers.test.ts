// The controllers against the real API server and controller manager (garbage collector,
// deployments), run in-process with the restricted `operator` token and the RBAC that
// `kubectl apply -k manifests/` installs.
import { API_VERSION, type ForwardedServer } from '../../src/api/types.js';
import { isNotFound, mergePatch } from '../../src/kube/client.js';
import { RUNNER_FIELD_MANAGER, runnerSelector } from '../../src/names.js';
import { enqueueAll } from '../../src/operator/handlers.js';
import { rfc3339 } from '../../src/resources/conditions.js';
import type { RunningOperator } from '../../src/operator/operator.js';
import { kubectl } from '../harness/kubectl.js';
import {
  applyManifests,
  canI,
  eventually,
  forwardedServer,
  jumpNode,
  settle,
  startInProcess,
  testBed,
} from './operator-support.js';

jest.setTimeout(120_000);

const bed = testBed();
const { info, admin, N, service: getSvc, deployment: getDeploy, events } = bed;
let op: RunningOperator | undefined;

beforeEach(() => bed.open('op', ['hpc', 'tiny', 'race']));

afterEach(async () => {
  await op?.close();
  op = undefined;
  await bed.close();
});

const getFs = (name: string) => admin.forwardedServers.get(N(), name);
const phaseOf = (name: string, phase: string) =>
  eventually(`${name} to be ${phase}`, async () => {
    const fs = await getFs(name);
    return fs.status?.phase === phase ? fs : undefined;
  });
const cond = (o: { status?: { conditions?: { type: string }[] } }, type: string) =>
  o.status?.conditions?.find((c) => c.type === type) as
    { status: string; reason: string; message: string } | undefined;
const claims = async () =>
  (
    await admin.coordination.listNamespacedLease({
      namespace: N(),
      labelSelector: 'app.kubernetes.io/component=port-claim',
    })
  ).items;

describe('kubectl apply -k manifests/', () => {
  it('installs the operator with least-privilege RBAC', async () => {
    const out = await applyManifests(info);
    expect(out).toMatch(
      /clusterrole.rbac.authorization.k8s.io\/jupyterhub-forward-operator serverside-applied/,
    );
    expect(out).toMatch(/deployment.apps\/jupyterhub-forward-operator serverside-applied/);
    const can = (args: string[]) => canI(info, info.users.operator.name, args);
    expect(await can(['patch', 'services', '-n', N()])).toMatch(/^yes/);
    expect(
      await can([
        'patch',
        'forwardedservers.forward.hub.jupyter.org',
        '--subresource=status',
        '-n',
        N(),
      ]),
    ).toMatch(/^yes/);
    expect(await can(['patch', 'forwardedservers.forward.hub.jupyter.org', '-n', N()])).toMatch(
      /no/,
    );
    expect(await can(['delete', 'pods', '-n', N()])).toMatch(/no/);
    expect(await can(['create', 'pods', '-n', N()])).toMatch(/no/);
    const dep = await admin.apps.readNamespacedDeployment({
      name: 'jupyterhub-forward-operator',
      namespace: 'jfo-system',
    });
    const env = dep.spec?.template.spec?.containers[0]?.env ?? [];
    expect(env.find((e) => e.name === 'JFO_RUNNER_IMAGE')?.value).toBe(
      dep.spec?.template.spec?.containers[0]?.image,
    );
  });
});

describe('a JumpNode with a tunnelled, a delayed and a direct ForwardedServer', () => {
  it('gets the right Service, Deployment, owner references, ports and status, and a second reconcile changes nothing', async () => {
    op = await startInProcess(info, N());
    const jn = await admin.jumpNodes.create(N(), jumpNode(N(), 'hpc', { runner: { replicas: 2 } }));
    const tunnelled = await admin.forwardedServers.create(
      N(),
      forwardedServer(N(), 'alice', 'lab', {
        jumpNodeRef: { name: 'hpc' },
        target: { host: 'node1.hpc', port: 43127 },
        service: { port: 8888, labels: { app: 'jupyterhub' } },
      }),
    );
    const delayed = await admin.forwardedServers.create(
      N(),
      forwardedServer(N(), 'bob', '', { jumpNodeRef: { name: 'hpc' } }),
    );
    const direct = await admin.forwardedServers.create(
      N(),
      forwardedServer(N(), 'carol', 'direct', { target: { host: '10.20.30.40', port: 8000 } }),
    );

    const t = await phaseOf(tunnelled.metadata.name, 'Connecting');
    const d = await phaseOf(delayed.metadata.name, 'WaitingForTarget');
    const x = await phaseOf(direct.metadata.name, 'Ready');

    // Tunnelled: Service -> runner pods, service port -> runner port, FQDN URL.
    const svc = (await getSvc('jupyter-alice--lab'))!;
    expect(svc.spec?.selector).toEqual(runnerSelector('hpc'));
    expect(svc.spec?.ports?.[0]).toMatchObject({ port: 8888, targetPort: t.status!.runnerPort });
    expect(svc.metadata?.labels).toMatchObject({
      app: 'jupyterhub',
      component: 'singleuser-server',
      'hub.jupyter.org/username': 'alice',
      'hub.jupyter.org/servername': 'lab',
    });
    expect(svc.metadata?.ownerReferences).toEqual([
      expect.objectContaining({
        kind: 'ForwardedServer',
        name: 'jupyter-alice--lab',
        uid: tunnelled.metadata.uid,
        controller: true,
      }),
    ]);
    expect(t.status).toMatchObject({
      url: `http://jupyter-alice--lab.${N()}.svc:8888`,
      serviceName: 'jupyter-alice--lab',
      observedGeneration: 1,
    });
    expect(cond(t, 'TargetKnown')).toMatchObject({ status: 'True' });
    expect(cond(t, 'ServiceReady')).toMatchObject({ status: 'True', reason: 'ServiceApplied' });
    expect(cond(t, 'Ready')).toMatchObject({ status: 'False', reason: 'TunnelNotReady' });

    // Delayed: Service, port and URL exist before the target.
    expect(d.status?.runnerPort).toBeGreaterThanOrEqual(20000);
    expect(d.status?.runnerPort).not.toBe(t.status?.runnerPort);
    expect(d.status?.url).toBe(`http://jupyter-bob.${N()}.svc:8888`);
    expect((await getSvc('jupyter-bob'))?.spec?.ports?.[0]?.targetPort).toBe(d.status?.runnerPort);
    expect(cond(d, 'TargetKnown')).toMatchObject({ status: 'False', reason: 'WaitingForTarget' });

    // Direct: the target's URL; a selector-less Service with an EndpointSlice for the IP.
    expect(x.status?.url).toBe('http://10.20.30.40:8000');
    expect(x.status?.runnerPort).toBeUndefined();
    const xs = (await getSvc('jupyter-carol--direct'))!;
    expect(xs.spec?.selector).toBeUndefined();
    const slice = await admin.kc
      .makeApiClient((await import('@kubernetes/client-node')).DiscoveryV1Api)
      .readNamespacedEndpointSlice({ name: 'jupyter-carol--direct', namespace: N() });
    expect(slice.endpoints?.[0]?.addresses).toEqual(['10.20.30.40']);

    // The runner Deployment, its identity and permissions, all controlled by the JumpNode.
    const dep = await eventually('the runner Deployment', () => getDeploy('hpc-tunnel-runner'));
    expect(dep.spec?.replicas).toBe(2);
    expect(dep.spec?.selector.matchLabels).toEqual(runnerSelector('hpc'));
    expect(dep.spec?.template.spec?.containers[0]?.args).toEqual(['runner']);
    expect(dep.spec?.template.spec?.containers[0]?.image).toBe('jupyterhub-forward-operator:test');
    for (const o of [
      dep,
      await admin.core.readNamespacedServiceAccount({ name: 'hpc-tunnel-runner', namespace: N() }),
      await admin.rbac.readNamespacedRole({ name: 'hpc-tunnel-runner', namespace: N() }),
      await admin.rbac.readNamespacedRoleBinding({ name: 'hpc-tunnel-runner', namespace: N() }),
    ])
      expect(o.metadata?.ownerReferences).toEqual([
        expect.objectContaining({
          kind: 'JumpNode',
          name: 'hpc',
          uid: jn.metadata.uid,
          controller: true,
        }),
      ]);
    // No kubelet here: pods never become ready, and the JumpNode says so.
    const node = await eventually('JumpNode status', async () => {
      const n = await admin.jumpNodes.get(N(), 'hpc');
      return n.status?.forwards === 2 ? n : undefined;
    });
    expect(node.status).toMatchObject({ readyReplicas: 0, observedGeneration: 1 });
    expect(cond(node, 'Ready')).toMatchObject({ status: 'False', reason: 'RunnerUnavailable' });
    expect((await claims()).map((c) => c.spec?.holderIdentity).sort()).toEqual([
      'jupyter-alice--lab',
      'jupyter-bob',
    ]);

    // Reconcile everything again: no object changes, no new Event.
    await settle(op);
    const snapshot = async () => ({
      fs: (await admin.forwardedServers.list(N())).items.map((o) => o.metadata.resourceVersion),
      jn: (await admin.jumpNodes.get(N(), 'hpc')).metadata.resourceVersion,
      svc: (await admin.core.listNamespacedService({ namespace: N() })).items.map(
        (o) => o.metadata?.resourceVersion,
      ),
      claims: (await claims()).map((o) => o.metadata?.resourceVersion),
      deployGeneration: (await getDeploy('hpc-tunnel-runner'))?.metadata?.generation,
      events: (await admin.events.listNamespacedEvent({ namespace: N() })).items.length,
    });
    const before = await snapshot();
    enqueueAll(op.informers, op.controllers.servers, op.controllers.nodes);
    await settle(op);
    expect(await snapshot()).toEqual(before);
  });

  it('reports Ready once the runner reports the tunnel up, and JumpNode readiness from the Deployment', async () => {
    op = await startInProcess(info, N());
    await admin.jumpNodes.create(N(), jumpNode(N(), 'hpc'));
    const fs = await admin.forwardedServers.create(
      N(),
      forwardedServer(N(), 'dave', '', {
        jumpNodeRef: { name: 'hpc' },
        target: { host: 'n', port: 1 },
      }),
    );
    await phaseOf(fs.metadata.name, 'Connecting');
    const runnerCondition = (type: string) => ({
      type,
      status: 'True',
      reason: 'Forwarding',
      message: 'runner says yes',
      lastTransitionTime: rfc3339(Date.now()),
    });
    await admin.forwardedServers.applyStatus(
      N(),
      fs.metadata.name,
      API_VERSION,
      'ForwardedServer',
      { conditions: [runnerCondition('TunnelReady'), runnerCondition('TargetReachable')] },
      RUNNER_FIELD_MANAGER,
    );
    const ready = await phaseOf(fs.metadata.name, 'Ready');
    expect(cond(ready, 'Ready')).toMatchObject({ status: 'True', reason: 'TunnelReady' });
    expect(cond(ready, 'TunnelReady')).toMatchObject({ message: 'runner says yes' });
    // A new server's way to Ready is one Event (no Connecting Event), naming the port.
    const started = await eventually('the Ready Event', async () => {
      const all = await events(fs.metadata.name);
      return all.some((e) => e.reason === 'Ready') && all;
    });
    expect(started.map((e) => `${e.type} ${e.reason}`)).toEqual(['Normal Ready']);
    expect(started[0]!.note).toContain(
      `Runner port ${ready.status?.runnerPort} forwards through JumpNode hpc`,
    );

    // Play the kubelet's part for readiness: mark the runner pod Ready; the ReplicaSet and
    // Deployment controllers carry it into the Deployment's readyReplicas.
    const pod = await eventually('a runner pod', async () => {
      const pods = await admin.core.listNamespacedPod({
        namespace: N(),
        labelSelector: 'forward.hub.jupyter.org/jumpnode=hpc',
      });
      return pods.items[0];
    });
    const now = new Date().toISOString();
    await admin.core.patchNamespacedPodStatus(
      {
        name: pod.metadata!.name!,
        namespace: N(),
        body: {
          status: {
            phase: 'Running',
            conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: now }],
          },
        },
      },
      mergePatch,
    );
    const node = await eventually('JumpNode readyReplicas', async () => {
      const n = await admin.jumpNodes.get(N(), 'hpc');
      return n.status?.readyReplicas === 1 ? n : undefined;
    });
    expect(cond(node, 'Ready')).toMatchObject({ status: 'False', reason: 'Connecting' });
  });
});

describe('drift', () => {
  it('brings back a deleted or edited Service and Deployment', async () => {
    op = await startInProcess(info, N());
    await admin.jumpNodes.create(N(), jumpNode(N(), 'hpc'));
    const fs = await admin.forwardedServers.create(
      N(),
      forwardedServer(N(), 'erin', 'x', { jumpNodeRef: { name: 'hpc' } }),
    );
    const s = await phaseOf(fs.metadata.name, 'WaitingForTarget');
    const port = s.status!.runnerPort!;
    const original = (await getSvc(fs.metadata.name))!;

    await admin.core.deleteNamespacedService({ name: fs.metadata.name, namespace: N() });
    const back = await eventually('the Service to come back', async () => {
      const svc = await getSvc(fs.metadata.name);
      return svc && svc.metadata?.uid !== original.metadata?.uid ? svc : undefined;
    });
    expect(back.spec?.ports?.[0]?.targetPort).toBe(port);

    await kubectl(info, [
      '-n',
      N(),
      'patch',
      'service',
      fs.metadata.name,
      '--type=json',
      '-p',
      JSON.stringify([
        { op: 'replace', path: '/spec/ports/0/targetPort', value: 1234 },
        { op: 'replace', path: '/spec/selector', value: { app: 'other' } },
      ]),
    ]);
    await eventually('the Service to be repaired', async () => {
      const svc = await getSvc(fs.metadata.name);
      return svc?.spec?.ports?.[0]?.targetPort === port && svc.spec?.selector?.app !== 'other';
    });
    expect((await getSvc(fs.metadata.name))?.spec?.selector).toEqual(runnerSelector('hpc'));

    const dep = await eventually('Deployment', () => getDeploy('hpc-tunnel-runner'));
    await kubectl(info, ['-n', N(), 'scale', 'deployment', 'hpc-tunnel-runner', '--replicas=5']);
    await kubectl(info, [
      '-n',
      N(),
      'set',
      'image',
      'deployment/hpc-tunnel-runner',
      'runner=evil:1',
    ]);
    await eventually('the Deployment to be repaired', async () => {
      const d = await getDeploy('hpc-tunnel-runner');
      return (
        d?.spec?.replicas === 1 &&
        d.spec.template.spec?.containers[0]?.image === 'jupyterhub-forward-operator:test'
      );
    });
    await admin.apps.deleteNamespacedDeployment({ name: 'hpc-tunnel-runner', namespace: N() });
    await eventually('the Deployment to come back', async () => {
      const d = await getDeploy('hpc-tunnel-runner');
      return d && d.metadata?.uid !== dep.metadata?.uid;
    });
    await eventually('the Recreated and Repaired Events', async () => {
      const reasons = (await events(fs.metadata.name)).map((e) => e.reason);
      return ['Recreated', 'Repaired'].every((r) => reasons.includes(r));
    });
  });
});

describe('deletion', () => {
  it('frees the Service and the port of a deleted ForwardedServer', async () => {
    op = await startInProcess(info, N());
    await admin.jumpNodes.create(
      N(),
      jumpNode(N(), 'tiny', { runner: { portRange: { start: 21000, end: 21000 } } }),
    );
    const first = await admin.forwardedServers.create(
      N(),
      forwardedServer(N(), 'f1', '', { jumpNodeRef: { name: 'tiny' } }),
    );
    const s1 = await phaseOf(first.metadata.name, 'WaitingForTarget');
    expect(s1.status?.runnerPort).toBe(21000);
    const second = await admin.forwardedServers.create(
      N(),
      forwardedServer(N(), 'f2', '', { jumpNodeRef: { name: 'tiny' } }),
    );
    const waiting = await phaseOf(second.metadata.name, 'Pending');
    expect(cond(waiting, 'Ready')).toMatchObject({ reason: 'PortsExhausted' });
    expect(waiting.status?.runnerPort).toBeUndefined();

    await admin.forwardedServers.delete(N(), first.metadata.name);
    await eventually(
      'the Service to be garbage-collected',
      async () => !(await getSvc(first.metadata.name)),
    );
    const s2 = await phaseOf(second.metadata.name, 'WaitingForTarget');
    expect(s2.status?.runnerPort).toBe(21000);
    expect((await claims()).map((c) => c.spec?.holderIdentity)).toEqual([second.metadata.name]);
  });

  it('removes the runner with its JumpNode and reports the missing JumpNode on its servers', async () => {
    op = await startInProcess(info, N(), { JFO_JUMPNODE_GRACE_SECONDS: '3' });
    const jn = await admin.jumpNodes.create(N(), jumpNode(N(), 'hpc'));
    const fs = await admin.forwardedServers.create(
      N(),
      forwardedServer(N(), 'gus', '', { jumpNodeRef: { name: 'hpc' } }),
    );
    await phaseOf(fs.metadata.name, 'WaitingForTarget');
    await eventually('Deployment', () => getDeploy('hpc-tunnel-runner'));

    await admin.jumpNodes.delete(N(), jn.metadata.name);
    await eventually('the runner to be garbage-collected', async () => {
      const gone = async (p: Promise<unknown>) =>
        p.then(
          () => false,
          (e) => isNotFound(e),
        );
      const all = await Promise.all([
        gone(admin.apps.readNamespacedDeployment({ name: 'hpc-tunnel-runner', namespace: N() })),
        gone(
          admin.core.readNamespacedServiceAccount({ name: 'hpc-tunnel-runner', namespace: N() }),
        ),
        gone(admin.rbac.readNamespacedRole({ name: 'hpc-tunnel-runner', namespace: N() })),
        gone(admin.rbac.readNamespacedRoleBinding({ name: 'hpc-tunnel-runner', namespace: N() })),
      ]);
      return all.every(Boolean);
    });
    const pending = await phaseOf(fs.metadata.name, 'Pending');
    expect(cond(pending, 'Ready')).toMatchObject({
      status: 'False',
      reason: 'JumpNodeNotFound',
      message: `JumpNode hpc does not exist in namespace ${N()}`,
    });
    const failed = await phaseOf(fs.metadata.name, 'Failed');
    expect(cond(failed, 'Ready')).toMatchObject({ reason: 'JumpNodeNotFound' });
    // Events are recorded in the background after the status write that they describe.
    const ev = await eventually('the Failed Event', async () => {
      const all = await events(fs.metadata.name);
      return all.some((e) => e.reason === 'Failed' && e.type === 'Warning') && all;
    });
    expect(ev.filter((e) => e.reason === 'JumpNodeNotFound' && e.type === 'Warning')).toHaveLength(
      1,
    );

    // The JumpNode comes back: the server recovers.
    await admin.jumpNodes.create(N(), jumpNode(N(), 'hpc'));
    await phaseOf(fs.metadata.name, 'WaitingForTarget');
  });
});

describe('refusals and cancel', () => {
  it('does not adopt a Service it does not own', async () => {
    op = await startInProcess(info, N());
    await admin.core.createNamespacedService({
      namespace: N(),
      body: {
        metadata: { name: 'jupyter-hank', labels: { mine: 'yes' } },
        spec: { ports: [{ port: 80 }], selector: { app: 'x' } },
      },
    });
    await admin.jumpNodes.create(N(), jumpNode(N(), 'hpc'));
    const fs = await admin.forwardedServers.create(
      N(),
      forwardedServer(N(), 'hank', '', { jumpNodeRef: { name: 'hpc' } }),
    );
    const failed = await phaseOf(fs.metadata.name, 'Failed');
    expect(cond(failed, 'ServiceReady')).toMatchObject({
      status: 'False',
      reason: 'ResourceExists',
    });
    expect(cond(failed, 'Ready')?.message).toMatch(
      /Service jupyter-hank already exists and has no controller/,
    );
    const svc = (await getSvc('jupyter-hank'))!;
    expect(svc.spec?.selector).toEqual({ app: 'x' });
    expect(svc.metadata?.ownerReferences).toBeUndefined();
    expect(
      (await events(fs.metadata.name)).some(
        (e) => e.type === 'Warning' && e.reason === 'ResourceExists',
      ),
    ).toBe(true);
  });

  it('refuses a ForwardedServer whose name is not the one of its user and server', async () => {
    op = await startInProcess(info, N());
    const fs = await admin.forwardedServers.create(N(), {
      ...forwardedServer(N(), 'ivy', ''),
      metadata: { name: 'not-ivy', namespace: N() },
    } as ForwardedServer);
    const failed = await phaseOf(fs.metadata.name, 'Failed');
    expect(cond(failed, 'Ready')).toMatchObject({ reason: 'NameMismatch' });
    expect(cond(failed, 'Ready')?.message).toMatch(/metadata.name must be jupyter-ivy/);
    expect(await getSvc('not-ivy')).toBeUndefined();
  });

  it('serves a direct loopback target without a Service (the cluster cannot route to it) and says why', async () => {
    op = await startInProcess(info, N());
    const fs = await admin.forwardedServers.create(
      N(),
      forwardedServer(N(), 'kim', '', { target: { host: '127.0.0.1', port: 8000 } }),
    );
    const ready = await phaseOf(fs.metadata.name, 'Ready');
    expect(ready.status?.url).toBe('http://127.0.0.1:8000');
    expect(cond(ready, 'ServiceReady')).toMatchObject({
      status: 'False',
      reason: 'TargetNotRoutable',
    });
    expect(cond(ready, 'ServiceReady')?.message).toMatch(/127\.0\.0\.1 is a loopback address/);
    expect(await getSvc(fs.metadata.name)).toBeUndefined();
    // A routable target later gets its Service.
    await admin.forwardedServers.patch(N(), fs.metadata.name, {
      spec: { target: { host: '10.9.8.7', port: 8000 } },
    });
    await eventually('the Service of a routable target', () => getSvc(fs.metadata.name));
  });

  it('cancels: the Service goes, the port is released, the phase is Cancelled', async () => {
    op = await startInProcess(info, N());
    await admin.jumpNodes.create(N(), jumpNode(N(), 'hpc'));
    const fs = await admin.forwardedServers.create(
      N(),
      forwardedServer(N(), 'jack', '', {
        jumpNodeRef: { name: 'hpc' },
        target: { host: 'n', port: 9 },
      }),
    );
    await phaseOf(fs.metadata.name, 'Connecting');
    await admin.forwardedServers.patch(N(), fs.metadata.name, { spec: { cancelRequested: true } });
    const done = await phaseOf(fs.metadata.name, 'Cancelled');
    expect(done.status?.url).toBeUndefined();
    expect(done.status?.runnerPort).toBeUndefined();
    expect(await getSvc(fs.metadata.name)).toBeUndefined();
    expect(await claims()).toEqual([]);
    await eventually('the Cancelling and Cancelled Events', async () => {
      const reasons = (await events(fs.metadata.name)).map((e) => e.reason);
      return ['Cancelling', 'Cancelled'].every((r) => reasons.includes(r));
    });
  });
});
