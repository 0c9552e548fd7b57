// The connection cap of a listener. Node's own `maxConnections` refuses every new connection once
// the cap is reached, so a client holding idle sockets would lock everyone else out. Here a new
// connection at the cap first closes the idle ones (no request in progress: fresh sockets that
// sent nothing yet, keep-alive sockets between requests; a keep-alive client simply reconnects);
// only when every open connection is busy is the new one refused (closed at once).
import type { Server } from 'node:http';
import type { Socket } from 'node:net';

export function capConnections(server: Server, max: number, onRefused?: () => void): void {
  const open = new Set<Socket>();
  // Before the HTTP server's own listener, so the new socket is not yet one of its idle ones.
  server.prependListener('connection', (socket: Socket) => {
    if (open.size >= max) {
      server.closeIdleConnections();
      for (const s of open) if (s.destroyed) open.delete(s);
      if (open.size >= max) {
        socket.destroy();
        onRefused?.();
        return;
      }
    }
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  });
}
