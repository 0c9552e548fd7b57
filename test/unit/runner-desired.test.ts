import ssh2 from 'ssh2';
import type { ForwardedServer, JumpNode } from '../../src/api/types.js';
import { connectionSettings } from '../../src/runner/connection-settings.js';
import { desiredForwards, forwardInputs } from '../../src/runner/desired.js';
import type { PrivateKeyFile } from '../../src/runner/key-file.js';

const HOST_KEY =
  'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKWjN7XNNBlcA0MVvVN5NKHcysiKQ343T5InyjMBSoNb test';

function fs(
  name: string,
  spec: Partial<ForwardedServer['spec']>,
  status: ForwardedServer['status'] = {},
  created = '2026-01-01T00:00:00Z',
): ForwardedServer {
  return {
    apiVersion: 'forward.hub.jupyter.org/v1alpha1',
    kind: 'ForwardedServer',
    metadata: { name, namespace: 'ns', creationTimestamp: created },
    spec: { user: { name, id: 1 }, startId: 's', jumpNodeRef: { name: 'jn' }, ...spec },
    status,
  };
}

const target = { host: '10.0.0.5', port: 8888 };

describe('desiredForwards', () => {
  it('listens for servers of this node that have a target and a runner port', () => {
    const d = desiredForwards(
      [
        fs('ready', { target }, { runnerPort: 20001 }),
        fs('no-port', { target }),
        fs('no-target', {}, { runnerPort: 20003 }),
        fs('other-node', { target, jumpNodeRef: { name: 'other' } }, { runnerPort: 20004 }),
        fs('direct', { target, jumpNodeRef: undefined }, { runnerPort: 20005 }),
        {
          ...fs('going', { target }, { runnerPort: 20006 }),
          metadata: { name: 'going', namespace: 'ns', deletionTimestamp: 'x' },
        },
      ],
      'jn',
    );
    expect(d.local).toEqual([{ key: 'ns/ready', port: 20001, target }]);
    expect([...d.servers.keys()].sort()).toEqual(['ns/no-port', 'ns/no-target', 'ns/ready']);
    expect(d.conflicts.size).toBe(0);
  });

  it('keeps no forward, local or remote, of a cancelled server', () => {
    const rf = { bindPort: 9000, target: { host: 'hub.jhub.svc', port: 8081 } };
    const d = desiredForwards(
      [
        fs(
          'cancelled',
          { target, remoteForward: rf, cancelRequested: true },
          { runnerPort: 20001 },
        ),
      ],
      'jn',
    );
    expect(d.local).toEqual([]);
    expect(d.remote).toEqual([]);
    expect([...d.servers.keys()]).toEqual(['ns/cancelled']);
  });

  it('gives a clashing port to the older server and reports the other', () => {
    const d = desiredForwards(
      [
        fs('young', { target }, { runnerPort: 20001 }, '2026-01-02T00:00:00Z'),
        fs('old', { target }, { runnerPort: 20001 }, '2026-01-01T00:00:00Z'),
      ],
      'jn',
    );
    expect(d.local.map((l) => l.key)).toEqual(['ns/old']);
    expect(d.conflicts.get('ns/young')).toBe('runner port 20001 is already used by old');
  });

  it('registers remote forwards (default bind address localhost) and reports clashes', () => {
    const rf = { bindPort: 9000, target: { host: 'hub.jhub.svc', port: 8081 } };
    const d = desiredForwards(
      [
        fs('a', { remoteForward: rf }),
        fs('b', { remoteForward: { ...rf, bindAddress: '0.0.0.0' } }, {}, '2026-01-02T00:00:00Z'),
        fs('c', { remoteForward: rf }, {}, '2026-01-03T00:00:00Z'),
      ],
      'jn',
    );
    expect(d.remote).toEqual([
      { key: 'ns/a', bindAddress: 'localhost', bindPort: 9000, target: rf.target },
      { key: 'ns/b', bindAddress: '0.0.0.0', bindPort: 9000, target: rf.target },
    ]);
    expect(d.conflicts.get('ns/c')).toBe('remote forward localhost:9000 is already used by a');
  });
});

