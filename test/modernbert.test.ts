// ModernBERT against its PyTorch twin (tools/make_modernbert_fixtures.py, written from HF's modeling_modernbert.py):
// hidden states, the head's output, logits, loss and every parameter gradient; the sliding window, rotary positions past
// 4,096, bias-free layers, config errors that name the field, save/load and fine-tuning.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { nativeKernels } from '../src/core/native.js';
import { refKernels } from '../src/core/ref.js';
import type { Kernels } from '../src/core/kernels.js';
import { loadBert, saveBert } from '../src/model/load.js';
import { makeConfig } from '../src/model/config.js';
import { readSafetensors, writeSafetensors } from '../src/io/safetensors.js';
import { toFloat64, type RawTensor } from '../src/io/tensor.js';
import { Bert, type Batch } from '../src/model/bert.js';
import { bertToOnnx } from '../src/export/onnx.js';
import { checkFillMaskOnnx, checkMlmParity, checkParity as check, maxAbs, maxRelErr, tempDir } from './helpers.js';

const FIX = new URL('../../test/fixtures/', import.meta.url).pathname;

function reference(dir: string) {
  const f = readSafetensors(join(dir, 'reference.safetensors'));
  const get = (k: string): RawTensor => { const t = f.tensors.get(k); if (!t) throw new Error(`reference lacks ${k}`); return t; };
  const ids = get('input_ids');
  const [B, S] = ids.shape as [number, number];
  const batch: Batch = { B, S, inputIds: Int32Array.from(toFloat64(ids)), tokenTypeIds: new Int32Array(B * S), attentionMask: Uint8Array.from(toFloat64(get('attention_mask'))) };
  return { batch, labels: Int32Array.from(toFloat64(get('labels'))), get, tensors: f.tensors };
}

function parity(dir: string, K: Kernels, dtype: 'f32' | 'bf16', outTol: number, gradTol: number, prep?: (m: Bert) => void): void {
  const nw = dtype === 'bf16', ref = reference(dir);
  const { model } = loadBert(dir, { kernels: K, dtype });
  prep?.(model);
  assert.equal(model.cfg.model_type, 'modernbert');
  const out = model.forward(ref.batch, { train: false });
  // real tokens only: what a padding position holds is no one's (HF's own differ by attention implementation: zeros when
  // flash-attention unpads, the masked softmax's output under eager and sdpa)
  const D = model.cfg.hidden_size, mask = ref.batch.attentionMask, want0 = toFloat64(ref.get('sequence_output'));
  const real = (x: ArrayLike<number>) => Float64Array.from({ length: x.length }, (_, i) => (mask[Math.floor(i / D)] ? x[i]! : 0));
  check('sequence_output (real tokens)', real(out.sequenceOutput), real(want0), outTol, 0, nw);
  check('pooled_output (head)', out.pooledOutput, toFloat64(ref.get('pooled_output')), outTol, 0, nw);
  check('logits', out.logits!, toFloat64(ref.get('logits')), outTol, 0, nw);
  const { loss } = model.loss(ref.labels);
  const want = toFloat64(ref.get('loss'))[0]!;
  assert.ok(Math.abs(loss - want) / want <= outTol, `loss ${loss} vs ${want}`);
  model.zeroGrads();
  model.backward({ labels: ref.labels });
  let gmax = 0, count = 0;
  for (const spec of model.layout.specs) gmax = Math.max(gmax, maxAbs(toFloat64(ref.get('grad.' + spec.name))));
  for (const spec of model.layout.specs) {
    count++;
    check(`grad ${spec.name}`, model.grad(spec.name), toFloat64(ref.get('grad.' + spec.name)), gradTol, (nw ? 1e-2 : 1e-3) * gmax, nw);
  }
  assert.equal(count, ref.tensors.size - 8, 'every reference gradient is compared (and no parameter HF lacks)');
}

