// The facade against the real API server, running as its least-privilege ServiceAccount: what
// each endpoint writes to and reads from the ForwardedServer and JumpNode resources.
import * as k8s from '@kubernetes/client-node';
import { API_VERSION, RESTARTED_AT_ANNOTATION, type ForwardedServer } from '../../src/api/types.js';
import { makeClients, type Clients } from '../../src/kube/client.js';
import { FIELD_MANAGER } from '../../src/names.js';
import { clusterInfo, createNamespace, kubeConfig } from '../harness/cluster.js';
import { kubectl } from '../harness/kubectl.js';
import { client, facadeKubeConfig, startTestFacade, type TestFacade } from './facade-cluster.js';

const T = {
  hub: 'hub-token-0123456789abcdef',
  outpost: 'outpost-token-0123456789abcdef',
  node: 'node-token-0123456789abcdef',
  alice: 'alice-server-token-0123456789',
};
const TOKENS = `
hub: {token: ${T.hub}, scopes: [servers, access:servers, custom:servers:list]}
outpost: {token: ${T.outpost}, scopes: [access:servers, custom:servers:list]}
node: {token: ${T.node}, scopes: ["custom:sshnode:restart"]}
alice: {token: ${T.alice}, scopes: ["access:servers!server=alice/x"]}
`;

const info = clusterInfo();
const admin = kubeConfig(info, 'admin');
let ns: { name: string; cleanup: () => Promise<void> };
let clients: Clients;
let facade: TestFacade;
let call: ReturnType<typeof client>;

beforeAll(async () => {
  ns = await createNamespace(admin, 'facade');
  clients = makeClients(admin);
  const kc = await facadeKubeConfig(info, ns.name);
  facade = await startTestFacade(kc, ns.name, TOKENS, { JFO_EVENTS_MAX_COUNT: '200' });
  call = client(facade.url);
  await kubectl(info, ['-n', ns.name, 'apply', '-f', 'manifests/samples/jumpnode.yaml']);
}, 60_000);
afterAll(async () => {
  await facade?.close();
  await ns?.cleanup();
});

const fs = (name: string) => clients.forwardedServers.get(ns.name, name);
const put = (user: string, server: string, body: Record<string, unknown>) =>
  call('PUT', `/api/forwardedservers/${user}${server ? `/${server}` : ''}`, T.hub, body);

describe('spawner endpoints write ForwardedServers', () => {
  it('PUT creates the resource the operator reconciles, kubectl sees it', async () => {
    const res = await put('alice', 'x', {
      userId: 3,
      startId: 'a1',
      jumpNode: 'hpc',
      servicePort: 8888,
    });
    expect(res.status).toBe(201);
    const out = await kubectl(info, [
      '-n',
      ns.name,
      'get',
      'forwardedserver',
      'jupyter-alice--x',
      '-o',
      'json',
    ]);
    const obj = JSON.parse(out) as ForwardedServer;
    expect(obj.spec).toEqual({
      user: { name: 'alice', id: 3 },
      serverName: 'x',
      startId: 'a1',
      cancelRequested: false,
      jumpNodeRef: { name: 'hpc-login' },
      service: { port: 8888 },
    });
    expect(obj.metadata.labels).toMatchObject({
      'hub.jupyter.org/username': 'alice',
      'app.kubernetes.io/component': 'singleuser-server',
    });
  });

  it('maps the API server’s validation to 400 with its message', async () => {
    const res = await put('alice', 'bad', {
      userId: 3,
      startId: 'a1',
      target: { host: 'no such host!', port: 1 },
    });
    expect(res.status).toBe(400);
    expect(res.json.message).toMatch(/spec.target.host.*must be a DNS name or an IP address/);
  });

  it('GET long-polls on the informer and wakes on a new event', async () => {
    const waiting = call('GET', '/api/forwardedservers/alice/x?after=0&wait=20', T.hub);
    await new Promise((r) => setTimeout(r, 100));
    expect(
      (
        await call('POST', '/api/users/progress/events/alice/x', T.alice, {
          progress: 5,
          message: 'queued',
        })
      ).status,
    ).toBe(204);
    const res = await waiting;
    expect(res.status).toBe(200);
    expect(res.json.events).toEqual([{ progress: 5, message: 'queued', html_message: 'queued' }]);
  });
});

