// The CRDs are the source of truth for validation; src/api/types.ts must describe the same shape.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { fullForwardedServer, fullJumpNode } from '../fixtures/full-objects.js';

interface Schema {
  type?: string;
  description?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
  additionalProperties?: Schema | boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
}

function loadCrd(file: string) {
  return parse(readFileSync(join(process.cwd(), 'crds', file), 'utf8'));
}

/** Every property path of a schema ("spec.user.name", "status.conditions[].type", ...). */
function schemaPaths(s: Schema, prefix = ''): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(s.properties ?? {})) {
    const p = prefix ? `${prefix}.${k}` : k;
    out.push(p);
    if (v.properties) out.push(...schemaPaths(v, p));
    if (v.items?.properties) out.push(...schemaPaths(v.items, `${p}[]`));
  }
  return out;
}

/** Property paths of an object literal; maps (additionalProperties) stop at the map itself. */
function objectPaths(o: unknown, schema: Schema, prefix = ''): string[] {
  const out: string[] = [];
  if (!o || typeof o !== 'object' || Array.isArray(o)) return out;
  for (const [k, v] of Object.entries(o)) {
    const p = prefix ? `${prefix}.${k}` : k;
    out.push(p);
    const sub = schema.properties?.[k];
    if (!sub) continue;
    if (Array.isArray(v)) {
      if (sub.items?.properties) out.push(...objectPaths(v[0], sub.items, `${p}[]`));
    } else if (sub.properties) out.push(...objectPaths(v, sub, p));
  }
  return out;
}

function undocumented(s: Schema, path = '<root>'): string[] {
  const out: string[] = [];
  if (path !== 'metadata' && !s.description) out.push(path);
  for (const [k, v] of Object.entries(s.properties ?? {})) {
    if (path === '<root>' && k === 'metadata') continue;
    out.push(...undocumented(v, path === '<root>' ? k : `${path}.${k}`));
  }
  if (s.items) out.push(...undocumented(s.items, `${path}[]`));
  return out;
}

const cases = [
  { file: 'forwardedservers.yaml', kind: 'ForwardedServer', full: fullForwardedServer() },
  { file: 'jumpnodes.yaml', kind: 'JumpNode', full: fullJumpNode() },
];

describe.each(cases)('$file', ({ file, kind, full }) => {
  const crd = loadCrd(file);
  const version = crd.spec.versions[0];
  const schema: Schema = version.schema.openAPIV3Schema;

  it('is a namespaced v1alpha1 CRD of group forward.hub.jupyter.org with a status subresource', () => {
    expect(crd.spec.group).toBe('forward.hub.jupyter.org');
    expect(crd.spec.scope).toBe('Namespaced');
    expect(crd.spec.names.kind).toBe(kind);
    expect(version.name).toBe('v1alpha1');
    expect(version.subresources).toEqual({ status: {} });
    expect(crd.spec.names.shortNames.length).toBeGreaterThan(0);
    expect(version.additionalPrinterColumns.length).toBeGreaterThanOrEqual(4);
  });

  it('documents every field (kubectl explain teaches)', () => {
    expect(undocumented(schema)).toEqual([]);
  });

  it('has exactly the fields of the TypeScript type', () => {
    const fromSchema = schemaPaths(schema)
      .filter((p) => !p.startsWith('metadata'))
      .sort();
    const fromType = objectPaths(full, schema)
      .filter((p) => !p.startsWith('metadata'))
      .sort();
    expect(fromType).toEqual(fromSchema);
  });

  it('preserves no unknown fields anywhere (structural, prunable)', () => {
    expect(JSON.stringify(schema)).not.toContain('x-kubernetes-preserve-unknown-fields');
  });
});