for (const name of ['parity-modernbert', 'parity-modernbert-bias']) {
  const dir = join(FIX, name);
  test(`${name}: trained blocked (attnBlocked keeping each row's log-sum-exp, attnBlockedBackward; no probabilities kept), every sequence or only the longer ones, padded and unpadded, native and reference: the twin's outputs and gradients`, () => {
    const lens = Array.from({ length: reference(dir).batch.B }, (_, b) => reference(dir).batch.attentionMask.subarray(b * reference(dir).batch.S, (b + 1) * reference(dir).batch.S).reduce((x, y) => x + y, 0));
    const mid = [...lens].sort((x, y) => x - y)[1]! - 1;
    for (const K of [nativeKernels(), refKernels]) {
      for (const from of [0, mid]) {
        for (const unpad of [true, false]) {
          let kept = -1;
          parity(dir, K, 'f32', 1e-4, 1e-3, (m) => {
            m.blockedTrainFrom = from; m.unpad = unpad;
            // what the forward keeps: no probabilities at all when every group is blocked
            const f = m.forward.bind(m);
            m.forward = (b, o) => { const r = f(b, o); kept = (m as unknown as { acts: { layers: Array<{ P: Float32Array }> } }).acts.layers[0]!.P.length; return r; };
          });
          if (from === 0) assert.equal(kept, 0, `no probabilities kept (unpad ${unpad})`);
          else if (unpad) assert.ok(kept > 0 && kept < lens.reduce((x, n) => x + 4 * n * n, 0), `only the shorter sequences' probabilities kept (${kept})`);
        }
      }
    }
  });
  test(`${name}: native f32 matches the PyTorch twin (outputs 1e-4, gradients 1e-3)`, () => parity(dir, nativeKernels(), 'f32', 1e-4, 1e-3));
  test(`${name}: TypeScript reference kernels match the PyTorch twin`, () => parity(dir, refKernels, 'f32', 1e-4, 1e-3));
  test(`${name}: bf16 within the normwise bound (outputs 3e-2, gradients 5e-2), native where the CPU has bf16, else the reference's emulation`, () => {
    const N = nativeKernels();
    parity(dir, N.bf16Supported ? N : refKernels, 'bf16', 3e-2, 5e-2);
  });
}

test('sliding window: on a local layer a key farther than local_attention / 2 gets exactly zero attention, so a far token adds nothing there; global layers see every real key (padded and unpadded)', () => {
  const dir = join(FIX, 'parity-modernbert'), ref = reference(dir);
  for (const unpad of [false, true]) {
    const { model } = loadBert(dir, { kernels: nativeKernels() });
    model.unpad = unpad;
    model.forward(ref.batch);
    const H = model.cfg.num_attention_heads, half = model.cfg.modernbert!.local_attention / 2;
    // what the model keeps for its backward: its token layout and layer l's attention probabilities, [H, len, len] per sequence
    const inner = model as unknown as { seg: { unpadded: boolean; len: number[]; pOff: number[] }; last: { acts: { layers: Array<{ P: Float32Array }> } } };
    assert.equal(inner.seg.unpadded, unpad);
    const layers = inner.last.acts.layers;
    for (const l of [1, 2]) {
      const P = layers[l]!.P;
      inner.seg.len.forEach((n, b) => {
        for (let r = 0; r < H * n; r++) for (let j = 0; j < n; j++) {
          const i = r % n;
          if (Math.abs(i - j) > half) assert.equal(P[inner.seg.pOff[b]! + r * n + j], 0, `layer ${l} row ${b} query ${i} key ${j}`);
        }
      });
    }
    // layers 0 and 3 are global: query 0 of row 0 (23 real tokens) attends to key 22
    for (const l of [0, 3]) assert.ok(layers[l]!.P[22]! > 0, `global layer ${l} sees the far key`);
  }
});

