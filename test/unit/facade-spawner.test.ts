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

describe('GET, long-poll, progress stream, cancel, delete', () => {
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

  it('streams progress as text/event-stream and ends with the terminal event', async () => {
    await postEvent({ progress: 10, message: 'one' });
    await postEvent({ progress: 20, message: 'two' });
    const streaming = h.app.inject({
      method: 'GET',
      url: `${URL}/progress`,
      headers: auth(TOKENS.hub),
    });
    await new Promise((r) => setTimeout(r, 20));
    await postEvent({ progress: 30, message: 'three' });
    await postEvent({ failed: true, progress: 100, message: 'gone' });
    const res = await streaming;
    expect(res.headers['content-type']).toBe('text/event-stream');
    const messages = res.body.split('\n\n').filter(Boolean);
    expect(messages).toEqual([
      'id: 1\ndata: {"progress":10,"message":"one","html_message":"one"}',
      'id: 2\ndata: {"progress":20,"message":"two","html_message":"two"}',
      'id: 3\ndata: {"progress":30,"message":"three","html_message":"three"}',
      'data: {"progress":100,"message":"gone","failed":true,"html_message":"gone"}',
    ]);
  });

  it('resumes the stream after Last-Event-ID and ends when the server is Ready', async () => {
    for (const m of ['a', 'b', 'c']) await postEvent({ message: m });
    h.store.setStatus('jupyter-alice--x', { phase: 'Ready' });
    const res = await h.app.inject({
      method: 'GET',
      url: `${URL}/progress`,
      headers: { ...auth(TOKENS.hub), 'last-event-id': '2' },
    });
    expect(res.body).toBe('id: 3\ndata: {"message":"c","html_message":"c"}\n\n');
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
  it('serves healthz, readyz, metrics and an OpenAPI 3 document without a token', async () => {
    expect((await h.app.inject({ url: '/healthz' })).json()).toEqual({ status: 'ok' });
    expect((await h.app.inject({ url: '/readyz' })).statusCode).toBe(200);
    const metrics = await h.app.inject({ url: '/metrics' });
    expect(metrics.body).toContain('jfo_facade_http_requests_total');
    const doc = (await h.app.inject({ url: '/openapi.json' })).json();
    expect(doc.openapi).toBe('3.0.3');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/api/users/progress/events/{user}/{server}',
        '/api/users/setuptunnel/{user}',
        '/api/servers',
        '/api/recreateforward/{node}',
        '/api/forwardedservers/{user}/{server}',
        '/api/forwardedservers/{user}/{server}/progress',
      ]),
    );
  });
});
