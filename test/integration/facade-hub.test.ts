// Tokens minted by a real JupyterHub (PyPI, .venv) with different scopes, checked by the facade
// through the hub's GET /hub/api/user: each is accepted or refused as JupyterHub would.
import { clusterInfo, createNamespace, kubeConfig } from '../harness/cluster.js';
import { kubectl } from '../harness/kubectl.js';
import { startJupyterHub, type RunningHub } from '../harness/jupyterhub.js';
import { client, facadeKubeConfig, startTestFacade, type TestFacade } from './facade-cluster.js';

const info = clusterInfo();
let ns: { name: string; cleanup: () => Promise<void> };
let hub: RunningHub;
let facade: TestFacade;
let call: ReturnType<typeof client>;
const STATIC_HUB = 'static-hub-spawner-token-0123456789';
const tokens: Record<string, string> = {};

beforeAll(async () => {
  ns = await createNamespace(kubeConfig(info, 'admin'), 'facade-hub');
  hub = await startJupyterHub({
    users: ['alice', 'bob'],
    customScopes: {
      'custom:servers:list': 'List running and pending forwarded servers',
      'custom:sshnode:restart': 'Tell the hub a jump node restarted',
    },
    services: [{ name: 'outpost' }, { name: 'node-automation' }, { name: 'spawner' }],
    roles: [
      { name: 'outpost', scopes: ['custom:servers:list', 'access:servers'], services: ['outpost'] },
      { name: 'node-restart', scopes: ['custom:sshnode:restart'], services: ['node-automation'] },
      { name: 'spawner', scopes: ['servers', 'access:servers'], services: ['spawner'] },
    ],
  });
  tokens.aliceServerX = await hub.mintToken('alice', ['access:servers!server=alice/x']);
  tokens.aliceUser = await hub.mintToken('alice', [
    'read:servers!user=alice',
    'access:servers!user=alice',
  ]);
  tokens.aliceIdentify = await hub.mintToken('alice', ['read:users:name!user=alice']);
  tokens.bobServer = await hub.mintToken('bob', ['access:servers!server=bob/x']);
  tokens.revoked = await hub.mintToken('alice', ['access:servers!server=alice/x']);
  Object.assign(tokens, hub.serviceTokens);
  facade = await startTestFacade(
    await facadeKubeConfig(info, ns.name),
    ns.name,
    `hub: {token: ${STATIC_HUB}, scopes: [servers]}`,
    { JFO_HUB_API_URL: hub.apiUrl, JFO_AUTH_CACHE_SECONDS: '0' },
  );
  call = client(facade.url);
  await kubectl(info, ['-n', ns.name, 'apply', '-f', 'manifests/samples/jumpnode.yaml']);
  for (const user of ['alice', 'bob'])
    expect(
      (
        await call('PUT', `/api/forwardedservers/${user}/x`, STATIC_HUB, {
          userId: user.length,
          startId: 's1',
        })
      ).status,
    ).toBe(201);
}, 90_000);
afterAll(async () => {
  await facade?.close();
  await hub?.stop();
  await ns?.cleanup();
});

const event = { progress: 10, message: 'hi' };

it.each<[string, number, string, string, unknown]>([
  [
    'server token alice/x posts to alice/x',
    204,
    'aliceServerX',
    'POST /api/users/progress/events/alice/x',
    event,
  ],
  [
    'server token alice/x on bob/x',
    403,
    'aliceServerX',
    'POST /api/users/progress/events/bob/x',
    event,
  ],
  [
    'server token alice/x on alice/y',
    403,
    'aliceServerX',
    'POST /api/users/progress/events/alice/y',
    event,
  ],
  [
    'server token alice/x on alice default server',
    403,
    'aliceServerX',
    'POST /api/users/progress/events/alice',
    event,
  ],
  [
    'server token alice/x sets its tunnel',
    204,
    'aliceServerX',
    'POST /api/users/setuptunnel/alice/x',
    { service: 'n1:8888' },
  ],
  [
    'server token bob/x sets alice/x tunnel',
    403,
    'bobServer',
    'POST /api/users/setuptunnel/alice/x',
    { service: 'evil:22' },
  ],
  [
    'server token cannot read events',
    403,
    'aliceServerX',
    'GET /api/users/progress/events/alice/x',
    undefined,
  ],
  [
    'user token reads own events',
    200,
    'aliceUser',
    'GET /api/users/progress/events/alice/x',
    undefined,
  ],
  [
    'user token reads bob events',
    403,
    'aliceUser',
    'GET /api/users/progress/events/bob/x',
    undefined,
  ],
  [
    'user token posts to any own server',
    204,
    'aliceUser',
    'POST /api/users/progress/events/alice/x',
    event,
  ],
  ['identify-only token', 403, 'aliceIdentify', 'POST /api/users/progress/events/alice/x', event],
  ['user token lists servers', 403, 'aliceUser', 'GET /api/servers', undefined],
  ['outpost service lists servers', 200, 'outpost', 'GET /api/servers', undefined],
  [
    'outpost service posts events for anyone',
    204,
    'outpost',
    'POST /api/users/progress/events/bob/x',
    event,
  ],
  [
    'outpost service cannot restart nodes',
    403,
    'outpost',
    'GET /api/recreateforward/hpc',
    undefined,
  ],
  [
    'node service restarts a node',
    202,
    'node-automation',
    'GET /api/recreateforward/hpc',
    undefined,
  ],
  ['node service cannot list servers', 403, 'node-automation', 'GET /api/servers', undefined],
  [
    'spawner service (servers) creates',
    201,
    'spawner',
    'PUT /api/forwardedservers/bob/y',
    { userId: 2, startId: 's1' },
  ],
  [
    'spawner service (servers) deletes',
    204,
    'spawner',
    'DELETE /api/forwardedservers/bob/y',
    undefined,
  ],
  [
    'user token cannot create',
    403,
    'aliceUser',
    'PUT /api/forwardedservers/alice/z',
    { userId: 5, startId: 's1' },
  ],
])('%s → %i', async (_name, status, who, route, body) => {
  const [method, path] = route.split(' ') as [string, string];
  const res = await call(method, path, tokens[who], body);
  expect(res.status).toBe(status);
  if (status === 403) expect(res.json.message).toMatch(/requires any of/);
});

it('refuses a token the hub does not know, and one revoked at the hub', async () => {
  expect(
    (await call('POST', '/api/users/progress/events/alice/x', 'f'.repeat(32), event)).json,
  ).toEqual({ status: 403, message: 'Missing or invalid credentials.' });
  expect(
    (await call('POST', '/api/users/progress/events/alice/x', tokens.revoked, event)).status,
  ).toBe(204);
  const who = (await fetch(`${hub.apiUrl}/user`, {
    headers: { Authorization: `token ${tokens.revoked}` },
  }).then((r) => r.json())) as { token_id: string };
  await hub.api('DELETE', `/users/alice/tokens/${who.token_id}`);
  expect(
    (await call('POST', '/api/users/progress/events/alice/x', tokens.revoked, event)).status,
  ).toBe(403);
});

it('answers 503, not 403, while the hub is down; static tokens keep working', async () => {
  await hub.stop();
  const res = await call('POST', '/api/users/progress/events/alice/x', tokens.aliceServerX, event);
  expect(res.status).toBe(503);
  expect(res.json.message).toMatch(/JupyterHub is unreachable/);
  expect((await call('GET', '/api/forwardedservers/alice/x', STATIC_HUB)).status).toBe(200);
});
