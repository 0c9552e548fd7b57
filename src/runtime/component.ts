// runComponent: how every long-running command of the CLI (operator, facade, runner) starts, stops
// and exits. The contract, the same for all three:
//   - start(ctx) builds the component; "Started <name>" is logged with the fields it returns.
//   - The first SIGTERM or SIGINT logs "Stopping <name>", awaits stop(), logs "Stopped <name>"
//     and exits 0 (1 if stop() rejects). A signal before start() resolved exits 0 at once (nothing
//     is served yet). A second signal while stopping exits 1 without waiting.
//   - A failed start, ctx.fatal(), an uncaught exception or an unhandled rejection logs the error
//     and exits 1: state after an unexpected throw is unknown, and the orchestrator restarts the
//     process. Nothing is swallowed.
//   - Every exit flushes the log first (bounded by flushTimeoutMs).
// Exit codes: 0 stopped on request, 1 failed. (The CLI itself exits 2 on a usage error and 1 when
// the configuration is invalid.)
import { errorMessage, type LogFields, type Logger, type RootLogger } from '../log.js';

export interface ComponentContext {
  log: Logger;
  /** Logs `message` with `fields` as an error and exits 1. For losses the component cannot survive. */
  fatal(message: string, fields?: LogFields): void;
}

export interface RunningComponent {
  /** Fields of the "Started <name>" line (ports, identity). */
  fields?: LogFields;
  /** Graceful stop: finish in-flight work, release what is held. Called at most once. */
  stop(): Promise<void>;
}

/** The parts of `process` runComponent uses (a fake in unit tests). */
export interface ComponentProcess {
  on(event: 'SIGTERM' | 'SIGINT', listener: () => void): unknown;
  on(event: 'uncaughtException', listener: (err: Error) => void): unknown;
  on(event: 'unhandledRejection', listener: (reason: unknown) => void): unknown;
  exit(code: number): void;
}

export interface ComponentOptions {
  /** Lower-case noun used in the log lines: "operator", "facade", "tunnel runner". */
  name: string;
  log: RootLogger;
  start(ctx: ComponentContext): Promise<RunningComponent>;
  proc?: ComponentProcess;
  /** How long an exit waits for the log to flush (default 2000 ms). */
  flushTimeoutMs?: number;
}

/** Resolves once the component has started (or once the process is exiting after a failed start). */
export async function runComponent(opts: ComponentOptions): Promise<void> {
  const { name, log } = opts;
  const proc: ComponentProcess = opts.proc ?? process;
  const flushTimeoutMs = opts.flushTimeoutMs ?? 2000;

  let exiting = false;
  const exit = (code: number): void => {
    if (exiting) return;
    exiting = true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, flushTimeoutMs);
      timer.unref();
    });
    void Promise.race([log.flush().catch(() => {}), timeout]).then(() => {
      clearTimeout(timer);
      proc.exit(code);
    });
  };
  const fatal = (message: string, fields?: LogFields): void => {
    log.error(message, fields);
    exit(1);
  };

  proc.on('uncaughtException', (err: Error) =>
    fatal('Uncaught exception', { error: errorMessage(err), stack: err?.stack }),
  );
  proc.on('unhandledRejection', (reason: unknown) =>
    fatal('Unhandled rejection', {
      error: errorMessage(reason),
      ...(reason instanceof Error ? { stack: reason.stack } : {}),
    }),
  );

  let running: RunningComponent | undefined;
  let stopping = false;
  const onSignal = (signal: string) => {
    if (exiting) return;
    if (stopping) {
      log.warn(`Second signal: exiting without stopping the ${name}`, { signal });
      exit(1);
      return;
    }
    stopping = true;
    log.info(`Stopping ${name}`, { signal });
    if (!running) {
      exit(0);
      return;
    }
    running.stop().then(
      () => {
        log.info(`Stopped ${name}`);
        exit(0);
      },
      (err: unknown) => fatal(`Failed to stop ${name} cleanly`, { error: errorMessage(err) }),
    );
  };
  proc.on('SIGTERM', () => onSignal('SIGTERM'));
  proc.on('SIGINT', () => onSignal('SIGINT'));

  try {
    const started = await opts.start({ log, fatal });
    if (exiting) return;
    running = started;
    log.info(`Started ${name}`, started.fields);
  } catch (err) {
    fatal(`Failed to start ${name}`, { error: errorMessage(err) });
  }
}
