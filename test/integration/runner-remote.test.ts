// Remote forward (`ssh -R`): a program on the jump node reaches an in-cluster address (here: an
// HTTP server next to the runner, standing in for the hub) through forwardIn, also after sshd
// restarted and the runner had to register the forward again.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  condition,
  startRemoteSite,
  waitFor,
  type RemoteSite,
  type RunnerProcess,
} from './runner-fixture.js';

jest.setTimeout(120_000);

const BIND_PORT = 9911;

describe('runner: remote forward', () => {
  let site: RemoteSite;
  let runner: RunnerProcess;
  let hub: http.Server;
  const seen: string[] = [];

  beforeAll(async () => {
    site = await startRemoteSite('runner-remote');
    hub = http.createServer((req, res) => {
      seen.push(req.url ?? '');
      res.end(JSON.stringify({ hub: true, path: req.url }));
    });
    await new Promise<void>((r) => hub.listen(0, '127.0.0.1', () => r()));
  });

  afterAll(async () => {
    hub?.closeAllConnections();
    await new Promise((r) => hub?.close(r));
    await site?.close();
  });

  /** An HTTP GET run by node on the jump node itself (inside its namespace). */
  async function getOnJumpNode(path: string): Promise<{ code: number; body: string }> {
    const script = `require('http').get({host:'127.0.0.1',port:${BIND_PORT},path:${JSON.stringify(path)},timeout:3000},r=>{let b='';r.on('data',c=>b+=c);r.on('end',()=>{process.stdout.write(b)})}).on('error',e=>{process.stderr.write(e.message);process.exit(3)})`;
    const r = await site.topo.runIn(site.topo.jumpNs, [process.execPath, '-e', script], 10_000);
    return { code: r.code, body: r.stdout };
  }

  it('lets a client on the jump node reach the in-cluster address, also after sshd restarts', async () => {
    const { sshd } = site;
    const hubPort = (hub.address() as AddressInfo).port;
    await site.jumpNode('site', { keepalive: { intervalSeconds: 1, countMax: 3 } });
    await site.server('dave', 'site', {
      spec: {
        remoteForward: {
          bindAddress: 'localhost',
          bindPort: BIND_PORT,
          target: { host: '127.0.0.1', port: hubPort },
        },
      },
    });
    // Before the runner runs, nothing listens there on the jump node.
    expect((await getOnJumpNode('/before')).code).not.toBe(0);

    runner = await site.runner('site');
    const [fs] = await site.serversWith(['dave'], ['TunnelReady']);
    expect(condition(fs, 'TunnelReady')?.message).toContain(`localhost:${BIND_PORT}`);

    const first = await getOnJumpNode('/api/from-jump-node');
    expect(first.code).toBe(0);
    expect(JSON.parse(first.body)).toEqual({ hub: true, path: '/api/from-jump-node' });
    expect(seen).toContain('/api/from-jump-node');

    await sshd.kill();
    await sshd.start();
    const backAt = Date.now();
    const again = await waitFor(
      'the remote forward after the sshd restart',
      async () => {
        const r = await getOnJumpNode('/api/after-restart');
        return r.code === 0 ? r : undefined;
      },
      60_000,
      100,
    );
    console.log(
      `MEASURED remote forward usable again ${Date.now() - backAt} ms after sshd restarted`,
    );
    expect(JSON.parse(again.body)).toEqual({ hub: true, path: '/api/after-restart' });
    expect(
      await runner.metric('jfo_runner_remote_connections_total', { result: 'ok' }),
    ).toBeGreaterThanOrEqual(2);
    expect(runner.exited()).toBe(false);
  });

  it('closes the remote forward of a cancelled server', async () => {
    const { t } = site;
    await t.admin.forwardedServers.patch(t.name, 'dave', { spec: { cancelRequested: true } });
    await waitFor('the jump node no longer listening for the cancelled server', async () =>
      (await getOnJumpNode('/after-cancel')).code !== 0 ? true : undefined,
    );
    const fs = await waitFor('TunnelReady=False, Cancelled', async () => {
      const o = await t.admin.forwardedServers.get(t.name, 'dave');
      return condition(o, 'TunnelReady')?.reason === 'Cancelled' ? o : undefined;
    });
    expect(condition(fs, 'TunnelReady')?.status).toBe('False');
    expect(seen).not.toContain('/after-cancel');
    expect(runner.exited()).toBe(false);
  });
});