test('unpadded (the real tokens packed, HF\'s flash-attention layout) and padded runs give the same logits, real-token states and gradients; padding rows are zeros unpadded', () => {
  const dir = join(FIX, 'parity-modernbert-bias'), ref = reference(dir);
  const run = (unpad: boolean) => {
    const { model } = loadBert(dir, { kernels: nativeKernels() });
    model.unpad = unpad;
    const out = model.forward(ref.batch, { train: false });
    const seq = out.sequenceOutput.slice(), logits = out.logits!.slice();
    model.loss(ref.labels);
    model.zeroGrads();
    model.backward({ labels: ref.labels });
    return { seq, logits, grads: model.grads!.slice(), D: model.cfg.hidden_size };
  };
  const a = run(false), b = run(true);
  // other GEMM shapes, so f32 reassociation (oneDNN's AVX2 kernels block differently): within the PyTorch parity bounds
  assert.ok(maxRelErr(b.logits, a.logits, 1e-2) < 1e-4);
  assert.ok(maxRelErr(b.grads, a.grads, 1e-2, 1e-3 * maxAbs(a.grads)) < 1e-3);
  const mask = ref.batch.attentionMask;
  for (let i = 0; i < mask.length; i++) {
    const rowA = a.seq.subarray(i * a.D, (i + 1) * a.D), rowB = b.seq.subarray(i * a.D, (i + 1) * a.D);
    if (mask[i]) assert.ok(maxRelErr(rowB, rowA, 1e-2) < 1e-4, `token ${i}: ${maxRelErr(rowB, rowA, 1e-2)}`);
    else assert.ok(rowB.every((x) => x === 0), `padding token ${i} is zero unpadded`);
  }
});

test('rotary positions past 4,096: a 4,200-token row matches the twin at positions 0 … 4,199 (hidden states 1e-4 relative, mean-pooled logits)', () => {
  const dir = join(FIX, 'parity-modernbert-long'), ref = reference(dir);
  const { model } = loadBert(dir, { kernels: nativeKernels() });
  // materialised (grad kept) and blocked (inference: no S×S matrix)
  for (const grad of [true, false]) {
    const out = model.forward(ref.batch, { grad });
    const D = model.cfg.hidden_size, pos = Array.from(toFloat64(ref.get('positions'))), want = toFloat64(ref.get('sequence_output'));
    const got = new Float64Array(pos.length * D);
    pos.forEach((p, r) => got.set(out.sequenceOutput.subarray(p * D, p * D + D), r * D));
    check(`hidden states at chosen positions (grad ${grad})`, got, want, 1e-4);
    check(`logits (grad ${grad})`, out.logits!, toFloat64(ref.get('logits')), 1e-4);
  }
});

test('inference forward (grad: false) keeps nothing for a backward (layers share buffers; past BLOCKED_FROM tokens the attention runs blocked, the 4,200-token test): the same logits and states, padded and unpadded; backward after it and train with it are refused', () => {
  for (const name of ['parity-modernbert', 'parity-modernbert-bias']) {
    const dir = join(FIX, name), ref = reference(dir);
    for (const unpad of [false, true]) {
      const { model } = loadBert(dir, { kernels: nativeKernels() });
      model.unpad = unpad;
      const a = model.forward(ref.batch), la = a.logits!.slice(), sa = a.sequenceOutput.slice();
      const b = model.forward(ref.batch, { grad: false });
      // the two differ by f32 reassociation (running against two-pass softmax): within the PyTorch parity bound
      assert.ok(maxRelErr(b.logits!, la, 1e-2) < 1e-4, `${name} unpad=${unpad} logits`);
      const mask = ref.batch.attentionMask, D = model.cfg.hidden_size;
      for (let i = 0; i < mask.length; i++) if (mask[i]) assert.ok(maxRelErr(b.sequenceOutput.subarray(i * D, i * D + D), sa.subarray(i * D, i * D + D), 1e-2) < 1e-4);
      assert.throws(() => model.backward({ labels: ref.labels }), /backward\(\) needs a forward\(\) that kept its activations/);
      assert.throws(() => model.forward(ref.batch, { train: true, grad: false }), /train needs the activations/);
    }
  }
});

