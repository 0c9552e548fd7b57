// The components' logger: JSON lines on stderr written by winston. The interface and the
// dependency-free pieces live in log-lines.ts (this module imports it, never the other way).
import winston from 'winston';
import type { LogFields, LogLevel, RootLogger } from './log-lines.js';

export {
  createLineLogger,
  errorMessage,
  silentLogger,
  type LogFields,
  type Logger,
  type LogLevel,
  type RootLogger,
} from './log-lines.js';

/** A process's logger at `level`; every line carries `defaultMeta`. */
export function createLogger(level: LogLevel = 'info', defaultMeta: LogFields = {}): RootLogger {
  const w = winston.createLogger({
    level,
    defaultMeta,
    format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
    transports: [
      new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'debug'] }),
    ],
  });
  let flushed: Promise<void> | undefined;
  return {
    error: (message, fields) => void w.error(message, fields),
    warn: (message, fields) => void w.warn(message, fields),
    info: (message, fields) => void w.info(message, fields),
    debug: (message, fields) => void w.debug(message, fields),
    // Ends the stream: lines logged after flush() are dropped, so call it last.
    flush: () =>
      (flushed ??= new Promise<void>((resolve) => {
        w.once('finish', () => resolve());
        w.end();
      })),
  };
}
