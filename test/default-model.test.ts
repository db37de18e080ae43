// The embedded default model: present, within its size budget, loadable by every
// command without --model, and the man-page demo runs end to end with it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nativeKernels } from '../src/core/native.js';
import { loadBert } from '../src/model/load.js';
import { DEFAULT_MODEL } from '../src/model/default.js';
import { DEMO_DATA, runManpageDemo, sideBySide, wrap } from '../src/demo.js';
import { loadTokenizer } from '../src/tokenize/index.js';
import { tempDir } from './helpers.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const cli = (...args: string[]) => spawnSync(join(ROOT, 'bin/ja-bert'), args, { encoding: 'utf8' });

test('the default model ships complete and under 60 MB, with its card', () => {
  assert.ok(existsSync(DEFAULT_MODEL), DEFAULT_MODEL);
  const files = readdirSync(DEFAULT_MODEL);
  for (const f of ['config.json', 'model.safetensors', 'spiece.model', 'tokenizer_config.json', 'README.md']) assert.ok(files.includes(f), f);
  const bytes = files.reduce((s, f) => s + statSync(join(DEFAULT_MODEL, f)).size, 0);
  assert.ok(bytes < 60e6, `${bytes} bytes`);
  const card = readFileSync(join(DEFAULT_MODEL, 'README.md'), 'utf8');
  for (const w of ['Corpus', 'Tokenizer', 'held-out MLM accuracy', 'wall time', 'hardware', 'steps']) assert.ok(card.includes(w), w);
  // the masked-LM head is included (continued pretraining) and the encoder loads
  const { model } = loadBert(DEFAULT_MODEL, { kernels: nativeKernels(), mlmHead: true });
  assert.equal(model.cfg.vocab_size, loadTokenizer(DEFAULT_MODEL).vocabSize);
});

test('encode, finetune and baseline use the default model when --model is omitted', (t) => {
  const dir = tempDir(t);
  const inp = join(dir, 'in.jsonl');
  writeFileSync(inp, JSON.stringify({ text: 'ファイルを開く。' }) + '\n');
  const r = cli('encode', '--input', inp, '--output', join(dir, 'out.jsonl'));
  assert.equal(r.status, 0, r.stderr);
  const v = JSON.parse(readFileSync(join(dir, 'out.jsonl'), 'utf8')) as { pooled_output: number[] };
  const cfg = JSON.parse(readFileSync(join(DEFAULT_MODEL, 'config.json'), 'utf8')) as { hidden_size: number };
  assert.equal(v.pooled_output.length, cfg.hidden_size);
  // a 60-pair slice of the demo sample through baseline and finetune
  const pairs = join(dir, 'pairs.json');
  writeFileSync(pairs, JSON.stringify((JSON.parse(readFileSync(join(DEMO_DATA, 'negaposi.json'), 'utf8')) as unknown[]).slice(0, 60)));
  const data = ['--texts', join(DEMO_DATA, 'honbun_data.json'), '--pairs', pairs, '--max-seq-length', '64'];
  let x = cli('baseline', '--output', join(dir, 'b'), ...data);
  assert.equal(x.status, 0, x.stderr);
  x = cli('finetune', '--output', join(dir, 'f'), ...data, '--max-steps', '2', '--batch-size', '8');
  assert.equal(x.status, 0, x.stderr);
  const report = JSON.parse(readFileSync(join(dir, 'f', 'report.json'), 'utf8')) as { model: string };
  assert.equal(report.model, DEFAULT_MODEL);
});

test('the man-page demo: baseline and fine-tuning reports side by side, full reports on disk', (t) => {
  const dir = tempDir(t);
  const data = join(dir, 'data');
  // a slice of the shipped sample keeps the test short; the demo itself uses all 2,000 pairs
  spawnSync('mkdir', ['-p', data]);
  writeFileSync(join(data, 'honbun_data.json'), readFileSync(join(DEMO_DATA, 'honbun_data.json')));
  writeFileSync(join(data, 'negaposi.json'), JSON.stringify((JSON.parse(readFileSync(join(DEMO_DATA, 'negaposi.json'), 'utf8')) as unknown[]).slice(0, 150)));
  const printed: string[] = [];
  const r = runManpageDemo({ data, output: join(dir, 'out'), epochs: 1, print: (l) => printed.push(l), log: () => {} });
  const text = printed.join('\n');
  assert.match(text, /baseline \(\d+ s\)\s+fine-tuned cross-encoder \(\d+ s\)\s+fine-tuned dot head \(\d+ s\)/);
  assert.match(text, /eval_accuracy = [0-9.]+\s+eval_accuracy = [0-9.]+\s+eval_accuracy = [0-9.]+/);
  assert.match(text, /macro avg .* macro avg .* macro avg/);
  for (const d of ['baseline', 'finetune', 'finetune-dot', 'baseline-group', 'finetune-group']) for (const f of ['eval_results.txt', 'classification_report.txt', 'report.html', 'split.json']) assert.ok(existsSync(join(dir, 'out', d, f)), `${d}/${f}`);
  assert.equal(r.baseline.total, 50);
  assert.equal(r.finetuned.total, 50);
  assert.equal(r.cached.total, 50);
  // "is the number real?": the cross-encoder's reliability block, then the random split beside a grouped one
  assert.match(text, /\*\*\*\*\* Is the result real\? \*\*\*\*\*[\s\S]*leakage[\s\S]*McNemar/);
  assert.match(text, /\*\*\*\*\* Random split or grouped split\? \*\*\*\*\*\n.*random split\s+grouped split/);
  assert.match(text, /eval pairs with both texts trained on\s+\d+ of 50 \(\d+ %\)\s+0 of \d+ \(0 %\)/);
  assert.equal(r.reliability.random.split.strategy, 'random');
  assert.equal(r.reliability.grouped.split.strategy, 'group');
  assert.equal(r.reliability.grouped.leakage!.both_seen, 0);
  assert.equal(r.reliability.grouped.leakage!.neither, r.grouped.finetuned.total);
  assert.equal(r.grouped.baseline.total, r.grouped.finetuned.total, 'the grouped baseline and cross-encoder score the same eval pairs');
  const gs = JSON.parse(readFileSync(join(dir, 'out', 'finetune-group', 'split.json'), 'utf8'));
  assert.equal(gs.train.length + gs.eval.length + gs.dropped.length, 150);
  for (const [name, s] of [['random', r.significance.random], ['grouped', r.significance.grouped]] as const) assert.ok(s.p_value >= 0 && s.p_value <= 1 && s.b + s.c <= 50, name);
  // the verdict under the table is prose, wrapped at 100 columns
  const verdict = text.split('***** Random split or grouped split? *****')[1]!.split('\n\n')[1]!;
  assert.match(verdict.replace(/\n/g, ' '), /On the random split \d+ % of the eval pairs have both texts among the training pairs; on the grouped split none do\./);
  for (const line of verdict.split('\n')) assert.ok(line.length <= 100, `a verdict line of ${line.length} columns`);
  assert.equal(sideBySide('a', 'x\ny', 'b', 'z'), 'a    b\n-    -\nx    z\ny');
  assert.equal(wrap('one two three four', 9), 'one two\nthree\nfour');
});
