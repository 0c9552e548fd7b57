// The reference's main subclass, unmodified but for its base-class import, on this project:
// OutpostSpawner (jupyterhub-outpostspawner 2.2.13 from PyPI, installed by scripts/setup.sh)
// in a real JupyterHub 6, against an Outpost-shaped service (harness/remote/outpost_service.py)
// that starts notebooks on the compute node behind the jump node, with the real operator,
// facade and runner from manifests/ (harness/stack.ts), as the user story runs them.
//
// The package is copied to a temporary directory and its one import line is rewritten there;
// the test checks that this is the only difference. OutpostSpawner is configured through the
// reference's own settings (ssh_node, ssh_during_startup, start_async, stop_async,
// public_api_url, extra_labels, cancelling_event), which the compatibility layer maps onto the
// operator (decision 0042). The user option `start_async` chooses, through the callables in
// harness/remote/outpost_hooks.py, between a synchronous start (the Outpost answers with the
// address, the hub tunnels at once) and an asynchronous one (the Outpost answers 202 before the
// notebook exists and its address comes later through setuptunnel).
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from '../../src/dev/control-plane.js';
import { isNotFound } from '../../src/kube/client.js';
import { PORT_CLAIM_SELECTOR, serverResourceName } from '../../src/names.js';
import { clusterInfo, createNamespace, kubeConfig } from '../harness/cluster.js';
import { IMPORT } from '../harness/jupyterhub.js';
import { canConnect } from '../harness/netns.js';
import { startStack, type Stack } from '../harness/stack.js';
import { JUMP_NODE_ALIAS } from '../harness/stack-config.js';
import { ensureDist, waitFor } from '../harness/util.js';

jest.setTimeout(180_000);

const ROOT = resolve(__dirname, '../..');
const PYTHON = join(ROOT, '.venv', 'bin', 'python');
const OUTPOST = join(ROOT, 'test', 'harness', 'remote', 'outpost_service.py');
const USER = 'olivia';
// Apart from the user story's artifacts, which that test clears when it starts.
const LOGS = join(ROOT, 'test-artifacts', 'e2e-outpost');
const CREDENTIALS = 'testhub:outpost-secret';
const ORIGINAL_IMPORT = 'from forwardbasespawner import ForwardBaseSpawner';
const CHANGED_IMPORT = 'from forwardspawner import ForwardBaseSpawner';

interface Event {
  progress?: number;
  message?: string;
  html_message?: string;
  failed?: boolean;
  ready?: boolean;
}
interface OutpostState {
  services: string[];
  running: Record<string, number>;
  /** Method, path and execution type (`sync` or `async`) of every request. */
  requests: Array<[string, string, string]>;
}

const info = clusterInfo();
let ns: { name: string; cleanup: () => Promise<void> };
let stack: Stack;
let outpost: ChildProcess;
let outpostUrl: string;
let work: string;
let installed: string;
let copy: string;

/** Files below `dir`, relative, sorted. */
function files(dir: string, prefix = ''): string[] {
  return readdirSync(join(dir, prefix), { withFileTypes: true })
    .filter((e) => e.name !== '__pycache__')
    .flatMap((e) => (e.isDirectory() ? files(dir, join(prefix, e.name)) : [join(prefix, e.name)]))
    .sort();
}

/** Copies the installed package and rewrites its base-class import, nothing else. */
function preparePackage(): void {
  const out = execFileSync(PYTHON, [
    '-c',
    'import importlib.util, importlib.metadata as m; ' +
      'print(importlib.util.find_spec("outpostspawner").submodule_search_locations[0]); ' +
      'print(m.version("jupyterhub-outpostspawner"))',
  ])
    .toString()
    .trim()
    .split('\n');
  installed = out[0]!;
  expect(out[1]).toBe('2.2.13');
  copy = join(work, 'site', 'outpostspawner');
  cpSync(installed, copy, { recursive: true, filter: (src) => !src.includes('__pycache__') });
  const main = join(copy, 'outpostspawner.py');
  const text = readFileSync(main, 'utf8');
  expect(text.split('\n').filter((l) => l === ORIGINAL_IMPORT)).toHaveLength(1);
  writeFileSync(main, text.replace(ORIGINAL_IMPORT, CHANGED_IMPORT));
}