test('ModernBERT config: ModernBertConfig\'s keys and defaults read; a missing or absurd window, rope or pooling field is one line naming it', () => {
  const raw = JSON.parse(readFileSync(join(FIX, 'parity-modernbert', 'config.json'), 'utf8'));
  const cfg = makeConfig(raw, 'config.json');
  assert.equal(cfg.layer_norm_eps, 1e-5);
  assert.equal(cfg.type_vocab_size, 0);
  assert.deepEqual(cfg.modernbert!.layer_types, ['full_attention', 'sliding_attention', 'sliding_attention', 'full_attention']);
  const { local_attention: _w, global_rope_theta: _g, ...defaults } = raw;
  assert.equal(makeConfig(defaults).modernbert!.local_attention, 128);
  assert.equal(makeConfig(defaults).modernbert!.global_rope_theta, 160000);
  const bad: Array<[Record<string, unknown>, RegExp]> = [
    [{ local_attention: 0 }, /config\.json: "local_attention" must be a positive integer/],
    [{ local_attention: 'wide' }, /"local_attention" must be a positive integer/],
    [{ global_attn_every_n_layers: -1 }, /"global_attn_every_n_layers" must be a positive integer/],
    [{ global_rope_theta: 0 }, /"global_rope_theta" must be a positive number/],
    [{ rope_parameters: { full_attention: { rope_type: 'yarn', factor: 4 } } }, /"rope_parameters\.full_attention\.rope_type" is "yarn"/],
    [{ rope_parameters: { full_attention: { rope_theta: -5 } } }, /"rope_parameters\.full_attention\.rope_theta" must be a positive number/],
    [{ layer_types: ['full_attention'] }, /"layer_types" must list/],
    [{ classifier_pooling: 'max' }, /"classifier_pooling" is "max"; ja-bert runs cls, mean/],
    [{ hidden_activation: 'silu' }, /"hidden_activation" is "silu"/],
    [{ max_position_embeddings: 1e9 }, /"max_position_embeddings" must be a positive integer no larger than 65536/],
    [{ norm_bias: 'yes' }, /"norm_bias" must be true or false/],
  ];
  for (const [patch, re] of bad) assert.throws(() => makeConfig({ ...raw, ...patch }, 'config.json'), re, JSON.stringify(patch));
});

test('a sequence longer than max_position_embeddings is refused with one line, never indexed past the rotary range', (t) => {
  const dir = tempDir(t);
  const raw = JSON.parse(readFileSync(join(FIX, 'parity-modernbert', 'config.json'), 'utf8'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...raw, max_position_embeddings: 16 }));
  copyFileSync(join(FIX, 'parity-modernbert', 'model.safetensors'), join(dir, 'model.safetensors'));
  const { model } = loadBert(dir, { kernels: nativeKernels() });
  const ref = reference(join(FIX, 'parity-modernbert'));
  assert.throws(() => model.forward(ref.batch), /sequence length 23 exceeds the model's 16 positions/);
});

test('save then load: the same tensors under HF\'s names, config.json in ModernBertConfig\'s keys; a bare ModernBertModel checkpoint loads as the encoder', (t) => {
  for (const name of ['parity-modernbert', 'parity-modernbert-bias']) {
    const { model } = loadBert(join(FIX, name), { kernels: nativeKernels() });
    const dir = tempDir(t);
    saveBert(model, dir);
    const again = loadBert(dir, { kernels: nativeKernels() }).model;
    assert.deepEqual(again.params, model.params);
    assert.deepEqual(again.cfg, model.cfg);
    const json = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    assert.equal(json.model_type, 'modernbert');
    assert.deepEqual(json.architectures, ['ModernBertForSequenceClassification']);
    for (const k of ['hidden_activation', 'norm_eps', 'local_attention', 'global_attn_every_n_layers', 'classifier_pooling', 'norm_bias', 'layer_types']) assert.ok(k in json, k);
    for (const k of ['hidden_act', 'layer_norm_eps', 'type_vocab_size', 'hidden_dropout_prob', 'modernbert']) assert.ok(!(k in json), k);
    const names = [...readSafetensors(join(dir, 'model.safetensors')).tensors.keys()];
    assert.ok(names.includes('model.layers.1.attn_norm.weight') && !names.includes('model.layers.0.attn_norm.weight'));
    assert.equal(names.some((n) => n.endsWith('.bias') && n !== 'classifier.bias'), name.endsWith('bias'));
  }
  // ModernBertModel.save_pretrained: no "model." prefix and no head; loaded for a classifier, the encoder is the checkpoint's and the head initialised
  const src = join(FIX, 'parity-modernbert'), st = readSafetensors(join(src, 'model.safetensors'));
  const dir = tempDir(t);
  const bare = [...st.tensors].filter(([n]) => n.startsWith('model.')).map(([n, tt]) => ({ name: n.slice('model.'.length), shape: tt.shape, data: Float32Array.from(toFloat64(tt)) }));
  writeSafetensors(join(dir, 'model.safetensors'), bare, { format: 'pt' });
  const raw = JSON.parse(readFileSync(join(src, 'config.json'), 'utf8'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...raw, architectures: ['ModernBertModel'] }));
  const { model, initialised } = loadBert(dir, { kernels: nativeKernels(), labels: ['a', 'b'] });
  const full = loadBert(src, { kernels: nativeKernels() }).model;
  assert.deepEqual(initialised.sort(), ['classifier.bias', 'classifier.weight', 'head.dense.weight', 'head.norm.weight']);
  for (const spec of model.layout.specs) if (spec.name.startsWith('model.')) assert.deepEqual(model.param(spec.name), full.param(spec.name), spec.name);
});

