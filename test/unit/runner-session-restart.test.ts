// The data plane's half of a JumpNode restart request, against a real SSH server (ssh2): the
// session alone decides whether to keep its connection (made at or after the request time) or
// reconnect, and the RestartTracker counts the request handled from the session's snapshot.
import ssh2 from 'ssh2';
import { FakeClock } from '../../src/clock.js';
import { RestartTracker } from '../../src/runner/restart.js';
import { SshSession } from '../../src/runner/session.js';

interface Line {
  message: string;
  reason?: string;
}

function startServer(): Promise<{ port: number; accepted: () => number; close(): void }> {
  let accepted = 0;
  const server = new ssh2.Server(
    { hostKeys: [ssh2.utils.generateKeyPairSync('ed25519').private] },
    (client) => {
      accepted++;
      client.on('authentication', (ctx) => ctx.accept());
      client.on('error', () => {});
    },
  );
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        port: (server.address() as { port: number }).port,
        accepted: () => accepted,
        close: () => server.close(),
      }),
    ),
  );
}

describe('SshSession.reconnectNow with a request time', () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  beforeAll(async () => (server = await startServer()));
  afterAll(() => server.close());

  async function connectedSession(clock: FakeClock, lines: Line[]) {
    const log = {
      debug() {},
      info: (message: string, f?: { reason?: string }) =>
        void lines.push({ message, reason: f?.reason }),
      warn: (message: string) => void lines.push({ message }),
      error: (message: string) => void lines.push({ message }),
    };
    const session = new SshSession({
      log: log as never,
      clock,
      readyTimeoutMs: 10_000,
      reconnectInitialMs: 1000,
      reconnectMaxMs: 30_000,
    });
    const ready = new Promise((r) => session.once('ready', r));
    session.configure({
      ok: true,
      settings: {
        host: '127.0.0.1',
        port: server.port,
        username: 'u',
        privateKey: Buffer.from(ssh2.utils.generateKeyPairSync('ed25519').private),
        hostKeys: [],
        insecureSkipHostKeyCheck: true,
        keepaliveIntervalMs: 10_000,
        keepaliveCountMax: 3,
        identity: 'test',
      },
    });
    await ready;
    return session;
  }

  /** A session connected at 5000 (the fake clock) and a tracker that has seen no annotation. */
  async function withSession(
    test: (t: {
      clock: FakeClock;
      lines: Line[];
      session: SshSession;
      tracker: RestartTracker;
    }) => Promise<void>,
  ) {
    const clock = new FakeClock(5000);
    const lines: Line[] = [];
    const session = await connectedSession(clock, lines);
    try {
      const tracker = new RestartTracker();
      tracker.observe(undefined, undefined, clock.now());
      await test({ clock, lines, session, tracker });
    } finally {
      await session.close();
    }
  }

  it('keeps a connection made at or after the request time; the request counts as handled', () =>
    withSession(async ({ lines, session, tracker }) => {
      const value = new Date(5000).toISOString();
      const request = tracker.observe(value, undefined, 6000)!;
      const before = server.accepted();
      session.reconnectNow(`restart=${request.value}`, request.notBefore);
      expect(session.snapshot()).toMatchObject({ phase: 'connected', connectedSince: 5000 });
      expect(lines.filter((l) => l.reason === `restart=${value}`)).toEqual([
        {
          message: 'Kept the connection to JumpNode: it is newer than the request',
          reason: `restart=${value}`,
        },
      ]);
      expect(tracker.check([session.snapshot()])).toBe(true);
      expect(tracker.handled()).toBe(value);
      expect(server.accepted()).toBe(before);
    }));

  it('reconnects a connection made before the request time; handled once the new one is up', () =>
    withSession(async ({ clock, lines, session, tracker }) => {
      clock.advance(1000);
      const value = new Date(5001).toISOString();
      const request = tracker.observe(value, undefined, clock.now())!;
      // The main thread's snapshot still shows the old connection.
      expect(tracker.check([session.snapshot()])).toBe(false);
      const ready = new Promise((r) => session.once('ready', r));
      session.reconnectNow(`restart=${request.value}`, request.notBefore);
      expect(lines).toContainEqual({
        message: 'Reconnecting to JumpNode',
        reason: `restart=${value}`,
      });
      expect(tracker.check([session.snapshot()])).toBe(false);
      await ready;
      expect(session.snapshot()).toMatchObject({ phase: 'connected', connectedSince: 6000 });
      expect(tracker.check([session.snapshot()])).toBe(true);
      expect(tracker.handled()).toBe(value);
    }));
});
