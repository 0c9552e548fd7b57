import { API_VERSION, type ForwardedServer, type JumpNode } from '../../src/api/types.js';
import {
  buildPortClaim,
  choosePort,
  parseClaim,
  portRange,
  probeRank,
} from '../../src/resources/ports.js';
import { isSubset } from '../../src/resources/meta.js';

const fs = (name: string, ns = 'hub'): ForwardedServer => ({
  apiVersion: API_VERSION,
  kind: 'ForwardedServer',
  metadata: { name, namespace: ns, uid: `uid-${name}` },
  spec: { user: { name: 'a', id: 1 }, startId: 's' },
});
const range = { start: 20000, end: 20009 };
const none = () => false;

describe('port choice', () => {
  it('is a fixed order per server: the same server always starts at the same port', () => {
    expect(choosePort(fs('a'), range, none)).toBe(choosePort(fs('a'), range, none));
    const firsts = new Set(
      ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map((n) => choosePort(fs(n), range, none)),
    );
    expect(firsts.size).toBeGreaterThan(3);
  });

  it('skips unavailable ports in probe order and reports exhaustion', () => {
    const first = choosePort(fs('a'), range, none)!;
    const second = choosePort(fs('a'), range, (p) => p === first)!;
    expect(second).toBe(first === range.end ? range.start : first + 1);
    expect(probeRank(fs('a'), range, first)).toBe(0);
    expect(probeRank(fs('a'), range, second)).toBe(1);
    expect(choosePort(fs('a'), range, () => true)).toBeUndefined();
  });

  it('prefers the port the server had when it is free and in range', () => {
    expect(choosePort(fs('a'), range, none, 20007)).toBe(20007);
    expect(choosePort(fs('a'), range, (p) => p === 20007, 20007)).not.toBe(20007);
    expect(choosePort(fs('a'), range, none, 30000)).toBe(choosePort(fs('a'), range, none));
  });

  it('covers every port of the range exactly once', () => {
    const seen = new Set<number>();
    const taken = (p: number) => seen.has(p);
    for (let i = 0; i < 10; i++) seen.add(choosePort(fs('z'), range, taken)!);
    expect([...seen].sort()).toEqual([...Array(10).keys()].map((i) => 20000 + i));
  });

  it('uses the JumpNode range or the default', () => {
    const jn = { spec: { runner: {} } } as unknown as JumpNode;
    expect(portRange(jn)).toEqual({ start: 20000, end: 29999 });
    const jn2 = { spec: { runner: { portRange: { start: 5, end: 6 } } } } as unknown as JumpNode;
    expect(portRange(jn2)).toEqual({ start: 5, end: 6 });
  });
});

describe('port claims', () => {
  it('are Leases named after JumpNode and port, held by and controlled by the server', () => {
    const l = buildPortClaim(fs('jupyter-a'), 'hpc', 20003);
    expect(l.metadata?.name).toBe('hpc-port-20003');
    expect(l.spec?.holderIdentity).toBe('jupyter-a');
    expect(l.metadata?.ownerReferences?.[0]).toMatchObject({
      kind: 'ForwardedServer',
      uid: 'uid-jupyter-a',
      controller: true,
    });
    expect(parseClaim(l)).toEqual({ jumpNode: 'hpc', port: 20003, holder: 'jupyter-a' });
  });

  it('parse only well-formed claims', () => {
    const l = buildPortClaim(fs('x'), 'hpc', 20003);
    expect(parseClaim({ metadata: { ...l.metadata, name: 'other' } })).toBeUndefined();
    expect(parseClaim({ metadata: { ...l.metadata, name: 'hpc-port-abc' } })).toBeUndefined();
    expect(parseClaim({ metadata: { name: 'hpc-port-1' } })).toBeUndefined();
  });
});

describe('isSubset', () => {
  it.each([
    ['extra keys in actual are fine', { a: 1 }, { a: 1, b: 2 }, true],
    ['a changed value is not', { a: 1 }, { a: 2 }, false],
    ['a missing key is not', { a: { b: 1 } }, { a: {} }, false],
    ['lists match element-wise', { l: [{ p: 1 }] }, { l: [{ p: 1, q: 2 }] }, true],
    ['lists of other length do not', { l: [1] }, { l: [1, 2] }, false],
    ['undefined in desired means "do not care"', { a: undefined }, {}, true],
    ['type mismatch', { a: '1' }, { a: 1 }, false],
  ])('%s', (_n, desired, actual, want) => {
    expect(isSubset(desired, actual)).toBe(want);
  });
});
