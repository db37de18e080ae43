#!/usr/bin/env node
// The import graph of src/ (issue 13): one line per module with what it imports, the
// layer of each, and every cycle and upward import. Layers, lowest first:
//   core < io, data < tokenize < model < train, eval, pretrain, run < infer < commands (src/*.ts, baseline/)
//   < api (the async library API and its engine thread) < serve < cli, index.ts (the package root)
//   node tools/import-graph.mjs [--check]   (--check: exit 1 on a cycle or an upward import)
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const root = resolve(new URL('..', import.meta.url).pathname, 'src');
const files = [];
(function walk(d) { for (const f of readdirSync(d)) { const p = join(d, f); if (statSync(p).isDirectory()) walk(p); else if (p.endsWith('.ts')) files.push(p); } })(root);
const rel = (p) => relative(root, p);
const graph = new Map();
for (const f of files) {
  const src = readFileSync(f, 'utf8');
  const deps = [...src.matchAll(/^(?:import|export)\s(?:type\s)?[^'"]*?from\s+'(\.[^']+)'/gm)]
    .filter((m) => !/^import type /.test(m[0]) && !/^export type /.test(m[0]))
    .map((m) => rel(resolve(dirname(f), m[1].replace(/\.js$/, '.ts'))));
  graph.set(rel(f), [...new Set(deps)].sort());
}
const LAYERS = [['core'], ['io', 'data'], ['tokenize'], ['model'], ['train', 'eval', 'pretrain', 'run'], ['infer'], ['commands', 'baseline'], ['api'], ['serve'], ['cli', 'root']];
const layerOf = (m) => { const top = m === 'index.ts' ? 'root' : m.includes('/') ? m.split('/')[0] : 'commands'; return LAYERS.findIndex((l) => l.includes(top)); };
const upward = [];
for (const [m, deps] of graph) for (const d of deps) if (layerOf(d) > layerOf(m)) upward.push(`${m} -> ${d}`);
const cycles = [];
const state = new Map(), stack = [];
function visit(m) {
  state.set(m, 1); stack.push(m);
  for (const d of graph.get(m) ?? []) {
    if (state.get(d) === 1) cycles.push([...stack.slice(stack.indexOf(d)), d].join(' -> '));
    else if (!state.get(d)) visit(d);
  }
  stack.pop(); state.set(m, 2);
}
for (const m of [...graph.keys()].sort()) if (!state.get(m)) visit(m);
for (const [m, deps] of [...graph].sort()) console.log(`${m} [${LAYERS[layerOf(m)]?.join('/') ?? '?'}]: ${deps.join(', ') || '—'}`);
console.log(`\n${graph.size} modules; ${cycles.length} cycle(s)${cycles.length ? ':\n  ' + cycles.join('\n  ') : ''}; ${upward.length} upward import(s)${upward.length ? ':\n  ' + upward.join('\n  ') : ''}`);
if (process.argv.includes('--check') && (cycles.length || upward.length)) process.exit(1);