test('relabelling a ModernBERT checkpoint keeps its prediction head (head.dense, head.norm) as HF does and initialises only the classifier', () => {
  const src = join(FIX, 'parity-modernbert');
  const full = loadBert(src, { kernels: nativeKernels() }).model;
  const { model, initialised } = loadBert(src, { kernels: nativeKernels(), labels: ['x', 'y'] });
  assert.deepEqual(initialised.sort(), ['classifier.bias', 'classifier.weight']);
  assert.deepEqual(model.param('head.dense.weight'), full.param('head.dense.weight'));
});

test('training step: dropout on (embedding, attention, MLP, classifier) is seeded; native and reference kernels give the same gradients', () => {
  const dir = join(FIX, 'parity-modernbert-bias'), ref = reference(dir);
  const grads = (K: Kernels) => {
    const { model } = loadBert(dir, { kernels: K });
    model.forward(ref.batch, { train: true, seed: 5 });
    const l = model.loss(ref.labels).loss;
    model.zeroGrads();
    model.backward({ labels: ref.labels });
    return { l, g: model.grads!.slice() };
  };
  const a = grads(nativeKernels()), b = grads(refKernels);
  assert.ok(Math.abs(a.l - b.l) < 1e-5 * Math.abs(b.l), `${a.l} vs ${b.l}`);
  assert.ok(maxRelErr(a.g, b.g, 1e-2, 1e-3 * maxAbs(b.g)) < 1e-3);
  const { model } = loadBert(dir, { kernels: nativeKernels() });
  model.forward(ref.batch, { train: false });
  assert.notEqual(model.loss(ref.labels).loss, a.l, 'dropout changed the loss');
});

test('a freshly initialised ModernBERT draws HF\'s truncated normals: classifier hidden_size^-0.5, Wo and head.dense initializer_range / sqrt(2 · layers), the rest initializer_range, all within 2 standard deviations', () => {
  const raw = JSON.parse(readFileSync(join(FIX, 'parity-modernbert', 'config.json'), 'utf8'));
  const cfg = makeConfig({ ...raw, hidden_size: 64, intermediate_size: 96, vocab_size: 2000 });
  const model = new Bert(cfg, { kernels: nativeKernels(), seed: 3 });
  const std = (x: Float32Array) => Math.sqrt(x.reduce((a, v) => a + v * v, 0) / x.length);
  const cases: Array<[string, number]> = [['classifier.weight', 64 ** -0.5], ['model.layers.1.attn.Wo.weight', 0.02 / Math.sqrt(8)], ['model.layers.2.mlp.Wo.weight', 0.02 / Math.sqrt(8)],
    ['head.dense.weight', 0.02 / Math.sqrt(8)], ['model.layers.0.attn.Wqkv.weight', 0.02], ['model.embeddings.tok_embeddings.weight', 0.02]];
  for (const [name, s] of cases) {
    const w = model.param(name);
    // a normal truncated at ±2σ has standard deviation 0.880σ
    assert.ok(Math.abs(std(w) / (0.88 * s) - 1) < 0.1, `${name}: ${std(w)} vs ${0.88 * s}`);
    assert.ok(w.every((v) => Math.abs(v) <= 2 * s + 1e-7), `${name} truncated at 2σ`);
  }
  assert.ok(model.param('model.final_norm.weight').every((v) => v === 1));
});

