// Cacheable pair heads end to end through the CLI on a tiny random BERT:
// compare (every head), cache build (incremental, hashed), rank (equal to
// predict's probabilities), and the bad inputs that must never give a wrong answer.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nativeKernels } from '../src/core/native.js';
import { saveBert } from '../src/model/load.js';
import { Bert } from '../src/model/bert.js';
import { makeConfig } from '../src/model/config.js';
import { faultEnv, SHARED_DIR } from './helpers.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const HEADS = ['cross', 'bi', 'additive', 'dot', 'lowrank', 'poly', 'late', 'bi+contrastive'];
let dir = '', model = '', pairs = '', texts = '', cmp = '';
const cli = (...args: string[]) => spawnSync(join(ROOT, 'bin/ja-bert'), args, { encoding: 'utf8' });
let titles: string[] = [];

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'jabert-heads-'));
  model = join(dir, 'model');
  const cfg = makeConfig({ vocab_size: 32000, hidden_size: 32, num_hidden_layers: 1, num_attention_heads: 4, intermediate_size: 64, max_position_embeddings: 64 });
  saveBert(new Bert(cfg, { kernels: nativeKernels(), seed: 1 }), model);
  copyFileSync(join(SHARED_DIR, 'models/wiki-ja-albert-spm/wiki-ja_albert.model'), join(model, 'spiece.model'));
  const all = JSON.parse(readFileSync(join(SHARED_DIR, 'data/manpages-ja-links/negaposi.json'), 'utf8')) as [string, string, number][];
  const slice = all.slice(0, 90);
  pairs = join(dir, 'pairs.json');
  writeFileSync(pairs, JSON.stringify(slice));
  const body = JSON.parse(readFileSync(join(SHARED_DIR, 'data/manpages-ja-links/honbun_data.json'), 'utf8')) as Record<string, string>;
  titles = [...new Set(slice.flatMap(([a, b]) => [a, b]))];
  texts = join(dir, 'texts.json');
  writeFileSync(texts, JSON.stringify(Object.fromEntries(titles.map((t) => [t, body[t]!]))));
  cmp = join(dir, 'cmp');
  const r = cli('compare', '--model', model, '--texts', texts, '--pairs', pairs, '--output', cmp, '--max-steps', '3', '--batch-size', '8',
    '--max-seq-length', '32', '--learning-rate', '1e-3', '--timing-pairs', '5');
  assert.equal(r.status, 0, r.stderr);
});
process.on('exit', () => { if (dir) rmSync(dir, { recursive: true, force: true }); });

test('compare trains every head on one split and writes the table, JSON and plot', () => {
  const rows = JSON.parse(readFileSync(join(cmp, 'compare.json'), 'utf8')) as Array<Record<string, number | string>>;
  assert.deepEqual(rows.map((r) => r.head), HEADS);
  for (const r of rows) {
    for (const k of ['accuracy', 'macro_f1', 'train_seconds', 'pair_ms', 'rank10k_ms', 'cache_bytes_per_text']) assert.equal(typeof r[k], 'number', `${String(r.head)}.${k}`);
    assert.ok((r.accuracy as number) >= 0 && (r.accuracy as number) <= 1);
    assert.ok((r.pair_ms as number) > 0 && (r.rank10k_ms as number) > 0);
    assert.equal(r.global_step, 3);
    assert.equal(r.eval_examples, 30);
    // the table's accuracy is the head's own eval_results.txt
    const ev = readFileSync(join(cmp, String(r.head), 'eval_results.txt'), 'utf8');
    assert.match(ev, new RegExp(`eval_accuracy = ${String(r.accuracy).slice(0, 6)}`));
  }
  // representation sizes follow from the heads: D = 32, side length 16 tokens at most
  const by = Object.fromEntries(rows.map((r) => [r.head, r]));
  assert.equal(by.cross!.cache_bytes_per_text, 0);
  assert.equal(by.bi!.cache_bytes_per_text, 32 * 4);
  assert.equal(by.poly!.cache_bytes_per_text, 32 * 4);
  assert.equal(by['bi+contrastive']!.cache_bytes_per_text, 32 * 4);
  const tokens = (by.dot!.cache_bytes_per_text as number) / (32 * 4);
  assert.ok(tokens > 2 && tokens <= 16, `dot stores ${tokens} rows per text`);
  assert.equal(by.lowrank!.cache_bytes_per_text, tokens * 64 * 4);
  assert.equal(by.late!.cache_bytes_per_text, tokens * 128 * 4);
  assert.equal(by.additive!.cache_bytes_per_text, tokens * (32 + 16) * 4); // b_j and U b_j (default dim 16)
  const md = readFileSync(join(cmp, 'compare.md'), 'utf8');
  for (const h of HEADS) assert.match(md, new RegExp(`^\\| ${h.replace('+', '\\+')} \\|`, 'm'));
  assert.match(readFileSync(join(cmp, 'compare.svg'), 'utf8'), /^<svg[^]*<\/svg>\n$/);
});

