// `npm run demo`: the whole system on this machine, until Ctrl-C (docs/demo.md).
//
// A local control plane, `kubectl apply -k` of manifests/ (through an overlay), the operator and
// the facade run from their Deployments' pods, a jump node (sshd) with a compute node behind it,
// a JumpNode, its runner pod, and one ForwardedServer created through the facade for a demo
// notebook on the compute node. With --hub, also JupyterHub with the spawner. Everything is
// shared with the end-to-end test (test/harness/stack.ts) and stopped and removed on exit.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { startControlPlane, type ControlPlane } from '../src/dev/control-plane.js';
import { serverResourceName } from '../src/names.js';
import { kubectl } from '../test/harness/kubectl.js';
import { startStack, type Stack } from '../test/harness/stack.js';
import { ensureDist, waitFor } from '../test/harness/util.js';

const NAMESPACE = 'jupyterhub';
const DEMO_USER = 'demo';
const NOTEBOOK_PORT = 8888;
const DEMO_SERVER = serverResourceName(DEMO_USER, '');

const SUPERVISED = 'JFO_DEMO_SUPERVISED';
const PARENT_CHECK_MS = 1000;

const USAGE = `Usage: npm run demo [-- --hub] [-- --logs DIR]

  --hub        also run JupyterHub with the forward spawner (log in as anyone)
  --logs DIR   keep the processes' logs in DIR (default: a temporary directory, removed on exit)
`;

function say(message: string): void {
  process.stderr.write(`[demo] ${message}\n`);
}

/** The demo notebook on the compute node, made reachable through the facade's spawner API. */
async function demoServer(stack: Stack): Promise<{ url: string; stop(): Promise<void> }> {
  const notebook = await stack.site.startNotebook(NOTEBOOK_PORT);
  const res = await fetch(`${stack.facadeUrl}/api/forwardedservers/${DEMO_USER}`, {
    method: 'PUT',
    headers: { Authorization: `token ${stack.tokens.spawner}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({
      userId: 1,
      startId: 'demo-1',
      target: { host: stack.site.computeAddress, port: NOTEBOOK_PORT },
      jumpNode: 'hpc',
    }),
  });
  if (!res.ok) throw new Error(`The facade refused the demo server: ${await res.text()}`);
  const url = await waitFor('the demo server to be Ready', async () => {
    const fs = await stack.admin.forwardedServers.get(stack.namespace, DEMO_SERVER);
    return fs.status?.phase === 'Ready' ? fs.status.url : undefined;
  });
  return { url: url!, stop: () => notebook.stop() };
}

function instructions(stack: Stack, cp: ControlPlane, demoUrl: string, logDir: string): string {
  const kubectlCmd = `${join(cp.binDir, 'kubectl')} --kubeconfig ${stack.kubeconfigPath}`;
  const auth = (t: string) => `-H 'Authorization: token ${t}'`;
  const site =
    stack.site.mode === 'netns'
      ? `network namespaces ${stack.site.topology!.jumpNs} (jump node) and ${stack.site.computeNetns} (compute node, reachable only through the jump node)`
      : 'loopback (not root: no network namespaces, the compute node is this host)';
  const lines = [
    '',
    'The jupyterhub-forward-operator demo is running.',
    `  Remote site: ${site}`,
    '',
    'A notebook on the compute node, answered through the SSH tunnel of the runner:',
    `  curl ${demoUrl}/`,
    '',
    'The resources (CRDs, operator, facade, the JumpNode, its runner, the ForwardedServer):',
    `  ${kubectlCmd} get jumpnodes,forwardedservers,services,deployments,pods -A`,
    `  ${kubectlCmd} describe forwardedserver ${DEMO_SERVER}`,
    '',
    `The facade (hub-compatible API) at ${stack.facadeUrl}:`,
    `  curl ${auth(stack.tokens.spawner)} ${stack.facadeUrl}/api/forwardedservers/${DEMO_USER}`,
    `  curl ${auth(stack.tokens.spawner)} ${stack.facadeUrl}/api/servers`,
    `  curl ${auth(stack.tokens.nodeRestart)} ${stack.facadeUrl}/api/recreateforward/hpc`,
    '',
    'Metrics:',
    `  operator http://127.0.0.1:${stack.operator.httpPort}/metrics`,
    `  facade   ${stack.facadeUrl}/metrics  (needs a token with the read:metrics scope)`,
    `  runner   http://127.0.0.1:${stack.runner.httpPort}/metrics`,
    `Logs: ${logDir}`,
  ];
  if (stack.hub)
    lines.push(
      '',
      `JupyterHub: ${stack.hub.url}/  (log in with any name and password)`,
      '  a named server "later" starts the delayed way (setuptunnel after a few seconds),',
      '  one named "queued" never leaves the queue (cancel it from the home page).',
    );
  lines.push('', 'Press Ctrl-C to stop and clean everything up.', '');
  return lines.join('\n');
}

/**
 * Ctrl-C in a terminal signals the whole foreground process group: etcd and the API server would
 * die at once, before the demo could clean up through them. So the demo runs in a process group
 * of its own, and this parent passes one SIGTERM on and waits. The IPC channel tells the demo
 * when this parent is gone (then it cleans up, too).
 *
 * `npm run demo` execs this parent (package.json), so npm's SIGTERM reaches it; when whoever
 * started it dies without a signal to pass on (npm killed, a shell in between), this parent is
 * re-parented, notices within PARENT_CHECK_MS and stops the demo the same way.
 */
function supervise(): void {
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    detached: true,
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, [SUPERVISED]: '1' },
  });
  let forwarded = false;
  const forward = () => {
    if (forwarded) return;
    forwarded = true;
    child.kill('SIGTERM');
  };
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  const parent = process.ppid;
  const watch = setInterval(() => {
    if (process.ppid === parent) return;
    say('The process that started the demo is gone; stopping');
    forward();
  }, PARENT_CHECK_MS);
  child.on('exit', (code, signal) => {
    clearInterval(watch);
    process.exit(code ?? (signal ? 1 : 0));
  });
}

