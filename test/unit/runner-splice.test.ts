// splice()'s contract, on a real loopback TCP connection and a real ssh2 Channel whose SSH side is
// driven by hand: what the channel sends is recorded from its protocol calls, what the jump node
// sends is injected the way ssh2's client does (push for CHANNEL_DATA and CHANNEL_EOF, its
// CHANNEL_WINDOW_ADJUST code, onCHANNEL_CLOSE for CHANNEL_CLOSE).
import net from 'node:net';
import { createRequire } from 'node:module';
import type { Duplex } from 'node:stream';
import { splice, type SpliceResult } from '../../src/runner/splice.js';

const require = createRequire(__filename);
const { Channel, windowAdjust, WINDOW_THRESHOLD } = require('ssh2/lib/Channel.js');
const { onCHANNEL_CLOSE } = require('ssh2/lib/utils.js');

const MAX_WINDOW = 2 * 1024 * 1024;

type Sent =
  | { type: 'data'; bytes: Buffer }
  | { type: 'eof' }
  | { type: 'close' }
  | { type: 'adjust'; n: number };

interface TestChannel extends Duplex {
  outgoing: { window: number; state: string };
  incoming: { window: number; state: string };
  _waitWindow: boolean;
  _waitChanDrain: boolean;
  _chunk?: Buffer;
  _chunkcb?: () => void;
  _write(data: Buffer, enc: unknown, cb: () => void): void;
  close(): void;
}

/** A Channel as ssh2's client makes it for a direct-tcpip open confirmation. */
function makeChannel(window = MAX_WINDOW) {
  const sent: Sent[] = [];
  const client = {
    _chanMgr: { remove: () => {} },
    _protocol: {
      channelData: (_id: number, data: Buffer) =>
        sent.push({ type: 'data', bytes: Buffer.from(data) }),
      channelEOF: () => sent.push({ type: 'eof' }),
      channelClose: () => sent.push({ type: 'close' }),
      channelWindowAdjust: (_id: number, n: number) => sent.push({ type: 'adjust', n }),
    },
  };
  const channel: TestChannel = new Channel(client, {
    type: 'direct-tcpip',
    incoming: { id: 3, window: MAX_WINDOW, packetSize: 32768, state: 'open' },
    outgoing: { id: 9, window, packetSize: 32768, state: 'open' },
  });
  const sentBytes = () =>
    Buffer.concat(sent.flatMap((s) => (s.type === 'data' ? [s.bytes] : []))).length;
  return {
    channel,
    sent,
    sentBytes,
    types: () => sent.filter((s) => s.type !== 'data' && s.type !== 'adjust').map((s) => s.type),
    /** CHANNEL_DATA from the jump node, handled as ssh2's client does (window accounting). */
    receive(data: Buffer): void {
      channel.incoming.window -= data.length;
      if (channel.push(data) === false) {
        channel._waitChanDrain = true;
        return;
      }
      if (channel.incoming.window <= WINDOW_THRESHOLD) windowAdjust(channel);
    },
    receiveEof() {
      channel.incoming.state = 'eof';
      channel.push(null);
    },
    receiveClose(dead = false) {
      onCHANNEL_CLOSE(client, 3, channel, undefined, dead);
    },
    /** CHANNEL_WINDOW_ADJUST from the jump node, as ssh2's client handles it. */
    windowAdjust(n: number) {
      channel.outgoing.window += n;
      if (channel._waitWindow) {
        channel._waitWindow = false;
        if (channel._chunk) channel._write(channel._chunk, null, channel._chunkcb!);
        else if (channel._chunkcb) channel._chunkcb();
      }
    },
  };
}

/** A connected pair: `server` is the runner's accepted socket (as local-forwards makes it). */
async function socketPair(): Promise<{ user: net.Socket; accepted: net.Socket; close(): void }> {
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const acceptedP = new Promise<net.Socket>((r) => server.once('connection', r));
  const user = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  await new Promise((r) => user.once('connect', r));
  const accepted = await acceptedP;
  return {
    user,
    accepted,
    close: () => {
      user.destroy();
      accepted.destroy();
      server.close();
    },
  };
}

/** n bytes counting modulo m: order and loss show in a comparison. */
function pattern(n: number, m: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = i % m;
  return b;
}