for (const head of ['dot', 'poly', 'late']) {
  test(`${head}: rank scores equal predict's probabilities for the same pairs (f32); a changed text is re-encoded`, () => {
    const F32 = ['--dtype', 'f32'];
    const m = join(cmp, head), cache = join(dir, `${head}.jabc`);
    let r = cli('cache', 'build', '--model', m, '--texts', texts, '--cache', cache, ...F32);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`${titles.length} texts \\(${titles.length} encoded, 0 reused\\)`));
    const query = titles[0]!;
    r = cli('rank', '--model', m, '--cache', cache, '--id', query, '--top', '5', ...F32);
    assert.equal(r.status, 0, r.stderr);
    const top = r.stdout.trim().split('\n').map((l) => { const [, score, id] = /^\s*\d+\s+(\S+)\s+(.+)$/.exec(l)!; return { id: id!, score: Number(score) }; });
    assert.equal(top.length, 5);
    assert.ok(!top.some((t) => t.id === query), 'the query is not its own candidate');
    for (let i = 1; i < top.length; i++) assert.ok(top[i - 1]!.score >= top[i]!.score);
    assert.match(r.stderr, new RegExp(`ranked ${titles.length - 1} cached candidates`));
    if (nativeKernels().bf16Supported) {
      // bf16 ranks the same candidates with probabilities within bf16's rounding
      const rb = cli('rank', '--model', m, '--cache', cache, '--id', query, '--top', '5', '--dtype', 'bf16');
      assert.equal(rb.status, 0, rb.stderr);
      const s0 = Number(/^\s*1\s+(\S+)/.exec(rb.stdout)![1]);
      assert.ok(Math.abs(s0 - top[0]!.score) < 5e-3, `bf16 top score ${s0} vs f32 ${top[0]!.score}`);
    }
    // the same pairs through predict (A and B encoded from text, no cache)
    const body = JSON.parse(readFileSync(texts, 'utf8')) as Record<string, string>;
    const inp = join(dir, `${head}-pairs.jsonl`), out = join(dir, `${head}-pred.jsonl`);
    writeFileSync(inp, top.map((t) => JSON.stringify({ text: body[query], text_b: body[t.id] })).join('\n') + '\n');
    r = cli('predict', '--model', m, '--input', inp, '--output', out, ...F32);
    assert.equal(r.status, 0, r.stderr);
    const probs = readFileSync(out, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { probabilities: Record<string, number> }).probabilities['1']!);
    top.forEach((t, i) => assert.ok(Math.abs(t.score - probs[i]!) < 2e-5, `${t.id}: rank ${t.score} vs predict ${probs[i]}`));
    // change the top candidate's text: only it is re-encoded, and rank uses the new text
    const changed = { ...body, [top[0]!.id]: 'まったく別の文章です。' + body[top[0]!.id]!.slice(0, 40) };
    const texts2 = join(dir, `${head}-texts2.json`);
    writeFileSync(texts2, JSON.stringify(changed));
    r = cli('cache', 'build', '--model', m, '--texts', texts2, '--cache', cache, ...F32);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`\\(1 encoded, ${titles.length - 1} reused\\)`));
    r = cli('rank', '--model', m, '--cache', cache, '--id', query, '--top', String(titles.length), ...F32);
    const after = new Map(r.stdout.trim().split('\n').map((l) => { const [, score, id] = /^\s*\d+\s+(\S+)\s+(.+)$/.exec(l)!; return [id!, Number(score)] as const; }));
    writeFileSync(inp, JSON.stringify({ text: body[query], text_b: changed[top[0]!.id] }) + '\n');
    r = cli('predict', '--model', m, '--input', inp, '--output', out, ...F32);
    const p2 = (JSON.parse(readFileSync(out, 'utf8').trim()) as { probabilities: Record<string, number> }).probabilities['1']!;
    assert.ok(Math.abs(after.get(top[0]!.id)! - p2) < 2e-5, `changed text: rank ${after.get(top[0]!.id)} vs predict ${p2}`);
    // --text: a new A text
    r = cli('rank', '--model', m, '--cache', cache, '--text', 'ファイルを開く', '--top', '3');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`ranked ${titles.length} cached candidates`));
  });
}

