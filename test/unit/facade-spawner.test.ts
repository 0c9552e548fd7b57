// The spawner's endpoints (contract 0001 E) in-process over a MemoryStore.
import { auth, jumpNode, makeHarness, putServer, TOKENS, type Harness } from './facade-helpers.js';

let h: Harness;
beforeEach(async () => {
  h = await makeHarness();
  h.store.putJumpNode(jumpNode('hpc-login', ['hpc']));
});
afterEach(() => h.close());

const URL = '/api/forwardedservers/alice/x';
const put = (payload: unknown, url = URL, token: string = TOKENS.hub) =>
  h.app.inject({ method: 'PUT', url, headers: auth(token), payload: payload as string });
const get = (url = URL, token: string = TOKENS.hub) =>
  h.app.inject({ method: 'GET', url, headers: auth(token) });
const postEvent = (payload: unknown) =>
  h.app.inject({
    method: 'POST',
    url: '/api/users/progress/events/alice/x',
    headers: auth(TOKENS.aliceServer),
    payload: payload as string,
  });

describe('PUT /api/forwardedservers', () => {
  it('creates (201) with the derived name, labels and resolved JumpNode, then replaces (200)', async () => {
    const body = {
      userId: 3,
      startId: 's1',
      jumpNode: 'hpc',
      servicePort: 8080,
      labels: { app: 'jupyterhub' },
      target: { host: 'n1', port: 9 },
    };
    const res = await put(body);
    expect(res.statusCode).toBe(201);
    expect(res.json()).toMatchObject({
      name: 'jupyter-alice--x',
      namespace: 'ns',
      user: 'alice',
      userId: 3,
      serverName: 'x',
      startId: 's1',
      phase: null,
      url: null,
      ready: false,
      active: true,
      events: [],
      eventsDropped: 0,
      terminalEvent: null,
    });
    const fs = (await h.store.get('jupyter-alice--x'))!;
    expect(fs.spec).toEqual({
      user: { name: 'alice', id: 3 },
      serverName: 'x',
      startId: 's1',
      cancelRequested: false,
      target: { host: 'n1', port: 9 },
      jumpNodeRef: { name: 'hpc-login' },
      service: { port: 8080, labels: { app: 'jupyterhub' } },
    });
    expect(fs.metadata.labels).toMatchObject({
      'hub.jupyter.org/username': 'alice',
      'hub.jupyter.org/servername': 'x',
      'forward.hub.jupyter.org/forwardedserver': 'jupyter-alice--x',
    });
    const again = await put({ ...body, target: { host: 'n2', port: 10 } });
    expect(again.statusCode).toBe(200);
    expect((await h.store.get('jupyter-alice--x'))!.spec.target).toEqual({ host: 'n2', port: 10 });
  });

  it('same startId keeps events and cancel; a new startId resets both', async () => {
    await put({ userId: 1, startId: 's1' });
    await postEvent({ progress: 10 });
    await postEvent({ failed: true, message: 'stop' });
    expect((await put({ userId: 1, startId: 's1' })).json()).toMatchObject({
      events: [{ progress: 10 }],
      cancelRequested: true,
      terminalEvent: { failed: true },
    });
    const res = await put({ userId: 1, startId: 's2' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      startId: 's2',
      events: [],
      eventsDropped: 0,
      terminalEvent: null,
      cancelRequested: false,
      active: true,
    });
  });

  it('replaces an object left by an earlier hub user with the same name', async () => {
    await put({ userId: 1, startId: 's1' });
    const res = await put({ userId: 2, startId: 's9' });
    expect(res.statusCode).toBe(201);
    expect((await h.store.get('jupyter-alice--x'))!.spec.user).toEqual({ name: 'alice', id: 2 });
  });

  it.each<[string, unknown, RegExp]>([
    ['missing startId', { userId: 1 }, /startId/],
    ['negative userId', { userId: -1, startId: 's' }, /userId/],
    ['userId as a string', { userId: '1', startId: 's' }, /userId must be integer/],
    [
      'an unknown field',
      { userId: 1, startId: 's', sshKey: 'x' },
      /must NOT have additional properties/,
    ],
    ['a bad startId', { userId: 1, startId: '../x' }, /startId/],
    ['a target without port', { userId: 1, startId: 's', target: { host: 'h' } }, /port/],
    ['an unknown JumpNode', { userId: 1, startId: 's', jumpNode: 'nowhere' }, /No JumpNode/],
  ])('refuses %s with 400', async (_n, payload, message) => {
    const res = await put(payload);
    expect(res.statusCode).toBe(400);
    expect(res.json().message).toMatch(message);
  });

  it('needs the servers scope for that user', async () => {
    expect((await put({ userId: 1, startId: 's' }, URL, TOKENS.aliceUser)).statusCode).toBe(403);
    expect((await put({ userId: 1, startId: 's' }, URL, TOKENS.outpost)).statusCode).toBe(403);
  });
});

