// The functions that patches/ssh2+*.patch change, tested on the installed (patched) ssh2: the
// padding pool (directly, and through allocPacket of every cipher the runner offers, binding and
// pure JavaScript variants, by encrypting and decrypting packets of many sizes),
// Channel.destroy() and the stderr stream that only session channels get up front.
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { CIPHERS, MACS } from '../../src/runner/algorithms.js';

const require = createRequire(__filename);
const crypto = require('ssh2/lib/protocol/crypto.js');
const { Channel } = require('ssh2/lib/Channel.js');
const { onCHANNEL_CLOSE } = require('ssh2/lib/utils.js');

interface Cipher {
  allocPacket(payloadLen: number): Buffer;
  encrypt(packet: Buffer): void;
}
interface Decipher {
  decrypt(data: Buffer, p: number, len: number): unknown;
}

beforeAll(() => crypto.init);

describe('randomPadding (001)', () => {
  it('fills exactly the requested bytes', () => {
    const buf = Buffer.alloc(64, 0xaa);
    crypto.randomPadding(buf, 10, 19);
    expect(buf.subarray(0, 10).every((b) => b === 0xaa)).toBe(true);
    expect(buf.subarray(29).every((b) => b === 0xaa)).toBe(true);
    // 19 random bytes that all equal 0xaa: probability 2^-152.
    expect(buf.subarray(10, 29).every((b) => b === 0xaa)).toBe(false);
  });

  it('never hands out the same pool bytes twice, across many refills', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 20_000; i++) {
      const buf = Buffer.alloc(16);
      crypto.randomPadding(buf, 0, 16);
      seen.add(buf.toString('hex'));
    }
    // 20,000 draws of 128 random bits: a repeat means reused bytes.
    expect(seen.size).toBe(20_000);
  });

  it('fills lengths beyond the pool directly', () => {
    const buf = Buffer.alloc(40_000);
    crypto.randomPadding(buf, 0, 40_000);
    expect(buf.subarray(39_000).some((b) => b !== 0)).toBe(true);
  });
});

describe('allocPacket with pooled padding (001), every cipher the runner offers', () => {
  const cases: [string, string | undefined, boolean][] = [];
  for (const cipher of CIPHERS)
    for (const forceNative of [false, true])
      if (cipher.endsWith('-ctr')) for (const mac of MACS) cases.push([cipher, mac, forceNative]);
      else cases.push([cipher, undefined, forceNative]);

  it.each(cases)('%s %s (pure JavaScript: %s): packets decrypt to what was sent', (...c) => {
    const [cipherName, macName, forceNative] = c;
    const { cipher, decipher, received } = makeCipher(cipherName, macName, forceNative);
    const payloads: Buffer[] = [];
    // Small and full-size packets (SSH allows up to 35000 bytes): many pool refills.
    for (const size of [1, 5, 100, 1000, 16_000, 34_000, 7, ...Array(20).fill(32_768), 3])
      payloads.push(randomBytes(size));
    const wire: Buffer[] = [];
    (cipher as unknown as { _onWrite(b: Buffer): void })._onWrite = (b) =>
      wire.push(Buffer.from(b));
    for (const payload of payloads) {
      const packet = cipher.allocPacket(payload.length);
      // length (4), padding length (1), payload, padding, MAC or tag.
      payload.copy(packet, 5);
      cipher.encrypt(packet);
    }
    const all = Buffer.concat(wire);
    decipher.decrypt(all, 0, all.length);
    expect(received.map((b) => b.toString('hex'))).toEqual(payloads.map((b) => b.toString('hex')));
  });
});

describe('Channel.destroy (002)', () => {
  const fakeClient = () => {
    const sent: string[] = [];
    return {
      sent,
      _protocol: {
        channelEOF: () => sent.push('eof'),
        channelClose: () => sent.push('close'),
        channelData: () => sent.push('data'),
      },
    };
  };
  const channelOf = (client: unknown) =>
    new Channel(client, {
      type: 'direct-tcpip',
      incoming: { id: 0, window: 2 ** 21, packetSize: 32768, state: 'open' },
      outgoing: { id: 7, window: 2 ** 21, packetSize: 32768, state: 'open' },
    });

  it('ends an open channel, then closes it', () => {
    const client = fakeClient();
    const ch = channelOf(client);
    ch.destroy();
    expect(ch.writableEnded).toBe(true);
    expect(client.sent).toEqual(['eof', 'close']);
  });

  it('does not end an ended channel again (no ERR_STREAM_ALREADY_FINISHED is built)', async () => {
    const client = fakeClient();
    const ch = channelOf(client);
    ch.end();
    await new Promise((r) => ch.once('finish', r));
    const end = jest.spyOn(ch, 'end');
    ch.destroy();
    expect(end).not.toHaveBeenCalled();
    expect(client.sent).toEqual(['eof', 'close']);
  });
});

