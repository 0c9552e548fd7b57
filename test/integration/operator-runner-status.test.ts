// Status from the operator and the runner together, on the real stack: the API server, the
// operator (in-process, the manifests' RBAC), the runner as a process with a token of the
// ServiceAccount the operator made for it, sshd as the jump node and a target behind it that only
// the tunnel reaches. The operator's resync is an hour away, so nothing here converges by resync.
import { randomInt } from 'node:crypto';
import { loadavg } from 'node:os';
import type { ForwardedServer } from '../../src/api/types.js';
import { runnerName } from '../../src/names.js';
import type { RunningOperator } from '../../src/operator/operator.js';
import { clusterInfo } from '../harness/cluster.js';
import { kubectl } from '../harness/kubectl.js';
import {
  createRemoteTopology,
  startTargetServer,
  type RemoteTopology,
  type TargetServer,
} from '../harness/netns.js';
import { startSshd, type Sshd } from '../harness/sshd.js';
import {
  applyManifests,
  bindKeySecretReader,
  forwardedServer,
  startInProcess,
} from './operator-support.js';
import {
  condition,
  createJumpNode,
  createKeySecret,
  httpGet,
  serviceAccountKubeconfig,
  startRunnerProcess,
  tempDir,
  testNamespace,
  waitFor,
  type RunnerProcess,
  type TestNamespace,
} from './runner-fixture.js';

jest.setTimeout(600_000);

/** Servers of the burst (JFO_TEST_BURST overrides, e.g. 1000 to match the demo). */
const BURST = Number(process.env.JFO_TEST_BURST ?? 500);
const info = clusterInfo();

