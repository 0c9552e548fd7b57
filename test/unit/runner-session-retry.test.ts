// The session's retry delays, against real sockets: a refused port (sshd restarting) is retried
// within 500 ms however many attempts failed; a port that accepts and then closes without SSH
// (a failure that reached the peer) backs off as configured.
import net from 'node:net';
import { generateKeyPairSync } from 'node:crypto';
import ssh2 from 'ssh2';
import { FakeClock } from '../../src/clock.js';
import { SshSession } from '../../src/runner/session.js';
import type { ConnectionSettings } from '../../src/runner/connection-settings.js';

const quiet = { debug() {}, info() {}, warn() {}, error() {} } as never;

function settings(
  port: number,
  privateKey = ssh2.utils.generateKeyPairSync('ed25519').private,
): ConnectionSettings {
  return {
    host: '127.0.0.1',
    port,
    username: 'u',
    privateKey: Buffer.from(privateKey),
    hostKeys: [],
    insecureSkipHostKeyCheck: true,
    keepaliveIntervalMs: 10_000,
    keepaliveCountMax: 3,
    identity: `port ${port}`,
  };
}

/** A clock that records every timer's delay; runs them only when told to. */
class RecordingClock extends FakeClock {
  readonly delays: number[] = [];
  override setTimeout(fn: () => void, ms: number): unknown {
    this.delays.push(ms);
    return super.setTimeout(fn, ms);
  }
}

/** Runs `attempts` attempts and returns the retry delays the session chose after each. */
async function retryDelays(
  port: number,
  attempts: number,
  key?: string,
): Promise<{ delays: number[]; problem?: string }> {
  const clock = new RecordingClock();
  const session = new SshSession({
    log: quiet,
    clock,
    random: () => 1, // the top of the jitter range
    readyTimeoutMs: 60_000,
    reconnectInitialMs: 1000,
    reconnectMaxMs: 30_000,
  });
  const chosen: number[] = [];
  try {
    for (let i = 0; i < attempts; i++) {
      const waiting = new Promise<void>((resolve) => {
        const on = () => {
          if (session.snapshot().phase !== 'waiting') return;
          session.off('change', on);
          resolve();
        };
        session.on('change', on);
      });
      if (i === 0) session.configure({ ok: true, settings: settings(port, key) });
      else clock.advance(chosen[i - 1]!);
      await waiting;
      chosen.push(clock.delays.at(-1)!);
    }
    return { delays: chosen, problem: session.snapshot().problem?.message };
  } finally {
    await session.close();
  }
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe('SshSession retry delay', () => {
  it('stays at most 500 ms while the port refuses connections', async () => {
    const { delays, problem } = await retryDelays(await freePort(), 6);
    expect(delays).toEqual([250, 500, 500, 500, 500, 500]);
    expect(problem).toMatch(/ECONNREFUSED/);
  });

  it('backs off exponentially when the peer accepted and closed the connection', async () => {
    const server = net.createServer((s) => s.destroy());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const { delays } = await retryDelays((server.address() as net.AddressInfo).port, 4);
      expect(delays).toEqual([1000, 2000, 4000, 8000]);
    } finally {
      server.close();
    }
  });

  it('retries (and says why) when ssh2 refuses the settings before connecting', async () => {
    // A PKCS#8 PEM ed25519 key: ssh2's connect() throws, no socket event follows.
    const { privateKey } = generateKeyPairSync('ed25519', {
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    const { delays, problem } = await retryDelays(await freePort(), 2, privateKey);
    expect(delays).toEqual([1000, 2000]);
    expect(problem).toMatch(/SSH error with u@127\.0\.0\.1/);
  });
});
