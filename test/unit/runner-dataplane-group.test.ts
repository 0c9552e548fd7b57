// Spreading a runner's forwards over several data planes (spec.runner.connections): which
// connection owns a key, what each data plane is told, and what the control plane reads back.
import { EventEmitter } from 'node:events';
import { parseRunnerConfig } from '../../src/runner/config.js';
import {
  connectionOf,
  DataPlaneGroup,
  shareOf,
  type DataPlane,
} from '../../src/runner/dataplane-group.js';
import type { DesiredForwards } from '../../src/runner/desired.js';
import type { SessionSnapshot } from '../../src/runner/session.js';

const keys = Array.from({ length: 200 }, (_, i) => `ns/server-${i}`);

function desired(): DesiredForwards {
  return {
    local: keys.map((key, i) => ({ key, port: 20000 + i, target: { host: 'h', port: 8888 } })),
    remote: keys.slice(0, 10).map((key, i) => ({
      key,
      bindAddress: 'localhost',
      bindPort: 30000 + i,
      target: { host: '127.0.0.1', port: 20000 + i },
    })),
    conflicts: new Map(),
    refused: new Map(),
    servers: new Map(),
  };
}

class FakePlane extends EventEmitter implements DataPlane {
  synced?: DesiredForwards;
  snapshot: SessionSnapshot = { phase: 'connected', failures: 0, insecure: false };
  calls: string[] = [];
  constructor(readonly id: number) {
    super();
  }
  configure = () => void this.calls.push('configure');
  reconnectNow = (reason: string, notBefore?: number) =>
    void this.calls.push(`reconnect ${reason}${notBefore === undefined ? '' : ` ${notBefore}`}`);
  sync = (d: DesiredForwards) => void (this.synced = d);
  closeListeners = () => void this.calls.push('closeListeners');
  waitIdle = async () => this.id + 1;
  flushStats = async () => void this.calls.push('flush');
  close = async () => void this.calls.push('close');
  session = () => this.snapshot;
  sessions = () => [this.snapshot];
  local = (key: string) => ({
    port: this.id,
    target: { host: key, port: 1 },
    listening: true,
  });
  remote = () => undefined;
  probe = () => undefined;
  count = () => this.synced?.local.length ?? 0;
  listeningCount = () => this.count();
  registeredCount = () => this.id;
  activeConnections = () => 10 * (this.id + 1);
}

describe('connectionOf', () => {
  it('is stable and within range', () => {
    for (const key of keys) {
      const c = connectionOf(key, 3);
      expect(c).toBe(connectionOf(key, 3));
      expect(c).toBeGreaterThanOrEqual(0);
      expect(c).toBeLessThan(3);
    }
    expect(keys.every((k) => connectionOf(k, 1) === 0)).toBe(true);
  });

  it('spreads keys over every connection', () => {
    const counts = [0, 0, 0, 0];
    for (const key of keys) counts[connectionOf(key, 4)]!++;
    // 200 keys over 4 connections: each gets some (a hash that fails this is no spread at all).
    for (const c of counts) expect(c).toBeGreaterThan(20);
  });
});

describe('shareOf', () => {
  it('partitions the local and remote forwards: every forward on exactly one connection', () => {
    const d = desired();
    const shares = [0, 1, 2].map((i) => shareOf(d, i, 3));
    const locals = shares.flatMap((s) => s.local.map((f) => f.key));
    expect(locals.sort()).toEqual(d.local.map((f) => f.key).sort());
    const remotes = shares.flatMap((s) => s.remote.map((f) => f.key));
    expect(remotes.sort()).toEqual(d.remote.map((f) => f.key).sort());
    for (const [i, s] of shares.entries()) {
      expect(s.local.every((f) => connectionOf(f.key, 3) === i)).toBe(true);
      expect(s.servers).toBe(d.servers);
    }
  });
});

describe('DataPlaneGroup', () => {
  const make = () => {
    const planes = [0, 1, 2].map((i) => new FakePlane(i));
    return { planes, group: new DataPlaneGroup(planes) };
  };

  it('sends each data plane its share and every other command to all', async () => {
    const { planes, group } = make();
    group.sync(desired(), false);
    for (const [i, p] of planes.entries())
      expect(p.synced!.local).toEqual(shareOf(desired(), i, 3).local);
    group.configure(undefined, undefined);
    group.reconnectNow('restart');
    group.closeListeners();
    await group.flushStats();
    await group.close();
    for (const p of planes)
      expect(p.calls).toEqual([
        'configure',
        'reconnect restart',
        'closeListeners',
        'flush',
        'close',
      ]);
  });

  it('answers per-key reads from the owner and sums counts', async () => {
    const { group } = make();
    group.sync(desired(), false);
    for (const key of keys.slice(0, 20)) expect(group.local(key)!.port).toBe(connectionOf(key, 3));
    expect(group.count()).toBe(keys.length);
    expect(group.listeningCount()).toBe(keys.length);
    expect(group.registeredCount()).toBe(0 + 1 + 2);
    expect(group.activeConnections()).toBe(10 + 20 + 30);
    expect(await group.waitIdle(1000)).toBe(1 + 2 + 3);
  });

  it('is connected only while every connection is, and names the one that is not', () => {
    const { planes, group } = make();
    planes.forEach((p, i) => (p.snapshot = { ...p.snapshot, connectedSince: 1000 + i }));
    expect(group.session()).toMatchObject({ phase: 'connected', connectedSince: 1002 });
    const problem = { reason: 'ConnectionRefused', message: 'refused' };
    planes[1]!.snapshot = { phase: 'waiting', failures: 2, insecure: false, problem };
    expect(group.session()).toEqual(planes[1]!.snapshot);
    const onSecond = keys.find((k) => connectionOf(k, 3) === 1)!;
    const onFirst = keys.find((k) => connectionOf(k, 3) === 0)!;
    expect(group.session(onSecond).phase).toBe('waiting');
    expect(group.session(onFirst).phase).toBe('connected');
    expect(group.sessions().map((x) => x.phase)).toEqual(['connected', 'waiting', 'connected']);
  });

  it("re-emits every data plane's session events", () => {
    const { planes, group } = make();
    const seen: string[] = [];
    for (const e of ['ready', 'down', 'change']) group.on(e, () => seen.push(e));
    planes[2]!.emit('ready');
    planes[0]!.emit('down', 'lost');
    planes[1]!.emit('change');
    expect(seen).toEqual(['ready', 'down', 'change']);
  });
});

describe('JFO_SSH_CONNECTIONS', () => {
  const base = { JFO_NAMESPACE: 'ns', JFO_JUMPNODE: 'hpc' };
  it('defaults to 1 and is bounded to 1..16', () => {
    expect(parseRunnerConfig(base).connections).toBe(1);
    expect(parseRunnerConfig({ ...base, JFO_SSH_CONNECTIONS: '4' }).connections).toBe(4);
    expect(() => parseRunnerConfig({ ...base, JFO_SSH_CONNECTIONS: '0' })).toThrow(
      /JFO_SSH_CONNECTIONS/,
    );
    expect(() => parseRunnerConfig({ ...base, JFO_SSH_CONNECTIONS: '17' })).toThrow(
      /JFO_SSH_CONNECTIONS/,
    );
  });
});
