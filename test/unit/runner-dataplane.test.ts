// The data plane protocol end to end in one thread: DataPlaneCore (real session, listeners and
// prober, no jump node) behind an asynchronous in-process transport, driven and mirrored by
// DataPlaneClient. The worker thread itself is covered by the runner's integration tests, which
// run the built runner process.
import net from 'node:net';
import type { JumpNode } from '../../src/api/types.js';
import { systemClock } from '../../src/clock.js';
import { silentLogger } from '../../src/log.js';
import { parseRunnerConfig } from '../../src/runner/config.js';
import { DataPlaneCore } from '../../src/runner/dataplane.js';
import type { Command, Report } from '../../src/runner/dataplane-protocol.js';
import { DataPlaneClient } from '../../src/runner/dataplane-client.js';
import type { DesiredForwards } from '../../src/runner/desired.js';
import { LocalForwards } from '../../src/runner/local-forwards.js';
import { createMetrics } from '../../src/runner/metrics.js';

const config = parseRunnerConfig({
  JFO_NAMESPACE: 'ns',
  JFO_JUMPNODE: 'hpc',
  JFO_LISTEN_HOST: '127.0.0.1',
});

const jumpNode = {
  apiVersion: 'forward.hub.jupyter.org/v1alpha1',
  kind: 'JumpNode',
  metadata: { name: 'hpc', namespace: 'ns' },
  spec: { host: '127.0.0.1', port: 22, username: 'u', privateKeySecretRef: { name: 'key' } },
} as unknown as JumpNode;

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

function until(what: string, ok: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const check = () => {
      if (ok()) return resolve();
      if (Date.now() > deadline) return reject(new Error(`Timed out waiting for ${what}`));
      setTimeout(check, 20);
    };
    check();
  });
}

function desired(key: string, port: number): DesiredForwards {
  return {
    local: [{ key, port, target: { host: '127.0.0.1', port: 1 } }],
    remote: [],
    conflicts: new Map(),
    refused: new Map(),
    servers: new Map(),
  };
}

describe('data plane protocol (DataPlaneCore behind DataPlaneClient)', () => {
  let client: DataPlaneClient;
  const marked: string[] = [];
  const events: string[] = [];
  const metrics = createMetrics(() => undefined);

  beforeAll(async () => {
    // Messages cross asynchronously and are copied, as between threads.
    let toClient: (r: Report) => void = () => undefined;
    const core = new DataPlaneCore(config, {
      log: silentLogger(),
      clock: systemClock,
      post: (r) => {
        const copy = structuredClone(r);
        setImmediate(() => toClient(copy));
      },
    });
    client = new DataPlaneClient(
      {
        send: (cmd: Command) => {
          const copy = structuredClone(cmd);
          setImmediate(() => core.handle(copy));
        },
        onReport: (fn) => (toClient = fn),
        terminate: async () => undefined,
      },
      { metrics, mark: (k) => marked.push(k) },
    );
    for (const e of ['ready', 'down', 'change']) client.on(e, () => events.push(e));
    await client.ready();
  });

  afterAll(async () => {
    await client.close();
  });

  it('mirrors the initial state once ready', () => {
    expect(client.session()).toMatchObject({ phase: 'idle', failures: 0 });
    expect(client.count()).toBe(0);
  });

  it('derives connection settings in the data plane and reports why it cannot connect', async () => {
    client.configure(jumpNode, { path: '/nonexistent/ssh-privatekey' });
    await until('the session problem', () => client.session().problem !== undefined);
    expect(client.session().problem).toEqual({
      reason: 'KeyNotFound',
      message:
        'The key "ssh-privatekey" of Secret key is not mounted at /nonexistent/ssh-privatekey ' +
        '(the Secret or the key does not exist)',
    });
    expect(events).toContain('change');
  });

  it('opens listeners, marks their keys and counts refused connections', async () => {
    const port = await freePort();
    client.sync(desired('ns/alice', port), false);
    await until('the listener', () => client.local('ns/alice')?.listening === true);
    expect(client.local('ns/alice')).toMatchObject({ port, listening: true });
    expect(client.count()).toBe(1);
    expect(client.listeningCount()).toBe(1);
    expect(marked).toContain('ns/alice');

    // No SSH session: the listener resets the connection, and the data plane counts it.
    await new Promise<void>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port });
      s.on('error', () => resolve());
      s.on('close', () => resolve());
    });
    const refused = async () =>
      (await metrics.connections.get()).values.find((v) => v.labels.result === 'ssh_down')?.value;
    const deadline = Date.now() + 5000;
    while ((await refused()) !== 1 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    expect(await refused()).toBe(1);
  });

  it('keeps the listeners while draining (sync with keepListeners), closes them on request', async () => {
    const port = client.local('ns/alice')!.port;
    client.sync({ ...desired('ns/alice', port), local: [] }, true);
    await new Promise((r) => setTimeout(r, 100));
    expect(client.local('ns/alice')?.listening).toBe(true);
    client.closeListeners();
    expect(await client.waitIdle(1000)).toBe(0);
    await until('the listener to go', () => !client.local('ns/alice')?.listening);
  });
});

