import {
  escapeReference,
  labelValue,
  referenceServerName,
  runnerName,
  runnerSelector,
  serverLabels,
  serverResourceName,
  splitKey,
  objectKey,
} from '../../src/names.js';

const DNS1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

describe('escapeReference (escapism, safe=[a-z0-9-], "%" -> "-")', () => {
  // Expected values computed with Python escapism as the reference does.
  const cases: Record<string, [string, string]> = {
    'plain stays': ['alice', 'alice'],
    'uppercase is escaped per byte': ['Alice', '-41lice'],
    'dot, at and underscore': ['a.b@x.org', 'a-2eb-40x-2eorg'],
    'multi-byte UTF-8': ['jürgen', 'j-c3-bcrgen'],
    'emoji (4 bytes)': ['🙂', '-f0-9f-99-82'],
    'dash is safe': ['a-b', 'a-b'],
    empty: ['', ''],
  };
  for (const [name, [input, want]] of Object.entries(cases)) {
    it(name, () => expect(escapeReference(input)).toBe(want));
  }
});

describe('referenceServerName (the reference template, for compatibility)', () => {
  it.each([
    ['alice', '', 'jupyter-alice'],
    ['Alice', 'Server1', 'jupyter--41lice---53erver1'],
    ['a.b@x.org', 'my_srv', 'jupyter-a-2eb-40x-2eorg--my-5fsrv'],
  ])('%s / %s -> %s', (user, server, want) => {
    expect(referenceServerName(user, server)).toBe(want);
  });
});

describe('serverResourceName', () => {
  it('keeps the reference name for plain names', () => {
    expect(serverResourceName('alice', '')).toBe('jupyter-alice');
    expect(serverResourceName('alice', 'gpu-lab')).toBe('jupyter-alice--gpu-lab');
    expect(serverResourceName('john-doe', 'x1')).toBe('jupyter-john-doe--x1');
  });

  it('keeps the reference escaping as the readable head of escaped names', () => {
    const n = serverResourceName('Alice', 'Server1');
    expect(n.startsWith('jupyter--41lice---53erver1')).toBe(true);
    expect(n).toMatch(/---[0-9a-f]{10}$/);
  });

  it('is stable (pure)', () => {
    expect(serverResourceName('Ünïcode', 'srv')).toBe(serverResourceName('Ünïcode', 'srv'));
  });

  // Pairs that the reference maps to one name must get different names here.
  const collisions: Array<[[string, string], [string, string]]> = [
    [
      ['Alice', ''],
      ['-41lice', ''],
    ],
    [
      ['a-41', ''],
      ['aA', ''],
    ],
    [
      ['a', 'b'],
      ['a--b', ''],
    ],
    [
      ['a-', ''],
      ['a', ''],
    ],
    [
      ['a', ''],
      ['a', '-'],
    ],
    [
      ['x', 'a--b'],
      ['x--a', 'b'],
    ],
    [
      ['bob', 'Lab'],
      ['bob', '-4cab'],
    ],
  ];
  it.each(collisions)('separates %j from %j', (a, b) => {
    expect(referenceServerName(...a)).toBe(referenceServerName(...b));
    expect(serverResourceName(...a)).not.toBe(serverResourceName(...b));
  });

  const awkward: Array<[string, string]> = [
    ['alice', ''],
    ['Alice', 'Server1'],
    ['a'.repeat(255), ''],
    ['a'.repeat(60), 'b'.repeat(60)],
    ['用户', '服务器'],
    ['-', ''],
    ['---', '---'],
    ['a.b@x.org', 'my_srv'],
    ['1abc', ''],
    ['UPPER', 'CASE'],
    [' ', ' '],
    ['x', 'a'.repeat(300)],
  ];
  it.each(awkward)('%j / %j is a DNS-1035 label of at most 63 characters', (user, server) => {
    const n = serverResourceName(user, server);
    expect(n.length).toBeLessThanOrEqual(63);
    expect(n).toMatch(DNS1035);
  });

  it('gives distinct names to many similar long names (truncation keeps them apart)', () => {
    const names = new Set<string>();
    for (let i = 0; i < 2000; i++)
      names.add(serverResourceName(`${'u'.repeat(70)}${i}`, `s${i % 7}`));
    expect(names.size).toBe(2000);
  });

  it('never produces "---" in a verbatim name', () => {
    for (const [u, s] of [
      ['a', 'b'],
      ['a-b', 'c-d'],
      ['abc', ''],
    ]) {
      const n = serverResourceName(u!, s!);
      expect(n).toBe(referenceServerName(u!, s!));
      expect(n).not.toContain('---');
    }
  });
});

describe('labelValue', () => {
  it.each([
    ['alice', 'alice'],
    ['', ''],
  ])('%j -> %j', (raw, want) => expect(labelValue(raw)).toBe(want));

  it.each(['Alice', '-41lice', 'a'.repeat(100), '用户', '-', 'a.b@x.org', 'x_'])(
    '%j is a valid label value',
    (raw) => {
      const v = labelValue(raw);
      expect(v.length).toBeLessThanOrEqual(63);
      expect(v).toMatch(LABEL_VALUE);
    },
  );

  it('keeps escaped raw values apart', () => {
    expect(labelValue('Alice')).not.toBe(labelValue('-41lice'));
    expect(labelValue('a'.repeat(100))).not.toBe(labelValue('a'.repeat(101)));
  });
});

describe('labels and selectors', () => {
  it('server labels follow z2jh and app.kubernetes.io conventions', () => {
    expect(serverLabels('Alice', '', 'jupyter--41lice---0123456789')).toEqual({
      'app.kubernetes.io/name': 'jupyterhub-forward-operator',
      'app.kubernetes.io/component': 'singleuser-server',
      'app.kubernetes.io/managed-by': 'jupyterhub-forward-operator',
      'app.kubernetes.io/instance': 'jupyter--41lice---0123456789',
      component: 'singleuser-server',
      'hub.jupyter.org/username': labelValue('Alice'),
      'hub.jupyter.org/servername': '',
      'forward.hub.jupyter.org/forwardedserver': 'jupyter--41lice---0123456789',
    });
  });

  it('runner names and selectors derive from the JumpNode name', () => {
    expect(runnerName('hpc-login')).toBe('hpc-login-tunnel-runner');
    expect(runnerSelector('hpc-login')).toEqual({
      'app.kubernetes.io/name': 'jupyterhub-forward-operator',
      'app.kubernetes.io/component': 'tunnel-runner',
      'forward.hub.jupyter.org/jumpnode': 'hpc-login',
    });
    // JumpNode names are capped at 40 characters by the CRD, so this always fits 63.
    expect(runnerName('j'.repeat(40)).length).toBeLessThanOrEqual(63);
  });

  it('object keys round-trip', () => {
    expect(splitKey(objectKey('ns', 'a-b'))).toEqual({ namespace: 'ns', name: 'a-b' });
  });
});
