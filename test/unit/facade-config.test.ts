import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock } from '../../src/clock.js';
import { silentLogger } from '../../src/log.js';
import { parseFacadeConfig } from '../../src/facade/config.js';
import { parseStaticTokens, sha256, StaticTokenFile } from '../../src/facade/static-tokens.js';

const base = { JFO_NAMESPACE: 'hub', JFO_HUB_API_URL: 'http://hub:8081/hub/api/' };

describe('parseFacadeConfig', () => {
  it('applies the documented defaults and freezes the result', () => {
    const c = parseFacadeConfig(base);
    expect(c).toEqual({
      namespace: 'hub',
      httpHost: '0.0.0.0',
      httpPort: 8080,
      hubApiUrl: 'http://hub:8081/hub/api',
      hubTimeoutMs: 5000,
      authCacheMs: 30000,
      staticTokensPath: undefined,
      staticTokensReloadMs: 10000,
      bodyLimitBytes: 262144,
      maxWaitSeconds: 60,
      http: {
        requestTimeoutMs: 30000,
        headersTimeoutMs: 10000,
        keepAliveTimeoutMs: 72000,
        idleTimeoutMs: 120000,
        maxConnections: 2048,
      },
      opsPort: undefined,
      opsHost: '0.0.0.0',
      eventCaps: { maxCount: 100, maxBytes: 131072 },
      directTargets: { clusterCidrs: ['10.96.0.0/12', '10.244.0.0/16'], allowedCidrs: [] },
      logLevel: 'info',
    });
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('reads every variable', () => {
    const c = parseFacadeConfig({
      JFO_NAMESPACE: 'x',
      JFO_HTTP_HOST: '127.0.0.1',
      JFO_HTTP_PORT: '9000',
      JFO_HUB_TIMEOUT_SECONDS: '2',
      JFO_AUTH_CACHE_SECONDS: '0',
      JFO_STATIC_TOKENS: '/etc/t.yaml',
      JFO_STATIC_TOKENS_RELOAD_SECONDS: '5',
      JFO_BODY_LIMIT_BYTES: '4096',
      JFO_EVENTS_MAX_COUNT: '200',
      JFO_EVENTS_MAX_BYTES: '65536',
      JFO_LOG_LEVEL: 'debug',
      JFO_HTTP_REQUEST_TIMEOUT_SECONDS: '20',
      JFO_HTTP_HEADERS_TIMEOUT_SECONDS: '0.5',
      JFO_HTTP_KEEPALIVE_TIMEOUT_SECONDS: '4',
      JFO_HTTP_IDLE_TIMEOUT_SECONDS: '61',
      JFO_HTTP_MAX_CONNECTIONS: '50',
      JFO_OPS_PORT: '9090',
      JFO_OPS_HOST: '10.0.0.1',
    });
    expect(c).toMatchObject({
      http: {
        requestTimeoutMs: 20000,
        headersTimeoutMs: 500,
        keepAliveTimeoutMs: 4000,
        idleTimeoutMs: 61000,
        maxConnections: 50,
      },
      opsPort: 9090,
      opsHost: '10.0.0.1',
      httpHost: '127.0.0.1',
      httpPort: 9000,
      hubApiUrl: undefined,
      hubTimeoutMs: 2000,
      authCacheMs: 0,
      staticTokensPath: '/etc/t.yaml',
      staticTokensReloadMs: 5000,
      bodyLimitBytes: 4096,
      eventCaps: { maxCount: 200, maxBytes: 65536 },
      logLevel: 'debug',
    });
  });

  it.each<[Record<string, string>, RegExp]>([
    [{ JFO_HUB_API_URL: 'http://h' }, /JFO_NAMESPACE/],
    [{ JFO_NAMESPACE: 'x' }, /JFO_HUB_API_URL, JFO_STATIC_TOKENS or both/],
    [{ ...base, JFO_HTTP_PORT: 'eighty' }, /JFO_HTTP_PORT must be an integer/],
    [
      { ...base, JFO_EVENTS_MAX_COUNT: '500' },
      /JFO_EVENTS_MAX_COUNT must be an integer from 1 to 200/,
    ],
    [{ ...base, JFO_LOG_LEVEL: 'loud' }, /JFO_LOG_LEVEL/],
    [{ ...base, JFO_HUB_API_URL: 'hub:8081' }, /JFO_HUB_API_URL must be/],
    [{ ...base, JFO_HUB_API_URL: 'ftp://hub/api' }, /http or https/],
    [{ ...base, JFO_HTTP_MAX_CONNECTIONS: '0' }, /JFO_HTTP_MAX_CONNECTIONS must be an integer/],
    [{ ...base, JFO_HTTP_REQUEST_TIMEOUT_SECONDS: 'soon' }, /JFO_HTTP_REQUEST_TIMEOUT_SECONDS/],
    [
      { ...base, JFO_HTTP_HEADERS_TIMEOUT_SECONDS: '40' },
      /HEADERS_TIMEOUT_SECONDS must not exceed JFO_HTTP_REQUEST_TIMEOUT_SECONDS/,
    ],
    [
      { ...base, JFO_HTTP_IDLE_TIMEOUT_SECONDS: '60' },
      /IDLE_TIMEOUT_SECONDS must exceed JFO_MAX_WAIT_SECONDS/,
    ],
    [{ ...base, JFO_OPS_PORT: '8080' }, /JFO_OPS_PORT must differ/],
    [{ ...base, JFO_OPS_PORT: 'metrics' }, /JFO_OPS_PORT must be an integer/],
  ])('refuses %j', (env, message) => {
    expect(() => parseFacadeConfig(env)).toThrow(message);
  });
});

describe('static tokens', () => {
  it('parses token and tokenSha256 entries with expanded scopes', () => {
    const t = parseStaticTokens(`
hub: {token: aaaaaaaaaaaaaaaaaaaa, scopes: [servers]}
node: {tokenSha256: ${sha256('bbbbbbbbbbbbbbbbbbbb').toUpperCase()}, scopes: ["custom:sshnode:restart"]}
`);
    expect(t.get(sha256('aaaaaaaaaaaaaaaaaaaa'))).toEqual({
      name: 'hub',
      scopes: new Set(['servers', 'read:servers', 'delete:servers', 'read:users:name']),
    });
    expect(t.get(sha256('bbbbbbbbbbbbbbbbbbbb'))?.name).toBe('node');
    expect(parseStaticTokens('').size).toBe(0);
  });

  it.each<[string, RegExp]>([
    ['[1, 2]', /expected a mapping/],
    ['a: 1', /"a": expected \{token, scopes\}/],
    ['a: {token: short, scopes: [x]}', /at least 16/],
    ['a: {scopes: [x]}', /exactly one of token and tokenSha256/],
    ['a: {token: aaaaaaaaaaaaaaaaaaaa, tokenSha256: x, scopes: [x]}', /exactly one/],
    ['a: {tokenSha256: nothex, scopes: [x]}', /64 hex/],
    ['a: {token: aaaaaaaaaaaaaaaaaaaa}', /scopes must be a list/],
    ['a: {token: aaaaaaaaaaaaaaaaaaaa, scopes: [x], admin: true}', /unknown field admin/],
    [
      'a: {token: aaaaaaaaaaaaaaaaaaaa, scopes: [x]}\nb: {token: aaaaaaaaaaaaaaaaaaaa, scopes: [y]}',
      /listed twice/,
    ],
  ])('refuses %s', (text, message) => expect(() => parseStaticTokens(text)).toThrow(message));

  it('reloads the file when it changes and keeps the old tokens when the new file is bad', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'jfo-tokens-'));
    const path = join(dir, 'tokens.yaml');
    try {
      writeFileSync(path, 'a: {token: aaaaaaaaaaaaaaaaaaaa, scopes: [servers]}');
      const file = new StaticTokenFile(path, silentLogger(), new FakeClock());
      await file.start(1000);
      expect(file.lookup('aaaaaaaaaaaaaaaaaaaa')?.name).toBe('a');
      writeFileSync(path, 'b: {token: bbbbbbbbbbbbbbbbbbbbbb, scopes: [servers]}');
      utimesSync(path, new Date(), new Date(Date.now() + 5000));
      expect(await file.reload()).toBe(true);
      expect(file.lookup('aaaaaaaaaaaaaaaaaaaa')).toBeUndefined();
      expect(file.lookup('bbbbbbbbbbbbbbbbbbbbbb')?.name).toBe('b');
      writeFileSync(path, 'broken: 1');
      utimesSync(path, new Date(), new Date(Date.now() + 10000));
      await expect(file.reload()).rejects.toThrow(/broken/);
      expect(file.lookup('bbbbbbbbbbbbbbbbbbbbbb')?.name).toBe('b');
      file.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses to start when the file is missing', async () => {
    const file = new StaticTokenFile('/nonexistent/tokens.yaml', silentLogger(), new FakeClock());
    await expect(file.start(1000)).rejects.toThrow(/ENOENT/);
  });
});
