// The logger interface of every component, and a logger that writes JSON lines without any
// dependency (the runner's data-plane thread loads only this module: its heap must stay small).
// Messages start with a capital letter and name the object kind ("Applied Service"); object
// identity goes into fields (`namespace`, `name`), never into the message. Errors are logged as
// `error: errorMessage(err)`.

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

export type LogFields = Record<string, unknown>;

/** What code that logs needs. Fields must not be named `level`, `message` or `timestamp`. */
export interface Logger {
  error(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  debug(message: string, fields?: LogFields): void;
}

/** A process's own logger: `flush()` resolves once every line logged before it is written. */
export interface RootLogger extends Logger {
  flush(): Promise<void>;
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

const LEVEL_RANK: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

/** JSON.stringify that never throws: an object met again (a cycle) becomes "[Circular]". */
function stringify(entry: LogFields): string {
  const seen = new WeakSet<object>();
  return JSON.stringify(entry, (_key, value: unknown) => {
    if (typeof value === 'bigint') return value.toString();
    if (value instanceof Error) return { message: value.message, name: value.name };
    if (typeof value === 'object' && value !== null) {
      if (seen.has(value)) return '[Circular]';
      seen.add(value);
    }
    return value;
  });
}

/**
 * One JSON object per line, `{...defaultMeta, ...fields, level, message, timestamp}`: the same
 * lines as createLogger (log.ts). `write` is synchronous (process.stderr is, for files and pipes
 * on Linux), so flush() has nothing left to wait for.
 */
export function createLineLogger(
  level: LogLevel = 'info',
  defaultMeta: LogFields = {},
  write: (line: string) => void = (line) => process.stderr.write(line),
): RootLogger {
  const at = (l: LogLevel) => (message: string, fields?: LogFields) => {
    if (LEVEL_RANK[l] > LEVEL_RANK[level]) return;
    write(
      `${stringify({ ...defaultMeta, ...fields, level: l, message, timestamp: new Date().toISOString() })}\n`,
    );
  };
  return {
    error: at('error'),
    warn: at('warn'),
    info: at('info'),
    debug: at('debug'),
    flush: () => Promise.resolve(),
  };
}

/** A logger that drops everything (tests). */
export function silentLogger(): RootLogger {
  const drop = () => {};
  return { error: drop, warn: drop, info: drop, debug: drop, flush: () => Promise.resolve() };
}