describe('incremental sync and state reports', () => {
  const cores: DataPlaneCore[] = [];
  const startCore = (reports: Extract<Report, { type: 'state' }>[]) => {
    const core = new DataPlaneCore(config, {
      log: silentLogger(),
      clock: systemClock,
      post: (r) => {
        if (r.type === 'state') reports.push(r);
      },
    });
    cores.push(core);
    return core;
  };
  afterEach(() => {
    for (const core of cores.splice(0)) core.handle({ type: 'request', id: 1, op: 'close' });
  });
  const spec = (key: string, port: number, targetPort = 1) => ({
    key,
    port,
    target: { host: '127.0.0.1', port: targetPort },
  });
  const forwards = (local: ReturnType<typeof spec>[]): DesiredForwards => ({
    local,
    remote: [],
    conflicts: new Map(),
    refused: new Map(),
    servers: new Map(),
  });

  it('sends only what changed since the previous sync, and nothing when nothing did', () => {
    const sent: Command[] = [];
    const client = new DataPlaneClient(
      { send: (c) => sent.push(c), onReport: () => undefined, terminate: async () => undefined },
      { metrics: createMetrics(() => undefined), mark: () => undefined },
    );
    client.sync(forwards([spec('ns/a', 1001), spec('ns/b', 1002), spec('ns/c', 1003)]), false);
    client.sync(forwards([spec('ns/a', 1001), spec('ns/b', 1002), spec('ns/c', 1003)]), false);
    client.sync(forwards([spec('ns/a', 1001), spec('ns/b', 1002, 2)]), false);
    client.sync(forwards([spec('ns/a', 1001)]), true);
    expect(sent).toEqual([
      {
        type: 'sync',
        local: {
          set: {
            'ns/a': spec('ns/a', 1001),
            'ns/b': spec('ns/b', 1002),
            'ns/c': spec('ns/c', 1003),
          },
          removed: [],
        },
        remote: { set: {}, removed: [] },
        probes: {
          set: {
            'ns/a': { host: '127.0.0.1', port: 1 },
            'ns/b': { host: '127.0.0.1', port: 1 },
            'ns/c': { host: '127.0.0.1', port: 1 },
          },
          removed: [],
        },
      },
      {
        type: 'sync',
        local: { set: { 'ns/b': spec('ns/b', 1002, 2) }, removed: ['ns/c'] },
        remote: { set: {}, removed: [] },
        probes: { set: { 'ns/b': { host: '127.0.0.1', port: 2 } }, removed: ['ns/c'] },
      },
      // Draining: the listeners stay; the probes follow.
      {
        type: 'sync',
        local: undefined,
        remote: { set: {}, removed: [] },
        probes: { set: {}, removed: ['ns/b'] },
      },
    ]);
  });

  it('sends a configure only when the JumpNode spec or the key file changed', () => {
    const sent: Command[] = [];
    const client = new DataPlaneClient(
      { send: (c) => sent.push(c), onReport: () => undefined, terminate: async () => undefined },
      { metrics: createMetrics(() => undefined), mark: () => undefined },
    );
    const key = { path: '/k', data: 'a2V5' };
    const written = { ...jumpNode, status: { observedGeneration: 2 } } as unknown as JumpNode;
    client.configure(jumpNode, key);
    client.configure(written, { ...key }); // status written: the settings' inputs are the same
    client.configure(jumpNode, { path: '/k', data: 'b3RoZXI=' });
    client.configure(undefined, { path: '/k', data: 'b3RoZXI=' });
    expect(sent.map((c) => c.type === 'configure' && [c.jumpNode?.spec.host, c.key?.data])).toEqual(
      [
        ['127.0.0.1', 'a2V5'],
        ['127.0.0.1', 'b3RoZXI='],
        [undefined, 'b3RoZXI='],
      ],
    );
  });

  it('reports the state of the keys that changed, not of every forward', async () => {
    const reports: Extract<Report, { type: 'state' }>[] = [];
    const core = startCore(reports);
    const ports = await Promise.all(Array.from({ length: 20 }, () => freePort()));
    const keys = ports.map((_, i) => `ns/s-${i}`);
    const set = Object.fromEntries(keys.map((k, i) => [k, spec(k, ports[i]!)]));
    core.handle({
      type: 'sync',
      local: { set, removed: [] },
      remote: { set: {}, removed: [] },
      probes: { set: {}, removed: [] },
    });
    const listening = new Set<string>();
    await until('every listener', () => {
      for (const r of reports)
        for (const [k, s] of Object.entries(r.patch.local.set)) if (s.listening) listening.add(k);
      return listening.size === keys.length;
    });
    await new Promise((r) => setImmediate(r));
    const before = reports.length;

    // One forward retargeted, one removed: the next report names those two and no other, and
    // only their states are read to build it.
    const read = jest.spyOn(LocalForwards.prototype, 'state');
    const moved = spec('ns/s-0', ports[0]!, 2);
    core.handle({
      type: 'sync',
      local: { set: { 'ns/s-0': moved }, removed: ['ns/s-1'] },
      remote: { set: {}, removed: [] },
      probes: { set: {}, removed: [] },
    });
    await until('the report', () => reports.length > before);
    const patch = reports[before]!.patch;
    expect(Object.keys(patch.local.set)).toEqual(['ns/s-0']);
    expect(patch.local.set['ns/s-0']).toMatchObject({ target: moved.target, listening: true });
    expect(patch.local.removed).toEqual(['ns/s-1']);
    expect(read.mock.calls.map((c) => c[0]).sort()).toEqual(['ns/s-0', 'ns/s-1']);
    read.mockRestore();

    // A sync that changes nothing observable sends no report at all.
    core.handle({
      type: 'sync',
      local: { set: { 'ns/s-0': moved }, removed: [] },
      remote: { set: {}, removed: [] },
      probes: { set: {}, removed: [] },
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(reports.length).toBe(before + 1);

    core.handle({ type: 'closeListeners' });
    await until('the closing report', () => reports.length > before + 1);
    expect(reports[before + 1]!.patch.local.removed.sort()).toEqual(
      keys.filter((k) => k !== 'ns/s-1').sort(),
    );
  });

  it('moves ports between forwards in one sync', async () => {
    const reports: Extract<Report, { type: 'state' }>[] = [];
    const core = startCore(reports);
    const [p1, p2] = [await freePort(), await freePort()];
    const latest = () => {
      const local: Record<string, { port: number; listening: boolean; error?: string }> = {};
      for (const r of reports) Object.assign(local, r.patch.local.set);
      return local;
    };
    const sync = (a: number, b: number) =>
      core.handle({
        type: 'sync',
        local: { set: { 'ns/a': spec('ns/a', a), 'ns/b': spec('ns/b', b) }, removed: [] },
        remote: { set: {}, removed: [] },
        probes: { set: {}, removed: [] },
      });
    sync(p1, p2);
    await until(
      'both listeners',
      () => latest()['ns/a']?.listening === true && latest()['ns/b']?.listening === true,
    );
    sync(p2, p1);
    await until(
      'both listeners on swapped ports',
      () =>
        latest()['ns/a']?.port === p2 &&
        latest()['ns/a']?.listening === true &&
        latest()['ns/b']?.port === p1 &&
        latest()['ns/b']?.listening === true,
    );
    expect(Object.values(latest()).filter((s) => s.error)).toEqual([]);
  });
});