describe('events are stored in status by the facade’s field manager, next to the operator’s fields', () => {
  it('keeps operator-owned status and writes only its own fields', async () => {
    await clients.forwardedServers.applyStatus(
      ns.name,
      'jupyter-alice--x',
      API_VERSION,
      'ForwardedServer',
      { phase: 'WaitingForTarget' },
      FIELD_MANAGER,
    );
    const res = await call('POST', '/api/users/progress/events/alice/x', T.alice, {
      progress: 20,
      html_message:
        '<details><summary>Queued</summary><script>alert(1)</script><img src=x onerror=alert(1)>job 7</details>',
    });
    expect(res.status).toBe(204);
    const obj = await fs('jupyter-alice--x');
    expect(obj.status!.phase).toBe('WaitingForTarget');
    const last = obj.status!.events!.at(-1)!;
    expect(last.html_message).toMatch(
      /^<details><summary>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}: Queued<\/summary>job 7<\/details>$/,
    );
    const managers = (
      obj.metadata as {
        managedFields?: { manager: string; subresource?: string; fieldsV1?: object }[];
      }
    ).managedFields!;
    const facadeFields = managers.find(
      (m) => m.manager === 'jupyterhub-forward-facade' && m.subresource === 'status',
    );
    expect(JSON.stringify(facadeFields!.fieldsV1)).toContain('f:events');
    expect(JSON.stringify(facadeFields!.fieldsV1)).not.toContain('f:phase');
  });

  it.each<[string, string, string | undefined, unknown, number, RegExp | undefined]>([
    ['empty body', 'alice/x', T.alice, undefined, 400, /empty body/],
    ['invalid JSON', 'alice/x', T.alice, '{"progress"', 400, /invalid JSON/],
    ['non-object JSON', 'alice/x', T.alice, '["x"]', 400, /JSON object/],
    ['unknown server', 'alice/zzz', T.hub, { progress: 1 }, 404, /No server 'zzz'/],
    ['no token', 'alice/x', undefined, { progress: 1 }, 403, /Missing or invalid credentials/],
    ['server token of alice/x on bob/x', 'bob/x', T.alice, { progress: 1 }, 403, /access:servers/],
    [
      'stale start_id',
      'alice/x?start_id=zz',
      T.alice,
      { progress: 1 },
      409,
      /not the current start/,
    ],
    ['failed: "false"', 'alice/x', T.alice, { failed: 'false' }, 400, /failed must be boolean/],
  ])('refuses %s', async (_n, path, token, body, status, message) => {
    const before = (await fs('jupyter-alice--x')).status!.events!.length;
    const res = await call(
      'POST',
      `/api/users/progress/events/${path}`,
      token,
      body,
      typeof body === 'string' ? { 'Content-Type': 'application/json' } : {},
    );
    expect(res.status).toBe(status);
    expect(res.json).toEqual({ status, message: expect.stringMatching(message!) });
    expect((await fs('jupyter-alice--x')).status!.events!.length).toBe(before);
  });

  it('answers 413 to a 2 MB body', async () => {
    const res = await call('POST', '/api/users/progress/events/alice/x', T.alice, {
      message: 'x'.repeat(2 * 1024 * 1024),
    });
    expect(res.status).toBe(413);
    expect(res.json.status).toBe(413);
  });

  it('1000 events for one server: the CR stays small and keeps the newest', async () => {
    await put('carol', 'many', { userId: 9, startId: 'c1' });
    for (let i = 0; i < 1000; i += 50)
      await Promise.all(
        Array.from({ length: 50 }, (_, j) =>
          call('POST', '/api/users/progress/events/carol/many', T.outpost, {
            progress: (i + j) % 101,
            html_message: `<details><summary>event ${i + j}</summary>${'log line '.repeat(20)}</details>`,
          }),
        ),
      );
    const out = await kubectl(info, [
      '-n',
      ns.name,
      'get',
      'forwardedserver',
      serverName('carol', 'many'),
      '-o',
      'json',
    ]);
    const obj = JSON.parse(out) as ForwardedServer;
    expect(out.length).toBeLessThan(200 * 1024);
    expect(obj.status!.eventsDropped! + obj.status!.events!.length).toBe(1000);
    const numbers = obj.status!.events!.map((e) => Number(/event (\d+)/.exec(e.html_message!)![1]));
    expect(Math.max(...numbers)).toBe(999);
    expect(numbers.length).toBeLessThanOrEqual(200);
  }, 120_000);

  it('200 concurrent posts to one server, through two facade replicas: all stored, none lost', async () => {
    const second = await startTestFacade(await facadeKubeConfig(info, ns.name), ns.name, TOKENS, {
      JFO_EVENTS_MAX_COUNT: '200',
    });
    try {
      await put('dave', 'race', { userId: 11, startId: 'd1' });
      const other = client(second.url);
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          (i % 2 ? call : other)('POST', '/api/users/progress/events/dave/race', T.outpost, {
            message: `m${i}`,
          }),
        ),
      );
      expect(results.map((r) => r.status)).toEqual(Array(200).fill(204));
      const stored = (await fs(serverName('dave', 'race'))).status!;
      expect(stored.eventsDropped ?? 0).toBe(0);
      expect(new Set(stored.events!.map((e) => e.message))).toEqual(
        new Set(Array.from({ length: 200 }, (_, i) => `m${i}`)),
      );
      const metrics = await (await fetch(`${facade.url}/metrics`)).text();
      process.stderr.write(
        `write conflicts seen by replica 1: ${/jfo_facade_write_conflicts_total\{operation="events"\} (\d+)/.exec(metrics)?.[1] ?? 0}\n`,
      );
    } finally {
      await second.close();
    }
  }, 60_000);

  it('a failed event cancels the start: spec.cancelRequested, status.terminalEvent; later posts are 204 and not stored', async () => {
    await put('erin', 'c', { userId: 12, startId: 'e1' });
    const post = (body: unknown) =>
      call('POST', '/api/users/progress/events/erin/c', T.outpost, body);
    expect((await post({ progress: 50, message: 'half' })).status).toBe(204);
    expect(
      (
        await post({
          failed: true,
          progress: 100,
          html_message: '<details><summary>Cancelled by user</summary></details>',
        })
      ).status,
    ).toBe(204);
    expect((await post({ progress: 60, message: 'late' })).status).toBe(204);
    const obj = await fs(serverName('erin', 'c'));
    expect(obj.spec.cancelRequested).toBe(true);
    expect(obj.status!.events!.map((e) => e.message)).toEqual(['half']);
    expect(obj.status!.terminalEvent).toMatchObject({ failed: true, progress: 100 });
    // A new start resets events and cancel state.
    const res = await put('erin', 'c', { userId: 12, startId: 'e2' });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({
      startId: 'e2',
      cancelRequested: false,
      events: [],
      terminalEvent: null,
    });
    const again = await fs(serverName('erin', 'c'));
    expect(again.spec.cancelRequested).toBe(false);
    expect(again.status?.events ?? []).toEqual([]);
    expect(again.status?.terminalEvent).toBeUndefined();
  });
});

