import { expandScopes, hasScope, parseScope, type ScopeTarget } from '../../src/facade/scopes.js';

const alice: ScopeTarget = { kind: 'server', user: 'alice', server: 'x' };
const aliceDefault: ScopeTarget = { kind: 'server', user: 'alice', server: '' };
const bob: ScopeTarget = { kind: 'server', user: 'bob', server: 'x' };
const global: ScopeTarget = { kind: 'global' };

describe('hasScope (JupyterHub filter semantics)', () => {
  it.each<[string[], string, ScopeTarget, boolean]>([
    [['access:servers'], 'access:servers', alice, true],
    [['access:servers'], 'access:servers', global, true],
    [['access:servers!user=alice'], 'access:servers', alice, true],
    [['access:servers!user=alice'], 'access:servers', aliceDefault, true],
    [['access:servers!user=alice'], 'access:servers', bob, false],
    [['access:servers!server=alice/x'], 'access:servers', alice, true],
    [['access:servers!server=alice/x'], 'access:servers', aliceDefault, false],
    [['access:servers!server=alice/'], 'access:servers', aliceDefault, true],
    [['access:servers!server=alice/x'], 'access:servers', bob, false],
    [
      ['access:servers!server=alice/x'],
      'access:servers',
      { kind: 'server', user: 'alice/x', server: '' },
      false,
    ],
    [['access:servers!user=alice'], 'access:servers', global, false],
    [['access:servers!group=staff'], 'access:servers', alice, false],
    [['access:servers!user'], 'access:servers', alice, false],
    [['read:servers'], 'access:servers', alice, false],
    [['custom:servers:list'], 'custom:servers:list', global, true],
    [['custom:servers:list!user=alice'], 'custom:servers:list', global, false],
    [['custom:sshnode:restart'], 'custom:servers:list', global, false],
  ])('%j grants %s on %j: %s', (held, required, target, expected) => {
    expect(hasScope(expandScopes(held), required, target)).toBe(expected);
  });
});

describe('expandScopes', () => {
  it.each<[string[], string[]]>([
    [['servers'], ['servers', 'read:servers', 'delete:servers', 'read:users:name']],
    [
      ['admin:servers'],
      ['admin:servers', 'admin:server_state', 'servers', 'read:servers', 'delete:servers'],
    ],
    [
      ['servers!user=alice'],
      ['servers!user=alice', 'read:servers!user=alice', 'delete:servers!user=alice'],
    ],
    [['admin:users'], ['users', 'read:users', 'read:servers', 'delete:users']],
    [['access:servers'], ['access:servers']],
  ])('%j includes %j', (held, included) => {
    const expanded = expandScopes(held);
    for (const s of included) expect(expanded).toContain(s);
  });

  it('does not invent scopes (access:servers is not implied by servers)', () => {
    expect(expandScopes(['servers'])).not.toContain('access:servers');
    expect(expandScopes(['admin:users'])).not.toContain('access:servers');
  });
});

describe('parseScope', () => {
  it.each([
    ['read:servers', { base: 'read:servers' }],
    [
      'access:servers!server=a/b',
      { base: 'access:servers', filter: { kind: 'server', value: 'a/b' } },
    ],
    ['access:servers!user=a=b', { base: 'access:servers', filter: { kind: 'user', value: 'a=b' } }],
  ])('%s', (scope, parsed) => expect(parseScope(scope)).toEqual(parsed));
});
