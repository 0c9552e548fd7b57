// The runner survives whatever its peers do: clients that reset mid-stream (an EPIPE must not end
// the process), clients that never read (memory stays bounded: backpressure), and it
// drains on SIGTERM: not ready at once, open connections keep working, then a clean exit.
import net from 'node:net';
import {
  httpGet,
  startRemoteSite,
  waitFor,
  type RemoteSite,
  type RunnerProcess,
} from './runner-fixture.js';

jest.setTimeout(180_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Requests `bytes` from the target and returns the socket without reading from it. */
function openStream(port: number, bytes: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    sock.once('error', reject);
    sock.once('connect', () => {
      sock.write(`GET /bytes/${bytes} HTTP/1.1\r\nHost: x\r\n\r\n`);
      resolve(sock);
    });
  });
}

describe('runner: robustness', () => {
  let site: RemoteSite;
  let runner: RunnerProcess;
  let port: number;

  beforeAll(async () => {
    site = await startRemoteSite('runner-robust');
    await site.jumpNode('tough');
    port = await site.server('eve', 'tough');
    runner = await site.runner('tough', {
      env: { JFO_LOG_LEVEL: 'info', JFO_DRAIN_DELAY_SECONDS: '1', JFO_DRAIN_TIMEOUT_SECONDS: '60' },
    });
    await waitFor('forwarding', () =>
      httpGet('127.0.0.1', port, '/', 2000).then((r) => r.status === 200),
    );
  });

  afterAll(() => site?.close());

  it('survives clients that reset or half-close mid-stream', async () => {
    const abuse = async (i: number) => {
      const sock = await openStream(port, 50 * 1024 * 1024);
      sock.on('error', () => {});
      await new Promise<void>((resolve) => {
        sock.once('data', () => {
          if (i % 3 === 0)
            sock.resetAndDestroy(); // RST while the target is still writing
          else if (i % 3 === 1) {
            sock.end(); // half-close, then vanish
            setTimeout(() => sock.destroy(), 5);
          } else sock.destroy();
          resolve();
        });
      });
    };
    for (let round = 0; round < 10; round++)
      await Promise.all(Array.from({ length: 20 }, (_, i) => abuse(i)));
    // Garbage and instant resets on connect.
    for (let i = 0; i < 50; i++) {
      const s = net.connect({ host: '127.0.0.1', port });
      s.on('error', () => {});
      s.once('connect', () => (i % 2 ? s.resetAndDestroy() : s.end(Buffer.from([0, 255, 13, 10]))));
    }
    await sleep(1000);
    expect(runner.exited()).toBe(false);
    const r = await httpGet('127.0.0.1', port, '/still-alive');
    expect(r.status).toBe(200);
    await waitFor(
      'all aborted connections to be cleaned up',
      async () => (await runner.metric('jfo_runner_connections_active')) === 0,
    );
    expect(runner.logs().filter((l) => /Uncaught|Unhandled/.test(String(l.message)))).toEqual([]);
  });

  it('keeps memory bounded when a client does not read (backpressure)', async () => {
    const rss = async () => (await runner.metric('jfo_runner_process_resident_memory_bytes'))!;
    const before = await rss();
    // Four clients each ask for 1 GiB and read nothing.
    const socks = await Promise.all([1, 2, 3, 4].map(() => openStream(port, 1024 * 1024 * 1024)));
    await sleep(5000);
    const during = await rss();
    const moved =
      (await runner.metric('jfo_runner_bytes_total', { direction: 'from_target' })) ?? 0;
    console.log(
      `MEASURED slow readers: runner RSS ${(before / 2 ** 20).toFixed(1)} MiB before, ${(during / 2 ** 20).toFixed(1)} MiB with 4 stalled 1 GiB downloads; ${(moved / 2 ** 20).toFixed(1)} MiB delivered to clients so far`,
    );
    // Without backpressure the runner would buffer what the target sends as fast as the tunnel
    // carries it (hundreds of MiB per second here).
    expect(during - before).toBeLessThan(64 * 2 ** 20);
    for (const s of socks) s.destroy();
  });

  it('drains on SIGTERM: not ready at once, open connections finish, then exits 0', async () => {
    const sock = await openStream(port, 64 * 1024 * 1024);
    let received = 0;
    sock.on('data', (d: Buffer) => (received += d.length));
    sock.pause();
    const exit = runner.stop('SIGTERM');
    await waitFor(
      '/readyz to say draining',
      async () => (await runner.get('/readyz')).status === 503,
    );
    // The listener closes after the drain delay; the open download keeps flowing.
    await waitFor('the listener to close', () =>
      httpGet('127.0.0.1', port, '/', 500).then(
        () => false,
        () => true,
      ),
    );
    sock.resume();
    await new Promise((r) => sock.once('end', r));
    expect(received).toBeGreaterThan(64 * 1024 * 1024);
    sock.destroy();
    expect(await exit).toBe(0);
    expect(
      runner
        .logs()
        .some((l) => l.message === 'Drained tunnel runner' && l.openConnectionsLeft === 0),
    ).toBe(true);
  });
});