describe('PATCH /api/forwardedservers (the target of a start, set once)', () => {
  const patch = (payload: unknown, url = URL, token: string = TOKENS.hub) =>
    h.app.inject({ method: 'PATCH', url, headers: auth(token), payload: payload as string });
  const spec = async () => (await h.store.get('jupyter-alice--x'))!.spec;
  const target = { host: 'node042.hpc.example.org', port: 43127 };

  beforeEach(async () => {
    h.store.putJumpNode(jumpNode('other'));
    await putServer(h, 'alice', 'x');
  });

  it('sets the target and the JumpNode of a server without one (200, the server view)', async () => {
    const res = await patch({ startId: 'start1', target, jumpNode: 'hpc' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ name: 'jupyter-alice--x', startId: 'start1', active: true });
    expect(await spec()).toMatchObject({ target, jumpNodeRef: { name: 'hpc-login' } });
  });

  it('keeps a target already set (200 either way) and a JumpNode already set', async () => {
    await put({ userId: 1, startId: 'start1', jumpNode: 'other' });
    expect((await patch({ startId: 'start1', target, jumpNode: 'hpc' })).statusCode).toBe(200);
    expect(await spec()).toMatchObject({ target, jumpNodeRef: { name: 'other' } });
    const again = await patch({ startId: 'start1', target: { host: 'elsewhere', port: 1 } });
    expect(again.statusCode).toBe(200);
    expect((await spec()).target).toEqual(target);
  });

  it('concurrent PATCHes of one start: exactly one target wins', async () => {
    const hosts = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6'];
    const answers = await Promise.all(
      hosts.map((host) => patch({ startId: 'start1', target: { host, port: 9 } })),
    );
    expect(answers.map((r) => r.statusCode)).toEqual(hosts.map(() => 200));
    const won = (await spec()).target!;
    expect(hosts).toContain(won.host);
  });

  it('leaves a stopping server as it is (200)', async () => {
    await h.app.inject({ method: 'POST', url: `${URL}/cancel`, headers: auth(TOKENS.hub) });
    const res = await patch({ startId: 'start1', target });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ cancelRequested: true, active: false });
    expect((await spec()).target).toBeUndefined();
  });

  it.each<[string, unknown, string, number, RegExp]>([
    ['another start', { startId: 'other', target }, URL, 409, /not the current start/],
    [
      'an unknown server',
      { startId: 'start1', target },
      '/api/forwardedservers/alice/zzz',
      404,
      /No server 'zzz'/,
    ],
    ['no target', { startId: 'start1' }, URL, 400, /target/],
    ['no startId', { target }, URL, 400, /startId/],
    [
      'an unknown field',
      { startId: 'start1', target, userId: 2 },
      URL,
      400,
      /additional properties/,
    ],
    [
      'a port out of range',
      { startId: 'start1', target: { host: 'h', port: 0 } },
      URL,
      400,
      /port/,
    ],
    [
      'a host that is no host',
      { startId: 'start1', target: { host: 'h;id', port: 1 } },
      URL,
      400,
      /spec.target.host: must be a DNS name or an IP address/,
    ],
    [
      'an unknown JumpNode',
      { startId: 'start1', target, jumpNode: 'nowhere' },
      URL,
      400,
      /No JumpNode/,
    ],
  ])('refuses %s', async (_name, payload, url, status, message) => {
    const before = await spec();
    const res = await patch(payload, url);
    expect(res.statusCode).toBe(status);
    expect(res.json()).toEqual({ status, message: expect.stringMatching(message) });
    expect(await spec()).toEqual(before);
  });

  it('needs the servers scope for that user', async () => {
    expect((await patch({ startId: 'start1', target }, URL, TOKENS.aliceUser)).statusCode).toBe(
      403,
    );
    expect((await patch({ startId: 'start1', target }, URL, TOKENS.aliceServer)).statusCode).toBe(
      403,
    );
    expect((await spec()).target).toBeUndefined();
  });
});

