// The runner carries real traffic through a real OpenSSH jump node: the notebook-like target lives
// in a network namespace that the test process cannot reach except through the site.sshd.
import { canConnect, websocketEcho } from '../harness/netns.js';
import { startSshd } from '../harness/sshd.js';
import {
  condition,
  fingerprintOf,
  httpGet,
  startRemoteSite,
  waitFor,
  type RemoteSite,
  type RunnerProcess,
} from './runner-fixture.js';

jest.setTimeout(120_000);

describe('runner: traffic through the jump node', () => {
  let site: RemoteSite;
  let runner: RunnerProcess;
  beforeAll(async () => {
    site = await startRemoteSite('runner-tunnel');
  });
  afterAll(() => site?.close());

  it('reaches the target only through the tunnel: HTTP and a websocket', async () => {
    // Without the tunnel the target is out of reach: the host routes its subnet to the jump
    // node, which does not forward. Only sshd on the jump node gets through.
    expect(await canConnect(site.topo.computeAddr, 8888, 1000)).toBe(false);
    await expect(httpGet(site.topo.computeAddr, 8888, '/', 1000)).rejects.toThrow();

    await site.jumpNode('jump', { keepalive: { intervalSeconds: 2, countMax: 3 } });
    const port = await site.server('alice', 'jump');
    runner = await site.runner('jump');

    const [fs] = await site.serversWith(['alice'], ['TunnelReady', 'TargetReachable']);
    expect(condition(fs, 'TunnelReady')?.reason).toBe('Forwarding');

    const res = await httpGet('127.0.0.1', port, '/hello');
    expect(res.status).toBe(200);
    // The target saw the connection coming from the jump node's inner address.
    expect(JSON.parse(res.body)).toEqual({
      target: 'compute',
      path: '/hello',
      peer: site.topo.jumpInnerAddr,
    });
    expect(await websocketEcho('127.0.0.1', port, 'hi through ssh')).toBe('echo:hi through ssh');

    const jn = await site.t.admin.jumpNodes.get(site.t.name, 'jump');
    expect(condition(jn, 'Connected')).toMatchObject({ status: 'True', reason: 'Connected' });
    expect(jn.status?.connectedSince).toBeTruthy();
    expect((await runner.get('/readyz')).status).toBe(200);
    expect(await runner.metric('jfo_runner_ssh_connected')).toBe(1);
    expect(
      await runner.metric('jfo_runner_connections_total', { result: 'ok' }),
    ).toBeGreaterThanOrEqual(2);
    expect(await site.sshd.established()).toBe(1);
    expect(site.sshd.log()).toMatch(/Accepted publickey for root/);
  });

  it('reports a target that is down, and when it is back', async () => {
    await site.target.stop();
    const down = await waitFor('TargetReachable=False', async () => {
      const o = await site.t.admin.forwardedServers.get(site.t.name, 'alice');
      return condition(o, 'TargetReachable')?.status === 'False' ? o : undefined;
    });
    const c = condition(down, 'TargetReachable')!;
    expect(c.reason).toBe('Unreachable');
    expect(c.message).toContain(`${site.topo.computeAddr}:8888`);
    expect(c.message).toMatch(/refused/i);
    // The tunnel itself is fine; only the target is gone.
    expect(condition(down, 'TunnelReady')?.status).toBe('True');
    expect(await runner.metric('jfo_runner_probe_failures_total')).toBeGreaterThan(0);

    await site.restartTarget();
    await waitFor('TargetReachable=True again', async () => {
      const o = await site.t.admin.forwardedServers.get(site.t.name, 'alice');
      return condition(o, 'TargetReachable')?.status === 'True';
    });
  });

  it('forwards nothing when the jump node presents another host key, and says why', async () => {
    const other = await startSshd({ netns: site.topo.jumpNs, port: 2200 });
    try {
      // The key of the real jump node is pinned, not the key of this server.
      await site.jumpNode('impostor', { port: other.port, username: other.user });
      // The key is authorised on the impostor too: only the host key check can stop it.
      other.authorize(site.sshd.clientPublicKey);
      const port = await site.server('bob', 'impostor');
      const r2 = await site.runner('impostor');
      try {
        const jn = await waitFor('Connected=False', async () => {
          const o = await site.t.admin.jumpNodes.get(site.t.name, 'impostor');
          return condition(o, 'Connected')?.reason === 'HostKeyMismatch' ? o : undefined;
        });
        const c = condition(jn, 'Connected')!;
        expect(c.status).toBe('False');
        expect(c.message).toContain('Host key verification failed');
        expect(c.message).toContain(fingerprintOf(other.hostPublicKey));
        const fs = await waitFor('TunnelReady=False', async () => {
          const o = await site.t.admin.forwardedServers.get(site.t.name, 'bob');
          return condition(o, 'TunnelReady')?.reason === 'HostKeyMismatch' ? o : undefined;
        });
        expect(condition(fs, 'TunnelReady')?.status).toBe('False');
        // Nothing is forwarded: the listener resets connections, the target never sees one.
        await expect(httpGet('127.0.0.1', port, '/')).rejects.toThrow();
        expect(other.log()).not.toMatch(/Accepted publickey/);
        expect((await r2.get('/readyz')).status).toBe(503);
        await waitFor(
          'a HostKeyMismatch Event on the JumpNode',
          async () => {
            const events = await site.t.admin.events.listNamespacedEvent({
              namespace: site.t.name,
            });
            return events.items.some(
              (e) => e.reason === 'HostKeyMismatch' && e.regarding?.name === 'impostor',
            );
          },
          5000,
          500,
        );
      } finally {
        await r2.stop('SIGKILL');
      }
    } finally {
      await other.stop();
    }
  });

  it('accepts any host key only when insecureSkipHostKeyCheck is set, and says so', async () => {
    await site.jumpNode('trusting', { hostKeys: undefined, insecureSkipHostKeyCheck: true });
    const port = await site.server('frank', 'trusting');
    const r3 = await site.runner('trusting');
    try {
      const jn = await waitFor('Connected=True', async () => {
        const o = await site.t.admin.jumpNodes.get(site.t.name, 'trusting');
        return condition(o, 'Connected')?.status === 'True' ? o : undefined;
      });
      expect(condition(jn, 'Connected')?.message).toContain(
        'WARNING: the host key is not verified',
      );
      expect((await httpGet('127.0.0.1', port, '/insecure')).status).toBe(200);
    } finally {
      await r3.stop('SIGKILL');
    }
  });
});
