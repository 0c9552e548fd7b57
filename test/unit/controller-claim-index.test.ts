import type { V1Lease } from '@kubernetes/client-node';
import { API_VERSION, type ForwardedServer } from '../../src/api/types.js';
import { ClaimIndex } from '../../src/controller/claim-index.js';
import { buildPortClaim } from '../../src/resources/ports.js';

const fs = (name: string, ns = 'hub'): ForwardedServer => ({
  apiVersion: API_VERSION,
  kind: 'ForwardedServer',
  metadata: { name, namespace: ns, uid: `uid-${ns}-${name}` },
  spec: { user: { name: 'a', id: 1 }, startId: 's' },
});
const claim = (server: ForwardedServer, jumpNode: string, port: number): V1Lease =>
  buildPortClaim(server, jumpNode, port);

describe('ClaimIndex', () => {
  it('finds the claims of a holder and the ports of a JumpNode', () => {
    const idx = new ClaimIndex();
    const a = fs('a');
    const b = fs('b');
    idx.upsert(claim(a, 'login', 20001));
    idx.upsert(claim(a, 'other', 20001));
    idx.upsert(claim(b, 'login', 20002));
    expect(
      idx
        .heldBy('hub', a.metadata.uid!)
        .map((c) => `${c.jumpNode}:${c.port}:${c.holder}`)
        .sort(),
    ).toEqual(['login:20001:a', 'other:20001:a']);
    expect([...idx.taken('hub', 'login')].sort()).toEqual([20001, 20002]);
    expect([...idx.taken('hub', 'other')]).toEqual([20001]);
    expect(idx.heldBy('hub', 'uid-nobody')).toEqual([]);
    expect(idx.taken('hub', 'nowhere').size).toBe(0);
  });

  it('keeps namespaces apart', () => {
    const idx = new ClaimIndex();
    idx.upsert(claim(fs('a', 'one'), 'login', 20001));
    idx.upsert(claim(fs('a', 'two'), 'login', 20005));
    expect([...idx.taken('one', 'login')]).toEqual([20001]);
    expect([...idx.taken('two', 'login')]).toEqual([20005]);
    expect(idx.heldBy('two', 'uid-one-a')).toEqual([]);
    expect(idx.heldBy('one', 'uid-one-a').map((c) => c.port)).toEqual([20001]);
  });

  it('frees the port and forgets the holder on delete, and is idempotent', () => {
    const idx = new ClaimIndex();
    const a = fs('a');
    const lease = claim(a, 'login', 20001);
    idx.upsert(lease);
    idx.upsert(lease); // an update with the same content
    expect(idx.size()).toBe(1);
    idx.remove(lease);
    idx.remove(lease);
    expect(idx.size()).toBe(0);
    expect(idx.taken('hub', 'login').size).toBe(0);
    expect(idx.heldBy('hub', a.metadata.uid!)).toEqual([]);
  });

  it('moves a claim whose controller changes on update', () => {
    const idx = new ClaimIndex();
    const a = fs('a');
    const b = fs('b');
    const lease = claim(a, 'login', 20001);
    idx.upsert(lease);
    const moved = claim(b, 'login', 20001);
    idx.upsert(moved);
    expect(idx.heldBy('hub', a.metadata.uid!)).toEqual([]);
    expect(idx.heldBy('hub', b.metadata.uid!).map((c) => c.lease)).toEqual([moved]);
    expect([...idx.taken('hub', 'login')]).toEqual([20001]);
  });

  it('drops an object that stops being a claim, and ignores one that never was', () => {
    const idx = new ClaimIndex();
    const lease = claim(fs('a'), 'login', 20001);
    idx.upsert(lease);
    idx.upsert({ ...lease, metadata: { ...lease.metadata, labels: {} } });
    expect(idx.size()).toBe(0);
    expect(idx.taken('hub', 'login').size).toBe(0);
    idx.upsert({ metadata: { name: 'runner-leader', namespace: 'hub' } });
    expect(idx.size()).toBe(0);
  });

  it('indexes a claim without a controller by JumpNode only', () => {
    const idx = new ClaimIndex();
    const lease = claim(fs('a'), 'login', 20001);
    idx.upsert({ ...lease, metadata: { ...lease.metadata, ownerReferences: [] } });
    expect([...idx.taken('hub', 'login')]).toEqual([20001]);
    expect(idx.heldBy('hub', 'uid-hub-a')).toEqual([]);
  });

  it('taken() is live: it sees claims added after it was read', () => {
    const idx = new ClaimIndex();
    idx.upsert(claim(fs('a'), 'login', 20001));
    const taken = idx.taken('hub', 'login');
    idx.upsert(claim(fs('b'), 'login', 20002));
    expect(taken.has(20002)).toBe(true);
  });
});
