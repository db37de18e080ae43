// The source tree's layering (issue 13): no import cycle and no upward import
// between layers (core < io/data < tokenize < model < train/eval/pretrain/run
// < infer < commands < api < serve < cli/package root), as tools/import-graph.mjs checks; and
// the graph printed in docs/architecture.md is the current one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const ROOT = new URL('../../', import.meta.url).pathname;

test('src/ has no import cycle and no upward import; docs/architecture.md lists the current graph', () => {
  const r = spawnSync(process.execPath, [join(ROOT, 'tools/import-graph.mjs'), '--check'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout.split('\n').slice(-8).join('\n'));
  assert.match(r.stdout, /0 cycle\(s\); 0 upward import\(s\)/);
});
