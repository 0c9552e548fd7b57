// Runs the data plane (dataplane.ts) in a worker thread, built as dist/runner/dataplane-worker.js
// next to this module, and connects a DataPlaneClient to it.
//
// Contract: resolves once the data plane reported its first state; rejects if the thread ends
// before that. If the thread ends later without close(), `onFatal` runs once: the runner's
// forwards are gone, and the caller exits so that the pod is restarted.
import { Worker } from 'node:worker_threads';
import { errorMessage, type Logger } from '../log.js';
import type { RunnerConfig } from './config.js';
import { DataPlaneClient, type DataPlaneHooks } from './dataplane-client.js';
import type { DataPlaneWorkerData } from './dataplane-worker.js';

/**
 * The data plane's young generation, capped well below V8's default: a smaller RSS with many
 * idle forwards for a little more CPU per forwarded byte (decision 0025; figures in
 * docs/bench-runner.md).
 */
const YOUNG_GENERATION_MB = 6;

/** Starts the data plane in a worker thread (dist/runner/dataplane-worker.js). */
export async function startDataPlane(
  config: RunnerConfig,
  o: DataPlaneHooks & {
    log: Logger;
    logFields: Record<string, string>;
    onFatal(message: string): void;
  },
): Promise<DataPlaneClient> {
  const data: DataPlaneWorkerData = { config, logFields: o.logFields };
  const worker = new Worker(new URL('./dataplane-worker.js', import.meta.url), {
    workerData: data,
    resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
  });
  let stopping = false;
  const client = new DataPlaneClient(
    {
      send: (cmd) => worker.postMessage(cmd),
      onReport: (fn) => worker.on('message', fn),
      terminate: async () => {
        stopping = true;
        await worker.terminate();
      },
    },
    o,
  );
  let failedToStart!: (err: Error) => void;
  const started = new Promise<never>((_, reject) => (failedToStart = reject));
  started.catch(() => undefined); // only awaited until the first state arrives
  const fatal = (message: string) => {
    client.failPending();
    failedToStart(new Error(`The data plane thread ended: ${message}`));
    if (stopping) return;
    stopping = true;
    o.log.error('The data plane thread ended', { error: message });
    o.onFatal(message);
  };
  worker.on('error', (err) => fatal(errorMessage(err)));
  worker.on('exit', (code) => fatal(`exit code ${code}`));
  await Promise.race([client.ready(), started]);
  return client;
}
