// Multi-label classification: label lists train sigmoid outputs with binary
// cross-entropy and report micro/macro/samples F1 per scikit-learn's
// definitions; predict gives every label above 0.5.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { multiLabelMetrics, multiLabelReport } from '../src/eval/metrics.js';
import { tinySetup } from './helpers.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const cli = (...args: string[]) => spawnSync(join(ROOT, 'bin/ja-bert'), args, { encoding: 'utf8' });
let dir = '', model = '', train = '', evalF = '';

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'jabert-ml-'));
  const t = tinySetup(dir, { seed: 9, from: 600, to: 720 });
  model = t.model;
  const rows = t.slice.map(([a, b, l]) => {
    const labels = [...(l ? ['linked'] : []), ...(t.body[a]!.length > 200 ? ['long'] : []), ...(a.includes('(3)') ? ['library'] : [])];
    return { text: t.body[a]!.slice(0, 300), text_b: t.body[b]!.slice(0, 300), labels };
  });
  train = join(dir, 'ml-train.jsonl');
  evalF = join(dir, 'ml-eval.jsonl');
  writeFileSync(train, rows.slice(0, 80).map((r) => JSON.stringify(r)).join('\n') + '\n');
  writeFileSync(evalF, rows.slice(80).map((r) => JSON.stringify(r)).join('\n') + '\n');
});
after(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

test('multi-label metrics: per label, micro, macro, samples and subset accuracy, hand-counted', () => {
  // true [[1,0,1],[0,1,0],[1,1,0]], predicted at 0.5: [[1,0,0],[0,1,1],[1,0,0]]
  const m = multiLabelMetrics(['a', 'b', 'c'], [1, 0, 1, 0, 1, 0, 1, 1, 0], [0.9, 0.1, 0.4, 0.2, 0.7, 0.6, 0.8, 0.3, 0.1]);
  assert.deepEqual(m.perLabel.map((x) => [x.precision, x.recall, x.support]), [[1, 1, 2], [1, 0.5, 2], [0, 0, 1]]);
  assert.ok(Math.abs(m.micro.precision - 0.75) < 1e-12 && Math.abs(m.micro.recall - 0.6) < 1e-12 && Math.abs(m.micro.f1 - 2 / 3) < 1e-12);
  assert.ok(Math.abs(m.macro.f1 - (1 + 2 / 3 + 0) / 3) < 1e-12);
  assert.ok(Math.abs(m.samples.f1 - 2 / 3) < 1e-12 && Math.abs(m.samples.precision - 5 / 6) < 1e-12);
  assert.equal(m.subsetAccuracy, 0);
  const rep = multiLabelReport(m);
  for (const row of ['micro avg', 'macro avg', 'weighted avg', 'samples avg']) assert.match(rep, new RegExp(`${row} +\\d\\.\\d\\d +\\d\\.\\d\\d +\\d\\.\\d\\d +5\\n`));
});

test('label lists fine-tune sigmoid outputs (cross-encoder and a pair head); reports and predict follow', () => {
  const common = ['--model', model, '--train', train, '--eval', evalF, '--max-steps', '10', '--batch-size', '8', '--max-seq-length', '48', '--learning-rate', '2e-3', '--dtype', 'f32'];
  for (const head of ['cross', 'dot']) {
    const out = join(dir, `ml-${head}`);
    const r = cli('finetune', ...common, '--output', out, '--head', head, '--eval-steps', '5', '--metric-for-best-model', 'micro_f1');
    assert.equal(r.status, 0, r.stderr);
    assert.match(readFileSync(join(out, 'eval_results.txt'), 'utf8'), /^\*\*\*\*\* Eval results \*\*\*\*\*\neval_loss = .*\neval_macro_f1 = .*\neval_micro_f1 = .*\neval_subset_accuracy = .*\nglobal_step = 10\nloss = .*\n$/);
    const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(cfg.problem_type, 'multi_label_classification');
    assert.deepEqual(Object.values(cfg.id2label as Record<string, string>), ['library', 'linked', 'long'].filter((l) => readFileSync(train, 'utf8').includes(`"${l}"`)));
    const preds = readFileSync(join(out, 'eval_predictions.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { labels: string[]; predicted: string[]; probabilities: Record<string, number> });
    assert.equal(preds.length, 40);
    for (const p of preds) assert.deepEqual(p.predicted, Object.keys(p.probabilities).filter((k) => p.probabilities[k]! >= 0.5));
    assert.match(readFileSync(join(out, 'classification_report.txt'), 'utf8'), /samples avg/);
    for (const f of ['report.html', 'eval_results.json', 'metrics.csv', 'learning_curve.png']) assert.ok(existsSync(join(out, f)), f);
    const inp = join(dir, `pin-${head}.jsonl`), po = join(dir, `pout-${head}.jsonl`);
    const rows = readFileSync(evalF, 'utf8').trim().split('\n').slice(0, 3);
    writeFileSync(inp, rows.join('\n') + '\n');
    const p = cli('predict', '--model', out, '--input', inp, '--output', po, '--dtype', 'f32', '--max-seq-length', '48');
    assert.equal(p.status, 0, p.stderr);
    readFileSync(po, 'utf8').trim().split('\n').forEach((l, i) => {
      const o = JSON.parse(l) as { labels: string[]; probabilities: Record<string, number> };
      for (const [k, v] of Object.entries(o.probabilities)) assert.ok(Math.abs(v - preds[i]!.probabilities[k]!) < 2e-6, `${head} ${k}`);
      assert.deepEqual(o.labels, preds[i]!.predicted);
    });
  }
  const bad = join(dir, 'mixed.jsonl');
  writeFileSync(bad, '{"text": "a", "labels": ["x", "y"]}\n{"text": "b", "label": "x"}\n');
  const r = cli('finetune', '--model', model, '--train', bad, '--eval', evalF, '--output', join(dir, 'x'), '--max-steps', '1');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /example 1 has one label where the others have lists/);
});
