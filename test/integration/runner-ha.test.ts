// Two runner processes for one JumpNode (replicas: 2). Each holds its own SSH connection and
// every forward; when one dies, new connections through the other still succeed, and the status
// the two share does not flap.
import {
  createRemoteTopology,
  startTargetServer,
  type RemoteTopology,
  type TargetServer,
} from '../harness/netns.js';
import { startSshd, type Sshd } from '../harness/sshd.js';
import {
  condition,
  createJumpNode,
  createKeySecret,
  createServer,
  httpGet,
  runnerKubeconfig,
  runnerPort,
  startRunnerProcess,
  tempDir,
  testNamespace,
  waitFor,
  type RunnerProcess,
  type TestNamespace,
} from './runner-fixture.js';

jest.setTimeout(120_000);

// Two "pods" on one machine: each runner listens on its own loopback address.
const POD_A = '127.0.0.2';
const POD_B = '127.0.0.3';

describe('runner: two replicas for one JumpNode', () => {
  let t: TestNamespace;
  let topo: RemoteTopology;
  let sshd: Sshd;
  let target: TargetServer;
  const runners: RunnerProcess[] = [];
  const tmp = tempDir('jfo-runner-');

  beforeAll(async () => {
    t = await testNamespace('runner-ha');
    topo = await createRemoteTopology();
    sshd = await startSshd({ netns: topo.jumpNs });
    target = await startTargetServer(topo, topo.computeNs, topo.computeAddr, 8888);
  });

  afterAll(async () => {
    for (const r of runners) await r.stop('SIGKILL');
    await target?.stop();
    await sshd?.stop();
    await topo?.destroy();
    await t?.cleanup();
    tmp.remove();
  });

  it('keeps serving new connections when one replica is killed', async () => {
    await createKeySecret(t, 'key', sshd.clientPrivateKey);
    await createJumpNode(t, 'ha', {
      host: topo.jumpAddr,
      port: sshd.port,
      username: sshd.user,
      privateKeySecretRef: { name: 'key' },
      hostKeys: [sshd.hostPublicKey],
      runner: { replicas: 2 },
    });
    const port = await runnerPort();
    await createServer(
      t,
      'carol',
      { jumpNodeRef: { name: 'ha' }, target: { host: topo.computeAddr, port: 8888 } },
      port,
    );
    const kubeconfig = await runnerKubeconfig(t, 'ha', 'key', tmp.path);
    const start = (pod: string, listenHost: string) =>
      startRunnerProcess({ namespace: t.name, jumpNode: 'ha', kubeconfig, pod, listenHost });
    const a = await start('ha-tunnel-runner-a', POD_A);
    runners.push(a);
    const b = await start('ha-tunnel-runner-b', POD_B);
    runners.push(b);

    for (const host of [POD_A, POD_B])
      await waitFor(`forwarding via ${host}`, () =>
        httpGet(host, port, '/', 2000).then((r) => r.status === 200),
      );
    expect(await sshd.established()).toBe(2);
    const before = await waitFor('TunnelReady=True', async () => {
      const o = await t.admin.forwardedServers.get(t.name, 'carol');
      return condition(o, 'TunnelReady')?.status === 'True' ? o : undefined;
    });
    const readyAt = condition(before, 'TunnelReady')!.lastTransitionTime;

    await a.stop('SIGKILL');
    expect((await httpGet(POD_A, port, '/', 1000).catch(() => ({ status: 0 }))).status).toBe(0);
    // Every new connection goes through the surviving replica.
    for (let i = 0; i < 20; i++) {
      const r = await httpGet(POD_B, port, `/after-kill-${i}`);
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body).path).toBe(`/after-kill-${i}`);
    }
    expect((await b.get('/readyz')).status).toBe(200);
    await waitFor('sshd to drop the dead replica', async () => (await sshd.established()) === 1);
    // The shared status never went down: same True, same transition time.
    const after = await t.admin.forwardedServers.get(t.name, 'carol');
    expect(condition(after, 'TunnelReady')).toMatchObject({
      status: 'True',
      lastTransitionTime: readyAt,
    });
    const jn = await t.admin.jumpNodes.get(t.name, 'ha');
    expect(condition(jn, 'Connected')?.status).toBe('True');
    expect(b.exited()).toBe(false);
  });
});