describe('GET, long-poll, cancel, delete', () => {
  beforeEach(() => putServer(h, 'alice', 'x'));

  it('GET returns the view; 404 for an unknown server', async () => {
    expect((await get()).json()).toMatchObject({ name: 'jupyter-alice--x', startId: 'start1' });
    expect((await get('/api/forwardedservers/alice/zzz')).statusCode).toBe(404);
    expect((await get(URL, TOKENS.aliceUser)).statusCode).toBe(200);
    expect((await get(URL, TOKENS.aliceServer)).statusCode).toBe(403);
  });

  it('long-poll returns as soon as a new event arrives', async () => {
    const waiting = get(`${URL}?after=0&wait=30`);
    await new Promise((r) => setTimeout(r, 20));
    expect((await postEvent({ progress: 40, message: 'm' })).statusCode).toBe(204);
    const res = await waiting;
    expect(res.statusCode).toBe(200);
    expect(res.json().events).toEqual([{ progress: 40, message: 'm', html_message: 'm' }]);
  });

  it('long-poll returns on a phase change, and after the wait with nothing new', async () => {
    const waiting = get(`${URL}?after=0&wait=30`);
    await new Promise((r) => setTimeout(r, 20));
    h.store.setStatus('jupyter-alice--x', {
      phase: 'Ready',
      url: 'http://jupyter-alice--x.ns.svc:8888',
    });
    expect((await waiting).json()).toMatchObject({
      phase: 'Ready',
      ready: true,
      url: 'http://jupyter-alice--x.ns.svc:8888',
    });
    const idle = get(`${URL}?after=5&wait=2`);
    await new Promise((r) => setTimeout(r, 20));
    h.clock.advance(2000);
    expect((await idle).statusCode).toBe(200);
  });

  it('refuses a wait above 60 s', async () => {
    const res = await get(`${URL}?after=0&wait=61`);
    expect(res.statusCode).toBe(400);
  });

  it('a named server called "progress" is an ordinary server (no stream shadows its path)', async () => {
    await putServer(h, 'alice', 'progress');
    const res = await get('/api/forwardedservers/alice/progress');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ name: 'jupyter-alice--progress', serverName: 'progress' });
  });

  it('cancel is 202 and idempotent; a stale start_id is 409', async () => {
    const cancel = (q = '') =>
      h.app.inject({ method: 'POST', url: `${URL}/cancel${q}`, headers: auth(TOKENS.hub) });
    expect((await cancel('?start_id=other')).statusCode).toBe(409);
    expect((await cancel()).statusCode).toBe(202);
    expect((await cancel('?start_id=start1')).statusCode).toBe(202);
    expect((await h.store.get('jupyter-alice--x'))!.spec.cancelRequested).toBe(true);
  });

  it('delete is 204, then 404', async () => {
    const del = () => h.app.inject({ method: 'DELETE', url: URL, headers: auth(TOKENS.hub) });
    expect((await del()).statusCode).toBe(204);
    expect(await h.store.get('jupyter-alice--x')).toBeUndefined();
    expect((await del()).statusCode).toBe(404);
  });

  it('closing the app ends open long-polls', async () => {
    const waiting = get(`${URL}?after=0&wait=60`);
    await new Promise((r) => setTimeout(r, 20));
    await h.app.close();
    expect((await waiting).statusCode).toBe(200);
  });
});

describe('operations endpoints', () => {
  it('serves healthz and readyz without a token; metrics need read:metrics, OpenAPI a valid token', async () => {
    expect((await h.app.inject({ url: '/healthz' })).json()).toEqual({ status: 'ok' });
    expect((await h.app.inject({ url: '/readyz' })).statusCode).toBe(200);
    for (const url of ['/metrics', '/openapi.json']) {
      const anonymous = await h.app.inject({ url });
      expect(anonymous.statusCode).toBe(403);
      expect(anonymous.body).not.toContain('jfo_facade_');
    }
    const denied = await h.app.inject({ url: '/metrics', headers: auth(TOKENS.hub) });
    expect(denied.json()).toEqual({
      status: 403,
      message: expect.stringMatching(/requires any of \[read:metrics\]/),
    });
    const metrics = await h.app.inject({ url: '/metrics', headers: auth(TOKENS.prometheus) });
    expect(metrics.body).toContain('jfo_facade_http_requests_total');
    const doc = (
      await h.app.inject({ url: '/openapi.json', headers: auth(TOKENS.nothing) })
    ).json();
    expect(doc.openapi).toBe('3.0.3');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/api/users/progress/events/{user}/{server}',
        '/api/users/setuptunnel/{user}',
        '/api/servers',
        '/api/recreateforward/{node}',
        '/api/forwardedservers/{user}/{server}',
      ]),
    );
    expect(Object.keys(doc.paths)).not.toContain('/api/forwardedservers/{user}/{server}/progress');
    expect(doc.paths['/api/forwardedservers/{user}'].patch.requestBody).toBeDefined();
  });
});
