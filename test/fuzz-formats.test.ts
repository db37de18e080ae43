// Seeded random damage (truncate, flip, splice, enlarge) to every file format ja-bert
// reads: each case ends in a correct read or in one clean error line naming the file —
// never a signal, a hang or a stack trace. JA_BERT_FUZZ_CASES sets the cases per format
// (default 300; more for a longer local run).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { tempDir } from './helpers.js';

const CASES = Number(process.env.JA_BERT_FUZZ_CASES ?? 300);
const CHILD = new URL('./fuzz-child.js', import.meta.url).pathname;
const FORMATS = ['safetensors', 'config', 'torchbin', 'tf1-index', 'tf1-data', 'spiece', 'vocab', 'cache', 'seed-json', 'tsv', 'csv', 'jsonl', 'targz'];

for (const format of FORMATS) {
  test(`fuzz ${format}: ${CASES} damaged files, each read cleanly or refused in one line naming the file`, (t) => {
    const work = tempDir(t);
    const r = spawnSync(process.execPath, [CHILD, format, '20261130', String(CASES), work], { encoding: 'utf8', timeout: 300_000, env: { ...process.env, JA_BERT_THREADS: '1' } });
    const last = r.stderr.trim().split('\n').filter((l) => l.startsWith('case ')).pop();
    assert.equal(r.signal, null, `${format}: killed by ${r.signal} (hang or crash) at ${last}`);
    assert.equal(r.status, 0, `${format}: ${r.stderr.split('\n').filter((l) => !l.startsWith('case ')).join('\n')}`);
    const counts = JSON.parse(r.stdout) as { ok: number; refused: number };
    assert.equal(counts.ok + counts.refused, CASES);
    assert.ok(counts.refused > 0, `${format}: no damaged file was refused`);
  });
}