async function run(): Promise<void> {
  const { values } = parseArgs({
    options: {
      hub: { type: 'boolean', default: false },
      logs: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return void process.stdout.write(USAGE);
  const work = mkdtempSync(join(tmpdir(), 'jfo-demo-'));
  const logDir = values.logs ? resolve(values.logs) : join(work, 'logs');
  mkdirSync(logDir, { recursive: true });

  let cp: ControlPlane | undefined;
  let stack: Stack | undefined;
  let demo: { stop(): Promise<void> } | undefined;
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return say('Still cleaning up; please wait');
    stopping = true;
    say('Stopping and cleaning up');
    await demo?.stop().catch(() => undefined);
    await stack?.close();
    await cp?.stop();
    rmSync(work, { recursive: true, force: true });
    say('Done');
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  process.on('disconnect', () => void stop(0));

  try {
    say('Building dist/ if needed');
    await ensureDist();
    say('Starting the local control plane (the first run builds it, which takes a while)');
    cp = await startControlPlane();
    const { restartApiServer: _r, stop: _s, ...cluster } = cp;
    await kubectl(cluster, ['create', 'namespace', NAMESPACE]);
    stack = await startStack({
      cluster,
      namespace: NAMESPACE,
      shared: false,
      hub: values.hub ? { modes: { later: 'delayed', queued: 'never' } } : undefined,
      logDir,
      log: say,
    });
    say('Starting the demo notebook on the compute node and its ForwardedServer');
    const server = await demoServer(stack);
    demo = server;
    process.stdout.write(instructions(stack, cp, server.url, logDir));
  } catch (err) {
    say(`Failed: ${err instanceof Error ? err.message : String(err)}`);
    await stop(1);
  }
}

if (process.env[SUPERVISED]) void run();
else supervise();
