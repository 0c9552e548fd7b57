// The connection cap of a listener. Node's own `maxConnections` refuses every new connection once
// the cap is reached, so a client holding silent sockets would lock everyone else out. Here a new
// connection at the cap closes the connection that has been idle longest instead: idle means no
// request in progress (a socket that has not completed a request's headers yet, or a keep-alive
// socket between requests; a keep-alive client simply reconnects). Only when every open
// connection is busy with a request is the new one refused (closed at once).
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export function capConnections(server: Server, max: number, onRefused?: () => void): void {
  const open = new Set<Socket>();
  /** Idle sockets, longest idle first (a Set iterates in insertion order). */
  const idle = new Set<Socket>();
  // Before the HTTP server's own listener, so that a refused socket is never parsed.
  server.prependListener('connection', (socket: Socket) => {
    if (open.size >= max) {
      const oldest = idle.values().next().value;
      if (!oldest) {
        socket.destroy();
        onRefused?.();
        return;
      }
      idle.delete(oldest);
      open.delete(oldest);
      oldest.destroy();
    }
    open.add(socket);
    idle.add(socket);
    socket.once('close', () => {
      open.delete(socket);
      idle.delete(socket);
    });
  });
  server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket;
    idle.delete(socket);
    res.once('close', () => {
      if (!socket.destroyed && open.has(socket)) idle.add(socket);
    });
  });
}
