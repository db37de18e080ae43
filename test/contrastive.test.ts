// Contrastive bi-encoder training (issue 17): MultipleNegativesRankingLoss and
// CoSENT against their definitions and by finite differences; the 1-D fits that
// calibrate the cosine head; and `finetune --head bi --loss contrastive|cosent`
// end to end: the model scores by cos(u, v) of its pooled vectors through the
// fitted classifier, the loss falls, and wrong combinations are refused.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../src/core/random.js';
import { cosentLoss, linear1d, logistic1d, mnrlLoss } from '../src/train/contrastive.js';
import { finetune } from '../src/finetune.js';
import { nativeKernels } from '../src/core/native.js';
import { Classifier, closeEngine, Encoder } from '../src/index.js';
import { OptionError } from '../src/core/options.js';
import { DEFAULT_MODEL } from '../src/model/default.js';
import { randn, tinySetup, type TinySetup } from './helpers.js';

const cos64 = (u: Float32Array, i: number, v: Float32Array, j: number, D: number) => {
  let d = 0, a = 0, b = 0;
  for (let k = 0; k < D; k++) { d += u[i * D + k]! * v[j * D + k]!; a += u[i * D + k]! ** 2; b += v[j * D + k]! ** 2; }
  return d / Math.sqrt(a * b);
};

/** central differences of f with respect to every entry of x, against `analytic` */
function checkGrad(name: string, f: () => number, x: Float32Array, analytic: Float32Array): void {
  for (let i = 0; i < x.length; i++) {
    const o = x[i]!, eps = 1e-3;
    x[i] = o + eps; const up = f(); x[i] = o - eps; const dn = f(); x[i] = o;
    const num = (up - dn) / (2 * eps);
    assert.ok(Math.abs(num - analytic[i]!) < 2e-3 * (1 + Math.abs(num)), `${name}[${i}]: analytic ${analytic[i]} vs numeric ${num}`);
  }
}

test('MultipleNegativesRankingLoss: the value is the mean cross-entropy of scaled cosines with target i (excluded columns left out); gradients match finite differences', () => {
  const rng = new Rng(5), P = 5, D = 6, scale = 20;
  const u = randn(P * D, rng), v = randn(P * D, rng);
  const excluded = (i: number, j: number) => (i === 1 && j === 3) || (i === 4 && j === 0);
  const du = new Float32Array(P * D), dv = new Float32Array(P * D);
  const loss = mnrlLoss(u, v, P, D, scale, excluded, 1, du, dv);
  let want = 0;
  for (let i = 0; i < P; i++) {
    const cols = [...Array(P).keys()].filter((j) => j === i || !excluded(i, j));
    want += -scale * cos64(u, i, v, i, D) + Math.log(cols.reduce((s, j) => s + Math.exp(scale * cos64(u, i, v, j, D)), 0));
  }
  assert.ok(Math.abs(loss - want / P) < 1e-4, `${loss} vs ${want / P}`);
  const f = () => mnrlLoss(u, v, P, D, scale, excluded, 1, new Float32Array(P * D), new Float32Array(P * D));
  checkGrad('du', f, u, du);
  checkGrad('dv', f, v, dv);
  // an excluded column changes nothing: moving v_3 changes only rows that see it
  const dv2 = new Float32Array(P * D);
  mnrlLoss(u, v, P, D, scale, () => true, 1, new Float32Array(P * D), dv2);
  assert.ok(Math.abs(mnrlLoss(u, v, P, D, scale, () => true, 1, new Float32Array(P * D), new Float32Array(P * D))) < 1e-6, 'with every other column excluded the loss is 0');
  assert.ok(dv2.every((x) => Math.abs(x) < 1e-6), 'and its gradient too');
});

test('CoSENT: log(1 + Σ over t_i > t_j of exp(scale·(cos_j − cos_i))), ties contribute nothing; gradients match finite differences', () => {
  const rng = new Rng(9), P = 6, D = 5, scale = 20;
  const u = randn(P * D, rng), v = randn(P * D, rng);
  const t = [3.2, 0.5, 3.2, 1.0, 4.8, 0.5];
  const du = new Float32Array(P * D), dv = new Float32Array(P * D);
  const loss = cosentLoss(u, v, t, P, D, scale, 1, du, dv);
  let sum = 1;
  for (let i = 0; i < P; i++) for (let j = 0; j < P; j++) if (t[i]! > t[j]!) sum += Math.exp(scale * (cos64(u, j, v, j, D) - cos64(u, i, v, i, D)));
  assert.ok(Math.abs(loss - Math.log(sum)) < 1e-4 * Math.max(1, Math.log(sum)), `${loss} vs ${Math.log(sum)}`);
  const f = () => cosentLoss(u, v, t, P, D, scale, 1, new Float32Array(P * D), new Float32Array(P * D));
  checkGrad('du', f, u, du);
  checkGrad('dv', f, v, dv);
  // all targets equal: no ordered pair, loss log 1 = 0
  assert.equal(cosentLoss(u, v, [1, 1, 1, 1, 1, 1], P, D, scale, 1, new Float32Array(P * D), new Float32Array(P * D)), 0);
});

