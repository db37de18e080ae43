// Regression (STS-style scores): float labels train one output with MSE and
// report MSE, Pearson and Spearman (equal to SciPy's on a fixture), for the
// cross-encoder and a pair head; predict and the library give the scores.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { regressionMetrics } from '../src/eval/metrics.js';
import { Classifier, closeEngine } from '../src/index.js';
import { tinySetup } from './helpers.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const cli = (...args: string[]) => spawnSync(join(ROOT, 'bin/ja-bert'), args, { encoding: 'utf8' });
let dir = '', model = '', train = '', evalF = '';

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'jabert-reg-'));
  const t = tinySetup(dir, { seed: 8, from: 400, to: 520 });
  model = t.model;
  // STS-style rows: sentence1, sentence2 and a score in [0, 5] (linked pairs high), with a fraction
  const rows = t.slice.map(([a, b, l], i) => ({ sentence1: t.body[a]!.slice(0, 300), sentence2: t.body[b]!.slice(0, 300), score: Math.round((l ? 3.6 : 0.8) * 10 + (i % 7)) / 10 }));
  train = join(dir, 'sts-train.jsonl');
  evalF = join(dir, 'sts-eval.jsonl');
  writeFileSync(train, rows.slice(0, 80).map((r) => JSON.stringify(r)).join('\n') + '\n');
  writeFileSync(evalF, rows.slice(80).map((r) => JSON.stringify(r)).join('\n') + '\n');
});
after(async () => { await closeEngine(); if (dir && !process.env.KEEP) rmSync(dir, { recursive: true, force: true }); });

test('MSE, Pearson and Spearman equal SciPy\'s (tools/make_regression_fixture.py), ties included', () => {
  const fx = JSON.parse(readFileSync(new URL('../../test/fixtures/regression-metrics.json', import.meta.url), 'utf8')) as { cases: Array<{ y_true: number[]; y_pred: number[]; pearson: number; spearmanr: number; mse: number }> };
  assert.equal(fx.cases.length, 5);
  for (const c of fx.cases) {
    const m = regressionMetrics(c.y_true, c.y_pred);
    assert.ok(Math.abs(m.pearson - c.pearson) < 1e-9, `pearson ${m.pearson} vs ${c.pearson}`);
    assert.ok(Math.abs(m.spearmanr - c.spearmanr) < 1e-9, `spearman ${m.spearmanr} vs ${c.spearmanr}`);
    assert.ok(Math.abs(m.mse - c.mse) < 1e-9);
  }
});

test('decimal labels fine-tune a regressor: one output, MSE, Pearson/Spearman reported and consistent; predict and Classifier give the scores', async () => {
  const out = join(dir, 'sts-cross');
  const common = ['--model', model, '--train', train, '--eval', evalF, '--max-steps', '12', '--batch-size', '8', '--max-seq-length', '48', '--learning-rate', '2e-3', '--dtype', 'f32'];
  const r = cli('finetune', ...common, '--output', out, '--eval-steps', '4', '--metric-for-best-model', 'pearson');
  assert.equal(r.status, 0, r.stderr);
  const text = readFileSync(join(out, 'eval_results.txt'), 'utf8');
  assert.match(text, /^\*\*\*\*\* Eval results \*\*\*\*\*\neval_loss = .*\neval_pearson = .*\neval_spearmanr = .*\nglobal_step = 12\nloss = .*\n$/);
  const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(cfg.problem_type, 'regression');
  assert.equal(cfg.num_labels, 1);
  const preds = readFileSync(join(out, 'eval_predictions.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { label: number; prediction: number });
  assert.equal(preds.length, 40);
  const rep = JSON.parse(readFileSync(join(out, 'eval_results.json'), 'utf8')) as { eval_pearson: number; eval_spearmanr: number; eval_mse: number };
  const m = regressionMetrics(preds.map((p) => p.label), preds.map((p) => p.prediction));
  assert.ok(Math.abs(m.pearson - rep.eval_pearson) < 1e-5 && Math.abs(m.spearmanr - rep.eval_spearmanr) < 1e-5 && Math.abs(m.mse - rep.eval_mse) < 1e-5);
  const full = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as { evaluations: Array<{ step: number; eval_pearson: number }>; best_step: number };
  assert.equal(full.best_step, full.evaluations.reduce((b, e) => (e.eval_pearson > b.eval_pearson ? e : b)).step, 'the best evaluation by Pearson');
  for (const f of ['report.html', 'learning_curve.png', 'metrics.csv', 'model.safetensors']) assert.ok(existsSync(join(out, f)), f);
  // predict: one score per pair, the eval predictions again
  const evalRows = readFileSync(evalF, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { sentence1: string; sentence2: string });
  const inp = join(dir, 'p.jsonl'), po = join(dir, 'p-out.jsonl');
  writeFileSync(inp, evalRows.slice(0, 5).map((e) => JSON.stringify({ text: e.sentence1, text_b: e.sentence2 })).join('\n') + '\n');
  const p = cli('predict', '--model', out, '--input', inp, '--output', po, '--dtype', 'f32', '--max-seq-length', '48');
  assert.equal(p.status, 0, p.stderr);
  const lines = readFileSync(po, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { label: string; score: number; prediction: number });
  for (const l of lines) { assert.equal(l.label, 'LABEL_0'); assert.equal(l.prediction, l.score, '"prediction" repeats the score'); }
  const scores = lines.map((l) => l.score);
  scores.forEach((s, i) => assert.ok(Math.abs(s - preds[i]!.prediction) < 1e-5, `${s} vs ${preds[i]!.prediction}`));
  const clf = await Classifier.load(out, { dtype: 'f32', maxSeqLength: 48 });
  const res = await clf.classify(evalRows.slice(0, 5).map((e) => ({ text: e.sentence1, textB: e.sentence2 })));
  res.forEach((x, i) => { assert.equal(x.label, 'LABEL_0'); assert.ok(Math.abs(x.score - scores[i]!) < 1.5e-6); });
  await clf.close();
});

test('a pair head trains as a regressor too; classification-only options and non-numeric scores are refused in one line', () => {
  const common = ['--model', model, '--train', train, '--eval', evalF, '--max-steps', '6', '--batch-size', '8', '--max-seq-length', '48', '--learning-rate', '2e-3', '--dtype', 'f32'];
  const out = join(dir, 'sts-dot');
  let r = cli('finetune', ...common, '--output', out, '--head', 'dot');
  assert.equal(r.status, 0, r.stderr);
  assert.match(readFileSync(join(out, 'eval_results.txt'), 'utf8'), /eval_pearson = /);
  r = cli('finetune', ...common, '--output', join(dir, 'x1'), '--class-weights', 'balanced');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /apply to single-label classification, not regression/);
  r = cli('finetune', ...common, '--output', join(dir, 'x2'), '--metric-for-best-model', 'accuracy');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /does not apply to regression/);
  const bad = join(dir, 'bad.jsonl');
  writeFileSync(bad, '{"sentence1": "a", "sentence2": "b", "score": 1.5}\n{"sentence1": "c", "sentence2": "d", "score": "high"}\n');
  r = cli('finetune', '--model', model, '--train', bad, '--eval', evalF, '--output', join(dir, 'x3'), '--max-steps', '1');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /bad\.jsonl: example 1 has label "high", not a number/);
  assert.ok(!existsSync(join(dir, 'x1')) && !existsSync(join(dir, 'x3')));
});
