// The jump node dies and comes back. Without any signal the runner finds it again within the
// keepalive bound; with the restart annotation it reconnects at once, unless its connections are
// already newer than the restart. The runner process never
// exits. Recovery times are measured and printed (no timing thresholds: the generous timeouts
// only guard against hangs); docs/runner.md records the figures.
import { RESTARTED_AT_ANNOTATION } from '../../src/api/types.js';
import { condition, httpGet, startRemoteSite, waitFor, type RemoteSite } from './runner-fixture.js';

jest.setTimeout(180_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('runner: jump node restarts', () => {
  let site: RemoteSite;
  beforeAll(async () => {
    site = await startRemoteSite('runner-restart');
  });
  afterAll(() => site?.close());

  async function setUp(
    name: string,
    keepalive: { intervalSeconds: number; countMax: number },
    env = {},
  ) {
    await site.jumpNode(name, { keepalive });
    const port = await site.server(`${name}-fs`, name);
    const runner = await site.runner(name, { env });
    await waitFor('the first request through the tunnel', () =>
      httpGet('127.0.0.1', port, '/', 2000).then((r) => r.status === 200),
    );
    await waitFor('Connected=True', async () => {
      const jn = await site.t.admin.jumpNodes.get(site.t.name, name);
      return condition(jn, 'Connected')?.status === 'True';
    });
    return { port, runner };
  }

  /** Polls new connections through the runner until one gets the target's answer. */
  async function msUntilForwarding(port: number, since: number): Promise<number> {
    await waitFor(
      'a new connection through the tunnel',
      () => httpGet('127.0.0.1', port, '/', 1000).then((r) => r.status === 200),
      60_000,
      20,
    );
    return Date.now() - since;
  }

  it('finds a jump node that died silently again within the keepalive bound', async () => {
    const keepalive = { intervalSeconds: 1, countMax: 3 };
    const { port, runner } = await setUp('silent', keepalive);
    // A power loss: packets vanish (no FIN, no RST), then the node comes back with a new sshd.
    await site.topo.setJumpLink(false);
    const lostAt = Date.now();
    await site.sshd.kill();
    const lost = await waitFor('the runner to notice', () =>
      runner.logs().find((l) => l.message === 'Lost the connection to JumpNode'),
    );
    const detectedMs = Date.parse(String(lost.timestamp)) - lostAt;
    expect(lost.reason).toBe('KeepaliveTimeout');
    await sleep(4000);
    await site.sshd.start();
    await site.topo.setJumpLink(true);
    const recoveredMs = await msUntilForwarding(port, Date.now());
    const bound = keepalive.intervalSeconds * keepalive.countMax * 1000;
    console.log(
      `MEASURED silent death: detected after ${detectedMs} ms (keepalive ${keepalive.intervalSeconds}s x ${keepalive.countMax}); new connections work ${recoveredMs} ms after the node is back (keepalive bound ${bound} ms)`,
    );
    expect(runner.exited()).toBe(false);
    const [fs] = await site.serversWith(['silent-fs'], ['TunnelReady']);
    expect(condition(fs, 'TunnelReady')?.reason).toBe('Forwarding');
    expect(
      await runner.metric('jfo_runner_ssh_disconnects_total', { reason: 'KeepaliveTimeout' }),
    ).toBe(1);
  });

  it('finds a restarted sshd again within the keepalive bound, without any signal', async () => {
    const keepalive = { intervalSeconds: 2, countMax: 3 };
    const { port, runner } = await setUp('plain', keepalive);
    await site.sshd.kill();
    // Long enough for the reconnect backoff to reach its cap (the keepalive bound).
    await sleep(10_000);
    await site.sshd.start();
    const recoveredMs = await msUntilForwarding(port, Date.now());
    const failures = runner.logs().filter((l) => l.message === 'Failed to connect to JumpNode');
    console.log(
      `MEASURED sshd killed and restarted: new connections work ${recoveredMs} ms after sshd is back (keepalive bound ${keepalive.intervalSeconds * keepalive.countMax * 1000} ms, ${failures.length} failed attempts while it was down)`,
    );
    expect(failures.length).toBeGreaterThan(0);
    expect(runner.exited()).toBe(false);
  });

  it('reconnects at once on the restart annotation, skipping a pending backoff', async () => {
    // Attempts that time out (the node's link is down) back off exponentially, up to the
    // keepalive bound; without the annotation the runner would wait out that delay.
    const keepalive = { intervalSeconds: 3, countMax: 3 };
    const { port, runner } = await setUp('annotated', keepalive, {
      JFO_RECONNECT_INITIAL_SECONDS: '5',
    });
    const scheduled = () =>
      runner.logs().filter((l) => l.message === 'Scheduled reconnect to JumpNode').length;
    const before = scheduled();
    await site.topo.setJumpLink(false);
    await site.sshd.kill();
    const lastScheduled = await waitFor(
      'a failed attempt and a scheduled reconnect',
      () =>
        scheduled() > before
          ? runner
              .logs()
              .filter((l) => l.message === 'Scheduled reconnect to JumpNode')
              .pop()
          : undefined,
      60_000,
    );
    const restartedAt = new Date().toISOString();
    await site.sshd.start();
    await site.topo.setJumpLink(true);
    const backAt = Date.now();
    await site.t.admin.jumpNodes.patch(site.t.name, 'annotated', {
      metadata: { annotations: { [RESTARTED_AT_ANNOTATION]: restartedAt } },
    });
    const recoveredMs = await msUntilForwarding(port, backAt);
    console.log(
      `MEASURED restart annotation: new connections work ${recoveredMs} ms after sshd is back (the pending backoff delay was ${String(lastScheduled.delayMs)} ms)`,
    );
    const jn = await waitFor('lastRestartHandled', async () => {
      const o = await site.t.admin.jumpNodes.get(site.t.name, 'annotated');
      return o.status?.lastRestartHandled === restartedAt ? o : undefined;
    });
    expect(condition(jn, 'Connected')?.status).toBe('True');
    const reason = `${RESTARTED_AT_ANNOTATION}=${restartedAt}`;
    expect(
      runner.logs().some((l) => l.message === 'Reconnecting to JumpNode' && l.reason === reason),
    ).toBe(true);
    expect(runner.exited()).toBe(false);
    // Every failure along the way was handled where it arose.
    expect(runner.logs().filter((l) => /Uncaught|Unhandled/.test(String(l.message)))).toEqual([]);
  });

  it('keeps a connection made after the restart it is told about, and echoes the value', async () => {
    // The hub restarts the node and then signals it; the runner has meanwhile reconnected on its
    // own. Dropping that connection would only cut the users' sessions again.
    const { port, runner } = await setUp('kept', { intervalSeconds: 10, countMax: 3 });
    const connects = () =>
      runner.logs().filter((l) => l.message === 'Connected to JumpNode').length;
    const first = connects();
    await site.sshd.kill();
    const restartedAt = new Date().toISOString();
    await site.sshd.start();
    await waitFor('the runner to reconnect on its own', () => connects() > first, 60_000);
    await msUntilForwarding(port, Date.now());
    const reconnected = connects();
    await site.t.admin.jumpNodes.patch(site.t.name, 'kept', {
      metadata: { annotations: { [RESTARTED_AT_ANNOTATION]: restartedAt } },
    });
    await waitFor('lastRestartHandled', async () => {
      const o = await site.t.admin.jumpNodes.get(site.t.name, 'kept');
      return o.status?.lastRestartHandled === restartedAt;
    });
    expect(connects()).toBe(reconnected);
    const reason = `${RESTARTED_AT_ANNOTATION}=${restartedAt}`;
    expect(
      runner.logs().some((l) => l.message === 'Reconnecting to JumpNode' && l.reason === reason),
    ).toBe(false);
    expect(
      runner
        .logs()
        .some(
          (l) =>
            l.message === 'Kept the connection to JumpNode: it is newer than the request' &&
            l.reason === reason,
        ),
    ).toBe(true);
    expect(runner.exited()).toBe(false);
  });
});
