// A real JupyterHub (from the project's .venv, PyPI) with configurable-http-proxy (npm) for tests:
// free loopback ports, a temporary directory, users, services with tokens, roles, custom scopes
// and any extra traitlets given as JSON. Nothing from the options is executed: the generated
// jupyterhub_config.py only reads a JSON file and assigns its values, where a value
// `{"$import": "module.name"}` (IMPORT) stands for that attribute of a module on the hub's
// PYTHONPATH: the way a test gives a setting that only takes a callable.
//
// startJupyterHub() resolves once the hub API answers; stop() terminates the hub (which stops its
// proxy), kills what is left and removes the directory. It is also called on process exit.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from '../../src/dev/control-plane.js';
import { hasExited, stopChild } from '../../src/dev/process.js';

// Under jest (CommonJS) __dirname is this folder; elsewhere tests run from the repository root.
const ROOT = typeof __dirname === 'string' ? resolve(__dirname, '../..') : process.cwd();
const VENV = join(ROOT, '.venv', 'bin');

export interface HubService {
  name: string;
  /** The service's API token (generated when absent). */
  token?: string;
}

export interface HubRole {
  name: string;
  scopes: string[];
  users?: string[];
  services?: string[];
  groups?: string[];
}

export interface HubOptions {
  users?: string[];
  services?: HubService[];
  roles?: HubRole[];
  /** Custom scopes to declare: name → description. */
  customScopes?: Record<string, string>;
  /** Extra traitlets, e.g. {"JupyterHub.spawner_class": "...", "Spawner.start_timeout": 60}. */
  config?: Record<string, unknown>;
  env?: Record<string, string>;
  /** The hub's own port (default: a free one). */
  hubPort?: number;
}

export interface RunningHub {
  /** Public URL (through the proxy). */
  url: string;
  /** The hub's own API, e.g. http://127.0.0.1:PORT/hub/api (what JFO_HUB_API_URL points at). */
  apiUrl: string;
  /** Token of the harness's admin service (users, tokens, servers). */
  adminToken: string;
  /** Service name → token. */
  serviceTokens: Record<string, string>;
  dir: string;
  logPath: string;
  /** Calls the hub API with the admin token; rejects on a non-2xx answer. */
  api(method: string, path: string, body?: unknown): Promise<unknown>;
  /** Creates a token of `user` with exactly `scopes`. */
  mintToken(user: string, scopes: string[]): Promise<string>;
  /**
   * Stops the hub process (SIGTERM) and starts it again with the same configuration, database
   * and ports; resolves once its API answers. `whileDown` runs in between. What the hub leaves
   * running on a clean exit keeps running: the proxy with `JupyterHub.cleanup_proxy: false`,
   * servers with `JupyterHub.cleanup_servers: false`.
   */
  restart(whileDown?: () => Promise<void>): Promise<void>;
  stop(): Promise<void>;
}

const ADMIN_SERVICE = 'jfo-test-admin';
const ADMIN_SCOPES = ['admin:users', 'admin:servers', 'tokens', 'access:servers', 'read:users'];

const CONFIG_PY = `
import importlib, json, os
cfg = json.load(open(os.environ["JFO_HUB_TEST_CONFIG"]))
for key, value in cfg.items():
    section, _, trait = key.rpartition(".")
    if isinstance(value, dict) and list(value) == ["$import"]:
        module, _, name = value["$import"].rpartition(".")
        value = getattr(importlib.import_module(module), name)
    c[section][trait] = value
`;

/** A configuration value that stands for `name` of a module on the hub's PYTHONPATH. */
export const IMPORT = (dotted: string) => ({ $import: dotted });

function hubConfig(
  opts: HubOptions,
  dir: string,
  ports: Record<string, number>,
  tokens: Record<string, string>,
) {
  const services = Object.entries(tokens).map(([name, api_token]) => ({ name, api_token }));
  const roles = [
    { name: 'jfo-test-admin', scopes: ADMIN_SCOPES, services: [ADMIN_SERVICE] },
    ...(opts.roles ?? []),
  ];
  const customScopes = Object.fromEntries(
    Object.entries(opts.customScopes ?? {}).map(([k, d]) => [k, { description: d }]),
  );
  return {
    'JupyterHub.bind_url': `http://127.0.0.1:${ports.public}`,
    'JupyterHub.hub_ip': '127.0.0.1',
    'JupyterHub.hub_port': ports.hub,
    'JupyterHub.db_url': `sqlite:///${join(dir, 'jupyterhub.sqlite')}`,
    'JupyterHub.cookie_secret_file': join(dir, 'cookie_secret'),
    'JupyterHub.pid_file': join(dir, 'jupyterhub.pid'),
    'JupyterHub.services': services,
    'JupyterHub.load_roles': roles,
    'JupyterHub.custom_scopes': customScopes,
    'JupyterHub.cleanup_servers': true,
    'JupyterHub.authenticator_class': 'dummy',
    'Authenticator.allow_all': true,
    'ConfigurableHTTPProxy.api_url': `http://127.0.0.1:${ports.proxyApi}`,
    'ConfigurableHTTPProxy.command': [
      join(ROOT, 'node_modules', '.bin', 'configurable-http-proxy'),
    ],
    'ConfigurableHTTPProxy.pid_file': join(dir, 'proxy.pid'),
    'ConfigurableHTTPProxy.auth_token': randomBytes(16).toString('hex'),
    ...(opts.config ?? {}),
  };
}

