// Optimizer semantics, learning, and flat memory over many steps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nativeKernels } from '../src/core/native.js';
import { refKernels } from '../src/core/ref.js';
import { Rng } from '../src/core/random.js';
import { Bert, type Batch } from '../src/model/bert.js';
import { makeConfig } from '../src/model/config.js';
import { AdamW, bertLearningRate } from '../src/train/optimizer.js';
import { runEngineDemo } from '../src/demo.js';

const tiny = () => makeConfig({ vocab_size: 30, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 24, max_position_embeddings: 16, labels: ['a', 'b'] });

function batchOf(rng: Rng, B: number, S: number): { batch: Batch; labels: Int32Array } {
  const n = B * S;
  const mask = new Uint8Array(n);
  for (let b = 0; b < B; b++) { const len = 2 + rng.int(S - 1); for (let s = 0; s < len; s++) mask[b * S + s] = 1; }
  return {
    batch: { B, S, inputIds: Int32Array.from({ length: n }, () => rng.int(30)), tokenTypeIds: Int32Array.from({ length: n }, (_, i) => (i % S) >= S / 2 ? 1 : 0), attentionMask: mask },
    labels: Int32Array.from({ length: B }, () => rng.int(2)),
  };
}

test('learning rate: google-research warmup then linear decay to 0', () => {
  assert.equal(bertLearningRate(1e-4, 0, 100, 10), 0);
  assert.ok(Math.abs(bertLearningRate(1e-4, 5, 100, 10) - 5e-5) < 1e-12);
  assert.ok(Math.abs(bertLearningRate(1e-4, 10, 100, 10) - 9e-5) < 1e-12);
  assert.ok(Math.abs(bertLearningRate(1e-4, 50, 100, 10) - 5e-5) < 1e-12);
  assert.equal(bertLearningRate(1e-4, 100, 100, 10), 0);
  assert.equal(bertLearningRate(1e-4, 3, 100, 0), 1e-4 * 0.97);
});

test('AdamW: no bias correction, decay on weights only, global-norm clipping', () => {
  const model = new Bert(tiny(), { kernels: refKernels, seed: 1 });
  const opt = new AdamW(model, refKernels, { lr: 0.1, maxGradNorm: 1.0 });
  const g = model.ensureGrads();
  g.fill(0.5); // norm = 0.5 * sqrt(total) >> 1: clipped to 1
  const before = model.params.slice();
  const norm = opt.apply(0.1);
  assert.ok(Math.abs(norm - 0.5 * Math.sqrt(g.length)) / norm < 1e-6);
  const clipped = 0.5 / norm;
  const m = 0.1 * clipped, v = 0.001 * clipped * clipped;
  const step = m / (Math.sqrt(v) + 1e-6);
  const w = model.layout.byName.get('bert.encoder.layer.0.attention.self.query.weight')!;
  const ln = model.layout.byName.get('bert.encoder.layer.0.output.LayerNorm.weight')!;
  const bias = model.layout.byName.get('classifier.bias')!;
  assert.ok(w.decay && !ln.decay && !bias.decay);
  const i = w.offset + 3;
  assert.ok(Math.abs(model.params[i]! - (before[i]! - 0.1 * (step + 0.01 * before[i]!))) < 1e-6);
  assert.ok(Math.abs(model.params[ln.offset]! - (before[ln.offset]! - 0.1 * step)) < 1e-6);
  assert.ok(Math.abs(model.params[bias.offset]! - (before[bias.offset]! - 0.1 * step)) < 1e-6);
  assert.ok(Math.abs(opt.m[i]! - m) < 1e-9 && Math.abs(opt.v[i]! - v) < 1e-12);
});

test('native and reference AdamW steps agree over a few training steps', () => {
  const rng = new Rng(3);
  const { batch, labels } = batchOf(rng, 3, 7);
  const models = [nativeKernels(), refKernels].map((K) => {
    const m = new Bert(tiny(), { kernels: K, seed: 2 });
    const opt = new AdamW(m, K, { lr: 1e-2 });
    const losses: number[] = [];
    for (let s = 0; s < 3; s++) {
      m.forward(batch, { train: true, seed: s });
      losses.push(m.loss(labels).loss);
      m.zeroGrads();
      m.backward({ labels });
      opt.apply(1e-2);
    }
    return losses;
  });
  for (let s = 0; s < 3; s++) assert.ok(Math.abs(models[0]![s]! - models[1]![s]!) < 1e-4, `step ${s}: ${models[0]![s]} vs ${models[1]![s]}`);
  assert.ok(models[0]![2]! < models[0]![0]!, 'loss falls');
});

test('the engine learns: demo task reaches well above chance', () => {
  const r = runEngineDemo(() => {}, 150);
  assert.ok(r.lastLoss < r.firstLoss * 0.7, `loss ${r.firstLoss} -> ${r.lastLoss}`);
  assert.ok(r.accuracy > 0.8, `accuracy ${r.accuracy}`);
});

test('memory stays flat over 10,000 training steps with varying batch shapes', () => {
  const K = nativeKernels();
  const model = new Bert(tiny(), { kernels: K, seed: 4 });
  const opt = new AdamW(model, K, { lr: 1e-4 });
  const rng = new Rng(5);
  const batches = [batchOf(rng, 4, 16), batchOf(rng, 2, 9), batchOf(rng, 3, 12)];
  let rssAfterWarmup = 0;
  for (let s = 0; s < 10_000; s++) {
    const { batch, labels } = batches[s % 3]!;
    model.forward(batch, { train: true, seed: s });
    model.loss(labels);
    model.zeroGrads();
    model.backward({ labels });
    opt.apply(1e-4);
    if (s === 999) { global.gc?.(); rssAfterWarmup = process.memoryUsage().rss; }
  }
  global.gc?.();
  const growth = (process.memoryUsage().rss - rssAfterWarmup) / 1048576;
  assert.ok(growth < 16, `RSS grew ${growth.toFixed(1)} MiB between step 1,000 and 10,000`);
  assert.ok(model.params.every(Number.isFinite));
});
