// Every key exchange, cipher and MAC the runner offers (src/runner/algorithms.ts) against a real
// OpenSSH sshd, one at a time, through the patched ssh2 (patches/): the connection must negotiate
// exactly that algorithm, and a forwarded connection must carry data both ways unchanged (many
// full-size packets, so padding and packet buffers are exercised on both directions).
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import ssh2 from 'ssh2';
import { CIPHERS, KEX, MACS } from '../../src/runner/algorithms.js';
import { connectConfig } from '../../src/runner/connect-config.js';
import type { ConnectionSettings } from '../../src/runner/connection-settings.js';
import { parseHostKeys } from '../../src/runner/hostkeys.js';
import { startSshd, type Sshd } from '../harness/sshd.js';

jest.setTimeout(120_000);

const PAYLOAD = randomBytes(600_000);

describe('runner algorithms against OpenSSH sshd', () => {
  let sshd: Sshd;
  let echo: net.Server;
  let echoPort: number;

  beforeAll(async () => {
    // sshd's defaults would leave some of ours out only if OpenSSH dropped them; name them all.
    sshd = await startSshd({
      extraConfig: [
        `KexAlgorithms ${KEX.join(',')}`,
        `Ciphers ${CIPHERS.join(',')}`,
        `MACs ${MACS.join(',')}`,
      ],
    });
    echo = net.createServer((s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    echoPort = (echo.address() as net.AddressInfo).port;
  });

  afterAll(async () => {
    await sshd?.stop();
    await new Promise((r) => echo?.close(r));
  });

  const cases: [string, ssh2.AlgorithmList<string>][] = [
    ...KEX.map((kex): [string, object] => [`kex ${kex}`, { kex: [kex] }]),
    ...CIPHERS.map((c): [string, object] => [`cipher ${c}`, { cipher: [c] }]),
    ...MACS.map((m): [string, object] => [
      `mac ${m} (aes128-ctr)`,
      { cipher: ['aes128-ctr'], hmac: [m] },
    ]),
  ] as [string, ssh2.AlgorithmList<string>][];

  it.each(cases)(
    '%s: negotiated, and data crosses a forwarded connection intact',
    async (_, only) => {
      const { negotiated, echoed } = await forwardThrough(sshd, echoPort, only as never);
      const o = only as { kex?: string[]; cipher?: string[]; hmac?: string[] };
      if (o.kex) expect(negotiated.kex).toBe(o.kex[0]);
      if (o.cipher) expect(negotiated.cs.cipher).toBe(o.cipher[0]);
      if (o.cipher) expect(negotiated.sc.cipher).toBe(o.cipher[0]);
      if (o.hmac) expect(negotiated.cs.mac).toBe(o.hmac[0]);
      if (o.hmac) expect(negotiated.sc.mac).toBe(o.hmac[0]);
      expect(echoed.length).toBe(PAYLOAD.length);
      expect(echoed.equals(PAYLOAD)).toBe(true);
    },
  );
});

/** Connects with the runner's settings narrowed to `only`, echoes PAYLOAD through a channel. */
async function forwardThrough(
  sshd: Sshd,
  echoPort: number,
  only: { kex?: ssh2.KexAlgorithm[]; cipher?: ssh2.CipherAlgorithm[]; hmac?: ssh2.MacAlgorithm[] },
): Promise<{ negotiated: ssh2.NegotiatedAlgorithms; echoed: Buffer }> {
  const parsed = parseHostKeys([sshd.hostPublicKey]);
  const settings: ConnectionSettings = {
    host: sshd.host,
    port: sshd.port,
    username: sshd.user,
    privateKey: Buffer.from(sshd.clientPrivateKey),
    hostKeys: parsed.keys,
    insecureSkipHostKeyCheck: false,
    keepaliveIntervalMs: 10_000,
    keepaliveCountMax: 3,
    identity: 'test',
  };
  const sock = net.connect({ host: sshd.host, port: sshd.port, noDelay: true });
  const config = connectConfig(settings, sock, 30_000, (problem) => {
    throw new Error(problem);
  });
  const client = new ssh2.Client();
  try {
    const negotiated = await new Promise<ssh2.NegotiatedAlgorithms>((resolve, reject) => {
      let n: ssh2.NegotiatedAlgorithms | undefined;
      client.on('handshake', (x) => (n = x));
      client.on('ready', () => resolve(n!));
      client.on('error', reject);
      client.connect({ ...config, algorithms: { ...config.algorithms, ...only } });
    });
    const echoed = await new Promise<Buffer>((resolve, reject) => {
      client.forwardOut('127.0.0.1', 0, '127.0.0.1', echoPort, (err, ch) => {
        if (err) return reject(err);
        const chunks: Buffer[] = [];
        let n = 0;
        ch.on('data', (d: Buffer) => {
          chunks.push(d);
          n += d.length;
          if (n >= PAYLOAD.length) {
            resolve(Buffer.concat(chunks));
            ch.close();
          }
        });
        ch.on('error', reject);
        ch.write(PAYLOAD);
      });
    });
    return { negotiated, echoed };
  } finally {
    client.end();
    sock.destroy();
  }
}
