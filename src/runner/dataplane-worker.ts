// Worker-thread entry of the runner's data plane (dataplane.ts). workerData carries the runner's
// configuration and the log fields; every message from the parent is a Command, every message to
// it a Report. Logs go to the process's stderr as JSON lines like the main thread's, written
// without winston to keep this thread's heap small.
import { parentPort, workerData } from 'node:worker_threads';
import { systemClock } from '../clock.js';
import { createLineLogger, errorMessage } from '../log-lines.js';
import type { RunnerConfig } from './config.js';
import { DataPlaneCore } from './dataplane.js';
import type { Command } from './dataplane-protocol.js';

export interface DataPlaneWorkerData {
  config: RunnerConfig;
  logFields: Record<string, string>;
}

const port = parentPort;
if (!port) throw new Error('dataplane-worker.js runs as a worker thread only');
const { config, logFields } = workerData as DataPlaneWorkerData;
const log = createLineLogger(config.logLevel, { ...logFields, thread: 'dataplane' });
// As in the main thread: every socket, channel and peer error is handled where it arises; should
// one slip through, the other users' forwards must not die with it.
process.on('uncaughtException', (err) =>
  log.error('Uncaught exception in the data plane (continuing)', {
    error: errorMessage(err),
    stack: err.stack,
  }),
);
process.on('unhandledRejection', (err) =>
  log.error('Unhandled rejection in the data plane (continuing)', { error: errorMessage(err) }),
);
const core = new DataPlaneCore(config, {
  log,
  clock: systemClock,
  post: (r) => port.postMessage(r),
});
port.on('message', (cmd: Command) => core.handle(cmd));
