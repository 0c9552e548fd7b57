// The user's story, end to end, with real parts only (docs/e2e.md):
//
// An administrator applies manifests/ to the cluster; the operator and the facade run from their
// Deployments, the tunnel runner from the Deployment the operator creates for the JumpNode (the
// test plays the kubelet for all three, with their ServiceAccounts' RBAC). The remote site is an
// OpenSSH jump node with a compute node behind it that only the jump node reaches. Alice logs in
// to JupyterHub in Chromium and starts notebook servers there; the hub's ForwardSpawner subclass
// plays the site's batch system. Then the things that happen to a running service happen: a
// cancelled start, a hub restart, a jump node crash, and Alice stopping her servers.
import { copyFileSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import type { ForwardedServer } from '../../src/api/types.js';
import { isNotFound } from '../../src/kube/client.js';
import { runnerName, serverResourceName } from '../../src/names.js';
import { clusterInfo, createNamespace, kubeConfig } from '../harness/cluster.js';
import { kubectl, kubectlResult } from '../harness/kubectl.js';
import { canConnect } from '../harness/netns.js';
import { startStack, type Stack } from '../harness/stack.js';
import { ensureDist, waitFor } from '../harness/util.js';
import {
  ARTIFACTS,
  eventLog,
  launchBrowser,
  logIn,
  messages,
  pageEnd,
  type Browser,
  type ProgressEvent,
} from './browser.js';

jest.setTimeout(180_000);

const USER = 'alice';
const info = clusterInfo();
let ns: { name: string; cleanup: () => Promise<void> };
let stack: Stack;
let browser: Browser;
let hubUrl: string;
let tab: { page: Page; events: ProgressEvent[] };

beforeAll(async () => {
  rmSync(ARTIFACTS, { recursive: true, force: true });
  await ensureDist();
  ns = await createNamespace(kubeConfig(info, 'admin'), 'e2e');
  stack = await startStack({
    cluster: info,
    namespace: ns.name,
    shared: true,
    hub: { modes: { later: 'delayed', stuck: 'never' } },
    logDir: join(ARTIFACTS, 'logs'),
  });
  hubUrl = stack.hub!.url;
  browser = await launchBrowser();
}, 900_000);

afterAll(async () => {
  await browser?.close();
  const hubLog = stack?.hub?.logPath;
  if (hubLog && existsSync(hubLog)) copyFileSync(hubLog, join(ARTIFACTS, 'logs', 'jupyterhub.log'));
  await stack?.close();
  await ns?.cleanup();
}, 120_000);

const fsName = (server = '') => serverResourceName(USER, server);
const readServer = (server = '') => stack.admin.forwardedServers.get(ns.name, fsName(server));
const gone = (p: Promise<unknown>) =>
  p.then(
    () => false,
    (e: unknown) => isNotFound(e),
  );

/** What the notebook page says about itself. */
async function notebookFacts(page: Page) {
  const cell = (id: string) => page.locator(`#${id}`).innerText();
  return {
    user: await cell('user'),
    server: await cell('server'),
    netns: await cell('network-namespace'),
    peer: await cell('connection-from'),
  };
}

/** Reloads until the notebook page is back (the proxy may answer 503 meanwhile). */
async function reloadNotebook(page: Page, what: string) {
  return waitFor(
    what,
    async () => {
      await page.reload();
      return (await page.locator('#network-namespace').count()) > 0
        ? notebookFacts(page)
        : undefined;
    },
    90_000,
    1000,
  );
}

async function remoteConnections(): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${stack.runner.httpPort}/metrics`)).text();
  const line = text
    .split('\n')
    .find((l) => l.startsWith('jfo_runner_remote_connections_total{result="ok"}'));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('a JupyterHub user reaches notebooks on a remote site through an SSH jump node', () => {
  it('runs the operator, the facade and the tunnel runner from the manifests, with their RBAC', async () => {
    const pods = JSON.parse(await stack.kubectl(['get', 'pods', '-A', '-o', 'json'])) as {
      items: Array<{ metadata: { name: string; namespace: string }; status: { phase: string } }>;
    };
    const running = pods.items
      .filter((p) => p.status.phase === 'Running')
      .map((p) => p.metadata.name);
    expect(running).toEqual(
      expect.arrayContaining([stack.operator.pod, stack.facade.pod, stack.runner.pod]),
    );
    expect(stack.runner.env.JFO_POD_NAME).toBe(stack.runner.pod);
    expect(stack.runner.pod.startsWith(`${runnerName(stack.jumpNode)}-`)).toBe(true);

    // The runner's kubeconfig holds its own ServiceAccount's token, with the Role the operator made.
    const asRunner = { binDir: info.binDir, kubeconfigPath: stack.runner.env.KUBECONFIG! };
    const who = await kubectl(asRunner, [
      'auth',
      'whoami',
      '-o',
      'jsonpath={.status.userInfo.username}',
    ]);
    expect(who).toBe(`system:serviceaccount:${ns.name}:${runnerName(stack.jumpNode)}`);
    const canI = async (...args: string[]) =>
      (await kubectlResult(asRunner, ['auth', 'can-i', ...args])).stdout.trim();
    // Its key is a Secret volume: no right on Secrets at all (docs/security.md).
    expect(stack.runner.env.JFO_PRIVATE_KEY_FILE).toMatch(/ssh-privatekey$/);
    expect(await canI('get', `secret/${stack.jumpNode}-key`)).toBe('no');
    expect(await canI('list', 'secrets')).toBe('no');
    expect(await canI('patch', 'forwardedservers')).toBe('no');
    expect(await canI('patch', 'forwardedservers', '--subresource=status')).toBe('yes');

    const jn = await waitFor('the JumpNode to be Ready and Connected', async () => {
      const n = await stack.admin.jumpNodes.get(ns.name, stack.jumpNode);
      const ok = (t: string) => n.status?.conditions?.find((c) => c.type === t)?.status === 'True';
      return ok('Ready') && ok('Connected') ? n : undefined;
    });
    expect(jn.status?.readyReplicas).toBe(1);
  });

  it('Alice logs in, starts her server, sees the remote progress and lands in her notebook through the tunnel', async () => {
    tab = await browser.open();
    const { page, events } = tab;
    const remoteBefore = await remoteConnections();
    // After the login JupyterHub starts her default server and shows its spawn page.
    await logIn(page, hubUrl, USER);
    await page.waitForURL(`${hubUrl}/hub/spawn-pending/${USER}`);
    // The job waits in the site's queue for a while: the spawn page shows what it reported.
    await page.locator('#progress-details summary').click();
    await waitFor('the remote job to report on the spawn page', async () =>
      (await eventLog(page)).includes('Job queued at site hpc'),
    );
    await browser.screenshot(page, '1-spawn-pending');
    await page.waitForURL(`${hubUrl}/user/${USER}/`, { timeout: 120_000 });
    await page.locator('#network-namespace').waitFor();
    await browser.screenshot(page, '2-notebook');
    const facts = await notebookFacts(page);
    expect(facts).toEqual({
      user: USER,
      server: '(default)',
      netns: stack.site.computeNetns,
      peer: stack.site.jumpInnerAddress,
    });

    const said = messages(events);
    const order = [
      'Job queued at site hpc',
      'Notebook running on the compute node',
      'Connecting through jump node hpc',
    ];
    const at = order.map((m) => said.findIndex((s) => s.includes(m)));
    expect(at.every((i) => i >= 0)).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    expect(pageEnd(events)).toMatchObject({ ready: true });

    // The hub reaches the server only through the runner; the compute node is not reachable.
    const fs = await readServer();
    expect(fs.status).toMatchObject({
      phase: 'Ready',
      url: `http://${stack.listenHost}:${fs.status!.runnerPort}`,
    });
    expect(fs.spec).toMatchObject({
      jumpNodeRef: { name: stack.jumpNode },
      target: { host: stack.site.computeAddress },
    });
    expect(await canConnect(stack.site.computeAddress, fs.spec.target!.port, 1000)).toBe(false);
    const svc = await stack.admin.core.readNamespacedService({
      name: fsName(),
      namespace: ns.name,
    });
    expect(svc.spec?.ports?.[0]?.targetPort).toBe(fs.status!.runnerPort);
    // The notebook completed the OAuth login through the remote forward (ssh -R) to the hub API.
    expect(await remoteConnections()).toBeGreaterThan(remoteBefore);
  });

  it('the delayed case: the job calls setuptunnel a few seconds later and the spawn completes', async () => {
    const { page, events } = await browser.open();
    await page.goto(`${hubUrl}/hub/spawn/${USER}/later`);
    const waiting = await waitFor('the server to wait for its target', async () => {
      const fs = await readServer('later');
      return fs.status?.phase === 'WaitingForTarget' ? fs : undefined;
    });
    expect(waiting.spec.target).toBeUndefined();
    await page.waitForURL(`${hubUrl}/user/${USER}/later/`, { timeout: 120_000 });
    await page.locator('#network-namespace').waitFor();
    await browser.screenshot(page, '3-delayed-notebook');
    expect(await notebookFacts(page)).toMatchObject({
      user: USER,
      server: 'later',
      netns: stack.site.computeNetns,
    });
    const said = messages(events);
    const reported = said.findIndex((s) =>
      s.includes('Waiting for the remote system to report its address'),
    );
    const running = said.findIndex((s) => s.includes('Notebook running on the compute node'));
    expect(reported).toBeGreaterThanOrEqual(0);
    expect(running).toBeGreaterThan(reported);
    expect(pageEnd(events)).toMatchObject({ ready: true });
    const fs = await readServer('later');
    expect(fs.spec).toMatchObject({
      jumpNodeRef: { name: stack.jumpNode },
      target: { host: stack.site.computeAddress },
    });
    await page.close();
  });

  it('cancels a start that is still pending: the spawn page says so and nothing is left', async () => {
    const pending = await browser.open();
    await pending.page.goto(`${hubUrl}/hub/spawn/${USER}/stuck`);
    await waitFor(
      'the stuck start to wait for its target',
      async () => (await readServer('stuck')).status?.phase === 'WaitingForTarget',
    );
    // The spawn page shows what the remote job posted and what the operator reports.
    await pending.page.locator('#progress-details summary').click();
    await waitFor('the event log to show the remote job and the operator', async () => {
      const log = (await eventLog(pending.page)).join('\n');
      return (
        log.includes('Job queued at site hpc') && log.includes('Waiting for the remote system')
      );
    });
    await browser.screenshot(pending.page, '4-pending-start');
    const home = await browser.open();
    // The stop buttons work once the page's scripts are loaded (slow on a busy machine).
    await home.page.goto(`${hubUrl}/hub/home`, { waitUntil: 'networkidle' });
    await home.page.click('#stop-stuck');
    await waitFor('the spawn page to report the cancel', () =>
      pending.events.some((e) => e.failed && e.message === 'Start cancelled'),
    );
    expect(pageEnd(pending.events)).toMatchObject({ failed: true, message: 'Start cancelled' });
    await browser.screenshot(pending.page, '5-cancelled');
    await waitFor('the ForwardedServer to be deleted', () => gone(readServer('stuck')));
    expect(
      await gone(
        stack.admin.core.readNamespacedService({ name: fsName('stuck'), namespace: ns.name }),
      ),
    ).toBe(true);
    await pending.page.close();
    await home.page.close();
  });

  it('the hub restarts while Alice works: her notebook stays reachable, before and after', async () => {
    const { page } = tab;
    const hub = stack.hub!;
    let whileDown: Awaited<ReturnType<typeof notebookFacts>> | undefined;
    await hub.restart(async () => {
      expect(
        await fetch(`${hub.apiUrl}/`).then(
          () => 'up',
          () => 'down',
        ),
      ).toBe('down');
      whileDown = await reloadNotebook(page, 'the notebook while the hub is down');
      await browser.screenshot(page, '6-hub-down');
    });
    expect(whileDown).toMatchObject({ user: USER, netns: stack.site.computeNetns });
    expect(await reloadNotebook(page, 'the notebook after the hub restart')).toMatchObject({
      user: USER,
    });
    const model = (await hub.api('GET', `/users/${USER}`)) as {
      servers: Record<string, { ready: boolean }>;
    };
    expect(model.servers['']?.ready).toBe(true);
    expect(model.servers.later?.ready).toBe(true);
  });

  it('the jump node crashes and comes back; after the restart signal the notebook is reachable again', async () => {
    const { page } = tab;
    const before = await stack.site.sshd.established();
    expect(before).toBeGreaterThan(0);
    await stack.site.restartJumpNode();
    // The site's automation tells the facade, with a hub token that has custom:sshnode:restart.
    const token = stack.hub!.serviceTokens['jump-node-automation'];
    const res = await fetch(`${stack.facadeUrl}/api/recreateforward/hpc`, {
      headers: { Authorization: `token ${token}` },
    });
    expect(res.status).toBe(202);
    const { restartedAt, jumpNodes } = (await res.json()) as {
      restartedAt: string;
      jumpNodes: string[];
    };
    expect(jumpNodes).toEqual([stack.jumpNode]);
    await waitFor('the runner to handle the restart', async () => {
      const jn = await stack.admin.jumpNodes.get(ns.name, stack.jumpNode);
      return jn.status?.lastRestartHandled === restartedAt;
    });
    // The new sshd process holds the runner's new connection.
    await waitFor(
      'the runner to connect to the new sshd',
      async () => (await stack.site.sshd.established()) > 0,
    );
    expect(await reloadNotebook(page, 'the notebook after the jump node restart')).toMatchObject({
      user: USER,
    });
    // A fresh login to the notebook needs the hub API, i.e. the remote forward, registered again.
    const remoteBefore = await remoteConnections();
    await browser.context.clearCookies({ path: `/user/${USER}/` });
    expect(await reloadNotebook(page, 'a fresh notebook login')).toMatchObject({ user: USER });
    expect(await remoteConnections()).toBeGreaterThan(remoteBefore);
    await browser.screenshot(page, '7-after-jump-node-restart');
  });

  it('Alice stops her servers: the ForwardedServers, Services and notebooks are gone', async () => {
    const model = (await stack.hub!.api('GET', `/users/${USER}`)) as {
      servers: Record<string, { state: { remote_pid: number } }>;
    };
    const pids = Object.values(model.servers).map((s) => s.state.remote_pid);
    expect(pids).toHaveLength(2);
    for (const pid of pids) expect(pid).toBeGreaterThan(0);
    const { page } = await browser.open();
    await page.goto(`${hubUrl}/hub/home`, { waitUntil: 'networkidle' });
    await page.click('#stop-later');
    await page.click('#stop');
    await waitFor('both servers to stop', async () => {
      const m = (await stack.hub!.api('GET', `/users/${USER}`)) as {
        servers: Record<string, unknown>;
      };
      return Object.keys(m.servers).length === 0;
    });
    await browser.screenshot(page, '8-stopped');
    for (const server of ['', 'later']) {
      await waitFor(`ForwardedServer ${fsName(server)} to be deleted`, () =>
        gone(readServer(server)),
      );
      await waitFor(`Service ${fsName(server)} to be deleted`, () =>
        gone(stack.admin.core.readNamespacedService({ name: fsName(server), namespace: ns.name })),
      );
    }
    for (const pid of pids)
      expect(existsSync(`/proc/${pid}`) && readFileSync(`/proc/${pid}/cmdline`).length > 0).toBe(
        false,
      );
    const left = await stack.admin.forwardedServers.list(ns.name);
    expect(left.items.map((f: ForwardedServer) => f.metadata.name)).toEqual([]);
    await waitFor(
      'the JumpNode to hold no forwards',
      async () => (await stack.admin.jumpNodes.get(ns.name, stack.jumpNode)).status?.forwards === 0,
    );
  });
});
