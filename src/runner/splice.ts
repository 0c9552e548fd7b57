// Joins a TCP socket and an SSH channel in both directions.
//
// Contract:
//   - bytes flow with backpressure: a side whose write() reports a full buffer stops reading the
//     other until it drains, so memory per connection is bounded by the stream high-water marks
//     and the SSH channel window (2 MiB);
//   - half-close is carried both ways (the socket must be created with allowHalfOpen), like
//     `ssh -L`;
//   - an error on either side destroys both and never escapes: one broken stream cannot take
//     the process down;
//   - when the channel closes, the socket is ended after its pending bytes are flushed, or reset
//     when `aborted()` says the SSH connection itself is gone (a truncated stream must not look
//     like a clean end, so the channel's end is not passed on as FIN then either); callers reset
//     the sockets themselves when the connection dies, because a paused channel never reports
//     its close;
//   - both sides are read from once spliced (the socket may have been created paused);
//   - `done` runs exactly once, after both sides are closed.
//
// Data moves with 'data' listeners and write() instead of two stream pipes: a pipe adds and later
// removes about eight listeners per direction and emits pipe/unpipe events, which is a large part
// of the work of a short connection.
import type net from 'node:net';
import type { Duplex } from 'node:stream';

export interface SpliceResult {
  /** Bytes read from the socket (sent towards the channel). */
  bytesIn: number;
  /** Bytes written to the socket (received from the channel). */
  bytesOut: number;
}

/** Unflushed bytes on a channel-closed socket are given this long before a reset. */
const FLUSH_MS = 30_000;

export function splice(
  sock: net.Socket,
  channel: Duplex & { close?(): void },
  aborted: () => boolean,
  done: (result: SpliceResult) => void,
): void {
  let sockClosed = sock.destroyed;
  let channelClosed = false;
  let finished = false;
  const finish = () => {
    if (finished || !sockClosed || !channelClosed) return;
    finished = true;
    done({ bytesIn: sock.bytesRead, bytesOut: sock.bytesWritten });
  };
  // ssh2 emits a channel's 'close' only after its readable side ended, which never happens while
  // unread data sits in a paused channel: discard it once the socket is gone.
  const dropChannel = () => {
    // close() sends CHANNEL_CLOSE without the error objects destroy() makes on an ended stream.
    if (!channel.writableEnded) channel.end();
    if (channel.close) channel.close();
    else channel.destroy();
    channel.resume();
  };
  const destroyBoth = () => {
    if (!sock.destroyed) sock.destroy();
    dropChannel();
  };
  sock.on('error', destroyBoth);
  channel.on('error', destroyBoth);
  // Socket → channel. Bytes that arrive after the channel's writable side ended (the channel is
  // closing) have nowhere to go.
  sock.on('data', (chunk: Buffer) => {
    if (channel.writableEnded) return;
    if (!channel.write(chunk)) sock.pause();
  });
  channel.on('drain', () => sock.resume());
  sock.on('end', () => {
    if (!channel.writableEnded) channel.end();
  });
  // Channel → socket.
  channel.on('data', (chunk: Buffer) => {
    if (sock.writableEnded || sock.destroyed) return;
    if (!sock.write(chunk)) channel.pause();
  });
  sock.on('drain', () => channel.resume());
  channel.on('end', () => {
    if (!sock.writableEnded && !sock.destroyed && !aborted()) sock.end();
  });
  sock.on('close', () => {
    sockClosed = true;
    if (!channelClosed) dropChannel();
    finish();
  });
  channel.on('close', () => {
    channelClosed = true;
    if (!sock.destroyed) closeSocket(sock, aborted());
    finish();
  });
  if (sockClosed) dropChannel();
  else sock.resume();
}

function closeSocket(sock: net.Socket, abort: boolean): void {
  if (abort) {
    sock.resetAndDestroy();
    return;
  }
  if (!sock.writableEnded) sock.end();
  if (sock.writableFinished) {
    sock.destroy();
    return;
  }
  const timer = setTimeout(() => sock.resetAndDestroy(), FLUSH_MS).unref();
  sock.once('finish', () => {
    clearTimeout(timer);
    sock.destroy();
  });
  sock.once('close', () => clearTimeout(timer));
}
