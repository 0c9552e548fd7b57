// The facade's HTTP behaviour in-process (inject) over a MemoryStore: every endpoint's success
// and error cases. The same behaviour against the real API server: test/integration/facade-api.
import { RESTARTED_AT_ANNOTATION } from '../../src/api/types.js';
import { StoreError } from '../../src/facade/errors.js';
import { auth, jumpNode, makeHarness, putServer, TOKENS, type Harness } from './facade-helpers.js';

let h: Harness;
beforeEach(async () => {
  h = await makeHarness();
});
afterEach(() => h.close());

const EVENTS = '/api/users/progress/events/alice/x';
const TUNNEL = '/api/users/setuptunnel/alice/x';

type Req = {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  url: string;
  token?: string;
  payload?: unknown;
  headers?: Record<string, string>;
};
const send = (r: Req) =>
  h.app.inject({
    method: r.method,
    url: r.url,
    headers: { ...(r.token ? auth(r.token) : {}), ...r.headers },
    payload: r.payload as string,
  });

describe('errors are JupyterHub-shaped JSON', () => {
  beforeEach(() => putServer(h, 'alice', 'x'));

  it.each<[string, Req, number, RegExp]>([
    [
      'no token',
      { method: 'POST', url: EVENTS, payload: { progress: 1 } },
      403,
      /Missing or invalid credentials/,
    ],
    [
      'unknown token',
      { method: 'POST', url: EVENTS, token: 'x'.repeat(30), payload: { progress: 1 } },
      403,
      /Missing or invalid credentials/,
    ],
    [
      'wrong scope',
      { method: 'POST', url: EVENTS, token: TOKENS.nothing, payload: { progress: 1 } },
      403,
      /requires any of \[access:servers\]/,
    ],
    [
      "alice's server token on bob's server",
      {
        method: 'POST',
        url: '/api/users/progress/events/bob/x',
        token: TOKENS.aliceServer,
        payload: { progress: 1 },
      },
      403,
      /access:servers/,
    ],
    [
      "alice's server token on alice's other server",
      {
        method: 'POST',
        url: '/api/users/progress/events/alice/y',
        token: TOKENS.aliceServer,
        payload: { progress: 1 },
      },
      403,
      /access:servers/,
    ],
    [
      'server token reading events (needs read:servers)',
      { method: 'GET', url: EVENTS, token: TOKENS.aliceServer },
      403,
      /read:servers/,
    ],
    [
      'unknown server',
      {
        method: 'POST',
        url: '/api/users/progress/events/alice/nope',
        token: TOKENS.hub,
        payload: { progress: 1 },
      },
      404,
      /No server 'nope' of user 'alice'/,
    ],
    [
      'unknown user',
      { method: 'GET', url: '/api/users/progress/events/carol', token: TOKENS.hub },
      404,
      /default server of user 'carol'/,
    ],
    ['empty body', { method: 'POST', url: EVENTS, token: TOKENS.aliceServer }, 400, /empty body/],
    [
      'invalid JSON',
      {
        method: 'POST',
        url: EVENTS,
        token: TOKENS.aliceServer,
        payload: '{"progress": ',
        headers: { 'content-type': 'application/json' },
      },
      400,
      /invalid JSON/,
    ],
    [
      'non-object JSON (array)',
      {
        method: 'POST',
        url: EVENTS,
        token: TOKENS.aliceServer,
        payload: '[1]',
        headers: { 'content-type': 'application/json' },
      },
      400,
      /must be a JSON object/,
    ],
    [
      'non-object JSON (number)',
      {
        method: 'POST',
        url: EVENTS,
        token: TOKENS.aliceServer,
        payload: '7',
        headers: { 'content-type': 'application/json' },
      },
      400,
      /must be a JSON object/,
    ],
    [
      '{} (nothing to show)',
      { method: 'POST', url: EVENTS, token: TOKENS.aliceServer, payload: {} },
      400,
      /Bad Request/,
    ],
    [
      'failed: "false" (not a boolean)',
      { method: 'POST', url: EVENTS, token: TOKENS.aliceServer, payload: { failed: 'false' } },
      400,
      /failed must be boolean/,
    ],
    [
      'stale start_id (query)',
      {
        method: 'POST',
        url: `${EVENTS}?start_id=old`,
        token: TOKENS.aliceServer,
        payload: { progress: 1 },
      },
      409,
      /not the current start/,
    ],
    [
      'stale start_id (body)',
      {
        method: 'POST',
        url: EVENTS,
        token: TOKENS.aliceServer,
        payload: { progress: 1, start_id: 'old' },
      },
      409,
      /not the current start/,
    ],
    [
      'start_id query and body disagree',
      {
        method: 'POST',
        url: `${EVENTS}?start_id=start1`,
        token: TOKENS.aliceServer,
        payload: { progress: 1, start_id: 'x' },
      },
      400,
      /differ/,
    ],
    [
      'unknown route',
      { method: 'GET', url: '/api/nothing', token: TOKENS.hub },
      404,
      /Not found: GET \/api\/nothing/,
    ],
  ])('%s → %i', async (_name, req, status, message) => {
    const res = await send(req);
    expect(res.statusCode).toBe(status);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.json()).toEqual({ status, message: expect.stringMatching(message) });
  });

  it('answers 413 to a 2 MB body and stores nothing', async () => {
    const res = await send({
      method: 'POST',
      url: EVENTS,
      token: TOKENS.aliceServer,
      payload: JSON.stringify({ message: 'x'.repeat(2 * 1024 * 1024) }),
      headers: { 'content-type': 'application/json' },
    });
    expect(res.statusCode).toBe(413);
    expect(res.json()).toEqual({ status: 413, message: expect.any(String) });
    expect((await h.store.get('jupyter-alice--x'))!.status).toBeUndefined();
  });
});

