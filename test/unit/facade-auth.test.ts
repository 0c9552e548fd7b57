// Token checks against a stand-in hub (the real JupyterHub: test/integration/facade-hub.test.ts):
// caching, coalescing, and that a failing hub is a 503, not a 403.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FakeClock } from '../../src/clock.js';
import { silentLogger } from '../../src/log.js';
import { Authenticator, tokenFromHeader } from '../../src/facade/auth.js';
import { HttpError } from '../../src/facade/errors.js';
import { createMetrics } from '../../src/facade/metrics.js';
import { parseStaticTokens, sha256 } from '../../src/facade/static-tokens.js';

let server: Server;
let hubUrl: string;
let calls: string[];
let mode: 'ok' | 'error' | 'garbage' | 'slow';

beforeAll(async () => {
  server = createServer((req, res) => {
    calls.push(req.headers.authorization ?? '');
    if (mode === 'slow') return void setTimeout(() => res.end('{}'), 3000);
    if (mode === 'error') return void res.writeHead(500).end('boom');
    if (mode === 'garbage') return void res.writeHead(200).end('<html>');
    if (req.headers.authorization === 'token good-token')
      return void res.end(
        JSON.stringify({ kind: 'user', name: 'alice', scopes: ['access:servers!user=alice'] }),
      );
    res.writeHead(403).end('{"status": 403, "message": "Forbidden"}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  hubUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hub/api`;
});
afterAll(() => new Promise((r) => server.close(r)));
beforeEach(() => {
  calls = [];
  mode = 'ok';
});

function makeAuth(
  clock = new FakeClock(1000),
  extra: Partial<ConstructorParameters<typeof Authenticator>[0]> = {},
) {
  return new Authenticator({
    hubApiUrl: hubUrl,
    cacheMs: 30_000,
    hubTimeoutMs: 500,
    clock,
    log: silentLogger(),
    metrics: createMetrics(),
    ...extra,
  });
}

async function status(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 200;
  } catch (err) {
    return (err as HttpError).statusCode;
  }
}

describe('tokenFromHeader', () => {
  it.each([
    ['token abc', 'abc'],
    ['Bearer abc', 'abc'],
    ['bearer  abc ', 'abc'],
    ['Basic abc', undefined],
    ['token', undefined],
    [undefined, undefined],
  ])('%s → %s', (h, t) => expect(tokenFromHeader(h)).toBe(t));
});

describe('Authenticator', () => {
  it('asks the hub with the caller token and returns its identity', async () => {
    const id = await makeAuth().identify('Bearer good-token');
    expect(id).toEqual({
      kind: 'user',
      name: 'alice',
      scopes: new Set(['access:servers!user=alice']),
    });
    expect(calls).toEqual(['token good-token']);
  });

  it('caches answers (valid and invalid) until the cache time passes', async () => {
    const clock = new FakeClock(1000);
    const auth = makeAuth(clock);
    await auth.identify('token good-token');
    await auth.identify('token good-token');
    expect(await status(auth.identify('token bad'))).toBe(403);
    expect(await status(auth.identify('token bad'))).toBe(403);
    expect(calls).toHaveLength(2);
    clock.advance(30_001);
    await auth.identify('token good-token');
    expect(calls).toHaveLength(3);
  });

  it('shares one hub request among concurrent checks of one token', async () => {
    const auth = makeAuth();
    await Promise.all(Array.from({ length: 20 }, () => auth.identify('token good-token')));
    expect(calls).toHaveLength(1);
  });

  it.each([
    ['answers 500', 'error' as const],
    ['answers something that is not a user model', 'garbage' as const],
    ['does not answer in time', 'slow' as const],
  ])('is a 503 (not 403) when the hub %s, and nothing is cached', async (_n, m) => {
    mode = m;
    const auth = makeAuth();
    expect(await status(auth.identify('token good-token'))).toBe(503);
    mode = 'ok';
    expect(await status(auth.identify('token good-token'))).toBe(200);
  });

  it('is a 503 when the hub is unreachable', async () => {
    const auth = makeAuth(new FakeClock(), { hubApiUrl: 'http://127.0.0.1:1/hub/api' });
    expect(await status(auth.identify('token good-token'))).toBe(503);
  });

  it('accepts static tokens without asking the hub; 403 for no token', async () => {
    const table = parseStaticTokens(
      `outpost: {tokenSha256: ${sha256('s'.repeat(20))}, scopes: [custom:servers:list]}`,
    );
    const auth = makeAuth(new FakeClock(), { staticLookup: (t) => table.get(sha256(t)) });
    expect(await auth.identify(`token ${'s'.repeat(20)}`)).toMatchObject({
      kind: 'static',
      name: 'outpost',
    });
    expect(calls).toHaveLength(0);
    expect(await status(auth.identify(undefined))).toBe(403);
  });

  it('without a hub URL only static tokens pass', async () => {
    const auth = makeAuth(new FakeClock(), { hubApiUrl: undefined });
    expect(await status(auth.identify('token good-token'))).toBe(403);
    expect(calls).toHaveLength(0);
  });
});