test('the calibration fits: logistic regression reaches its optimum (gradient 0), least squares its closed form', () => {
  const rng = new Rng(3), n = 2000;
  const x = Array.from({ length: n }, () => rng.normal());
  const y = x.map((xi) => (rng.next() < 1 / (1 + Math.exp(-(3 * xi - 1))) ? 1 : 0));
  const { w, c } = logistic1d(x, y, 1e-2);
  let gw = 1e-2 * w, gc = 0;
  x.forEach((xi, i) => { const r = 1 / (1 + Math.exp(-(w * xi + c))) - y[i]!; gw += r * xi; gc += r; });
  assert.ok(Math.abs(gw) < 1e-6 && Math.abs(gc) < 1e-6, `gradient at the fit (${gw}, ${gc})`);
  assert.ok(Math.abs(w - 3) < 0.4 && Math.abs(c + 1) < 0.25, `recovers σ(3x − 1): w ${w}, c ${c}`);
  // separable data still gives a finite answer, increasing in x
  const sep = logistic1d([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]);
  assert.ok(Number.isFinite(sep.w) && sep.w > 0 && Number.isFinite(sep.c));
  const l = linear1d([1, 2, 3, 4], [3, 5, 7, 9]);
  assert.ok(Math.abs(l.w - 2) < 1e-12 && Math.abs(l.c - 1) < 1e-12);
});

/** the mean of the last 5 logged losses is under 0.7 × that of the first 5 */
function assertFalls(curve: Array<{ loss: number }>): void {
  const c = curve.map((p) => p.loss), mean = (a: number[]) => a.reduce((s, x) => s + x, 0) / a.length;
  assert.ok(c.length >= 10 && mean(c.slice(-5)) < 0.7 * mean(c.slice(0, 5)), `loss ${mean(c.slice(0, 5))} -> ${mean(c.slice(-5))}`);
}

let dir = '', t: TinySetup;
before(() => { dir = mkdtempSync(join(tmpdir(), 'jabert-contrastive-')); t = tinySetup(dir, { seed: 12, from: 300, to: 420 }); });
after(async () => { await closeEngine(); if (dir && !process.env.KEEP) rmSync(dir, { recursive: true, force: true }); });

test('finetune --head bi --loss contrastive: a cosine head, trained on the positive pairs, whose loss falls; P(1) = σ(w·cos(u, v) + c) of the pooled vectors', async () => {
  const out = join(dir, 'mnrl');
  // the shipped default model (a tiny random one mostly collapses under scale-20 contrastive losses before it learns)
  const r = finetune({ model: DEFAULT_MODEL, output: out, kernels: nativeKernels(), texts: t.texts, pairs: t.pairs, head: 'bi', loss: 'contrastive',
    maxSteps: 30, batchSize: 16, maxSeqLength: 64, learningRate: 1e-4, dtype: 'f32', saveSteps: 0, warmupProportion: 0 });
  assert.ok(r.metrics && r.metrics.accuracy >= 0 && r.metrics.accuracy <= 1);
  const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as { pair_head: { type: string; side_length: number } };
  assert.equal(cfg.pair_head.type, 'cosine');
  const rep = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as { hyperparameters: Record<string, unknown>; method: string; learning_curve: Array<{ loss: number }> };
  assert.equal(rep.hyperparameters.loss, 'contrastive');
  assert.equal(rep.hyperparameters.loss_scale, 20);
  assert.match(rep.method, /MultipleNegativesRankingLoss/);
  // 16-pair batches of the ~60 positives, 8 epochs: the in-batch loss falls well below its start
  assertFalls(rep.learning_curve);
  // the classifier is a fitted logistic curve of the cosine, and the model's probability is exactly that
  const W = await (async () => {
    const { loadBert } = await import('../src/model/load.js');
    const { model } = loadBert(out, { kernels: nativeKernels(), dtype: 'f32' });
    return { w: Array.from(model.param('head.classifier.weight')), b: Array.from(model.param('head.classifier.bias')) };
  })();
  assert.equal(W.w[0], 0); assert.equal(W.b[0], 0);
  assert.ok(W.w[1] !== 0);
  const pairs = t.slice.slice(0, 6).map(([a, b]) => ({ text: t.body[a]!, textB: t.body[b]! }));
  const clf = await Classifier.load(out, { dtype: 'f32' });
  const got = await clf.classify(pairs);
  await clf.close();
  const enc = await Encoder.load(out, { dtype: 'f32', maxSeqLength: cfg.pair_head.side_length });
  const va = await enc.encode(pairs.map((p) => p.text), { pooling: 'pooled' }), vb = await enc.encode(pairs.map((p) => p.textB), { pooling: 'pooled' });
  await enc.close();
  pairs.forEach((_, i) => {
    const D = va[i]!.length, cs = cos64(va[i]!, 0, vb[i]!, 0, D), p1 = 1 / (1 + Math.exp(-(W.w[1]! * cs + W.b[1]!)));
    assert.ok(Math.abs(got[i]!.probabilities['1']! - p1) < 1e-4, `pair ${i}: P(1) ${got[i]!.probabilities['1']} vs σ(w·cos + c) ${p1}`);
  });
});

