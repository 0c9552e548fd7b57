// Many forwards, one SSH connection: 200 ForwardedServers on one JumpNode are all served through
// a single connection to sshd, including 200 connections open at the same time.
import net from 'node:net';
import { httpGet, startRemoteSite, waitFor, type RemoteSite } from './runner-fixture.js';

jest.setTimeout(240_000);

const FORWARDS = 200;

async function inBatches<T>(items: T[], size: number, fn: (item: T) => Promise<unknown>) {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

/** Opens a connection, sends a request, and keeps the socket open until released. */
function holdRequest(port: number): Promise<{ reply: string; release(): void }> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let reply = '';
    sock.on('error', reject);
    sock.on('connect', () => sock.write('GET /held HTTP/1.1\r\nHost: x\r\n\r\n'));
    sock.on('data', (d: Buffer) => {
      reply += d.toString();
      if (reply.includes('"target":"compute"')) resolve({ reply, release: () => sock.destroy() });
    });
  });
}

describe('runner: 200 forwards over one SSH connection', () => {
  let site: RemoteSite;
  beforeAll(async () => {
    site = await startRemoteSite('runner-scale');
  });
  afterAll(() => site?.close());

  it('serves every forward through one connection to sshd', async () => {
    const { sshd } = site;
    await site.jumpNode('hpc');
    const { names, ports } = await site.servers('hpc', FORWARDS);
    const started = Date.now();
    const runner = await site.runner('hpc', {
      env: { JFO_STATUS_QPS: '100', JFO_STATUS_BURST: '100', JFO_LOG_LEVEL: 'info' },
    });
    await waitFor(
      `${FORWARDS} listeners`,
      async () => (await runner.metric('jfo_runner_forwards', { state: 'listening' })) === FORWARDS,
      60_000,
      200,
    );
    const listeningMs = Date.now() - started;
    // Listeners open before the SSH connection is up, and reset connections until it is (fail
    // fast by design): wait for the connection too before sending requests.
    await waitFor(
      'the SSH connection',
      async () => (await runner.metric('jfo_runner_ssh_connected')) === 1,
      60_000,
      200,
    );

    // One request through every forward.
    let ok = 0;
    await inBatches(ports, 25, async (port) => {
      const r = await httpGet('127.0.0.1', port, '/');
      if (r.status === 200 && JSON.parse(r.body).target === 'compute') ok++;
    });
    expect(ok).toBe(FORWARDS);

    // 200 connections open at once, still one SSH connection.
    const held = await Promise.all(ports.map((p) => holdRequest(p)));
    expect(held).toHaveLength(FORWARDS);
    expect(await runner.metric('jfo_runner_connections_active')).toBe(FORWARDS);
    expect(await sshd.established()).toBe(1);
    for (const h of held) h.release();

    // Resolves once every one of the FORWARDS servers has both conditions True.
    await site.serversWith(names, ['TunnelReady', 'TargetReachable'], 120_000, 500);
    const statusMs = Date.now() - started;
    const attempts = await runner.metric('jfo_runner_ssh_connect_attempts_total');
    const writes = await runner.metric('jfo_runner_status_writes_total', {
      kind: 'ForwardedServer',
      result: 'ok',
    });
    console.log(
      `MEASURED ${FORWARDS} forwards: all listening ${listeningMs} ms after start, all TunnelReady+TargetReachable after ${statusMs} ms, ${writes} ForwardedServer status writes, ${attempts} SSH connection attempt(s), ${await sshd.established()} established connection(s) to sshd`,
    );
    expect(attempts).toBe(1);
  });
});