function serverName(user: string, server: string) {
  return server ? `jupyter-${user}--${server}` : `jupyter-${user}`;
}

describe('setuptunnel, servers, recreateforward, cancel, delete', () => {
  it('setuptunnel sets spec.target and the JumpNode (by alias); refuses ssh options, keys and users', async () => {
    await put('frank', 'nb', { userId: 13, startId: 'f1' });
    const tunnel = (body: unknown, token = T.outpost) =>
      call('POST', '/api/users/setuptunnel/frank/nb', token, body);
    expect(
      (
        await tunnel({
          service: 'http://node042.hpc.example.org:43127',
          ssh_node: 'hpc-login.example.org',
          start_id: 'f1',
        })
      ).status,
    ).toBe(204);
    expect((await fs(serverName('frank', 'nb'))).spec).toMatchObject({
      target: { host: 'node042.hpc.example.org', port: 43127 },
      jumpNodeRef: { name: 'hpc-login' },
    });
    for (const bad of [
      { service: 'h:1', ssh_forward_options: { ProxyCommand: 'touch /tmp/pwned' } },
      { service: 'h:1', ssh_key: '/etc/shadow' },
      { service: 'h:1', ssh_username: 'root' },
    ]) {
      const res = await tunnel(bad);
      expect(res.status).toBe(400);
      expect(res.json.message).toMatch(/Refused field/);
    }
    const v6 = await tunnel({ service: '[::::]:80' });
    expect(v6.status).toBe(400);
    expect(v6.json.message).toMatch(/target.host/);
    expect((await fs(serverName('frank', 'nb'))).spec.target).toEqual({
      host: 'node042.hpc.example.org',
      port: 43127,
    });
  });

  it('GET /api/servers lists running and pending servers; cancel removes one from the list', async () => {
    const before = (await call('GET', '/api/servers', T.outpost)).json as string[];
    expect(before).toEqual(expect.arrayContaining(['3_x_a1', '13_nb_f1']));
    expect((await call('POST', '/api/forwardedservers/frank/nb/cancel', T.hub)).status).toBe(202);
    expect((await fs(serverName('frank', 'nb'))).spec.cancelRequested).toBe(true);
    await new Promise((r) => setTimeout(r, 300)); // the list is served from the watch cache
    const after = (await call('GET', '/api/servers', T.outpost)).json as string[];
    expect(after).not.toContain('13_nb_f1');
    expect(after).toContain('3_x_a1');
    expect((await call('GET', '/api/servers', T.alice)).status).toBe(403);
  });

  it('recreateforward annotates the JumpNode found by alias', async () => {
    const res = await call('GET', '/api/recreateforward/hpc', T.node);
    expect(res.status).toBe(202);
    const node = await clients.jumpNodes.get(ns.name, 'hpc-login');
    expect(node.metadata.annotations![RESTARTED_AT_ANNOTATION]).toBe(res.json.restartedAt);
    expect((await call('GET', '/api/recreateforward/unknown-node', T.node)).status).toBe(404);
  });

  it('PATCH sets the target of a start once, with a JumpNode created a moment before', async () => {
    await clients.jumpNodes.create(ns.name, {
      apiVersion: API_VERSION,
      kind: 'JumpNode',
      metadata: { name: 'late-login' },
      spec: {
        host: 'late.example.org',
        username: 'tunnel',
        privateKeySecretRef: { name: 'late-ssh' },
        insecureSkipHostKeyCheck: true,
        aliases: ['late'],
      },
    });
    expect((await put('gina', 'nb', { userId: 7, startId: 'p1' })).status).toBe(201);
    const target = { host: 'node007.hpc.example.org', port: 40001 };
    const path = '/api/forwardedservers/gina/nb';
    const first = await call('PATCH', path, T.hub, { startId: 'p1', target, jumpNode: 'late' });
    expect(first.status).toBe(200);
    expect(first.json).toMatchObject({ name: serverName('gina', 'nb'), startId: 'p1' });
    expect((await fs(serverName('gina', 'nb'))).spec).toMatchObject({
      target,
      jumpNodeRef: { name: 'late-login' },
    });
    const again = await call('PATCH', path, T.hub, {
      startId: 'p1',
      target: { host: 'elsewhere', port: 1 },
    });
    expect(again.status).toBe(200);
    expect((await fs(serverName('gina', 'nb'))).spec.target).toEqual(target);
    const stale = await call('PATCH', path, T.hub, { startId: 'p0', target });
    expect(stale.status).toBe(409);
    expect(
      (await call('PATCH', '/api/forwardedservers/gina/none', T.hub, { startId: 'p1', target }))
        .status,
    ).toBe(404);
  });

  it('DELETE removes the ForwardedServer (204), then 404', async () => {
    expect((await call('DELETE', '/api/forwardedservers/frank/nb', T.hub)).status).toBe(204);
    await expect(fs(serverName('frank', 'nb'))).rejects.toThrow();
    expect((await call('DELETE', '/api/forwardedservers/frank/nb', T.hub)).status).toBe(404);
  });

  it('the facade’s ServiceAccount cannot read Secrets', async () => {
    const kc = await facadeKubeConfig(info, ns.name);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    await expect(core.listNamespacedSecret({ namespace: ns.name })).rejects.toMatchObject({
      code: 403,
    });
  });
});