async function waitForApi(apiUrl: string, child: ChildProcess, logPath: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (hasExited(child))
      throw new Error(
        `JupyterHub exited (${child.exitCode ?? child.signalCode}):\n${readFileSync(logPath, 'utf8').slice(-4000)}`,
      );
    const ok = await fetch(`${apiUrl}/`, { signal: AbortSignal.timeout(2000) }).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(
    `JupyterHub did not answer within 60 s:\n${readFileSync(logPath, 'utf8').slice(-4000)}`,
  );
}

function killPidFile(path: string): void {
  if (!existsSync(path)) return;
  const pid = Number(readFileSync(path, 'utf8').trim());
  if (pid > 0)
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
}

export async function startJupyterHub(opts: HubOptions = {}): Promise<RunningHub> {
  const dir = await mkdtemp(join(tmpdir(), 'jfo-hub-'));
  const ports = {
    public: await freePort(),
    hub: opts.hubPort ?? (await freePort()),
    proxyApi: await freePort(),
  };
  const tokens: Record<string, string> = { [ADMIN_SERVICE]: randomBytes(24).toString('hex') };
  for (const s of opts.services ?? []) tokens[s.name] = s.token ?? randomBytes(24).toString('hex');
  const configJson = join(dir, 'config.json');
  await writeFile(configJson, JSON.stringify(hubConfig(opts, dir, ports, tokens)));
  await writeFile(join(dir, 'jupyterhub_config.py'), CONFIG_PY);
  const logPath = join(dir, 'jupyterhub.log');
  const log = createWriteStream(logPath);
  const launch = () => {
    const c = spawn(join(VENV, 'jupyterhub'), ['-f', join(dir, 'jupyterhub_config.py')], {
      cwd: dir,
      env: {
        ...process.env,
        ...opts.env,
        JFO_HUB_TEST_CONFIG: configJson,
        PATH: `${join(ROOT, 'node_modules', '.bin')}:${VENV}:${process.env.PATH ?? ''}`,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    c.stdout!.pipe(log, { end: false });
    c.stderr!.pipe(log, { end: false });
    return c;
  };
  let child = launch();
  const terminate = () => stopChild(child);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    process.off('exit', onExit);
    await terminate();
    killPidFile(join(dir, 'proxy.pid'));
    log.end();
    await rm(dir, { recursive: true, force: true });
  };
  const onExit = () => {
    child.kill('SIGKILL');
    killPidFile(join(dir, 'proxy.pid'));
  };
  process.on('exit', onExit);

  const apiUrl = `http://127.0.0.1:${ports.hub}/hub/api`;
  try {
    await waitForApi(apiUrl, child, logPath);
  } catch (err) {
    await stop();
    throw err;
  }
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${apiUrl}${path}`, {
      method,
      headers: {
        Authorization: `token ${tokens[ADMIN_SERVICE]}`,
        'Content-Type': 'application/json',
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`JupyterHub ${method} ${path}: ${res.status} ${text}`);
    return text ? (JSON.parse(text) as unknown) : undefined;
  };
  try {
    for (const user of opts.users ?? []) await api('POST', `/users/${encodeURIComponent(user)}`);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    url: `http://127.0.0.1:${ports.public}`,
    apiUrl,
    adminToken: tokens[ADMIN_SERVICE]!,
    serviceTokens: Object.fromEntries(Object.entries(tokens).filter(([n]) => n !== ADMIN_SERVICE)),
    dir,
    logPath,
    api,
    async mintToken(user, scopes) {
      const r = (await api('POST', `/users/${encodeURIComponent(user)}/tokens`, {
        scopes,
        note: 'jfo test',
      })) as { token: string };
      return r.token;
    },
    async restart(whileDown) {
      await terminate();
      await whileDown?.();
      child = launch();
      try {
        await waitForApi(apiUrl, child, logPath);
      } catch (err) {
        await stop();
        throw err;
      }
    },
    stop,
  };
}
