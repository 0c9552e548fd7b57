// `jupyterhub-forward-operator facade`: parse the environment, start, stop cleanly on
// SIGTERM/SIGINT (in-flight requests finish, long-polls and streams end, the informer stops).
import { systemClock } from '../clock.js';
import { loadKubeConfig } from '../kube/client.js';
import { createLogger, errorMessage } from '../log.js';
import { parseFacadeConfig } from './config.js';
import { startFacade } from './server.js';

export async function main(_argv: string[]): Promise<void> {
  const config = parseFacadeConfig(process.env);
  const log = createLogger(config.logLevel, { component: 'facade' });
  const facade = await startFacade(config, { kc: loadKubeConfig(), log, clock: systemClock });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('Stopping facade', { signal });
    facade.close().then(
      () => log.end(),
      (err: unknown) => {
        log.error('Failed to stop facade cleanly', { error: errorMessage(err) });
        log.end();
        process.exitCode = 1;
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}
