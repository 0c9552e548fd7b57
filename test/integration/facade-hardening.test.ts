// The facade's own defences, with real sockets and real requests against the facade on the real
// API server: request, header and idle timeouts and the connection cap keep it serving other
// clients; one caller's malformed event never fails another caller's events and no internal
// error text reaches a client; stored HTML keeps no tab-nabbing link or unsafe CSS; metrics and
// the OpenAPI document need a token on the API port and are open on the operations port only.
import { connect, type Socket } from 'node:net';
import { clusterInfo, createNamespace, kubeConfig } from '../harness/cluster.js';
import { kubectl } from '../harness/kubectl.js';
import { waitFor } from '../harness/util.js';
import {
  client,
  facadeKubeConfig,
  spawnFacade,
  startTestFacade,
  type FacadeProcess,
  type TestFacade,
} from './facade-cluster.js';

const T = {
  hub: 'hub-token-0123456789abcdef',
  alice: 'alice-server-token-0123456789',
  prometheus: 'prometheus-token-0123456789abc',
};
const TOKENS = `
hub: {token: ${T.hub}, scopes: [servers, access:servers, custom:servers:list]}
alice: {token: ${T.alice}, scopes: ["access:servers!server=alice/x", "read:servers!server=alice/x"]}
prometheus: {token: ${T.prometheus}, scopes: ["read:metrics"]}
`;

const info = clusterInfo();
let ns: { name: string; cleanup: () => Promise<void> };
let facade: TestFacade;
let call: ReturnType<typeof client>;

beforeAll(async () => {
  ns = await createNamespace(kubeConfig(info, 'admin'), 'facade-hard');
  await kubectl(info, ['-n', ns.name, 'apply', '-f', 'manifests/samples/jumpnode.yaml']);
  facade = await startTestFacade(await facadeKubeConfig(info, ns.name), ns.name, TOKENS, {
    JFO_HTTP_REQUEST_TIMEOUT_SECONDS: '2',
    JFO_HTTP_HEADERS_TIMEOUT_SECONDS: '1',
    JFO_OPS_PORT: '0',
    JFO_OPS_HOST: '127.0.0.1',
  });
  call = client(facade.url);
  for (const path of ['alice/x', 'alice/y'])
    expect(
      (await call('PUT', `/api/forwardedservers/${path}`, T.hub, { userId: 3, startId: 'a1' }))
        .status,
    ).toBe(201);
}, 60_000);
afterAll(async () => {
  await facade?.close();
  await ns?.cleanup();
});

/** A raw TCP connection to `port` that records everything the server sends and when it closes. */
function open(port: number): Promise<{
  socket: Socket;
  received: () => string;
  closed: Promise<void>;
  isClosed: () => boolean;
}> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    let isClosed = false;
    socket.on('data', (d) => (text += String(d)));
    socket.on('error', () => {});
    const closed = new Promise<void>((r) =>
      socket.once('close', () => {
        isClosed = true;
        r();
      }),
    );
    socket.once('connect', () =>
      resolve({ socket, received: () => text, closed, isClosed: () => isClosed }),
    );
    socket.once('error', reject);
  });
}

/**
 * Sends `head` and then the body one byte per tick, for as long as the server keeps the socket
 * open; resolves with what the server answered and how many body bytes it had been sent.
 */
async function slowBody(port: number, head: string, length: number) {
  const c = await open(port);
  c.socket.write(head);
  let sent = 0;
  const tick = setInterval(() => {
    if (!c.socket.destroyed && sent < length) {
      c.socket.write('x');
      sent++;
    }
  }, 100);
  await c.closed;
  clearInterval(tick);
  return { answer: c.received(), sent };
}

describe('timeouts: a slow or silent client cannot hold the facade', () => {
  it.each<[string, string]>([
    ['with a valid token', `Authorization: token ${T.hub}\r\n`],
    ['without a token', ''],
  ])(
    'a body sent one byte at a time is cut off (408) %s, while others are served',
    async (_n, authz) => {
      const length = 100_000;
      const head =
        `PUT /api/forwardedservers/alice/x HTTP/1.1\r\nHost: facade\r\n${authz}` +
        `Content-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`;
      const slow = slowBody(facade.port, head, length);
      // Served while the slow client is still sending.
      const other = await call('GET', '/api/users/progress/events/alice/x', T.hub);
      expect(other.status).toBe(200);
      const { answer, sent } = await slow;
      expect(sent).toBeLessThan(length);
      expect(answer).toMatch(/^HTTP\/1\.1 (408|403)/);
      expect((await call('GET', '/healthz')).status).toBe(200);
    },
    60_000,
  );

  it('headers sent one line at a time are cut off (408)', async () => {
    const c = await open(facade.port);
    c.socket.write('GET /healthz HTTP/1.1\r\nHost: facade\r\n');
    let lines = 0;
    const tick = setInterval(() => {
      if (!c.socket.destroyed) c.socket.write(`X-Slow-${lines++}: y\r\n`);
    }, 100);
    await c.closed;
    clearInterval(tick);
    expect(c.received()).toMatch(/^HTTP\/1\.1 408/);
  }, 60_000);

  it('a connection that never sends a request is closed', async () => {
    const c = await open(facade.port);
    await c.closed;
    expect(c.received()).toMatch(/^HTTP\/1\.1 408/);
  }, 60_000);
});

