// Masked-LM pretraining: masking statistics, packing, learning, loading, resume.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../src/core/random.js';
import { nativeKernels } from '../src/core/native.js';
import { loadBert } from '../src/io/checkpoint.js';
import { loadTokenizer } from '../src/tokenize/index.js';
import { maskSequence, packSequences, type Special } from '../src/pretrain/pretrain.js';
import { SHARED_DIR } from './helpers.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const WIKI = join(SHARED_DIR, 'models/wiki-ja-albert-spm/wiki-ja_albert.model');
const cli = (args: string[], env: Record<string, string> = {}) => spawnSync(join(ROOT, 'bin/ja-bert'), args, { encoding: 'utf8', env: { ...process.env, ...env } });
let dir = '', corpus = '';

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'jabert-pt-'));
  // a learnable synthetic corpus: a few sentence patterns over small word sets
  const rng = new Rng(1);
  const subj = ['猫', '犬', '鳥', '魚'], place = ['公園', '学校', '駅', '海'], verb = ['走ります', '眠ります', '遊びます', '待ちます'];
  const docs: string[] = [];
  for (let d = 0; d < 240; d++) {
    const lines: string[] = [];
    for (let k = 0; k < 4; k++) { const i = rng.int(4); lines.push(`${subj[i]}は${place[i]}で${verb[i]}。`); }
    docs.push(lines.join('\n'));
  }
  corpus = join(dir, 'corpus.txt');
  writeFileSync(corpus, docs.join('\n\n') + '\n');
});
process.on('exit', () => { if (dir) rmSync(dir, { recursive: true, force: true }); });

test('dynamic masking: 15 % of non-special positions, 80 % [MASK] / 10 % random / 10 % kept', () => {
  const sp: Special = { cls: 2, sep: 3, mask: 4, pad: 0, vocab: 1000, special: new Set([0, 1, 2, 3, 4]) };
  const rng = new Rng(7);
  let chosen = 0, total = 0, masked = 0, random = 0, kept = 0;
  for (let n = 0; n < 2000; n++) {
    const ids = Array.from({ length: 40 }, () => 10 + rng.int(900));
    const m = maskSequence(ids, sp, rng);
    assert.equal(m.input[0], 2);
    assert.equal(m.input[41], 3);
    assert.ok(m.positions.every((p) => p >= 1 && p <= 40), 'specials are never chosen');
    chosen += m.positions.length; total += 40;
    m.positions.forEach((p, j) => {
      assert.equal(m.targets[j], ids[p - 1]);
      if (m.input[p] === 4) masked++;
      else if (m.input[p] === ids[p - 1]) kept++;
      else { random++; assert.ok(!sp.special.has(m.input[p]!)); }
    });
  }
  assert.ok(Math.abs(chosen / total - 0.15) < 0.005, `masked share ${chosen / total}`);
  assert.ok(Math.abs(masked / chosen - 0.8) < 0.02 && Math.abs(random / chosen - 0.1) < 0.02 && Math.abs(kept / chosen - 0.1) < 0.02, `${masked} ${random} ${kept}`);
});

test('packing: consecutive sentences of one document, never across documents, within the length', () => {
  const tok = loadTokenizer(WIKI);
  const seqs = packSequences(tok, 'あ。\nい。\nう。\n\nえ。\n', 8);
  const ids = (t: string) => tok.encode(t).ids;
  assert.deepEqual(seqs[seqs.length - 1], ids('え。'));
  assert.ok(seqs.every((s) => s.length <= 6));
  assert.deepEqual(seqs.slice(0, -1).flat(), [...ids('あ。'), ...ids('い。'), ...ids('う。')]);
});

test('pretrain learns (held-out MLM loss falls), writes a model the fine-tuner loads, and resumes after SIGKILL exactly', () => {
  const args = (out: string) => ['pretrain', '--corpus', corpus, '--tokenizer', WIKI, '--output', out, '--layers', '1', '--hidden', '32', '--heads', '2',
    '--intermediate', '64', '--max-seq-length', '32', '--batch-size', '16', '--max-steps', '40', '--learning-rate', '2e-3', '--eval-steps', '10', '--save-steps', '10', '--seed', '3'];
  const whole = cli(args(join(dir, 'whole')));
  assert.equal(whole.status, 0, whole.stderr);
  const rep = JSON.parse(readFileSync(join(dir, 'whole', 'pretrain_report.json'), 'utf8')) as { evaluations: Array<{ eval_loss: number; eval_accuracy: number }>; steps: number; eval_mlm_accuracy: number };
  assert.equal(rep.steps, 40);
  assert.ok(rep.evaluations.length === 4);
  assert.ok(rep.evaluations[3]!.eval_loss < rep.evaluations[0]!.eval_loss * 0.8, `held-out MLM loss ${rep.evaluations.map((e) => e.eval_loss.toFixed(3))}`);
  const asClassifier = loadBert(join(dir, 'whole'), { kernels: nativeKernels(), labels: ['0', '1'] });
  assert.ok(asClassifier.initialised.includes('classifier.weight'));
  const withHead = loadBert(join(dir, 'whole'), { kernels: nativeKernels(), mlmHead: true });
  assert.deepEqual(withHead.initialised, []);
  assert.ok(existsSync(join(dir, 'whole', 'spiece.model')));
  const out = join(dir, 'killed');
  const k = cli(args(out), { JA_BERT_TEST_CRASH_AFTER_STEP: '25' });
  assert.equal(k.signal, 'SIGKILL');
  const resumed = cli(args(out));
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.match(resumed.stderr, /resuming from .*checkpoint-20 at step 20\/40/);
  assert.deepEqual(readFileSync(join(out, 'model.safetensors')), readFileSync(join(dir, 'whole', 'model.safetensors')));
});
