// The `facade` sub-command as a real process (node dist/cli.js facade, built by `npm test`):
// starts from its environment, serves, refuses a bad configuration with a clear message, and
// stops cleanly on SIGTERM.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../src/dev/control-plane.js';
import { clusterInfo, createNamespace, kubeConfig } from '../harness/cluster.js';

const CLI = join(process.cwd(), 'dist', 'cli.js');
const info = clusterInfo();
let ns: { name: string; cleanup: () => Promise<void> };
let dir: string;

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);
  ns = await createNamespace(kubeConfig(info, 'admin'), 'facade-proc');
  dir = mkdtempSync(join(tmpdir(), 'jfo-facade-proc-'));
  writeFileSync(
    join(dir, 'tokens.yaml'),
    'hub: {token: proc-token-0123456789abcdef, scopes: [servers]}\n',
  );
});
afterAll(async () => {
  await ns?.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

it('serves until SIGTERM, then exits 0 after logging the stop', async () => {
  const port = await freePort();
  const child = spawn(process.execPath, [CLI, 'facade'], {
    env: {
      PATH: process.env.PATH,
      KUBECONFIG: info.kubeconfigPath,
      JFO_NAMESPACE: ns.name,
      JFO_HTTP_HOST: '127.0.0.1',
      JFO_HTTP_PORT: String(port),
      JFO_STATIC_TOKENS: join(dir, 'tokens.yaml'),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let logs = '';
  child.stderr!.on('data', (d) => (logs += String(d)));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  try {
    let ready = 0;
    for (let i = 0; i < 200 && ready !== 200; i++) {
      ready = await fetch(`http://127.0.0.1:${port}/readyz`).then(
        (r) => r.status,
        () => 0,
      );
      if (ready !== 200) await new Promise((r) => setTimeout(r, 100));
    }
    if (ready !== 200) process.stderr.write(logs);
    expect(ready).toBe(200);
    const res = await fetch(`http://127.0.0.1:${port}/api/forwardedservers/alice/x`, {
      method: 'PUT',
      headers: {
        Authorization: 'token proc-token-0123456789abcdef',
        'Content-Type': 'application/json',
      },
      body: JSON.stringify({ userId: 1, startId: 's1' }),
    });
    expect(res.status).toBe(201);
  } finally {
    child.kill('SIGTERM');
  }
  expect(await exited).toBe(0);
  const lines = logs
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { message: string });
  expect(lines.map((l) => l.message)).toEqual(
    expect.arrayContaining(['Loaded static tokens', 'Facade listening', 'Stopping facade']),
  );
}, 60_000);

it('refuses to start without a namespace, naming the variable', async () => {
  const out = await new Promise<{ code: number; stderr: string }>((resolve) =>
    execFile(
      process.execPath,
      [CLI, 'facade'],
      { env: { PATH: process.env.PATH, JFO_STATIC_TOKENS: '/x' } },
      (err, _o, stderr) =>
        resolve({ code: typeof err?.code === 'number' ? err.code : 0, stderr: String(stderr) }),
    ),
  );
  expect(out.code).toBe(1);
  expect(out.stderr).toMatch(/JFO_NAMESPACE must name the namespace/);
  // A new node process loads the facade's modules first: on a loaded machine that alone can
  // exceed jest's default 5 s, so this test gets the hang guard of the other process tests.
}, 60_000);