describe('stderr only where it is used (003)', () => {
  const sent: string[] = [];
  const client = {
    _chanMgr: { remove: () => {} },
    _protocol: {
      channelEOF: () => sent.push('eof'),
      channelClose: () => sent.push('close'),
      channelWindowAdjust: () => sent.push('adjust'),
    },
  };
  const channelOf = (type: string) =>
    new Channel(client, {
      type,
      incoming: { id: 0, window: 2 ** 21, packetSize: 32768, state: 'open' },
      outgoing: { id: 7, window: 2 ** 21, packetSize: 32768, state: 'open' },
    });
  const { existingStderr } = require('ssh2/lib/Channel.js');

  it.each(['direct-tcpip', 'forwarded-tcpip', 'direct-streamlocal@openssh.com'])(
    'a %s channel has no stderr stream until it is used, and closes without one',
    async (type) => {
      const ch = channelOf(type);
      expect(existingStderr(ch)).toBeUndefined();
      ch.resume();
      ch.incoming.state = 'eof';
      ch.push(null);
      onCHANNEL_CLOSE(client, 0, ch, undefined, false);
      const closed = await new Promise((r) => ch.once('close', () => r(true)));
      expect(closed).toBe(true);
      expect(existingStderr(ch)).toBeUndefined();
    },
  );

  it('a session channel has its stderr stream from the start', () => {
    const ch = channelOf('session');
    expect(existingStderr(ch)).toBeDefined();
    expect(existingStderr(ch)).toBe(ch.stderr);
  });

  it('stderr used on an open channel is created once and carries data, then ends', async () => {
    const ch = channelOf('direct-tcpip');
    const stderr = ch.stderr;
    expect(ch.stderr).toBe(stderr);
    expect(existingStderr(ch)).toBe(stderr);
    const got: string[] = [];
    stderr.on('data', (d: Buffer) => got.push(d.toString()));
    stderr.push(Buffer.from('warning'));
    ch.resume();
    onCHANNEL_CLOSE(client, 0, ch, undefined, false);
    await new Promise((r) => stderr.once('close', r));
    expect(got).toEqual(['warning']);
  });

  it('stderr first used after the remote EOF or CLOSE is already ended (and closes)', async () => {
    const afterEof = channelOf('direct-tcpip');
    afterEof.incoming.state = 'eof';
    const ended = await new Promise((r) => afterEof.stderr.once('end', () => r(true)).resume());
    expect(ended).toBe(true);
    const afterClose = channelOf('forwarded-tcpip');
    afterClose.resume();
    onCHANNEL_CLOSE(client, 0, afterClose, undefined, false);
    const stderr = afterClose.stderr;
    const events: string[] = [];
    stderr.on('end', () => events.push('end')).on('close', () => events.push('close'));
    stderr.resume();
    await new Promise((r) => stderr.once('close', r));
    // ssh2 emits a stderr stream's 'close' from its own 'end' listener, registered first.
    expect(events.sort()).toEqual(['close', 'end']);
  });
});

function makeCipher(cipherName: string, macName: string | undefined, forceNative: boolean) {
  const info = crypto.CIPHER_INFO[cipherName];
  const mac = macName ? crypto.MAC_INFO[macName] : undefined;
  const key = randomBytes(info.keyLen);
  const iv = info.ivLen ? randomBytes(info.ivLen) : undefined;
  const macKey = mac ? randomBytes(mac.len) : undefined;
  const received: Buffer[] = [];
  const cipher: Cipher = crypto.createCipher({
    outbound: {
      onWrite: () => {},
      cipherInfo: info,
      cipherKey: key,
      cipherIV: iv && Buffer.from(iv), // the pure JavaScript GCM increments it in place
      seqno: 0,
      macInfo: mac,
      macKey,
      forceNative,
    },
  });
  const decipher: Decipher = crypto.createDecipher({
    inbound: {
      onPayload: (p: Buffer) => {
        received.push(Buffer.from(p));
      },
      decipherInfo: info,
      decipherKey: key,
      decipherIV: iv && Buffer.from(iv),
      seqno: 0,
      macInfo: mac,
      macKey,
      forceNative,
    },
  });
  return { cipher, decipher, received };
}
