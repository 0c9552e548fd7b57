// `jupyterhub-forward-operator facade`: parse the environment, start; a signal stops it cleanly
// (in-flight requests finish, long-polls and streams end, the informer stops). Process life:
// runComponent (runtime/component.ts).
import { systemClock } from '../clock.js';
import { loadKubeConfig } from '../kube/client.js';
import { createLogger } from '../log.js';
import { runComponent } from '../runtime/component.js';
import { parseFacadeConfig } from './config.js';
import { startFacade } from './server.js';

export async function main(_argv: string[]): Promise<void> {
  const config = parseFacadeConfig(process.env);
  const log = createLogger(config.logLevel, { component: 'facade' });
  await runComponent({
    name: 'facade',
    log,
    start: async () => {
      const facade = await startFacade(config, { kc: loadKubeConfig(), log, clock: systemClock });
      return { stop: () => facade.close() };
    },
  });
}
