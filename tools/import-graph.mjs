#!/usr/bin/env node
// The import graph of src/ (issue 13): one line per module with what it imports, the
// layer of each, and every cycle and upward import, type-only imports included (marked "(types)"). Layers, lowest first:
//   core < io, data < tokenize < model < train, eval, pretrain, run < infer < jobs (src/*.ts, baseline/, export/, cache/)
//   < api (the async library API and its engine thread) < serve < commands (the CLI's table) < cli, index.ts (the package root)
//   node tools/import-graph.mjs [--check] [--write]
//   --check: exit 1 on a cycle or an upward import; --write: put the graph into docs/architecture.md
//   between its <!-- import-graph --> markers (the test checks that the document is current)
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const root = resolve(new URL('..', import.meta.url).pathname, 'src');
const files = [];
(function walk(d) { for (const f of readdirSync(d)) { const p = join(d, f); if (statSync(p).isDirectory()) walk(p); else if (p.endsWith('.ts')) files.push(p); } })(root);
const rel = (p) => relative(root, p);
// value edges (what runs) and type-only edges (import type / export type / imports whose every name is `type X`):
// both count for cycles and layers, since a type that crosses a layer couples the two as surely as a value
const graph = new Map(), typeOnly = new Map();
for (const f of files) {
  const src = readFileSync(f, 'utf8');
  const value = new Set(), types = new Set();
  for (const m of src.matchAll(/^(?:import|export)\s(type\s)?([^'"]*?)from\s+'(\.[^']+)'/gm)) {
    const dep = rel(resolve(dirname(f), m[3].replace(/\.js$/, '.ts')));
    const names = /\{([^}]*)\}/.exec(m[2])?.[1].split(',').map((x) => x.trim()).filter(Boolean) ?? [];
    const onlyTypes = m[1] !== undefined || (names.length > 0 && !/\*|^\s*\w+\s*,?\s*\{?/.test(m[2].replace(/\{[^}]*\}/, '')) && names.every((x) => x.startsWith('type ')));
    (onlyTypes ? types : value).add(dep);
  }
  for (const d of value) types.delete(d);
  graph.set(rel(f), [...value, ...types].sort());
  typeOnly.set(rel(f), types);
}
const LAYERS = [['core'], ['io', 'data'], ['tokenize'], ['model'], ['train', 'eval', 'pretrain', 'run'], ['infer'], ['jobs', 'baseline', 'export', 'cache'], ['api'], ['serve'], ['commands'], ['cli', 'root']];
const layerOf = (m) => { const top = m === 'index.ts' ? 'root' : m.includes('/') ? m.split('/')[0] : 'jobs'; return LAYERS.findIndex((l) => l.includes(top)); };
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
const lines = [...graph].sort().map(([m, deps]) => `${m} [${LAYERS[layerOf(m)]?.join('/') ?? '?'}]: ${deps.map((d) => (typeOnly.get(m).has(d) ? `${d} (types)` : d)).join(', ') || '—'}`);
const typeEdges = [...typeOnly.values()].reduce((a, s) => a + s.size, 0);
const summary = `${graph.size} modules, ${[...graph.values()].reduce((a, d) => a + d.length, 0) - typeEdges} value and ${typeEdges} type-only imports (both count); ${cycles.length} cycle(s)${cycles.length ? ':\n  ' + cycles.join('\n  ') : ''}; ${upward.length} upward import(s)${upward.length ? ':\n  ' + upward.join('\n  ') : ''}`;
console.log(lines.join('\n') + `\n\n${summary}`);
export const section = `<!-- import-graph -->\n\`\`\`\n${lines.join('\n')}\n\n${summary}\n\`\`\`\n<!-- /import-graph -->`;
const doc = resolve(root, '..', 'docs', 'architecture.md');
const text = readFileSync(doc, 'utf8');
const current = text.replace(/<!-- import-graph -->[\s\S]*<!-- \/import-graph -->/, section);
if (process.argv.includes('--write')) writeFileSync(doc, current);
else if (current !== text) console.log('\ndocs/architecture.md: the import graph there is not current (node tools/import-graph.mjs --write)');
if (process.argv.includes('--check') && current !== text) process.exit(1);
if (process.argv.includes('--check') && (cycles.length || upward.length)) process.exit(1);
