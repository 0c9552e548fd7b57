// Write batching for sockets that get many small writes per event-loop iteration: ssh2 writes
// every SSH packet separately (channel opens, data of each channel, EOF, close), and a channel
// pipes every packet's payload separately. A socket is corked at its first write and uncorked in
// the check phase (setImmediate), after the poll phase has run every I/O callback that was ready,
// so the packets of all channels handled in one iteration leave in one writev() system call, as
// OpenSSH does once per select loop. Bulk transfers flush every FLUSH_BYTES instead of building
// one large burst (which left sshd idle while the runner filled the window). Backpressure is
// unchanged: corked bytes count towards writableLength, so write() still returns false past the
// high-water mark. docs/bench-runner.md has the measurements behind this choice.
import type net from 'node:net';

const FLUSH_BYTES = 128 * 1024;

export function autoCork(sock: net.Socket): net.Socket {
  const write = sock.write;
  let corked = false;
  const uncork = () => {
    corked = false;
    sock.uncork();
  };
  sock.write = function (this: net.Socket, ...args: Parameters<net.Socket['write']>) {
    if (!corked) {
      corked = true;
      this.cork();
      setImmediate(uncork);
    }
    const ok = write.apply(this, args as never);
    if (this.writableLength >= FLUSH_BYTES) uncork();
    return ok;
  } as net.Socket['write'];
  return sock;
}
