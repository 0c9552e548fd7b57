// GET /api/forwardedservers/{user}[/{server}]/progress: the server's progress events as a
// text/event-stream, the way JupyterHub's own progress endpoint sends them. Every event is one
// `id: n` + `data: {json}` message (n = its position among all events of the start, so a client
// reconnecting with Last-Event-ID resumes); the stream ends after the terminal (failed) event,
// when the server becomes Ready, when a new start replaces this one, when it is deleted, or
// after JFO_STREAM_MAX_SECONDS (the client reconnects with Last-Event-ID).
import type { FastifyReply } from 'fastify';
import type { ForwardedServer, ProgressEvent } from '../../api/types.js';
import { errorMessage } from '../../log.js';
import type { RouteDeps } from '../app.js';

const HEARTBEAT_MS = 15_000;
const DEFAULT_MAX_SECONDS = 900;

export function streamProgress(
  reply: FastifyReply,
  deps: RouteDeps,
  first: ForwardedServer,
  after: number,
): void {
  const { store, clock, waiters, log } = deps;
  const name = first.metadata.name;
  const raw = reply.raw;
  let sent = after;
  let ended = false;
  let chain = Promise.resolve();

  reply.hijack();
  raw.writeHead(200, {
    'Content-Type': 'text/event-stream',
    'Cache-Control': 'no-cache',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  });

  const write = (text: string) => {
    if (!ended) raw.write(text);
  };
  const send = (id: number | undefined, event: ProgressEvent) =>
    write(`${id === undefined ? '' : `id: ${id}\n`}data: ${JSON.stringify(event)}\n\n`);

  const end = () => {
    if (ended) return;
    ended = true;
    unsubscribe();
    clock.clearInterval(heartbeat);
    clock.clearTimeout(deadline);
    release();
    raw.end();
  };

  /** Sends what is new in `fs`; true when the stream is complete. */
  const pump = (fs: ForwardedServer | undefined): boolean => {
    if (!fs || fs.spec.startId !== first.spec.startId || fs.metadata.deletionTimestamp) return true;
    const events = fs.status?.events ?? [];
    const dropped = fs.status?.eventsDropped ?? 0;
    for (let i = Math.max(sent, dropped); i < dropped + events.length; i++)
      send(i + 1, events[i - dropped]!);
    sent = Math.max(sent, dropped + events.length);
    if (fs.status?.terminalEvent) {
      send(undefined, { ...fs.status.terminalEvent, failed: true });
      return true;
    }
    return fs.status?.phase === 'Ready' || fs.status?.phase === 'Cancelled';
  };

  const refresh = () => {
    chain = chain
      .then(() => store.read(name))
      .then((fs) => {
        if (pump(fs)) end();
      })
      .catch((err) => {
        log.warn('Failed to stream progress of ForwardedServer', {
          name,
          error: errorMessage(err),
        });
        end();
      });
  };

  const release = waiters.add(end);
  const unsubscribe = store.subscribe(name, refresh);
  const heartbeat = clock.setInterval(() => write(': keepalive\n\n'), HEARTBEAT_MS);
  const deadline = clock.setTimeout(end, (deps.streamMaxSeconds ?? DEFAULT_MAX_SECONDS) * 1000);
  raw.on('close', end);
  raw.on('error', end);
  if (pump(first)) end();
  else refresh();
}