test('rank and cache refuse what would give a wrong answer: unknown id, another model, another head, a damaged file', () => {
  const dot = join(cmp, 'dot'), late = join(cmp, 'late'), cache = join(cmp, 'dot', 'cache.jabc');
  let r = cli('rank', '--model', dot, '--cache', cache, '--id', 'no-such-page(9)');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /no text with id "no-such-page\(9\)" in the cache/);
  r = cli('rank', '--model', late, '--cache', cache, '--id', titles[0]!);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /built for the dot head, the model has the late head/);
  // same head, other weights: a retrained dot model
  const other = join(dir, 'dot-other');
  r = cli('finetune', '--model', model, '--output', other, '--texts', texts, '--pairs', pairs, '--head', 'dot', '--max-steps', '1', '--batch-size', '8', '--max-seq-length', '32', '--seed', '9');
  assert.equal(r.status, 0, r.stderr);
  r = cli('rank', '--model', other, '--cache', cache, '--id', titles[0]!);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /built by another model/);
  r = cli('rank', '--model', join(cmp, 'cross'), '--cache', cache, '--id', titles[0]!);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /not a pair-head model/);
  const damaged = join(dir, 'damaged.jabc');
  copyFileSync(cache, damaged);
  truncateSync(damaged, statSync(damaged).size - 1000);
  r = cli('rank', '--model', dot, '--cache', damaged, '--id', titles[0]!);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /truncated or damaged/);
  writeFileSync(damaged, 'not a cache');
  r = cli('rank', '--model', dot, '--cache', damaged, '--id', titles[0]!);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /not a usable ja-bert cache/);
  r = cli('finetune', '--model', model, '--output', join(dir, 'badhead'), '--texts', texts, '--pairs', pairs, '--head', 'nope');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--head must be cross, .* got "nope"/);
  assert.throws(() => statSync(join(dir, 'badhead')), /ENOENT/, 'nothing written for a bad head');
});

