import { EventEmitter } from 'node:events';
import type { LogFields, RootLogger } from '../../src/log.js';
import {
  runComponent,
  type ComponentOptions,
  type RunningComponent,
} from '../../src/runtime/component.js';

/** A process double: signals are emitted by the test; exit() resolves `exited` with the code. */
function fakeProcess() {
  const events = new EventEmitter();
  let resolveExit!: (code: number) => void;
  const exited = new Promise<number>((r) => (resolveExit = r));
  const exits: number[] = [];
  const proc = Object.assign(events, {
    exit: (code: number) => {
      exits.push(code);
      resolveExit(code);
    },
  });
  return { proc, exited, exits };
}

/** A logger that records lines and whether it was flushed before the exit. */
function recordingLogger(order: string[]) {
  const lines: { level: string; message: string; fields?: LogFields }[] = [];
  const at = (level: string) => (message: string, fields?: LogFields) =>
    void lines.push({ level, message, fields });
  const log: RootLogger = {
    error: at('error'),
    warn: at('warn'),
    info: at('info'),
    debug: at('debug'),
    flush: async () => void order.push('flush'),
  };
  return { log, lines, messages: () => lines.map((l) => l.message) };
}

function setup(start: ComponentOptions['start']) {
  const order: string[] = [];
  const f = fakeProcess();
  const l = recordingLogger(order);
  const origExit = f.proc.exit;
  f.proc.exit = (code: number) => {
    order.push(`exit ${code}`);
    origExit(code);
  };
  const started = runComponent({ name: 'widget', log: l.log, proc: f.proc, start });
  return { ...f, ...l, order, started };
}

const never = () => new Promise<never>(() => {});

describe('runComponent', () => {
  it('logs the start with its fields and stops on SIGTERM: stop, log, flush, exit 0', async () => {
    const stop = jest.fn(async () => {});
    const t = setup(async () => ({ fields: { port: 1234 }, stop }));
    await t.started;
    expect(t.lines).toContainEqual({
      level: 'info',
      message: 'Started widget',
      fields: { port: 1234 },
    });
    t.proc.emit('SIGTERM');
    expect(await t.exited).toBe(0);
    expect(stop).toHaveBeenCalledTimes(1);
    expect(t.messages()).toEqual(['Started widget', 'Stopping widget', 'Stopped widget']);
    expect(t.order).toEqual(['flush', 'exit 0']);
  });

  it('exits 1 when stop() rejects, naming the error', async () => {
    const t = setup(async () => ({ stop: () => Promise.reject(new Error('lease stuck')) }));
    await t.started;
    t.proc.emit('SIGINT');
    expect(await t.exited).toBe(1);
    expect(t.lines).toContainEqual({
      level: 'error',
      message: 'Failed to stop widget cleanly',
      fields: { error: 'lease stuck' },
    });
  });

  it('exits 1 at once on a second signal while stopping', async () => {
    const t = setup(async () => ({ stop: never }));
    await t.started;
    t.proc.emit('SIGTERM');
    t.proc.emit('SIGTERM');
    expect(await t.exited).toBe(1);
    expect(t.lines.map((l) => l.level)).toEqual(['info', 'info', 'warn']);
    expect(t.exits).toEqual([1]);
  });

  it('exits 1 when start() rejects', async () => {
    const t = setup(() => Promise.reject(new Error('no kubeconfig')));
    await t.started;
    expect(await t.exited).toBe(1);
    expect(t.lines).toEqual([
      { level: 'error', message: 'Failed to start widget', fields: { error: 'no kubeconfig' } },
    ]);
  });

  it('exits 0 on a signal before start() resolved, without calling stop()', async () => {
    let finish!: (r: RunningComponent) => void;
    const stop = jest.fn(async () => {});
    const t = setup(() => new Promise((r) => (finish = r)));
    t.proc.emit('SIGTERM');
    expect(await t.exited).toBe(0);
    finish({ stop });
    await t.started;
    expect(stop).not.toHaveBeenCalled();
    expect(t.messages()).toEqual(['Stopping widget']);
  });

  it('exits 1 on an uncaught exception instead of continuing, with the stack', async () => {
    const t = setup(async () => ({ stop: async () => {} }));
    await t.started;
    const err = new Error('boom');
    t.proc.emit('uncaughtException', err);
    expect(await t.exited).toBe(1);
    expect(t.lines[1]).toEqual({
      level: 'error',
      message: 'Uncaught exception',
      fields: { error: 'boom', stack: err.stack },
    });
  });

  it('exits 1 on an unhandled rejection, also of a non-Error', async () => {
    const t = setup(async () => ({ stop: async () => {} }));
    await t.started;
    t.proc.emit('unhandledRejection', 'plain string');
    expect(await t.exited).toBe(1);
    expect(t.lines[1]).toEqual({
      level: 'error',
      message: 'Unhandled rejection',
      fields: { error: 'plain string' },
    });
  });

  it('gives start() a fatal() that logs and exits 1, once', async () => {
    let fatal!: (m: string, f?: LogFields) => void;
    const t = setup(async (ctx) => {
      fatal = ctx.fatal;
      return { stop: async () => {} };
    });
    await t.started;
    fatal('Lost the data plane', { error: 'exit code 1' });
    fatal('Lost it again');
    expect(await t.exited).toBe(1);
    expect(t.exits).toEqual([1]);
    expect(t.lines[1]).toEqual({
      level: 'error',
      message: 'Lost the data plane',
      fields: { error: 'exit code 1' },
    });
  });

  it('exits even when the log never flushes', async () => {
    const f = fakeProcess();
    const log: RootLogger = {
      error: () => {},
      warn: () => {},
      info: () => {},
      debug: () => {},
      flush: never,
    };
    await runComponent({
      name: 'widget',
      log,
      proc: f.proc,
      flushTimeoutMs: 10,
      start: async () => ({ stop: async () => {} }),
    });
    f.proc.emit('SIGTERM');
    expect(await f.exited).toBe(0);
  });
});