describe('connectionSettings', () => {
  const key = ssh2.utils.generateKeyPairSync('ed25519');
  const jn = (spec: Partial<JumpNode['spec']> = {}): JumpNode => ({
    apiVersion: 'forward.hub.jupyter.org/v1alpha1',
    kind: 'JumpNode',
    metadata: { name: 'jn', namespace: 'ns' },
    spec: {
      host: 'jump',
      username: 'tunnel',
      privateKeySecretRef: { name: 'key' },
      hostKeys: [HOST_KEY],
      ...spec,
    },
  });
  const path = '/etc/key/ssh-privatekey';
  const file = (content: string): PrivateKeyFile => ({
    path,
    data: Buffer.from(content).toString('base64'),
  });
  const good = file(key.private);

  it.each([
    ['no JumpNode', undefined, good, 'JumpNodeNotFound'],
    ['no key file read yet', jn(), undefined, 'KeyUnreadable'],
    ['an unreadable key file', jn(), { path, error: 'EACCES' }, 'KeyUnreadable'],
    ['no key file (no Secret, or no such key in it)', jn(), { path }, 'KeyNotFound'],
    ['not a key', jn(), file('hello'), 'KeyInvalid'],
    ['a public key', jn(), file(key.public), 'KeyInvalid'],
    ['no usable host key', jn({ hostKeys: ['ssh-ed25519 AAAA'] }), good, 'HostKeysInvalid'],
  ])('refuses to try with %s', (_name, j, s, reason) => {
    const r = connectionSettings(j, s);
    expect(r.ok).toBe(false);
    expect((r as { reason: string }).reason).toBe(reason);
  });

  it('applies the CRD defaults and identifies the settings', () => {
    const r = connectionSettings(jn(), good);
    if (!r.ok) throw new Error(r.message);
    expect(r.settings).toMatchObject({
      host: 'jump',
      port: 22,
      username: 'tunnel',
      keepaliveIntervalMs: 10_000,
      keepaliveCountMax: 3,
      insecureSkipHostKeyCheck: false,
    });
    expect(r.settings.hostKeys.map((k) => k.type)).toEqual(['ssh-ed25519']);
    const same = connectionSettings(jn(), good);
    const moved = connectionSettings(jn({ port: 2222 }), good);
    expect(same.ok && same.settings.identity).toBe(r.settings.identity);
    expect(moved.ok && moved.settings.identity).not.toBe(r.settings.identity);
  });

  it('connects without host keys only when insecureSkipHostKeyCheck is set', () => {
    const r = connectionSettings(jn({ hostKeys: [], insecureSkipHostKeyCheck: true }), good);
    expect(r.ok && r.settings.insecureSkipHostKeyCheck).toBe(true);
  });
});

describe('forwardInputs', () => {
  const base = (): ForwardedServer => {
    const s = fs('a', { target }, { runnerPort: 1 });
    s.metadata.uid = 'u1';
    s.metadata.generation = 2;
    return s;
  };

  it('ignores what the forwards do not depend on (status conditions, resourceVersion)', () => {
    const other = base();
    other.metadata.resourceVersion = '999';
    other.status = {
      ...other.status,
      conditions: [
        {
          type: 'TunnelReady',
          status: 'True',
          reason: 'Forwarding',
          message: 'm',
          lastTransitionTime: '2026-12-06T00:00:00Z',
        },
      ],
    };
    expect(forwardInputs(other)).toBe(forwardInputs(base()));
  });

  it.each<[string, (s: ForwardedServer) => void]>([
    ['runnerPort', (s) => (s.status = { ...s.status, runnerPort: 2 })],
    ['spec.target', (s) => (s.spec.target = { host: '10.0.0.6', port: 8888 })],
    ['spec.cancelRequested', (s) => (s.spec.cancelRequested = true)],
    ['deletionTimestamp', (s) => (s.metadata.deletionTimestamp = '2026-12-06T00:00:00Z')],
    ['generation', (s) => (s.metadata.generation = 3)],
    ['uid (a new object of the same name)', (s) => (s.metadata.uid = 'u2')],
  ])('changes with %s', (_what, change) => {
    const other = base();
    change(other);
    expect(forwardInputs(other)).not.toBe(forwardInputs(base()));
  });
});