test('mean pooling over a mask with holes (the padded layout, a run per stretch of real tokens): a masked token gets no gradient, a real one\'s matches central differences of the loss', () => {
  const dir = join(FIX, 'parity-modernbert-bias'), ref = reference(dir);
  const { model } = loadBert(dir, { kernels: nativeKernels() });
  assert.equal(model.cfg.modernbert!.classifier_pooling, 'mean');
  const { B, S } = ref.batch, batch = { ...ref.batch, inputIds: ref.batch.inputIds.slice(), attentionMask: ref.batch.attentionMask.slice() };
  // two ids the batch does not use: one for a hole at row 0 position 3, one for the real token at row 0 position 5
  const used = new Set(batch.inputIds), free = Array.from({ length: model.cfg.vocab_size }, (_, i) => i).filter((i) => !used.has(i));
  const [hole, probe] = free as [number, number];
  batch.inputIds[3] = hole; batch.attentionMask[3] = 0;
  batch.inputIds[5] = probe;
  assert.ok(batch.attentionMask[5] && batch.attentionMask[4] && S > 5 && B > 0);
  const lossAt = (): number => { model.forward(batch, { train: false }); return model.loss(ref.labels).loss; };
  lossAt();
  model.zeroGrads();
  model.backward({ labels: ref.labels });
  const word = 'model.embeddings.tok_embeddings.weight', D = model.cfg.hidden_size, g = model.grad(word);
  assert.ok(g.subarray(hole * D, hole * D + D).every((x) => x === 0), 'the masked token\'s embedding gets no gradient');
  const off = model.layout.byName.get(word)!.offset, gp = g.subarray(probe * D, probe * D + D);
  const c = gp.reduce((best, x, i) => (Math.abs(x) > Math.abs(gp[best]!) ? i : best), 0);
  const eps = 1e-2, i = off + probe * D + c, x0 = model.params[i]!;
  model.params[i] = x0 + eps; model.paramsChanged(); const up = lossAt();
  model.params[i] = x0 - eps; model.paramsChanged(); const down = lossAt();
  model.params[i] = x0; model.paramsChanged();
  const fd = (up - down) / (2 * eps);
  assert.ok(Math.abs(fd - gp[c]!) <= 2e-2 * Math.abs(gp[c]!), `d loss / d embedding: backward ${gp[c]}, central difference ${fd}`);
});

test('ONNX export: onnxruntime runs the graph (rotary, the window, bias-free norms, cls and mean pooling) to the twin\'s logits, hidden states and head output, at 4,200 tokens too; the int8 graph stays close', async () => {
  const ort = await import('onnxruntime-node');
  const run = async (bytes: Uint8Array, ref: ReturnType<typeof reference>) => {
    const s = await ort.InferenceSession.create(bytes);
    const { B, S } = ref.batch;
    const i64 = (a: ArrayLike<number>) => new ort.Tensor('int64', BigInt64Array.from(Array.from(a), (v) => BigInt(v)), [B, S]);
    assert.deepEqual([...s.inputNames].sort(), ['attention_mask', 'input_ids'], 'no token types: ModernBERT has none');
    return s.run({ input_ids: i64(ref.batch.inputIds), attention_mask: i64(ref.batch.attentionMask) });
  };
  for (const name of ['parity-modernbert', 'parity-modernbert-bias']) {
    const dir = join(FIX, name), ref = reference(dir);
    const { model } = loadBert(dir, { kernels: nativeKernels(), dtype: 'f32' });
    const logits = (await run(bertToOnnx(model, { task: 'text-classification' }), ref)).logits!.data as Float32Array;
    check(`${name}: logits`, logits, toFloat64(ref.get('logits')), 1e-4);
    const fe = await run(bertToOnnx(model, { task: 'feature-extraction' }), ref);
    const D = model.cfg.hidden_size, mask = ref.batch.attentionMask;
    const real = (x: ArrayLike<number>) => Float64Array.from({ length: x.length }, (_, i) => (mask[Math.floor(i / D)] ? x[i]! : 0));
    check(`${name}: last_hidden_state (real tokens)`, real(fe.last_hidden_state!.data as Float32Array), real(toFloat64(ref.get('sequence_output'))), 1e-4);
    check(`${name}: pooler_output (the prediction head's output)`, fe.pooler_output!.data as Float32Array, toFloat64(ref.get('pooled_output')), 1e-4);
    const q8 = (await run(bertToOnnx(model, { task: 'text-classification', quantize: true }), ref)).logits!.data as Float32Array;
    assert.ok(maxAbs(Float64Array.from(q8, (v, i) => v - logits[i]!)) < 0.05 * Math.max(1, maxAbs(logits)), `int8 logits ${Array.from(q8)} vs ${Array.from(logits)}`);
  }
  // positions past 4,096: the rotary angles computed in the graph from the input's length
  const dir = join(FIX, 'parity-modernbert-long'), ref = reference(dir);
  const { model } = loadBert(dir, { kernels: nativeKernels(), dtype: 'f32' });
  const fe = await run(bertToOnnx(model, { task: 'feature-extraction' }), ref);
  const D = model.cfg.hidden_size, pos = Array.from(toFloat64(ref.get('positions'))), h = fe.last_hidden_state!.data as Float32Array;
  const got = new Float64Array(pos.length * D);
  pos.forEach((p, r) => got.set(h.subarray(p * D, p * D + D), r * D));
  check('4,200 tokens: hidden states at chosen positions', got, toFloat64(ref.get('sequence_output')), 1e-4);
});

