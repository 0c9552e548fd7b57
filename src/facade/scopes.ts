// JupyterHub's scope semantics, as far as the facade checks them (jupyterhub 5.5 scopes.py). Pure.
//
// A scope is `base` or `base!filter=value`. JupyterHub's `GET /hub/api/user` already returns
// expanded scopes; static tokens are expanded here with the same hierarchy. A request for
// `scope` on a resource passes when the caller holds `scope` unfiltered, or filtered to exactly
// that resource: `!user=<user>` or `!server=<user>/<server>` (a `!user=` grant covers every
// server of that user). Custom scopes are only ever checked unfiltered, as JupyterHub's
// `check_custom_scopes` does. `!group=` filters cannot be resolved without the hub's group data
// and never grant anything here.

/** The subscope tree of JupyterHub 5.5 (scopes.py `scope_definitions`, `subscopes` entries). */
const SUBSCOPES: Readonly<Record<string, readonly string[]>> = {
  'admin:users': ['admin:auth_state', 'users', 'read:roles:users', 'delete:users'],
  users: ['read:users', 'list:users', 'users:activity'],
  'list:users': ['read:users:name'],
  'read:users': [
    'read:users:name',
    'read:users:groups',
    'read:users:activity',
    'read:servers',
    'read:users:shares',
  ],
  'users:activity': ['read:users:activity'],
  'admin:servers': ['admin:server_state', 'servers'],
  servers: ['read:servers', 'delete:servers'],
  'read:servers': ['read:users:name'],
};

export interface ParsedScope {
  base: string;
  /** Absent for an unfiltered grant. */
  filter?: { kind: string; value: string };
}

export function parseScope(scope: string): ParsedScope {
  const bang = scope.indexOf('!');
  if (bang < 0) return { base: scope };
  const base = scope.slice(0, bang);
  const rest = scope.slice(bang + 1);
  const eq = rest.indexOf('=');
  // `access:servers!user` without a value is JupyterHub's unexpanded self-filter: it only means
  // something relative to a token owner, which static tokens do not have. Keep it unmatchable.
  if (eq < 0) return { base, filter: { kind: rest, value: '' } };
  return { base, filter: { kind: rest.slice(0, eq), value: rest.slice(eq + 1) } };
}

/** Adds every subscope, keeping each grant's filter (JupyterHub's expand_scopes). */
export function expandScopes(scopes: readonly string[]): Set<string> {
  const out = new Set<string>();
  const visit = (scope: string) => {
    if (out.has(scope)) return;
    out.add(scope);
    const { base, filter } = parseScope(scope);
    const suffix = filter ? `!${filter.kind}=${filter.value}` : '';
    for (const sub of SUBSCOPES[base] ?? []) visit(sub + (filter && filter.value ? suffix : ''));
  };
  for (const s of scopes) visit(s);
  return out;
}

/** The resource a request acts on: nothing (global), a user, or one server of a user. */
export type ScopeTarget =
  | { kind: 'global' }
  | { kind: 'user'; user: string }
  | { kind: 'server'; user: string; server: string };

/** Does `held` (expanded) grant `required` on `target`? */
export function hasScope(
  held: ReadonlySet<string>,
  required: string,
  target: ScopeTarget,
): boolean {
  for (const scope of held) {
    const p = parseScope(scope);
    if (p.base !== required) continue;
    if (!p.filter) return true;
    if (target.kind === 'global') continue;
    const { kind, value } = p.filter;
    if (!value) continue;
    if (kind === 'user' && value === target.user) return true;
    if (
      kind === 'server' &&
      target.kind === 'server' &&
      value === `${target.user}/${target.server}`
    )
      return true;
  }
  return false;
}

/** JupyterHub's 403 text for a failed scope check. */
export function scopeDeniedMessage(required: readonly string[]): string {
  return `Action is not authorized with current scopes; requires any of [${required.join(', ')}]`;
}
