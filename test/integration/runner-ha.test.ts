// Two runner processes for one JumpNode (replicas: 2). Each holds its own SSH connection and
// every forward; when one dies, new connections through the other still succeed, and the status
// the two share does not flap.
import { condition, httpGet, startRemoteSite, waitFor, type RemoteSite } from './runner-fixture.js';

jest.setTimeout(120_000);

// Two "pods" on one machine: each runner listens on its own loopback address.
const POD_A = '127.0.0.2';
const POD_B = '127.0.0.3';

describe('runner: two replicas for one JumpNode', () => {
  let site: RemoteSite;
  beforeAll(async () => {
    site = await startRemoteSite('runner-ha');
  });
  afterAll(() => site?.close());

  it('keeps serving new connections when one replica is killed', async () => {
    const { t, sshd } = site;
    await site.jumpNode('ha', { runner: { replicas: 2 } });
    const port = await site.server('carol', 'ha');
    const a = await site.runner('ha', { pod: 'ha-tunnel-runner-a', listenHost: POD_A });
    const b = await site.runner('ha', { pod: 'ha-tunnel-runner-b', listenHost: POD_B });

    for (const host of [POD_A, POD_B])
      await waitFor(`forwarding via ${host}`, () =>
        httpGet(host, port, '/', 2000).then((r) => r.status === 200),
      );
    expect(await sshd.established()).toBe(2);
    const [before] = await site.serversWith(['carol'], ['TunnelReady']);
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
