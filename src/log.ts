// Structured JSON logs (winston). Messages start with a capital letter and name the object kind
// ("Applied Service"); object identity goes into fields (`namespace`, `name`), never into the
// message. Errors are logged as `error: err.message` (winston serialises nested Errors as {}).
import winston from 'winston';

export type Logger = winston.Logger;

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

export function createLogger(
  level: LogLevel = 'info',
  defaultMeta: Record<string, string> = {},
): Logger {
  return winston.createLogger({
    level,
    defaultMeta,
    format: winston.format.combine(
      winston.format.timestamp(),
      winston.format.errors({ stack: true }),
      winston.format.json(),
    ),
    transports: [
      new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'debug'] }),
    ],
  });
}

/** A logger that drops everything (tests). */
export function silentLogger(): Logger {
  return winston.createLogger({
    silent: true,
    transports: [new winston.transports.Console({ silent: true })],
  });
}

export { errorMessage } from './log-lines.js';