describe('ingest: one bad event fails only its own request, with no internal text', () => {
  it('a lone surrogate among 10 valid concurrent events: 400 for it alone, the 10 are stored', async () => {
    const events = '/api/users/progress/events/alice/x';
    const bad = '{"message": "broken \\ud800 text"}';
    const answers = await Promise.all([
      ...Array.from({ length: 5 }, (_, i) => call('POST', events, T.alice, { message: `m${i}` })),
      call('POST', events, T.alice, bad),
      ...Array.from({ length: 5 }, (_, i) =>
        call('POST', events, T.alice, { message: `m${5 + i}` }),
      ),
    ]);
    expect(answers.map((a) => a.status)).toEqual([
      ...Array(5).fill(204),
      400,
      ...Array(5).fill(204),
    ]);
    expect(answers[5]!.json).toEqual({
      status: 400,
      message: 'Bad Request: body.message is not well-formed Unicode (a lone surrogate)',
    });
    const stored = (await call('GET', events, T.alice)).json.events.map(
      (e: { message: string }) => e.message,
    );
    expect([...stored].sort()).toEqual(Array.from({ length: 10 }, (_, i) => `m${i}`).sort());
  });

  it.each<[string, string, string, string]>([
    [
      'PUT labels',
      'PUT',
      '/api/forwardedservers/alice/y',
      '{"userId": 3, "startId": "a1", "labels": {"a": "\\udc00"}}',
    ],
    ['setuptunnel', 'POST', '/api/users/setuptunnel/alice/x', '{"service": "h\\ud800:1"}'],
    ['a key', 'POST', '/api/users/progress/events/alice/x', '{"message": "m", "\\ud800": 1}'],
  ])(
    'a lone surrogate in %s is a 400 naming where, nothing internal',
    async (_n, method, path, body) => {
      const res = await call(method, path, T.hub, body);
      expect(res.status).toBe(400);
      expect(res.json.message).toMatch(/not well-formed Unicode/);
      expect(res.text).not.toMatch(/YAML|decod|json:|unmarshal|forwardedservers|k8s|kube/i);
    },
  );
});

it('stored HTML: links with a target get rel="noopener noreferrer", unsafe CSS is dropped', async () => {
  const events = '/api/users/progress/events/alice/y';
  const html =
    '<a href="https://example.org" target="_blank">logs</a>' +
    '<span style="color:expression(alert(1))">a</span><span style="cursor:none">b</span>' +
    '<span style="color: red; cursor: pointer">c</span>';
  expect((await call('POST', events, T.hub, { html_message: html })).status).toBe(204);
  const stored = (await call('GET', events, T.hub)).json.events.at(-1).html_message;
  expect(stored).toBe(
    '<a href="https://example.org" target="_blank" rel="noopener noreferrer">logs</a>' +
      '<span>a</span><span>b</span><span style="color:red;cursor:pointer">c</span>',
  );
});

it('metrics and OpenAPI need a token on the API port; the operations port serves them', async () => {
  for (const path of ['/metrics', '/openapi.json']) {
    const anonymous = await call('GET', path);
    expect(anonymous.status).toBe(403);
    expect(anonymous.text).not.toContain('jfo_facade_');
  }
  expect((await call('GET', '/metrics', T.hub)).status).toBe(403);
  expect((await call('GET', '/metrics', T.prometheus)).text).toContain(
    'jfo_facade_http_requests_total',
  );
  expect((await call('GET', '/openapi.json', T.alice)).json.openapi).toBe('3.0.3');
  const ops = client(facade.opsUrl!);
  expect((await ops('GET', '/metrics')).text).toContain('jfo_facade_http_requests_total');
  expect((await ops('GET', '/openapi.json')).json.openapi).toBe('3.0.3');
  expect((await ops('GET', '/readyz')).status).toBe(200);
  // The operations port serves nothing else.
  expect((await ops('GET', '/api/servers', T.hub)).status).toBe(404);
});

describe('many idle connections (the facade process with a small file limit)', () => {
  let facadeProcess: FacadeProcess | undefined;
  let idle: Array<Awaited<ReturnType<typeof open>>> = [];
  afterEach(async () => {
    // Sockets that never sent a request would hold the facade's shutdown until its header timeout.
    for (const c of idle) c.socket.destroy();
    idle = [];
    await facadeProcess?.stop();
  });

  it('1500 sockets that send nothing: the facade holds at most 200 and serves a client (1024 open files)', async () => {
    facadeProcess = await spawnFacade(info, ns.name, TOKENS, {
      wrapper: ['prlimit', '--nofile=1024:1024', '--'],
      env: {
        // Long enough that the cap, not the timeout, is what keeps the facade reachable.
        JFO_HTTP_HEADERS_TIMEOUT_SECONDS: '30',
        JFO_HTTP_MAX_CONNECTIONS: '200',
      },
    });
    const { child, port } = facadeProcess;

    for (let i = 0; i < 1500; i++) idle.push(await open(port));
    const res = await fetch(`http://127.0.0.1:${port}/api/users/progress/events/alice/x`, {
      headers: { Authorization: `token ${T.alice}` },
    });
    expect(res.status).toBe(200);
    expect(child.exitCode).toBeNull();
    // The facade closed every idle socket beyond its cap. Its closes reach these clients on
    // their own schedule, not with the answer, so the count is read once they have arrived.
    const open200 = await waitFor('the idle sockets beyond the cap to be closed', () => {
      const stillOpen = idle.filter((c) => !c.isClosed()).length;
      return stillOpen <= 200 && stillOpen;
    });
    expect(open200).toBeLessThanOrEqual(200);
    expect(child.exitCode).toBeNull();
  }, 120_000);
});
