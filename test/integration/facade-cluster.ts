// Runs the facade against the test control plane with a static-token file: in-process as its
// least-privilege ServiceAccount (manifests/facade RBAC, token from the TokenRequest API), or as
// a real process (`node dist/cli.js facade`). Shared by the facade's integration tests.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { systemClock } from '../../src/clock.js';
import { silentLogger } from '../../src/log.js';
import { freePort, type ControlPlaneInfo } from '../../src/dev/control-plane.js';
import { parseFacadeConfig } from '../../src/facade/config.js';
import { startFacade, type RunningFacade } from '../../src/facade/server.js';
import { kubeConfig, serviceAccountToken } from '../harness/cluster.js';
import { kubectl } from '../harness/kubectl.js';
import { spawnCli, waitFor } from '../harness/util.js';

/** Applies the facade's ServiceAccount, Role and RoleBinding to `ns`; returns a kubeconfig for it. */
export async function facadeKubeConfig(
  info: ControlPlaneInfo,
  ns: string,
): Promise<k8s.KubeConfig> {
  const dir = 'manifests/facade';
  await kubectl(info, [
    '-n',
    ns,
    'apply',
    '-f',
    `${dir}/serviceaccount.yaml`,
    '-f',
    `${dir}/role.yaml`,
    '-f',
    `${dir}/rolebinding.yaml`,
  ]);
  return kubeConfig(info, {
    token: await serviceAccountToken(info, ns, 'jupyterhub-forward-facade'),
  });
}

export interface TestFacade extends RunningFacade {
  dir: string;
}

/** Starts a facade on a free port; `env` adds or overrides JFO_* settings. */
export async function startTestFacade(
  kc: k8s.KubeConfig,
  ns: string,
  tokensYaml: string,
  env: Record<string, string> = {},
): Promise<TestFacade> {
  const dir = mkdtempSync(join(tmpdir(), 'jfo-facade-'));
  const tokensPath = join(dir, 'tokens.yaml');
  writeFileSync(tokensPath, tokensYaml);
  const config = parseFacadeConfig({
    JFO_NAMESPACE: ns,
    JFO_HTTP_HOST: '127.0.0.1',
    JFO_HTTP_PORT: '0',
    JFO_STATIC_TOKENS: tokensPath,
    ...env,
  });
  try {
    const running = await startFacade(config, { kc, log: silentLogger(), clock: systemClock });
    return {
      ...running,
      dir,
      close: async () => {
        await running.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

export interface FacadeProcess {
  child: ChildProcess;
  port: number;
  /** The process's JSON log lines so far. */
  logs(): Array<Record<string, unknown>>;
  /** Sends SIGTERM unless the process has ended; resolves to its exit code. */
  stop(): Promise<number | null>;
}

/**
 * Runs `node dist/cli.js facade` (after `wrapper`, e.g. prlimit and its options) for namespace
 * `ns` with the admin kubeconfig, on a free loopback port, with the static tokens `tokensYaml`;
 * `env` adds or overrides JFO_* settings. Resolves once /readyz answers 200; otherwise stops the
 * process and rejects with its log.
 */
export async function spawnFacade(
  info: ControlPlaneInfo,
  ns: string,
  tokensYaml: string,
  { env = {}, wrapper = [] }: { env?: Record<string, string>; wrapper?: string[] } = {},
): Promise<FacadeProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'jfo-facade-proc-'));
  writeFileSync(join(dir, 'tokens.yaml'), tokensYaml);
  const port = await freePort();
  const p = spawnCli(
    ['facade'],
    {
      KUBECONFIG: info.kubeconfigPath,
      JFO_NAMESPACE: ns,
      JFO_HTTP_HOST: '127.0.0.1',
      JFO_HTTP_PORT: String(port),
      JFO_STATIC_TOKENS: join(dir, 'tokens.yaml'),
      ...env,
    },
    { wrapper },
  );
  const running = p.running;
  const stop = async () => {
    const code = await p.stop();
    rmSync(dir, { recursive: true, force: true });
    return code;
  };
  const ready = await waitFor(
    'the facade process to answer /readyz',
    async () => {
      if (!running()) return 'exited';
      const status = await fetch(`http://127.0.0.1:${port}/readyz`).then(
        (r) => r.status,
        () => 0,
      );
      return status === 200 && 'ready';
    },
    30_000,
    100,
  ).catch((err: Error) => err.message);
  if (ready !== 'ready') {
    const code = await stop();
    throw new Error(
      `The facade process is not ready (${ready}; exit code ${code}); its log:\n${p.lines.map((l) => JSON.stringify(l)).join('\n')}`,
    );
  }
  return { child: p.child, port, logs: () => p.lines, stop };
}

/** fetch() against the facade with a token; JSON bodies are encoded. */
export function client(base: string) {
  return async (
    method: string,
    path: string,
    token?: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) => {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        ...(token ? { Authorization: `token ${token}` } : {}),
        ...(body !== undefined && typeof body !== 'string'
          ? { 'Content-Type': 'application/json' }
          : {}),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.status, json: json as any, text, headers: res.headers }; // eslint-disable-line @typescript-eslint/no-explicit-any
  };
}
