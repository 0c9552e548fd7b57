// `jupyterhub-forward-operator operator`: parse the configuration, start the operator, and stop
// it gracefully on SIGTERM/SIGINT (in-flight reconciles finish, the Lease is released).
import { loadKubeConfig } from '../kube/client.js';
import { createLogger, errorMessage } from '../log.js';
import { loadOperatorConfig } from './config.js';
import { startOperator } from './operator.js';

export async function main(_argv: string[]): Promise<void> {
  const config = loadOperatorConfig(process.env);
  const log = createLogger(config.logLevel, { component: 'operator' });
  const kc = loadKubeConfig();
  const operator = await startOperator(config, { kc, log });
  log.info('Started operator', {
    namespace: config.namespace || '(all)',
    identity: operator.identity,
    httpPort: operator.httpPort,
    leaderElection: config.leaderElection.enabled,
  });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('Stopping operator', { signal });
    operator.close().then(
      () => log.end(() => process.exit(0)),
      (err) => {
        log.error('Failed to stop operator cleanly', { error: errorMessage(err) });
        log.end(() => process.exit(1));
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}