const tick = () => new Promise((r) => setImmediate(r));
async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
function collect(sock: net.Socket) {
  const chunks: Buffer[] = [];
  const state = { ended: false, error: undefined as string | undefined, closed: false };
  sock.on('data', (d: Buffer) => chunks.push(d));
  sock.on('end', () => (state.ended = true));
  sock.on('error', (e: NodeJS.ErrnoException) => (state.error = e.code ?? e.message));
  sock.on('close', () => (state.closed = true));
  return { bytes: () => Buffer.concat(chunks), state };
}

describe('splice', () => {
  let pair: Awaited<ReturnType<typeof socketPair>>;
  beforeEach(async () => {
    pair = await socketPair();
  });
  afterEach(() => pair.close());

  function start(ch: ReturnType<typeof makeChannel>, aborted = () => false) {
    const results: SpliceResult[] = [];
    splice(pair.accepted, ch.channel, aborted, (r) => results.push(r));
    return results;
  }

  it('moves bytes both ways, in order', async () => {
    const ch = makeChannel();
    start(ch);
    const user = collect(pair.user);
    const up = pattern(300_000, 251);
    pair.user.write(up);
    await until('the upload to reach the channel', () => ch.sentBytes() === up.length);
    expect(
      Buffer.concat(ch.sent.flatMap((s) => (s.type === 'data' ? [s.bytes] : []))).equals(up),
    ).toBe(true);
    const down = pattern(200_000, 241);
    for (let p = 0; p < down.length; p += 32768) ch.receive(down.subarray(p, p + 32768));
    await until('the download to reach the user', () => user.bytes().length === down.length);
    expect(user.bytes().equals(down)).toBe(true);
  });

  it('carries a half-close from the user: EOF on the channel, the answer still arrives', async () => {
    const ch = makeChannel();
    const results = start(ch);
    const user = collect(pair.user);
    pair.user.end('request');
    await until('EOF on the channel', () => ch.types().includes('eof'));
    expect(ch.types()).toEqual(['eof']);
    ch.receive(Buffer.from('answer'));
    ch.receiveEof();
    await until('the user to see the end', () => user.state.ended);
    expect(user.bytes().toString()).toBe('answer');
    ch.receiveClose();
    await until('done', () => results.length === 1);
    expect(ch.types()).toEqual(['eof', 'close']);
    expect(results).toEqual([{ bytesIn: 7, bytesOut: 6 }]);
    expect(user.state.error).toBeUndefined();
  });

  it('carries a half-close from the jump node: the user gets FIN and can still send', async () => {
    const ch = makeChannel();
    const results = start(ch);
    const user = collect(pair.user);
    ch.receive(Buffer.from('banner'));
    ch.receiveEof();
    await until('the user to see the end', () => user.state.ended);
    expect(user.bytes().toString()).toBe('banner');
    pair.user.write('after');
    await until('the late bytes on the channel', () => ch.sentBytes() === 5);
    pair.user.end();
    await until('EOF on the channel', () => ch.types().includes('eof'));
    ch.receiveClose();
    await until('done', () => results.length === 1);
    expect(ch.types()).toEqual(['eof', 'close']);
    expect(user.state.error).toBeUndefined();
  });

  it('stops reading the user while the channel has no window, and catches up in order', async () => {
    const ch = makeChannel(0);
    start(ch);
    const chunk = Buffer.alloc(64 * 1024, 7);
    let written = 0;
    // Write until the kernel buffers and the runner's socket are full.
    const fill = () => {
      while (pair.user.write(chunk)) written += chunk.length;
      written += chunk.length;
    };
    fill();
    pair.user.on('drain', fill);
    await until('the runner to stop reading', () => pair.accepted.isPaused(), 20_000);
    pair.user.off('drain', fill);
    const read = pair.accepted.bytesRead;
    await new Promise((r) => setTimeout(r, 100));
    expect(pair.accepted.bytesRead).toBe(read);
    // Nothing was sent without window; the channel holds at most its high-water mark plus a read.
    expect(ch.sentBytes()).toBe(0);
    expect((ch.channel as Duplex).writableLength).toBeLessThan(MAX_WINDOW + 256 * 1024);
    // The jump node opens the window: everything arrives.
    const done = () => ch.sentBytes() === written;
    while (!done()) {
      ch.windowAdjust(MAX_WINDOW);
      await tick();
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(ch.sentBytes()).toBe(written);
  });

  /** Sends from the jump node whatever the window allows, until the channel is paused. */
  async function floodUntilPaused(ch: ReturnType<typeof makeChannel>): Promise<number> {
    const chunk = Buffer.alloc(32 * 1024, 1);
    let pushed = 0;
    const end = Date.now() + 20_000;
    while (!ch.channel.isPaused()) {
      if (Date.now() > end) throw new Error('the channel was never paused');
      if (ch.channel.incoming.window >= chunk.length) {
        ch.receive(chunk);
        pushed += chunk.length;
      }
      await tick();
    }
    return pushed;
  }

  it('stops reading the channel while the user does not read, then resumes', async () => {
    const ch = makeChannel();
    start(ch);
    pair.user.pause();
    let pushed = await floodUntilPaused(ch);
    // While the data sits unread the channel buffers up to its high-water mark and then stops
    // reopening the window: the jump node has to stop sending.
    const atPause = pushed;
    for (let idle = 0; idle < 10;) {
      if (ch.channel.incoming.window >= 32 * 1024) {
        ch.receive(Buffer.alloc(32 * 1024, 1));
        pushed += 32 * 1024;
        idle = 0;
      } else idle++;
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(ch.channel.isPaused()).toBe(true);
    // At most its high-water mark plus one window that was open when it stopped reading.
    expect(ch.channel.readableLength).toBeLessThanOrEqual(2 * MAX_WINDOW);
    expect(pushed - atPause).toBeLessThanOrEqual(2 * MAX_WINDOW + 32 * 1024);
    const adjusts = () => ch.sent.filter((s) => s.type === 'adjust').length;
    const before = adjusts();
    const user = collect(pair.user);
    pair.user.resume();
    await until('everything to arrive', () => user.bytes().length === pushed);
    await until('the window to be reopened', () => adjusts() > before);
  });

  it('a user reset closes the channel, reports done once and never throws', async () => {
    const ch = makeChannel();
    const results = start(ch);
    pair.user.write('x');
    await until('the byte on the channel', () => ch.sentBytes() === 1);
    pair.user.resetAndDestroy();
    await until('CHANNEL_CLOSE to be sent', () => ch.types().includes('close'));
    expect(results).toEqual([]);
    ch.receiveClose();
    await until('done', () => results.length === 1);
    await new Promise((r) => setTimeout(r, 20));
    expect(results).toHaveLength(1);
  });

  it('drops unread channel data when the user goes away, so the close completes', async () => {
    const ch = makeChannel();
    const results = start(ch);
    pair.user.pause();
    await floodUntilPaused(ch);
    pair.user.destroy();
    await until('CHANNEL_CLOSE to be sent', () => ch.types().includes('close'));
    ch.receiveEof();
    ch.receiveClose();
    await until('done', () => results.length === 1);
  });

  it('an error on the channel destroys both sides', async () => {
    const ch = makeChannel();
    const results = start(ch);
    const user = collect(pair.user);
    ch.channel.emit('error', new Error('boom'));
    await until('the user socket to end', () => user.state.ended || user.state.closed);
    await until('the runner socket to close', () => pair.accepted.destroyed);
    expect(ch.types()).toContain('close');
    ch.receiveClose();
    await until('done', () => results.length === 1);
  });

  it('after a clean channel close, flushes what is pending and ends the user socket', async () => {
    const ch = makeChannel();
    const results = start(ch);
    const user = collect(pair.user);
    ch.receive(Buffer.alloc(100_000, 3));
    ch.receiveEof();
    ch.receiveClose();
    await until('the user to see the end', () => user.state.ended);
    expect(user.bytes().length).toBe(100_000);
    expect(user.state.error).toBeUndefined();
    pair.user.end();
    await until('done', () => results.length === 1);
    expect(results[0]!.bytesOut).toBe(100_000);
  });

  it('resets the user socket when the SSH connection is gone (no clean end)', async () => {
    const ch = makeChannel();
    const results = start(ch, () => true);
    const user = collect(pair.user);
    ch.receive(Buffer.from('partial'));
    await until('the partial answer', () => user.bytes().length === 7);
    ch.receiveClose(true);
    await until('the user socket to close', () => user.state.closed);
    expect(user.state.error).toBe('ECONNRESET');
    expect(user.state.ended).toBe(false);
    await until('done', () => results.length === 1);
  });

  it('handles a socket that was already closed when spliced', async () => {
    const ch = makeChannel();
    pair.accepted.destroy();
    await until('the socket to close', () => pair.accepted.closed);
    const results = start(ch);
    expect(ch.types()).toEqual(['eof', 'close']);
    ch.receiveClose();
    await until('done', () => results.length === 1);
  });
});
