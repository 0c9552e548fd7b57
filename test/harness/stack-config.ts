// The configuration the stack (stack.ts) applies: the kustomize overlay of manifests/, the
// JumpNode of the remote site, and JupyterHub's settings for the spawner.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { stringify } from 'yaml';
import { API_VERSION, type JumpNode } from '../../src/api/types.js';
import type { HubOptions } from './jupyterhub.js';
import type { RemoteSite } from './remote-site.js';

const ROOT = typeof __dirname === 'string' ? resolve(__dirname, '../..') : process.cwd();
export const JUMP_NODE = 'hpc-login';
export const JUMP_NODE_ALIAS = 'hpc';

export type JobMode = 'forward' | 'delayed' | 'never';

/**
 * Writes a kustomize overlay of manifests/ below `dir`, as a cluster operator would: the facade's
 * static tokens as a Secret (secretGenerator) and the hub's API URL; returns its directory.
 */
export function overlay(dir: string, tokensYaml: string, hubApiUrl: string): string {
  const path = join(dir, 'overlay');
  mkdirSync(path, { recursive: true });
  writeFileSync(join(path, 'tokens.yaml'), tokensYaml, { mode: 0o600 });
  const facadeEnv = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'jupyterhub-forward-facade' },
    spec: {
      replicas: 1,
      template: {
        spec: {
          containers: [{ name: 'facade', env: [{ name: 'JFO_HUB_API_URL', value: hubApiUrl }] }],
        },
      },
    },
  };
  const kustomization = {
    apiVersion: 'kustomize.config.k8s.io/v1beta1',
    kind: 'Kustomization',
    resources: [relative(path, join(ROOT, 'manifests'))],
    secretGenerator: [{ name: 'jupyterhub-forward-facade-tokens', files: ['tokens.yaml'] }],
    patches: [{ patch: stringify(facadeEnv) }],
  };
  writeFileSync(join(path, 'kustomization.yaml'), stringify(kustomization));
  return path;
}

export function jumpNodeObject(namespace: string, site: RemoteSite): JumpNode {
  return {
    apiVersion: API_VERSION,
    kind: 'JumpNode',
    metadata: { name: JUMP_NODE, namespace },
    spec: {
      host: site.jumpHost,
      port: site.jumpPort,
      username: site.jumpUser,
      privateKeySecretRef: { name: `${JUMP_NODE}-key` },
      hostKeys: [site.hostKey],
      aliases: [JUMP_NODE_ALIAS],
    },
  };
}

/** JupyterHub with RemoteSiteSpawner for the site; `modes` maps server names to job modes. */
export function hubOptions(
  site: RemoteSite,
  facade: { url: string; spawnerToken: string },
  modes: Record<string, JobMode>,
  logDir: string,
  extra: { config?: Record<string, unknown>; pythonPath?: string[]; hubPort?: number } = {},
): HubOptions {
  return {
    hubPort: extra.hubPort,
    customScopes: {
      'custom:sshnode:restart': 'Tell the forward operator that a jump node restarted',
      'custom:servers:list': 'List running and pending forwarded servers',
    },
    services: [{ name: 'jump-node-automation' }],
    roles: [
      {
        name: 'jump-node-restart',
        scopes: ['custom:sshnode:restart'],
        services: ['jump-node-automation'],
      },
    ],
    config: {
      'JupyterHub.spawner_class': 'remote_site_spawner.RemoteSiteSpawner',
      'JupyterHub.allow_named_servers': true,
      // As on z2jh (whose proxy is a Deployment of its own): a hub restart stops neither the
      // servers nor the proxy.
      'JupyterHub.cleanup_servers': false,
      'JupyterHub.cleanup_proxy': false,
      'JupyterHub.tornado_settings': { slow_spawn_timeout: 0 },
      'ForwardSpawner.facade_url': facade.url,
      'ForwardSpawner.facade_token': facade.spawnerToken,
      'ForwardSpawner.jump_node': JUMP_NODE_ALIAS,
      'RemoteSiteSpawner.compute_netns': site.computeNetns,
      'RemoteSiteSpawner.compute_address': site.computeAddress,
      'RemoteSiteSpawner.hub_forward_address': site.jumpInnerAddress,
      'RemoteSiteSpawner.site_alias': JUMP_NODE_ALIAS,
      'RemoteSiteSpawner.modes': modes,
      'RemoteSiteSpawner.log_dir': logDir,
      'Spawner.start_timeout': 120,
      'Spawner.http_timeout': 120,
      ...extra.config,
    },
    env: {
      // This checkout's spawner before any installed one (a shared .venv may hold another's).
      PYTHONPATH: [
        ...(extra.pythonPath ?? []),
        join(ROOT, 'spawner'),
        join(ROOT, 'test', 'harness', 'remote'),
      ].join(':'),
    },
  };
}
