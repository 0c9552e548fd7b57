// spec.runner.connections (JFO_SSH_CONNECTIONS in the runner Deployment): one runner process
// holds that many SSH connections to a real OpenSSH jump node, one per data plane thread, and
// every forward works whichever connection carries it.
import { condition, httpGet, startRemoteSite, type RemoteSite } from './runner-fixture.js';
import { connectionOf } from '../../src/runner/dataplane-group.js';

jest.setTimeout(120_000);

const CONNECTIONS = 3;
const SERVERS = 8;

describe('runner: several SSH connections', () => {
  let site: RemoteSite;
  beforeAll(async () => {
    site = await startRemoteSite('runner-conns');
  });
  afterAll(() => site?.close());

  it('spreads the forwards over the connections, and every one carries traffic', async () => {
    const { t, sshd } = site;
    await site.jumpNode('jump', { runner: { connections: CONNECTIONS } });
    const { names, ports } = await site.servers('jump', SERVERS);
    // The servers land on every connection (the test is about the spread, not the hash).
    const used = new Set(names.map((n) => connectionOf(`${t.name}/${n}`, CONNECTIONS)));
    expect(used.size).toBe(CONNECTIONS);
    const runner = await site.runner('jump', {
      env: { JFO_SSH_CONNECTIONS: String(CONNECTIONS) },
    });

    await site.serversWith(names, ['TunnelReady']);
    for (const [i, port] of ports.entries()) {
      const res = await httpGet('127.0.0.1', port, `/${names[i]}`);
      expect(res.status).toBe(200);
      expect(JSON.parse(res.body)).toMatchObject({ target: 'compute', path: `/${names[i]}` });
    }
    expect(await sshd.established()).toBe(CONNECTIONS);
    const jn = await t.admin.jumpNodes.get(t.name, 'jump');
    expect(condition(jn, 'Connected')).toMatchObject({ status: 'True' });
    expect(await runner.metric('jfo_runner_ssh_connected')).toBe(1);
    expect(await runner.metric('jfo_runner_forwards', { state: 'listening' })).toBe(SERVERS);
  });
});