describe('operator and runner on one stack', () => {
  let t: TestNamespace;
  let topo: RemoteTopology;
  let sshd: Sshd;
  let target: TargetServer;
  let op: RunningOperator | undefined;
  let runner: RunnerProcess | undefined;
  let other: RunnerProcess | undefined;
  const tmp = tempDir('jfo-status-');
  // Listeners on an address of their own in 127/8, so other processes' ports never collide.
  const listenHost = `127.${randomInt(1, 255)}.${randomInt(1, 255)}.${randomInt(1, 255)}`;
  const portBase = 21000 + randomInt(0, 8) * 1000;

  /** The operator makes the runner's ServiceAccount and Role; the test plays the kubelet. */
  const startRunnerOf = async (jumpNode: string, env: Record<string, string>) => {
    const sa = runnerName(jumpNode);
    await waitFor(`the RoleBinding of the runner of ${jumpNode}`, () =>
      t.admin.rbac.readNamespacedRoleBinding({ name: sa, namespace: t.name }).catch(() => false),
    );
    return startRunnerProcess({
      namespace: t.name,
      jumpNode,
      kubeconfig: await serviceAccountKubeconfig(t, sa, tmp.path),
      listenHost,
      env: { JFO_LOG_LEVEL: 'info', ...env },
    });
  };

  beforeAll(async () => {
    await applyManifests(info);
    t = await testNamespace('status');
    await bindKeySecretReader(t.admin, info, t.name);
    topo = await createRemoteTopology();
    sshd = await startSshd({ netns: topo.jumpNs });
    target = await startTargetServer(topo, topo.computeNs, topo.computeAddr, 8888);
    op = await startInProcess(info, t.name, { JFO_RESYNC_SECONDS: '3600' });
    await createKeySecret(t, 'key', sshd.clientPrivateKey);
    await createJumpNode(t, 'hpc', {
      host: topo.jumpAddr,
      port: sshd.port,
      username: sshd.user,
      privateKeySecretRef: { name: 'key' },
      hostKeys: [sshd.hostPublicKey],
      runner: { portRange: { start: portBase, end: portBase + BURST + 99 } },
    });
    runner = await startRunnerOf('hpc', {
      JFO_STATUS_QPS: '100',
      JFO_STATUS_BURST: '100',
      // Fewer probe slots than the targets need per interval, on any machine: a forward's
      // first status waits for its first probe, so no target may wait behind the others.
      JFO_PROBE_CONCURRENCY: '2',
      JFO_PROBE_INTERVAL_SECONDS: '1',
    });
    await waitFor(
      'the SSH connection',
      async () => (await runner!.metric('jfo_runner_ssh_connected')) === 1,
      60_000,
      200,
    );
  });

  afterAll(async () => {
    await other?.stop('SIGKILL');
    await runner?.stop('SIGKILL');
    await op?.close();
    await target?.stop();
    await sshd?.stop();
    await topo?.destroy();
    await t?.cleanup();
    tmp.remove();
  });

  const servers = async () => (await t.admin.forwardedServers.list(t.name)).items;
  const summary = (list: ForwardedServer[]) => {
    const by: Record<string, number> = {};
    for (const fs of list) {
      const k = `${fs.status?.phase ?? 'none'}/tunnel=${condition(fs, 'TunnelReady')?.status ?? '-'}`;
      by[k] = (by[k] ?? 0) + 1;
    }
    return JSON.stringify(by);
  };

  const runnerFigures = async () => {
    const m = (name: string, labels?: Record<string, string>) => runner!.metric(name, labels);
    return JSON.stringify({
      listening: await m('jfo_runner_forwards', { state: 'listening' }),
      probes: await m('jfo_runner_probes_total', { result: 'reachable' }),
      writes: await m('jfo_runner_status_writes_total', { kind: 'ForwardedServer', result: 'ok' }),
    });
  };

  it(`a burst of ${BURST} servers created in one request all become Ready, without a reconnect`, async () => {
    const items = Array.from({ length: BURST }, (_, i) =>
      forwardedServer(t.name, `burst-${i}`, '', {
        jumpNodeRef: { name: 'hpc' },
        target: { host: topo.computeAddr, port: 8888 },
      }),
    );
    const list = { apiVersion: 'v1', kind: 'List', items };
    await kubectl(info, ['create', '-n', t.name, '-f', '-'], { input: JSON.stringify(list) });
    const started = Date.now();
    let last = '';
    const all = await waitFor(
      `all ${BURST} servers Ready`,
      async () => {
        const l = await servers();
        last = summary(l);
        return l.length === BURST && l.every((fs) => fs.status?.phase === 'Ready') && l;
      },
      240_000,
      1000,
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}; last seen: ${last}; runner: ${await runnerFigures()}`);
    });
    console.log(
      `MEASURED ${BURST} servers: all Ready ${Date.now() - started} ms after the create (load ${loadavg()[0]!.toFixed(1)})`,
    );
    for (const fs of all) {
      expect(condition(fs, 'TunnelReady')?.status).toBe('True');
      expect(condition(fs, 'Ready')?.status).toBe('True');
    }
    // The last server of the burst answers through its runner port.
    const lastPort = all.find((fs) => fs.metadata.name === items.at(-1)!.metadata.name)!.status!
      .runnerPort!;
    const r = await httpGet(listenHost, lastPort, '/');
    expect(r.status).toBe(200);
    expect(await runner!.metric('jfo_runner_ssh_connect_attempts_total')).toBe(1);
  });

  it("a server moved to another JumpNode drops the old runner's conditions at once, whatever the peer grace", async () => {
    // JumpNode "other": its runner cannot connect (nothing listens on port 1 of the jump node),
    // and would keep a peer's True for an hour.
    await createJumpNode(t, 'other', {
      host: topo.jumpAddr,
      port: 1,
      username: sshd.user,
      privateKeySecretRef: { name: 'key' },
      hostKeys: [sshd.hostPublicKey],
      runner: { portRange: { start: portBase + BURST + 100, end: portBase + BURST + 199 } },
    });
    other = await startRunnerOf('other', { JFO_PEER_GRACE_SECONDS: '3600' });
    const name = forwardedServer(t.name, 'burst-0', '').metadata.name;
    const before = await t.admin.forwardedServers.get(t.name, name);
    expect(before.status?.phase).toBe('Ready');
    expect(condition(before, 'TunnelReady')).toMatchObject({ status: 'True' });
    const moved = await t.admin.forwardedServers.patch(t.name, name, {
      spec: { jumpNodeRef: { name: 'other' } },
    });
    const gen = moved.metadata.generation!;
    expect(gen).toBeGreaterThan(before.metadata.generation!);
    const after = await waitFor(
      'the runner of JumpNode other to report on the moved server',
      async () => {
        const fs = await t.admin.forwardedServers.get(t.name, name);
        const tunnel = condition(fs, 'TunnelReady');
        return tunnel?.observedGeneration === gen && fs.status?.observedGeneration === gen && fs;
      },
      60_000,
      200,
    );
    expect(condition(after, 'TunnelReady')).toMatchObject({ status: 'False' });
    expect(condition(after, 'TargetReachable')?.status).not.toBe('True');
    expect(after.status?.phase).toBe('Connecting');
    expect(condition(after, 'Ready')).toMatchObject({ status: 'False', observedGeneration: gen });
    expect(after.status?.runnerPort).toBeGreaterThan(portBase + BURST + 99);
  });
});
