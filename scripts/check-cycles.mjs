#!/usr/bin/env node
// Fails (exit 1) when the modules under src/ import each other in a cycle, and prints each cycle.
// Every import counts: static, `import type`, re-exports (`export ... from`) and `import()`, since
// a type-only cycle still ties two modules together for a reader. Module paths are resolved by the
// TypeScript compiler with the project's tsconfig.json, so `./x.js` finds `./x.ts`.
//
// Usage: node scripts/check-cycles.mjs [dir]   (default: src)
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import ts from 'typescript';

const root = resolve(new URL('..', import.meta.url).pathname);
const dir = resolve(root, process.argv[2] ?? 'src');

const configPath = join(root, 'tsconfig.json');
const { config } = ts.readConfigFile(configPath, ts.sys.readFile);
const { options } = ts.parseJsonConfigFileContent(config, ts.sys, root);

function listSources(d) {
  const out = [];
  for (const e of readdirSync(d, { withFileTypes: true })) {
    const p = join(d, e.name);
    if (e.isDirectory()) out.push(...listSources(p));
    else if (/\.(m|c)?tsx?$/.test(e.name) && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** The module specifiers a file imports, found by the TypeScript scanner (comments ignored). */
function importsOf(file) {
  const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  return info.importedFiles.map((f) => f.fileName);
}

const files = listSources(dir);
const inScope = new Set(files);
const edges = new Map();
for (const file of files) {
  const targets = new Set();
  for (const spec of importsOf(file)) {
    const r = ts.resolveModuleName(spec, file, options, ts.sys).resolvedModule;
    if (r && inScope.has(resolve(r.resolvedFileName))) targets.add(resolve(r.resolvedFileName));
  }
  edges.set(file, [...targets].sort());
}

// Tarjan's strongly connected components: every component of more than one module (or a module
// importing itself) is a cycle.
let index = 0;
const idx = new Map();
const low = new Map();
const stack = [];
const onStack = new Set();
const cycles = [];
function visit(v) {
  idx.set(v, index);
  low.set(v, index);
  index++;
  stack.push(v);
  onStack.add(v);
  for (const w of edges.get(v)) {
    if (!idx.has(w)) {
      visit(w);
      low.set(v, Math.min(low.get(v), low.get(w)));
    } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
  }
  if (low.get(v) === idx.get(v)) {
    const scc = [];
    let w;
    do {
      w = stack.pop();
      onStack.delete(w);
      scc.push(w);
    } while (w !== v);
    if (scc.length > 1 || edges.get(v).includes(v)) cycles.push(scc.sort());
  }
}
for (const f of files) if (!idx.has(f)) visit(f);

const rel = (f) => relative(root, f);
if (cycles.length) {
  console.error(`Import cycles in ${rel(dir)}/ (${cycles.length}):`);
  for (const scc of cycles) {
    console.error(`  - ${scc.map(rel).join(', ')}`);
    for (const f of scc)
      for (const t of edges.get(f))
        if (scc.includes(t)) console.error(`      ${rel(f)} -> ${rel(t)}`);
  }
  process.exit(1);
}
console.log(`No import cycles among ${files.length} modules in ${rel(dir)}/`);
