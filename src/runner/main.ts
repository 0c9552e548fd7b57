// `jupyterhub-forward-operator runner`: holds the SSH forwards of one JumpNode (one process per
// runner pod). Configuration comes from the environment (docs/runner.md). A signal drains open
// connections before exiting; losing the data-plane thread exits 1 (the pod is restarted).
// Process life: runComponent (runtime/component.ts).
import { loadKubeConfig, makeClients } from '../kube/client.js';
import { useKeepAlive } from '../kube/keepalive.js';
import { createLogger } from '../log.js';
import { runComponent } from '../runtime/component.js';
import { apiSockets, parseRunnerConfig } from './config.js';
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
  await runComponent({
    name: 'tunnel runner',
    log,
    start: async ({ fatal }) => {
      const kc = loadKubeConfig();
      // Status writes reuse their TLS connections; no request ever waits for one.
      const closeAgents = useKeepAlive(kc, { maxSockets: apiSockets(config) });
      const runner = await startRunner(config, {
        kc,
        clients: makeClients(kc),
        log,
        logFields,
        // Without its data plane the runner forwards nothing.
        onFatal: (message) => fatal('Lost the data plane thread', { error: message }),
      });
      return {
        fields: { httpPort: runner.httpPort, listenHost: config.listenHost },
        stop: async () => {
          await runner.drain();
          await runner.close();
          closeAgents();
        },
      };
    },
  });
}