describe('POST/GET progress events', () => {
  beforeEach(() => putServer(h, 'alice', 'x'));
  const events = async () => (await h.store.get('jupyter-alice--x'))!.status?.events ?? [];

  it('stores sanitised, timestamped events in order and serves them', async () => {
    for (const payload of [
      { progress: 10, message: 'Queued' },
      {
        progress: 50,
        html_message:
          '<details><summary>Starting</summary><script>alert(1)</script>node 7</details>',
      },
    ])
      expect(
        (await send({ method: 'POST', url: EVENTS, token: TOKENS.aliceServer, payload }))
          .statusCode,
      ).toBe(204);
    const stored = await events();
    expect(stored).toEqual([
      { progress: 10, message: 'Queued', html_message: 'Queued' },
      {
        progress: 50,
        html_message: expect.stringMatching(
          /^<details><summary>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}: Starting<\/summary>node 7<\/details>$/,
        ),
      },
    ]);
    const res = await send({ method: 'GET', url: EVENTS, token: TOKENS.aliceUser });
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-cache');
    expect(res.json()).toEqual({ events: stored, active: true, ready: false });
  });

  it('accepts bodies sent with a form or text content type (curl -d)', async () => {
    for (const type of ['application/x-www-form-urlencoded', 'text/plain'])
      expect(
        (
          await send({
            method: 'POST',
            url: EVENTS,
            token: TOKENS.aliceServer,
            payload: '{"progress": 5}',
            headers: { 'content-type': type },
          })
        ).statusCode,
      ).toBe(204);
    expect(await events()).toHaveLength(2);
  });

  it('the default server has its own path', async () => {
    await putServer(h, 'alice', '');
    const res = await send({
      method: 'POST',
      url: '/api/users/progress/events/alice',
      token: TOKENS.aliceUser,
      payload: { progress: 1 },
    });
    expect(res.statusCode).toBe(204);
    expect((await h.store.get('jupyter-alice'))!.status?.events).toHaveLength(1);
  });

  it('a failed event cancels the start: stored as terminal event, not appended; later events ignored (204)', async () => {
    await send({
      method: 'POST',
      url: EVENTS,
      token: TOKENS.aliceServer,
      payload: { progress: 20, message: 'a' },
    });
    const res = await send({
      method: 'POST',
      url: EVENTS,
      token: TOKENS.aliceServer,
      payload: {
        failed: true,
        progress: 100,
        html_message: '<details><summary>Cancelled by user</summary>bye</details>',
      },
    });
    expect(res.statusCode).toBe(204);
    const fs = (await h.store.get('jupyter-alice--x'))!;
    expect(fs.spec.cancelRequested).toBe(true);
    expect(fs.status!.events).toHaveLength(1);
    expect(fs.status!.terminalEvent).toMatchObject({
      failed: true,
      progress: 100,
      html_message: expect.stringContaining(': Cancelled by user</summary>bye'),
    });
    // stop pending: 204, nothing stored, also a second failed event
    for (const payload of [{ progress: 90 }, { failed: true, message: 'again' }])
      expect(
        (await send({ method: 'POST', url: EVENTS, token: TOKENS.aliceServer, payload }))
          .statusCode,
      ).toBe(204);
    const after = (await h.store.get('jupyter-alice--x'))!;
    expect(after.status!.events).toHaveLength(1);
    expect(after.status!.terminalEvent!.html_message).toContain('Cancelled by user');
    const view = await send({ method: 'GET', url: EVENTS, token: TOKENS.aliceUser });
    expect(view.json()).toMatchObject({ active: false, ready: false });
  });

  it('keeps 1000 events small: the newest 100 are kept and the rest counted', async () => {
    for (let i = 0; i < 1000; i++)
      await send({
        method: 'POST',
        url: EVENTS,
        token: TOKENS.aliceServer,
        payload: { progress: i % 100, message: `event ${i}` },
      });
    const fs = (await h.store.get('jupyter-alice--x'))!;
    expect(fs.status!.events).toHaveLength(100);
    expect(fs.status!.events![0]!.message).toBe('event 900');
    expect(fs.status!.events![99]!.message).toBe('event 999');
    expect(fs.status!.eventsDropped).toBe(900);
  }, 120_000); // 1000 sequential requests: longer than jest's default 5 s on a loaded machine

  it('a status write the API refuses fails only the request that caused it, without its text', async () => {
    const refused: number[] = [];
    h.store.refuseStatus = (status) => {
      if (!status.events.some((e) => e.message === 'poison')) return undefined;
      refused.push(status.events.length);
      return new StoreError('rejected', 'error decoding YAML: invalid UTF-8 in the request body');
    };
    const post = (message: string) =>
      send({ method: 'POST', url: EVENTS, token: TOKENS.aliceServer, payload: { message } });
    const answers = await Promise.all([
      ...['a', 'b', 'c', 'd', 'e'].map(post),
      post('poison'),
      ...['f', 'g', 'h', 'i', 'j'].map(post),
    ]);
    expect(answers.map((a) => a.statusCode)).toEqual([
      ...Array(5).fill(204),
      400,
      ...Array(5).fill(204),
    ]);
    expect(answers[5]!.json()).toEqual({
      status: 400,
      message: 'Bad Request: the Kubernetes API refused the request',
    });
    expect((await events()).map((e) => e.message).sort()).toEqual([...'abcdefghij']);
    expect(refused.length).toBeGreaterThan(0);
  });

  it.each<[string, StoreError, number, string]>([
    [
      'an unreachable API',
      new StoreError('unavailable', 'connect ECONNREFUSED 10.96.0.1:443'),
      503,
      'Kubernetes API unavailable, try again',
    ],
    [
      'endless conflicts',
      new StoreError(
        'conflict',
        'Operation cannot be fulfilled on forwardedservers.forward.hub.jupyter.org "jupyter-alice--x"',
      ),
      503,
      'Too many concurrent changes, try again',
    ],
    [
      'a vanished object',
      new StoreError(
        'notFound',
        'forwardedservers.forward.hub.jupyter.org "jupyter-alice--x" not found',
      ),
      404,
      'Not found',
    ],
  ])('%s: the client sees a fixed text, never the store’s', async (_n, err, status, message) => {
    h.store.beforeWrite = () => {
      throw err;
    };
    const res = await send({
      method: 'POST',
      url: EVENTS,
      token: TOKENS.aliceServer,
      payload: { progress: 1 },
    });
    expect(res.json()).toEqual({ status, message });
  });

  it('200 concurrent posts lose nothing, even when another writer interferes', async () => {
    await h.close();
    h = await makeHarness({ caps: { maxCount: 200, maxBytes: 1 << 20 } });
    await putServer(h, 'alice', 'x');
    let interfered = 0;
    h.store.beforeWrite = (op, name) => {
      // Another replica writes between our read and our write, five times.
      if (op === 'applyStatus' && interfered < 5) {
        interfered++;
        h.store.setStatus(name, { phase: 'Pending' });
      }
    };
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        send({
          method: 'POST',
          url: EVENTS,
          token: TOKENS.aliceServer,
          payload: { message: `e${i}` },
        }),
      ),
    );
    expect(results.map((r) => r.statusCode)).toEqual(Array(200).fill(204));
    const stored = (await h.store.get('jupyter-alice--x'))!.status!.events!.map((e) => e.message);
    expect(new Set(stored)).toEqual(new Set(Array.from({ length: 200 }, (_, i) => `e${i}`)));
    expect(interfered).toBe(5);
    // group commit: far fewer status writes than posts
    expect(h.store.writes).toBeLessThan(100);
  });
});

