// What the runner's data-plane thread needs of logging, without loading winston (its heap must
// stay small, decision 0025): errorMessage, and JSON lines shaped like createLogger's (log.ts).
import type { Logger, LogLevel } from './log.js';

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

const LEVEL_RANK: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

/**
 * The same JSON lines as createLogger (level, message, timestamp and the fields), without
 * winston: for the runner's data-plane thread, whose heap must stay small (decision 0025). Only
 * error/warn/info/debug(message, fields) are implemented, which is all that code uses.
 */
export function createLineLogger(
  level: LogLevel = 'info',
  defaultMeta: Record<string, string> = {},
  write: (line: string) => void = (line) => process.stderr.write(line),
): Logger {
  const at = (l: LogLevel) => (message: string, fields?: Record<string, unknown>) => {
    if (LEVEL_RANK[l] > LEVEL_RANK[level]) return;
    const entry = {
      ...defaultMeta,
      ...fields,
      level: l,
      message,
      timestamp: new Date().toISOString(),
    };
    write(`${JSON.stringify(entry)}\n`);
  };
  const logger = { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') };
  return logger as unknown as Logger;
}