test('the blocked-training rule: past blockedTrainFrom tokens, or past 128 when the batch\'s probabilities over all layers would exceed attnMemoryBudget; never with attention dropout', () => {
  const cfg = makeConfig({ model_type: 'modernbert', vocab_size: 50, hidden_size: 16, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 24,
    max_position_embeddings: 512, local_attention: 16, global_attn_every_n_layers: 2, pad_token_id: 0 }, 'test');
  const S = 200, B = 2;
  const batch: Batch = { B, S, inputIds: Int32Array.from({ length: B * S }, (_, i) => 1 + (i % 49)), tokenTypeIds: new Int32Array(B * S), attentionMask: new Uint8Array(B * S).fill(1) };
  const keptAfter = (set: (m: Bert) => void, dropout = 0) => {
    const m = new Bert(makeConfig({ ...cfg, attention_dropout: dropout, model_type: 'modernbert' }, 'test'), { kernels: nativeKernels(), seed: 1 });
    set(m);
    m.forward(batch, { train: true, seed: 1 });
    return (m as unknown as { acts: { layers: Array<{ P: Float32Array; lse: Float32Array }> } }).acts.layers.map((l) => [l.P.length, l.lse.length]);
  };
  const full = [B * 2 * S * S, 0];
  assert.deepEqual(keptAfter(() => {}), [full, full], 'short and within budget: materialised');
  assert.deepEqual(keptAfter((m) => { m.blockedTrainFrom = 150; }), [[0, B * 2 * S], [0, B * 2 * S]], 'past blockedTrainFrom: blocked');
  assert.deepEqual(keptAfter((m) => { m.attnMemoryBudget = 2 * B * 2 * S * S * 4 - 1; }), [[0, B * 2 * S], [0, B * 2 * S]], 'over the budget: blocked');
  assert.deepEqual(keptAfter((m) => { m.attnMemoryBudget = 2 * B * 2 * S * S * 4; }), [full, full], 'exactly the budget: materialised');
  assert.deepEqual(keptAfter((m) => { m.blockedTrainFrom = 150; m.attnMemoryBudget = 1; }, 0.1), [full, full], 'attention dropout: materialised');
});

for (const [name, bias] of [['parity-modernbert-mlm', 'decoder.bias'], ['parity-modernbert-mlm-bias', null]] as const) {
  test(`${name}: ModernBertForMaskedLM's head (head.dense, classifier_activation, head.norm shared with the classifier; the tied decoder${bias ? ' and its bias' : ', no bias'}) matches the twin: loss and every gradient, native and reference`, () => {
    checkMlmParity(join(FIX, name), bias);
  });
}

test('fill-mask ONNX export of a ModernBERT masked-LM checkpoint: onnxruntime gives the twin\'s logits at the masked positions (with and without biases, GELU and tanh heads)', async () => {
  for (const name of ['parity-modernbert-mlm', 'parity-modernbert-mlm-bias']) await checkFillMaskOnnx(join(FIX, name));
});