test('finetune --head bi --loss cosent on STS-style scores: a regressor w·cos + c with Pearson/Spearman; with 0/1 labels a classifier', async () => {
  const rows = t.slice.map(([a, b, l], i) => ({ sentence1: t.body[a]!.slice(0, 200), sentence2: t.body[b]!.slice(0, 200), score: Math.round((l ? 3.6 : 0.8) * 10 + (i % 7)) / 10 }));
  const train = join(dir, 'sts-train.jsonl'), evalF = join(dir, 'sts-eval.jsonl');
  writeFileSync(train, rows.slice(0, 80).map((x) => JSON.stringify(x)).join('\n') + '\n');
  writeFileSync(evalF, rows.slice(80).map((x) => JSON.stringify(x)).join('\n') + '\n');
  const common = { model: t.model, kernels: nativeKernels(), head: 'bi', loss: 'cosent' as const, maxSteps: 6, batchSize: 8, maxSeqLength: 64, learningRate: 1e-3, dtype: 'f32' as const, saveSteps: 0 };
  const reg = finetune({ ...common, output: join(dir, 'cosent-sts'), trainFile: train, evalFile: evalF });
  assert.ok(reg.regression && Number.isFinite(reg.regression.pearson) && Number.isFinite(reg.regression.spearmanr));
  const cfg = JSON.parse(readFileSync(join(dir, 'cosent-sts', 'config.json'), 'utf8')) as { problem_type: string; num_labels: number; pair_head: { type: string } };
  assert.deepEqual([cfg.problem_type, cfg.num_labels, cfg.pair_head.type], ['regression', 1, 'cosine']);
  const cls = finetune({ ...common, model: DEFAULT_MODEL, output: join(dir, 'cosent-cls'), texts: t.texts, pairs: t.pairs, maxSteps: 30, batchSize: 16, learningRate: 1e-4, warmupProportion: 0 });
  assert.ok(cls.metrics);
  const rep = JSON.parse(readFileSync(join(dir, 'cosent-cls', 'report.json'), 'utf8')) as { hyperparameters: { loss: string }; learning_curve: Array<{ loss: number }> };
  assert.equal(rep.hyperparameters.loss, 'cosent');
  assertFalls(rep.learning_curve);
});

test('contrastive losses are refused where they do not apply, in one line, before anything is written', () => {
  const base = { model: t.model, kernels: nativeKernels(), texts: t.texts, pairs: t.pairs, maxSteps: 1, dtype: 'f32' as const };
  assert.throws(() => finetune({ ...base, output: join(dir, 'x1'), head: 'dot', loss: 'contrastive' }), (e: Error) => e instanceof OptionError && /--head bi/.test(e.message));
  assert.throws(() => finetune({ ...base, output: join(dir, 'x2'), loss: 'cosent' }), (e: Error) => e instanceof OptionError && /--head cross/.test(e.message));
  assert.throws(() => finetune({ ...base, output: join(dir, 'x3'), head: 'bi', loss: 'infonce' as 'cosent' }), OptionError);
  assert.throws(() => finetune({ ...base, output: join(dir, 'x4'), head: 'bi', loss: 'contrastive', labelSmoothing: 0.1 }), OptionError);
  assert.throws(() => finetune({ ...base, output: join(dir, 'x5'), head: 'bi', loss: 'contrastive', lossScale: -1 }), OptionError);
  const sts = join(dir, 'sts-tiny.jsonl');
  writeFileSync(sts, JSON.stringify({ sentence1: 'a', sentence2: 'b', score: 2.5 }) + '\n' + JSON.stringify({ sentence1: 'c', sentence2: 'd', score: 0.5 }) + '\n');
  assert.throws(() => finetune({ ...base, texts: undefined, pairs: undefined, trainFile: sts, evalFile: sts, output: join(dir, 'x6'), head: 'bi', loss: 'contrastive' }), (e: Error) => /--loss cosent/.test(e.message));
  for (const k of ['x1', 'x2', 'x3', 'x4', 'x5', 'x6']) assert.throws(() => readFileSync(join(dir, k, 'run.json')), 'nothing written');
});