test('a cache whose header was edited and re-hashed is refused field by field; bad rank options are one line', () => {
  const dot = join(cmp, 'dot'), cache = join(cmp, 'dot', 'cache.jabc');
  const buf = readFileSync(cache);
  const hlen = buf.readUInt32LE(12);
  const header = JSON.parse(buf.toString('utf8', 16, 16 + hlen)) as Record<string, unknown> & { entries: Array<Record<string, unknown>> };
  /** the cache with its header changed by `edit`, data kept, checksum recomputed */
  const forge = (edit: (h: typeof header) => void): string => {
    const h = JSON.parse(JSON.stringify(header)) as typeof header;
    edit(h);
    const hj = Buffer.from(JSON.stringify(h));
    const pre = Buffer.from(buf.subarray(0, 16)); pre.writeUInt32LE(hj.length, 12);
    const body = Buffer.concat([pre, hj, buf.subarray(16 + hlen, buf.length - 32)]);
    const p = join(dir, `forged-${Math.random().toString(36).slice(2)}.jabc`);
    writeFileSync(p, Buffer.concat([body, createHash('sha256').update(body).digest()]));
    return p;
  };
  const cases: Array<[(h: typeof header) => void, RegExp]> = [
    [(h) => { h.width = (h.width as number) * 2; }, /entries hold|starts at/],
    [(h) => { h.width = (h.width as number) / 2; h.floats = (h.floats as number) / 2; for (const e of h.entries) e.offset = (e.offset as number) / 2; }, /stores rows of width|starts at|data size/],
    [(h) => { h.entries[1]!.offset = 0; }, /starts at 0, expected/],
    [(h) => { h.entries[0]!.rows = -1; }, /missing fields/],
    [(h) => { h.entries[1]!.id = h.entries[0]!.id; }, /appears twice/],
    [(h) => { h.per_token = 'yes'; }, /wrong type/],
    [(h) => { h.hidden_size = 64; }, /hidden 64/],
  ];
  for (const [edit, re] of cases) {
    const r = cli('rank', '--model', dot, '--cache', forge(edit), '--id', titles[0]!);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  }
  for (const [args, re, code] of [[['--top=-1'], /--top must be an integer ≥ 1/, 2], [['--top', '1.5'], /--top must be an integer/, 2], [['--text', ' '], /--text is empty/, 1]] as Array<[string[], RegExp, number]>) {
    const r = cli('rank', '--model', dot, '--cache', cache, ...(args[0]!.startsWith('--text') ? [] : ['--id', titles[0]!]), ...args);
    assert.equal(r.status, code, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
  }
});

test('cache build: a killed build resumes from its progress file; an unwritable cache folder fails before encoding', () => {
  const dot = join(cmp, 'dot'), out = join(dir, 'resume.jabc');
  const args = ['cache', 'build', '--model', dot, '--texts', texts, '--cache', out, '--batch-size', '4', '--dtype', 'f32', '--save-seconds', '0'];
  // progress written after every batch (--save-seconds 0), killed at a file-system step part-way
  const countFile = join(dir, 'cache-events');
  const whole = spawnSync(join(ROOT, 'bin/ja-bert'), args, { encoding: 'utf8', env: { ...process.env, ...faultEnv({ JA_BERT_FAULT_COUNT: countFile }) } });
  assert.equal(whole.status, 0, whole.stderr);
  const ref = readFileSync(out);
  rmSync(out);
  const events = Number(readFileSync(countFile, 'utf8'));
  const k = spawnSync(join(ROOT, 'bin/ja-bert'), args, { encoding: 'utf8', env: { ...process.env, ...faultEnv({ JA_BERT_FAULT_AT: String(Math.round(events * 0.7)) }) } });
  assert.equal(k.signal, 'SIGKILL');
  assert.ok(existsSync(`${out}.partial`), 'progress on disk');
  const again = cli(...args);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stderr, /resuming from .*\.partial \(\d+ texts encoded before\)/);
  assert.match(again.stdout + again.stderr, /reused/);
  assert.deepEqual(readFileSync(out), ref, 'the resumed cache equals an uninterrupted build');
  assert.ok(!existsSync(`${out}.partial`));
  const ro = join(dir, 'readonly');
  mkdirSync(ro);
  chmodSync(ro, 0o500);
  const r = spawnSync(join(ROOT, 'bin/ja-bert'), ['cache', 'build', '--model', dot, '--texts', texts, '--cache', join(ro, 'c.jabc')], { encoding: 'utf8' });
  chmodSync(ro, 0o700);
  // root may write anywhere: then the build simply succeeds
  if (process.getuid?.() !== 0) {
    assert.equal(r.status, 1);
    assert.match(r.stderr, /cannot write in .*readonly \(EACCES\)/);
    assert.doesNotMatch(r.stderr, /encoded|^cache \[/m, 'nothing was encoded before the refusal');
  }
});

test('compare, killed part-way and run again, keeps the heads it finished, resumes the one in progress, and ends as an uninterrupted run', () => {
  const args = (out: string) => ['compare', '--model', model, '--texts', texts, '--pairs', pairs, '--output', out, '--heads', 'cross,dot', '--max-steps', '4', '--batch-size', '8',
    '--max-seq-length', '32', '--learning-rate', '1e-3', '--timing-pairs', '3'];
  const countFile = join(dir, 'cmp-events');
  const whole = spawnSync(join(ROOT, 'bin/ja-bert'), args(join(dir, 'cmp-whole')), { encoding: 'utf8', env: { ...process.env, ...faultEnv({ JA_BERT_FAULT_COUNT: countFile }) } });
  assert.equal(whole.status, 0, whole.stderr);
  const events = Number(readFileSync(countFile, 'utf8'));
  const out = join(dir, 'cmp-killed');
  const k = spawnSync(join(ROOT, 'bin/ja-bert'), args(out), { encoding: 'utf8', env: { ...process.env, ...faultEnv({ JA_BERT_FAULT_AT: String(Math.round(events * 0.6)) }) } });
  assert.equal(k.signal, 'SIGKILL');
  assert.ok(existsSync(join(out, 'cross', 'eval_results.txt')), 'the first head finished before the kill');
  const again = cli(...args(out));
  assert.equal(again.status, 0, again.stderr);
  assert.ok((again.stderr.match(/^fine-tuning /gm) ?? []).length <= 1, 'the finished cross head is not trained again');
  const acc = (d: string) => (JSON.parse(readFileSync(join(d, 'compare.json'), 'utf8')) as Array<{ head: string; accuracy: number; global_step: number }>).map((r) => [r.head, r.accuracy, r.global_step]);
  assert.deepEqual(acc(out), acc(join(dir, 'cmp-whole')));
  // --json on the finished folder: no training, the rows of compare.json on standard output
  const j = cli(...args(out), '--json');
  assert.equal(j.status, 0, j.stderr);
  assert.doesNotMatch(j.stderr, /^fine-tuning /m);
  const rows = JSON.parse(j.stdout) as Array<{ head: string; accuracy: number }>;
  assert.deepEqual(rows.map((r) => [r.head, r.accuracy]), acc(out).map(([h, a]) => [h, a]));
});