describe('POST setuptunnel', () => {
  beforeEach(async () => {
    h.store.putJumpNode(jumpNode('hpc-login', ['hpc', 'login.example.org']));
    h.store.putJumpNode(jumpNode('other'));
    await putServer(h, 'alice', 'x', { jumpNode: 'hpc' });
  });
  const spec = async () => (await h.store.get('jupyter-alice--x'))!.spec;

  it.each<[unknown, { host: string; port: number }, string]>([
    [{ service: 'node042:43127' }, { host: 'node042', port: 43127 }, 'hpc-login'],
    [
      { service: 'https://node042.hpc.example.org:8080/' },
      { host: 'node042.hpc.example.org', port: 8080 },
      'hpc-login',
    ],
    [
      { service: 'http://[fd00::7]:8888', ssh_node: 'other' },
      { host: 'fd00::7', port: 8888 },
      'other',
    ],
    [
      { service: '10.1.2.3:9000', ssh_node: 'login.example.org', start_id: 'start1' },
      { host: '10.1.2.3', port: 9000 },
      'hpc-login',
    ],
  ])('%j sets the target', async (payload, target, node) => {
    const res = await send({ method: 'POST', url: TUNNEL, token: TOKENS.aliceServer, payload });
    expect(res.statusCode).toBe(204);
    expect(await spec()).toMatchObject({ target, jumpNodeRef: { name: node } });
  });

  it.each<[string, unknown, number, RegExp]>([
    ['ssh_key', { service: 'h:1', ssh_key: '/etc/shadow' }, 400, /Refused field\(s\) ssh_key/],
    [
      'ssh_forward_options',
      { service: 'h:1', ssh_forward_options: { ProxyCommand: 'id' } },
      400,
      /ssh_forward_options/,
    ],
    [
      'ssh_username and ssh_port',
      { service: 'h:1', ssh_username: 'root', ssh_port: 2 },
      400,
      /ssh_username, ssh_port/,
    ],
    ['remote', { service: 'h:1', remote: {} }, 400, /remote/],
    ['an unknown field', { service: 'h:1', color: 'red' }, 400, /color/],
    ['no service', { ssh_node: 'hpc' }, 400, /service .* is required/],
    ['empty object', {}, 400, /service .* is required/],
    ['service with a shell payload', { service: 'h;id:1' }, 400, /service must be "host:port"/],
    ['service with a path', { service: 'http://h:1/x' }, 400, /service must be/],
    ['service without port', { service: 'node042' }, 400, /service must be/],
    ['port out of range', { service: 'h:70000' }, 400, /service must be/],
    [
      'unknown ssh_node',
      { service: 'h:1', ssh_node: 'nowhere' },
      400,
      /No JumpNode named or aliased "nowhere"/,
    ],
    ['stale start_id', { service: 'h:1', start_id: 'old' }, 409, /not the current start/],
  ])('refuses %s', async (_name, payload, status, message) => {
    const before = await spec();
    const res = await send({ method: 'POST', url: TUNNEL, token: TOKENS.aliceServer, payload });
    expect(res.statusCode).toBe(status);
    expect(res.json().message).toMatch(message);
    expect(await spec()).toEqual(before);
  });

  it('refuses a stopping server (400) and an unknown one (404)', async () => {
    await send({
      method: 'POST',
      url: EVENTS,
      token: TOKENS.aliceServer,
      payload: { failed: true },
    });
    const res = await send({
      method: 'POST',
      url: TUNNEL,
      token: TOKENS.aliceServer,
      payload: { service: 'h:1' },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().message).toMatch(/stopping/);
    expect(
      (
        await send({
          method: 'POST',
          url: '/api/users/setuptunnel/alice/y',
          token: TOKENS.hub,
          payload: { service: 'h:1' },
        })
      ).statusCode,
    ).toBe(404);
  });
});

describe('GET /api/servers and recreateforward', () => {
  it('lists running and pending servers as {userId}_{serverName}_{startId}, by user id', async () => {
    await putServer(h, 'bob', '', { userId: 7, startId: 'b1' });
    await putServer(h, 'alice', 'gpu', { userId: 3, startId: 'a1' });
    await putServer(h, 'carol', 'x', { userId: 9, startId: 'c1' });
    await h.app.inject({
      method: 'POST',
      url: '/api/forwardedservers/carol/x/cancel',
      headers: auth(TOKENS.hub),
    });
    const res = await send({ method: 'GET', url: '/api/servers', token: TOKENS.outpost });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual(['3_gpu_a1', '7__b1']);
    expect(
      (await send({ method: 'GET', url: '/api/servers', token: TOKENS.aliceUser })).statusCode,
    ).toBe(403);
    expect((await send({ method: 'GET', url: '/api/servers' })).statusCode).toBe(403);
  });

  it('annotates the JumpNode matched by name or alias (202), 404 for none, 403 without the scope', async () => {
    h.store.putJumpNode(jumpNode('hpc-login', ['hpc']));
    for (const method of ['GET', 'POST'] as const) {
      h.clock.advance(1000);
      const res = await send({ method, url: '/api/recreateforward/hpc', token: TOKENS.node });
      expect(res.statusCode).toBe(202);
      const restartedAt = new Date(h.clock.now()).toISOString();
      expect(res.json()).toEqual({ jumpNodes: ['hpc-login'], restartedAt });
      const node = (await h.store.jumpNodes())[0]!;
      expect(node.metadata.annotations).toEqual({ [RESTARTED_AT_ANNOTATION]: restartedAt });
    }
    expect(
      (await send({ method: 'GET', url: '/api/recreateforward/nope', token: TOKENS.node }))
        .statusCode,
    ).toBe(404);
    expect(
      (await send({ method: 'GET', url: '/api/recreateforward/hpc', token: TOKENS.hub }))
        .statusCode,
    ).toBe(403);
  });
});
