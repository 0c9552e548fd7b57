// The `facade` sub-command as a real process (node dist/cli.js facade, built by `npm test`):
// starts from its environment, serves, refuses a bad configuration with a clear message, and
// stops cleanly on SIGTERM.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { clusterInfo, createNamespace, kubeConfig } from '../harness/cluster.js';
import { CLI } from '../harness/util.js';
import { spawnFacade } from './facade-cluster.js';

const info = clusterInfo();
let ns: { name: string; cleanup: () => Promise<void> };

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);
  ns = await createNamespace(kubeConfig(info, 'admin'), 'facade-proc');
});
afterAll(async () => {
  await ns?.cleanup();
});

it('serves until SIGTERM, then exits 0 after logging the stop', async () => {
  const facade = await spawnFacade(
    info,
    ns.name,
    'hub: {token: proc-token-0123456789abcdef, scopes: [servers]}\n',
  );
  let code: number | null;
  try {
    const res = await fetch(`http://127.0.0.1:${facade.port}/api/forwardedservers/alice/x`, {
      method: 'PUT',
      headers: {
        Authorization: 'token proc-token-0123456789abcdef',
        'Content-Type': 'application/json',
      },
      body: JSON.stringify({ userId: 1, startId: 's1' }),
    });
    expect(res.status).toBe(201);
  } finally {
    code = await facade.stop();
  }
  expect(code).toBe(0);
  const lines = facade.logs();
  // Every line is JSON (collectJsonLines marks any other line `raw`).
  expect(lines.filter((l) => l.level === 'raw')).toEqual([]);
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
