// Runs the facade in-process against the test control plane, as its least-privilege
// ServiceAccount (manifests/facade RBAC, token from the TokenRequest API), with a static-token
// file. Shared by the facade's integration tests.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { systemClock } from '../../src/clock.js';
import { silentLogger } from '../../src/log.js';
import type { ControlPlaneInfo } from '../../src/dev/control-plane.js';
import { parseFacadeConfig } from '../../src/facade/config.js';
import { startFacade, type RunningFacade } from '../../src/facade/server.js';
import { kubeConfig } from '../harness/cluster.js';
import { kubectl } from '../harness/kubectl.js';

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
  const core = kubeConfig(info, 'admin').makeApiClient(k8s.CoreV1Api);
  const tr = await core.createNamespacedServiceAccountToken({
    name: 'jupyterhub-forward-facade',
    namespace: ns,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  return kubeConfig(info, { token: tr.status!.token });
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
