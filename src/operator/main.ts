// `jupyterhub-forward-operator operator`: parse the configuration, start the operator; a signal
// stops it gracefully (in-flight reconciles finish, the Lease is released). Process life:
// runComponent (runtime/component.ts).
import { loadKubeConfig } from '../kube/client.js';
import { createLogger } from '../log.js';
import { runComponent } from '../runtime/component.js';
import { loadOperatorConfig } from './config.js';
import { startOperator } from './operator.js';

export async function main(_argv: string[]): Promise<void> {
  const config = loadOperatorConfig(process.env);
  const log = createLogger(config.logLevel, { component: 'operator' });
  await runComponent({
    name: 'operator',
    log,
    start: async () => {
      const operator = await startOperator(config, { kc: loadKubeConfig(), log });
      return {
        fields: {
          namespace: config.namespace || '(all)',
          identity: operator.identity,
          httpPort: operator.httpPort,
          leaderElection: config.leaderElection.enabled,
        },
        stop: () => operator.close(),
      };
    },
  });
}
