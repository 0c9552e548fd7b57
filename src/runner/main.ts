// `jupyterhub-forward-operator runner`: holds the SSH forwards of one JumpNode (one process per
// runner pod). Configuration comes from the environment (docs/runner.md); SIGTERM drains open
// connections before exiting, a second SIGTERM/SIGINT exits at once.
import { loadKubeConfig, makeClients } from '../kube/client.js';
import { useKeepAlive } from '../kube/keepalive.js';
import { createLogger, errorMessage } from '../log.js';
import { parseRunnerConfig } from './config.js';
import { startRunner } from './runner.js';

export async function main(_argv: string[]): Promise<void> {
  const config = parseRunnerConfig(process.env);
  const logFields = {
    component: 'runner',
    pod: config.podName,
    jumpNode: config.jumpNode,
    namespace: config.namespace,
  };
  const log = createLogger(config.logLevel, logFields);
  // The last line of defence only: every socket, channel and peer error is handled where it
  // arises. Should one slip through, the forwards of every other user must not die with it.
  process.on('uncaughtException', (err) =>
    log.error('Uncaught exception (continuing)', { error: errorMessage(err), stack: err.stack }),
  );
  process.on('unhandledRejection', (err) =>
    log.error('Unhandled rejection (continuing)', { error: errorMessage(err) }),
  );
  const kc = loadKubeConfig();
  // Status writes reuse their TLS connections (decision 0015).
  const closeAgents = useKeepAlive(kc);
  const runner = await startRunner(config, {
    kc,
    clients: makeClients(kc),
    log,
    logFields,
    // Without its data plane the runner forwards nothing: exit, and the pod is restarted.
    onFatal: () => {
      log.on('finish', () => process.exit(1));
      log.end();
      setTimeout(() => process.exit(1), 1000).unref();
    },
  });
  log.info('Started tunnel runner', { httpPort: runner.httpPort, listenHost: config.listenHost });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      log.warn('Second signal: exiting without draining', { signal });
      process.exit(1);
    }
    stopping = true;
    log.info('Stopping tunnel runner', { signal });
    try {
      await runner.drain();
      await runner.close();
      closeAgents();
    } catch (err) {
      log.error('Failed to stop cleanly', { error: errorMessage(err) });
    }
    log.info('Stopped tunnel runner');
    log.on('finish', () => process.exit(0));
    log.end();
    setTimeout(() => process.exit(0), 1000).unref();
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}