async function startOutpost(port: number): Promise<void> {
  const site = stack.site;
  outpost = spawn(
    PYTHON,
    [OUTPOST, String(port), site.computeNetns, site.computeAddress, CREDENTIALS, LOGS],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let said = '';
  await new Promise<void>((res, rej) => {
    outpost.stdout!.on('data', (d: Buffer) => {
      said += d.toString();
      if (said.includes('listening on')) res();
    });
    outpost.stderr!.on('data', (d: Buffer) => (said += d.toString()));
    outpost.once('exit', (code) => rej(new Error(`the Outpost exited (${code}): ${said}`)));
  });
}

async function outpostState(): Promise<OutpostState> {
  return (await (await fetch(`${outpostUrl}/_test/state`)).json()) as OutpostState;
}

beforeAll(async () => {
  await ensureDist();
  rmSync(LOGS, { recursive: true, force: true });
  mkdirSync(LOGS, { recursive: true });
  work = mkdtempSync(join(tmpdir(), 'jfo-outpost-'));
  preparePackage();
  ns = await createNamespace(kubeConfig(info, 'admin'), 'outpost');
  const hubPort = await freePort();
  const hubForwardPort = await freePort();
  // The hub is configured with the Outpost's URL; the Outpost starts once the site is up.
  const outpostPort = await freePort();
  outpostUrl = `http://127.0.0.1:${outpostPort}`;
  stack = await startStack({
    cluster: info,
    namespace: ns.name,
    shared: true,
    logDir: LOGS,
    hub: {
      pythonPath: [join(work, 'site')],
      hubPort,
      config: (site) => ({
        'JupyterHub.spawner_class': 'outpostspawner.OutpostSpawner',
        // The reference's settings: its jump node, its rule for tunnelling at start and the
        // Outpost's execution type, per start.
        'ForwardSpawner.jump_node': '',
        'OutpostSpawner.ssh_node': JUMP_NODE_ALIAS,
        'OutpostSpawner.ssh_during_startup': IMPORT('outpost_hooks.ssh_during_startup'),
        'OutpostSpawner.start_async': IMPORT('outpost_hooks.start_async'),
        'OutpostSpawner.stop_async': IMPORT('outpost_hooks.stop_async'),
        'OutpostSpawner.request_url': `${outpostUrl}/services`,
        'OutpostSpawner.request_headers': {
          Authorization: `Basic ${Buffer.from(CREDENTIALS).toString('base64')}`,
        },
        'OutpostSpawner.custom_poll_interval': 1000,
        'OutpostSpawner.extra_labels': { 'example.org/site': 'hpc' },
        // Notebooks reach the hub API through the jump node (a remote forward of the runner).
        'OutpostSpawner.public_api_url': `http://${site.jumpInnerAddress}:${hubForwardPort}/hub/api`,
        'OutpostSpawner.remote_forward': {
          bindAddress: site.jumpInnerAddress,
          bindPort: hubForwardPort,
          target: { host: '127.0.0.1', port: hubPort },
        },
      }),
    },
  });
  await startOutpost(outpostPort);
}, 900_000);

afterAll(async () => {
  outpost?.kill('SIGTERM');
  const hubLog = stack?.hub?.logPath;
  if (hubLog && existsSync(hubLog)) copyFileSync(hubLog, join(LOGS, 'jupyterhub.log'));
  await stack?.close();
  await ns?.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
}, 120_000);

const fsName = (server: string) => serverResourceName(USER, server);
const readServer = (server: string) => stack.admin.forwardedServers.get(ns.name, fsName(server));
const gone = (p: Promise<unknown>) =>
  p.then(
    () => false,
    (e: unknown) => isNotFound(e),
  );

/** Starts a named server through the hub's REST API and reads its progress stream to the end. */
async function spawnServer(server: string, options: Record<string, unknown>): Promise<Event[]> {
  const hub = stack.hub!;
  await hub.api('POST', `/users/${USER}`).catch(() => undefined);
  await hub.api('POST', `/users/${USER}/servers/${server}`, options);
  return progress(server);
}

/**
 * Reads the progress stream of `server` to its end; `seen` holds the events received so far
 * (what the spawn page would have shown by now).
 */
async function progress(server: string, seen: Event[] = []): Promise<Event[]> {
  const hub = stack.hub!;
  const res = await fetch(`${hub.apiUrl}/users/${USER}/servers/${server}/progress`, {
    headers: { Authorization: `token ${hub.adminToken}` },
    signal: AbortSignal.timeout(150_000),
  });
  const decoder = new TextDecoder();
  let buffered = '';
  const take = (final: boolean) => {
    const blocks = buffered.split('\n\n');
    buffered = final ? '' : blocks.pop()!;
    for (const block of blocks)
      for (const line of block.split('\n'))
        if (line.startsWith('data: ')) seen.push(JSON.parse(line.slice(6)) as Event);
  };
  for await (const chunk of res.body!) {
    buffered += decoder.decode(chunk as Uint8Array, { stream: true });
    take(false);
  }
  take(true);
  writeFileSync(join(LOGS, `progress-${server}.json`), JSON.stringify(seen, null, 1));
  return seen;
}

const text = (e: Event) => e.message || (e.html_message ?? '').replace(/<[^>]*>/g, ' ').trim();

/**
 * What the spawn page shows: the events up to the first ready or failed one, where its stream
 * closes. Progress never goes backwards there, and after it JupyterHub sends at most its own
 * closing event ("Spawn failed: ...", "Spawn cancelled", "Server ready"), which the page no
 * longer reads.
 */
function pageView(events: Event[]): Event[] {
  const end = events.findIndex((e) => e.failed || e.ready);
  expect(end).toBeGreaterThanOrEqual(0);
  const shown = events.slice(0, end + 1);
  const values = shown.map((e) => e.progress ?? 0);
  expect(values).toEqual([...values].sort((a, b) => a - b));
  const after = events.slice(end + 1).map(text);
  expect(after.length).toBeLessThanOrEqual(1);
  for (const t of after) expect(t).toMatch(/^(Spawn failed|Spawn cancelled|Server ready)/);
  return shown;
}

async function nothingLeft(server: string): Promise<void> {
  await waitFor(`ForwardedServer ${fsName(server)} to be deleted`, () => gone(readServer(server)));
  await waitFor(`Service ${fsName(server)} to be deleted`, () =>
    gone(stack.admin.core.readNamespacedService({ name: fsName(server), namespace: ns.name })),
  );
  await waitFor(`the port claims of ${fsName(server)} to be released`, async () => {
    const leases = await stack.admin.coordination.listNamespacedLease({
      namespace: ns.name,
      labelSelector: PORT_CLAIM_SELECTOR,
    });
    return !leases.items.some(
      (l) => l.metadata?.labels?.['forward.hub.jupyter.org/forwardedserver'] === fsName(server),
    );
  });
  // An asynchronous stop is answered before the Outpost has stopped the notebook.
  await waitFor(`the Outpost to forget ${server}`, async () => {
    const state = await outpostState();
    return (
      !state.services.some((s) => s.startsWith(`${server}/`)) &&
      !Object.keys(state.running).some((s) => s.startsWith(`${server}/`))
    );
  });
}

/** The Outpost's requests for one start of `server` (polls, stop): [method, execution type]. */
async function requestsFor(server: string): Promise<Array<[string, string]>> {
  const r = (await outpostState()).requests;
  return r.filter(([, p]) => p.startsWith(`/services/${server}/`)).map(([m, , x]) => [m, x]);
}

describe('OutpostSpawner 2.2.13 from PyPI runs on forwardspawner with one changed import', () => {
  it('the package is the one from PyPI, changed in its base-class import only', () => {
    expect(files(copy)).toEqual(files(installed));
    const changed = files(copy).filter(
      (f) => readFileSync(join(copy, f), 'utf8') !== readFileSync(join(installed, f), 'utf8'),
    );
    expect(changed).toEqual(['outpostspawner.py']);
    const before = readFileSync(join(installed, 'outpostspawner.py'), 'utf8').split('\n');
    const after = readFileSync(join(copy, 'outpostspawner.py'), 'utf8').split('\n');
    expect(after).toHaveLength(before.length);
    const diff = before.map((line, i) => [line, after[i]]).filter(([a, b]) => a !== b);
    expect(diff).toEqual([[ORIGINAL_IMPORT, CHANGED_IMPORT]]);
  });

  it('spawns: the Outpost starts the notebook on the compute node, the hub reaches it through the jump node', async () => {
    const events = await spawnServer('lab', { queue_seconds: 2 });
    const starts = (await outpostState()).requests.filter(
      ([m, p]) => m === 'POST' && p === '/services',
    );
    expect(starts.at(-1)).toEqual(['POST', '/services', 'sync']);
    const said = events.map(text);
    // OutpostSpawner's own events first, then its answer and the Outpost's event, which comes
    // through the facade and may be shown before or after the answer.
    const at = (m: string) => said.findIndex((t) => t.includes(m));
    const sent = at('Sending request to Outpost service');
    expect(sent).toBeGreaterThanOrEqual(0);
    expect(at('Outpost communication successful')).toBeGreaterThan(sent);
    expect(at('Outpost: notebook listening on the compute node')).toBeGreaterThan(sent);
    expect(pageView(events).at(-1)).toMatchObject({ ready: true });

    // The hub calls the server ready as soon as the proxy reaches it; the status follows once
    // the runner's first probe is written and the operator has derived the phase from it.
    const fs = await waitFor('the ForwardedServer to report Ready', async () => {
      const f = await readServer('lab');
      return f.status?.phase === 'Ready' && f;
    });
    expect(fs.spec).toMatchObject({
      jumpNodeRef: { name: stack.jumpNode },
      target: { host: stack.site.computeAddress },
      service: { labels: { 'example.org/site': 'hpc' } },
    });
    // Only the tunnel reaches the notebook; through the proxy it answers its owner.
    expect(await canConnect(stack.site.computeAddress, fs.spec.target!.port, 1000)).toBe(false);
    const token = await stack.hub!.mintToken(USER, [`access:servers!user=${USER}`]);
    const page = await waitFor('the notebook to answer through the proxy', async () => {
      const res = await fetch(`${stack.hub!.url}/user/${USER}/lab/`, {
        headers: { Authorization: `token ${token}` },
      });
      return res.status === 200 ? res.text() : undefined;
    });
    expect(page).toContain(`<td id="network-namespace">${stack.site.computeNetns}</td>`);
    expect(page).toContain(`<td id="user">${USER}</td>`);
  });

  it('polls the Outpost while the server runs, and a stop removes the notebook, the ForwardedServer and its Service', async () => {
    const polls = async () =>
      (await outpostState()).requests.filter(
        ([m, p]) => m === 'GET' && p.startsWith('/services/lab/'),
      ).length;
    const before = await polls();
    await waitFor('two more polls of the Outpost', async () => (await polls()) >= before + 2);
    const model = (await stack.hub!.api('GET', `/users/${USER}`)) as {
      servers: Record<string, { ready: boolean }>;
    };
    expect(model.servers.lab?.ready).toBe(true);

    await stack.hub!.api('DELETE', `/users/${USER}/servers/lab`);
    await waitFor('the server to stop', async () => {
      const m = (await stack.hub!.api('GET', `/users/${USER}`)) as {
        servers: Record<string, unknown>;
      };
      return !m.servers.lab;
    });
    expect(await requestsFor('lab')).toContainEqual(['DELETE', 'sync']);
    await nothingLeft('lab');
  });

  it('cancels a start while the Outpost still holds it: the cancelling event, then one "Start cancelled", nothing left', async () => {
    const hub = stack.hub!;
    await hub.api('POST', `/users/${USER}/servers/queued`, { queue_seconds: 600 });
    const stream = progress('queued');
    await waitFor('the Outpost to hold the start', async () =>
      (await outpostState()).services.some((s) => s.startsWith('queued/')),
    );
    await waitFor(
      'the ForwardedServer to wait for its target',
      async () => (await readServer('queued')).status?.phase === 'WaitingForTarget',
    );
    await hub.api('DELETE', `/users/${USER}/servers/queued`);
    const events = await stream;
    const shown = pageView(events);
    expect(shown.map(text).at(-2)).toBe('JupyterLab is cancelling the start.');
    expect(shown.at(-1)).toEqual({ progress: 100, failed: true, message: 'Start cancelled' });
    expect(events.map(text).filter((t) => t.startsWith('Start cancelled'))).toHaveLength(1);
    await waitFor('the server to be gone from the hub', async () => {
      const m = (await hub.api('GET', `/users/${USER}`)) as { servers: Record<string, unknown> };
      return !m.servers.queued;
    });
    expect(
      (await outpostState()).requests.some(
        ([m, p]) => m === 'DELETE' && p.startsWith('/services/queued/'),
      ),
    ).toBe(true);
    await nothingLeft('queued');
  });

  it('an Outpost that answers 500 fails the start clearly and leaves nothing behind', async () => {
    const events = await spawnServer('broken', { outpost_status: 500 });
    const shown = pageView(events);
    expect(text(shown.at(-1)!)).toMatch(
      /^Start failed: [\s\S]*quota exceeded[\s\S]* failed: 500\)$/,
    );
    const said = shown.map(text);
    expect(said.some((t) => t.includes('Deleting related resources'))).toBe(true);
    await waitFor('the server to be gone from the hub', async () => {
      const m = (await stack.hub!.api('GET', `/users/${USER}`)) as {
        servers: Record<string, unknown>;
      };
      return !m.servers.broken;
    });
    await nothingLeft('broken');
    const log = readFileSync(stack.hub!.logPath, 'utf8');
    expect(log).toContain('Communication with outpost failed: 500 POST');
  });
  it('starts asynchronously: the Outpost answers before the notebook exists, its setuptunnel completes the start, an asynchronous stop removes everything', async () => {
    const hub = stack.hub!;
    const posts = async () =>
      (await outpostState()).requests.filter(([m, p]) => m === 'POST' && p === '/services');
    const before = (await posts()).length;
    await hub.api('POST', `/users/${USER}/servers/async`, { start_async: true, hold: true });
    const seen: Event[] = [];
    const stream = progress('async', seen);
    // The hub has the Outpost's answer (202, no address) while the Outpost holds the notebook
    // back: the ForwardedServer waits for a target, none is set.
    await waitFor("the hub to show the Outpost's answer", () =>
      seen.some((e) => text(e).includes('Outpost communication successful')),
    );
    expect((await outpostState()).services.filter((s) => s.startsWith('async/'))).toHaveLength(1);
    const waiting = await waitFor('the ForwardedServer to wait for its target', async () => {
      const f = await readServer('async');
      return f.status?.phase === 'WaitingForTarget' && f;
    });
    expect(waiting.spec.target).toBeUndefined();
    expect((await posts()).slice(before)).toEqual([['POST', '/services', 'async']]);
    expect((await outpostState()).running).toEqual({});

    await fetch(`${outpostUrl}/_test/release/async`, { method: 'POST' });
    const events = await stream;
    const said = pageView(events).map(text);
    const at = (m: string) => said.findIndex((t) => t.includes(m));
    const sent = at('Sending request to Outpost service');
    expect(sent).toBeGreaterThanOrEqual(0);
    expect(at('Outpost communication successful')).toBeGreaterThan(sent);
    expect(at('Outpost: notebook listening on the compute node')).toBeGreaterThan(
      at('Outpost communication successful'),
    );
    expect(events.filter((e) => e.ready)).toHaveLength(1);
    expect(pageView(events).at(-1)).toMatchObject({ ready: true });

    const fs = await waitFor('the ForwardedServer to report Ready', async () => {
      const f = await readServer('async');
      return f.status?.phase === 'Ready' && f;
    });
    // The target came from the Outpost's setuptunnel call; the jump node from `ssh_node`.
    expect(fs.spec).toMatchObject({
      jumpNodeRef: { name: stack.jumpNode },
      target: { host: stack.site.computeAddress },
    });
    expect(await canConnect(stack.site.computeAddress, fs.spec.target!.port, 1000)).toBe(false);
    const token = await hub.mintToken(USER, [`access:servers!user=${USER}`]);
    const page = await waitFor('the notebook to answer through the proxy', async () => {
      const res = await fetch(`${hub.url}/user/${USER}/async/`, {
        headers: { Authorization: `token ${token}` },
      });
      return res.status === 200 ? res.text() : undefined;
    });
    expect(page).toContain(`<td id="network-namespace">${stack.site.computeNetns}</td>`);
    expect(page).toContain(`<td id="server">async</td>`);

    await hub.api('DELETE', `/users/${USER}/servers/async`);
    await waitFor('the server to stop', async () => {
      const m = (await hub.api('GET', `/users/${USER}`)) as { servers: Record<string, unknown> };
      return !m.servers.async;
    });
    expect(await requestsFor('async')).toContainEqual(['DELETE', 'async']);
    await nothingLeft('async');
  });

  it("an asynchronous start that fails at the site: the Outpost's failed event ends the start, once, and nothing is left", async () => {
    const events = await spawnServer('refused', {
      start_async: true,
      outpost_error: 'no free nodes in partition batch',
    });
    const shown = pageView(events);
    expect(shown.at(-1)).toMatchObject({ failed: true, progress: 100 });
    expect(text(shown.at(-1)!)).toContain(
      'JupyterHub Outpost could not start service: no free nodes in partition batch',
    );
    expect(shown.filter((e) => e.failed)).toHaveLength(1);
    expect(events.some((e) => e.ready)).toBe(false);
    await waitFor('the server to be gone from the hub', async () => {
      const m = (await stack.hub!.api('GET', `/users/${USER}`)) as {
        servers: Record<string, unknown>;
      };
      return !m.servers.refused;
    });
    await nothingLeft('refused');
  });
});
