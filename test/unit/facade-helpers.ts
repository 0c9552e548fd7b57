// Builds the facade app in-process (buildFacade) over a MemoryStore with static tokens (no hub),
// for the facade's unit tests.
import type { FastifyInstance } from 'fastify';
import { FakeClock } from '../../src/clock.js';
import { silentLogger } from '../../src/log.js';
import type { ForwardedServer, JumpNode } from '../../src/api/types.js';
import { DEFAULT_EVENT_CAPS, type EventCaps } from '../../src/resources/events.js';
import { buildFacade, type HttpLimits } from '../../src/facade/app.js';
import { Authenticator } from '../../src/facade/auth.js';
import { createMetrics, type FacadeMetrics } from '../../src/facade/metrics.js';
import { parseStaticTokens, sha256 } from '../../src/facade/static-tokens.js';
import { MemoryStore } from './facade-memory-store.js';

/** Static tokens by role; each value is the token itself. */
export const TOKENS = {
  hub: 'hub-token-0123456789abcdef',
  outpost: 'outpost-token-0123456789abcdef',
  node: 'node-token-0123456789abcdef',
  aliceServer: 'alice-server-token-0123456789',
  aliceUser: 'alice-user-token-0123456789ab',
  nothing: 'no-scopes-token-0123456789ab',
  prometheus: 'prometheus-token-0123456789ab',
} as const;

const TOKEN_FILE = `
hub: {token: ${TOKENS.hub}, scopes: [servers, access:servers, custom:servers:list]}
outpost: {token: ${TOKENS.outpost}, scopes: [custom:servers:list, access:servers]}
node: {token: ${TOKENS.node}, scopes: ["custom:sshnode:restart"]}
alice-server: {token: ${TOKENS.aliceServer}, scopes: ["access:servers!server=alice/x", "users:activity!user=alice"]}
alice-user: {token: ${TOKENS.aliceUser}, scopes: ["read:servers!user=alice", "access:servers!user=alice"]}
nothing: {token: ${TOKENS.nothing}, scopes: ["read:users:name"]}
prometheus: {token: ${TOKENS.prometheus}, scopes: ["read:metrics"]}
`;

export interface Harness {
  app: FastifyInstance;
  store: MemoryStore;
  clock: FakeClock;
  metrics: FacadeMetrics;
  close(): Promise<void>;
}

export async function makeHarness(
  opts: { caps?: EventCaps; bodyLimitBytes?: number; http?: HttpLimits } = {},
): Promise<Harness> {
  const store = new MemoryStore('ns');
  const clock = new FakeClock(Date.UTC(2025, 0, 21, 10, 11, 12, 345));
  const metrics = createMetrics();
  const log = silentLogger();
  const table = parseStaticTokens(TOKEN_FILE);
  const auth = new Authenticator({
    staticLookup: (t) => table.get(sha256(t)),
    cacheMs: 0,
    hubTimeoutMs: 1000,
    clock,
    log,
    metrics,
  });
  const app = await buildFacade({
    store,
    auth,
    metrics,
    clock,
    log,
    caps: opts.caps ?? DEFAULT_EVENT_CAPS,
    writeAttempts: 10,
    bodyLimitBytes: opts.bodyLimitBytes ?? 262144,
    http: opts.http,
  });
  await app.ready();
  return { app, store, clock, metrics, close: () => app.close() };
}

export const auth = (token: string) => ({ authorization: `token ${token}` });

export function jumpNode(name: string, aliases: string[] = []): JumpNode {
  return {
    apiVersion: 'forward.hub.jupyter.org/v1alpha1',
    kind: 'JumpNode',
    metadata: { name },
    spec: {
      host: `${name}.example.org`,
      username: 'tunnel',
      privateKeySecretRef: { name: `${name}-ssh` },
      insecureSkipHostKeyCheck: true,
      aliases,
    },
  };
}

/** Creates alice's server "x" (and others) through the spawner endpoint. */
export async function putServer(
  h: Harness,
  user: string,
  server: string,
  body: Record<string, unknown> = {},
): Promise<ForwardedServer> {
  const path = server ? `/api/forwardedservers/${user}/${server}` : `/api/forwardedservers/${user}`;
  const res = await h.app.inject({
    method: 'PUT',
    url: path,
    headers: auth(TOKENS.hub),
    payload: { userId: 1, startId: 'start1', ...body },
  });
  if (res.statusCode !== 201 && res.statusCode !== 200)
    throw new Error(`PUT ${path}: ${res.statusCode} ${res.body}`);
  const name = (res.json() as { name: string }).name;
  return (await h.store.get(name))!;
}
