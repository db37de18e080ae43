// The model against PyTorch: outputs, loss and every parameter gradient for a
// padded pair batch, from both safetensors and pytorch_model.bin.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nativeKernels } from '../src/core/native.js';
import { refKernels } from '../src/core/ref.js';
import type { Kernels } from '../src/core/kernels.js';
import { loadBert, saveBert } from '../src/model/load.js';
import { readSafetensors } from '../src/io/safetensors.js';
import { toFloat64, type RawTensor } from '../src/io/tensor.js';
import type { Batch } from '../src/model/bert.js';
import { checkParity as check, maxAbs, tempDir } from './helpers.js';
import { electraStep } from '../src/pretrain/electra.js';
import { Rng } from '../src/core/random.js';

const FIX = new URL('../../test/fixtures/', import.meta.url).pathname;

function reference(dir: string) {
  const f = readSafetensors(join(dir, 'reference.safetensors'));
  if (f.metadata.format !== 'ja-bert-parity' || f.metadata.version !== '1') {
    throw new Error(`${dir}/reference.safetensors is not a ja-bert-parity v1 file; regenerate with /usr/bin/python3 tools/make_parity_fixture.py`);
  }
  const get = (k: string): RawTensor => { const t = f.tensors.get(k); if (!t) throw new Error(`reference lacks ${k}`); return t; };
  const ids = get('input_ids');
  const [B, S] = ids.shape as [number, number];
  const batch: Batch = {
    B, S,
    inputIds: Int32Array.from(toFloat64(ids)),
    tokenTypeIds: Int32Array.from(toFloat64(get('token_type_ids'))),
    attentionMask: Uint8Array.from(toFloat64(get('attention_mask'))),
  };
  return { batch, labels: Int32Array.from(toFloat64(get('labels'))), get, tensors: f.tensors };
}

function runParity(dir: string, file: 'safetensors' | 'bin', K: Kernels, dtype: 'f32' | 'bf16', outTol: number, gradTol: number) {
  const nw = dtype === 'bf16';
  const ref = reference(dir);
  const path = file === 'safetensors' ? dir : join(dir, 'pytorch_model.bin');
  const { model } = loadBert(path, { kernels: K, dtype });
  const out = model.forward(ref.batch, { train: false });
  check('sequence_output', out.sequenceOutput, toFloat64(ref.get('sequence_output')), outTol, 0, nw);
  check('pooled_output', out.pooledOutput, toFloat64(ref.get('pooled_output')), outTol, 0, nw);
  check('logits', out.logits!, toFloat64(ref.get('logits')), outTol, 0, nw);
  const { loss } = model.loss(ref.labels);
  const want = toFloat64(ref.get('loss'))[0]!;
  assert.ok(Math.abs(loss - want) / want <= outTol, `loss ${loss} vs ${want}`);
  model.zeroGrads();
  model.backward({ labels: ref.labels });
  let worst = 0, count = 0, gmax = 0;
  // the key biases, by the family's names (BERT's attention.self.key.bias, DistilBERT's attention.k_lin.bias)
  const keyBiases = new Set(Array.from({ length: model.cfg.num_hidden_layers }, (_, l) => model.family.layer(l).k.b));
  for (const spec of model.layout.specs) gmax = Math.max(gmax, maxAbs(toFloat64(ref.get('grad.' + spec.name))));
  for (const spec of model.layout.specs) {
    const g = ref.tensors.get('grad.' + spec.name);
    assert.ok(g, `reference has no gradient for ${spec.name}`);
    count++;
    if (keyBiases.has(spec.name)) {
      // zero in theory: a key bias shifts every score of a row equally
      const z = maxAbs(model.grad(spec.name)) / gmax;
      assert.ok(z <= (nw ? 1e-3 : 1e-6), `grad ${spec.name} should vanish, is ${z.toExponential(2)} of the largest gradient`);
      continue;
    }
    worst = Math.max(worst, check(`grad ${spec.name}`, model.grad(spec.name), toFloat64(g), gradTol, (nw ? 1e-2 : 1e-3) * gmax, nw));
  }
  assert.equal(count, ref.tensors.size - 8, 'every reference gradient is compared');
  return worst;
}

for (const act of ['gelu', 'tanh'] as const) {
  const dir = join(FIX, `parity-${act}`);
  test(`parity ${act}: native f32 from model.safetensors matches PyTorch (outputs 1e-4, gradients 1e-3)`, () => {
    runParity(dir, 'safetensors', nativeKernels(), 'f32', 1e-4, 1e-3);
  });
  test(`parity ${act}: TypeScript reference kernels match PyTorch`, () => {
    runParity(dir, 'safetensors', refKernels, 'f32', 1e-4, 1e-3);
  });
  test(`parity ${act}: bf16 within its looser normwise bound (outputs 3e-2, gradients 5e-2): native where the CPU has bf16, else the reference's exact emulation`, () => {
    const N = nativeKernels();
    if (N.bf16Supported) {
      runParity(dir, 'safetensors', N, 'bf16', 3e-2, 5e-2);
    } else {
      assert.throws(() => runParity(dir, 'safetensors', N, 'bf16', 3e-2, 5e-2), /bf16 needs a CPU that runs it natively/);
      runParity(dir, 'safetensors', refKernels, 'bf16', 3e-2, 5e-2);
    }
  });
}

test('pytorch_model.bin loads to exactly the safetensors weights', () => {
  const dir = join(FIX, 'parity-gelu');
  const a = loadBert(dir, { kernels: nativeKernels() }).model;
  const b = loadBert(join(dir, 'pytorch_model.bin'), { kernels: nativeKernels() }).model;
  assert.deepEqual(b.params, a.params);
});

test('bin-loaded model matches PyTorch too', () => {
  const dir = join(FIX, 'parity-gelu');
  const ref = reference(dir);
  const { model } = loadBert(join(dir, 'pytorch_model.bin'), { kernels: nativeKernels() });
  const out = model.forward(ref.batch);
  check('logits via .bin', out.logits!, toFloat64(ref.get('logits')), 1e-4);
});

test('save then load round-trips every parameter and the labels', (t) => {
  const dir = join(FIX, 'parity-tanh');
  const { model } = loadBert(dir, { kernels: nativeKernels() });
  const tmp = tempDir(t);
  saveBert(model, tmp);
  const again = loadBert(tmp, { kernels: nativeKernels() }).model;
  assert.deepEqual(again.params, model.params);
  assert.deepEqual(again.cfg.labels, ['neg', 'neu', 'pos']);
  assert.equal(again.cfg.hidden_act, 'gelu_new');
});

test('dropout in training mode is seeded: same seed same loss, other seed other loss', () => {
  const dir = join(FIX, 'parity-gelu');
  const ref = reference(dir);
  const { model } = loadBert(dir, { kernels: nativeKernels() });
  const l = (seed: number) => { model.forward(ref.batch, { train: true, seed }); return model.loss(ref.labels).loss; };
  assert.equal(l(1), l(1));
  assert.notEqual(l(1), l(2));
  model.forward(ref.batch, { train: false });
  assert.notEqual(model.loss(ref.labels).loss, l(1));
});

test('training-mode gradients (dropout on): native and reference kernels agree', () => {
  const dir = join(FIX, 'parity-gelu');
  const ref = reference(dir);
  const a = loadBert(dir, { kernels: nativeKernels() }).model;
  const b = loadBert(dir, { kernels: refKernels }).model;
  for (const m of [a, b]) { m.forward(ref.batch, { train: true, seed: 5 }); m.loss(ref.labels); m.zeroGrads(); m.backward({ labels: ref.labels }); }
  let gmax = 0;
  for (const spec of b.layout.specs) gmax = Math.max(gmax, maxAbs(b.grad(spec.name)));
  for (const spec of a.layout.specs) if (!spec.name.endsWith('key.bias')) check(`train grad ${spec.name}`, a.grad(spec.name), b.grad(spec.name), 1e-3, 1e-3 * gmax);
});

/** a fixture's reference tensors and its input batch */
function referenceBatch(dir: string): { get: (k: string) => RawTensor; batch: Batch } {
  const f = readSafetensors(join(dir, 'reference.safetensors'));
  const get = (k: string) => f.tensors.get(k)!;
  const [B, S] = get('input_ids').shape as [number, number];
  return { get, batch: { B, S, inputIds: Int32Array.from(toFloat64(get('input_ids'))), tokenTypeIds: Int32Array.from(toFloat64(get('token_type_ids'))),
    attentionMask: Uint8Array.from(toFloat64(get('attention_mask'))) } };
}

test('masked-LM head (decoder tied to the word embeddings) matches PyTorch: logits, loss and every gradient', () => {
  const dir = join(FIX, 'parity-mlm');
  const { get, batch } = referenceBatch(dir);
  for (const K of [nativeKernels(), refKernels]) {
    const { model } = loadBert(dir, { kernels: K, mlmHead: true });
    assert.ok(model.layout.byName.has('cls.predictions.bias'));
    model.forward(batch);
    model.zeroGrads();
    const { loss } = model.mlmLoss(Int32Array.from(toFloat64(get('positions'))), Int32Array.from(toFloat64(get('targets'))));
    const want = toFloat64(get('loss'))[0]!;
    assert.ok(Math.abs(loss - want) / want < 1e-5, `${K.name}: loss ${loss} vs ${want}`);
    model.mlmBackward();
    let gmax = 0;
    for (const spec of model.layout.specs) gmax = Math.max(gmax, maxAbs(toFloat64(get('grad.' + spec.name))));
    for (const spec of model.layout.specs) {
      if (spec.name.endsWith('key.bias') || spec.name.startsWith('bert.pooler')) continue; // zero in theory / unused by MLM
      check(`${K.name} grad ${spec.name}`, model.grad(spec.name), toFloat64(get('grad.' + spec.name)), 1e-3, 1e-3 * gmax);
    }
    assert.equal(maxAbs(model.grad('bert.pooler.dense.weight')), 0, 'the pooler takes no part in masked LM');
  }
});

test('pretraining heads (masked LM + the sentence-pair head on the pooled output) match PyTorch on [CLS] A [SEP] B [SEP] inputs: losses, pair logits, every gradient', () => {
  const dir = join(FIX, 'parity-pretrain');
  const { get, batch } = referenceBatch(dir);
  for (const K of [nativeKernels(), refKernels]) {
    const { model, initialised } = loadBert(dir, { kernels: K, mlmHead: true, nspHead: true });
    assert.deepEqual(initialised, [], 'every head tensor comes from the checkpoint');
    model.forward(batch);
    model.zeroGrads();
    const mlm = model.mlmLoss(Int32Array.from(toFloat64(get('positions'))), Int32Array.from(toFloat64(get('targets'))));
    const pair = model.nspLoss(Int32Array.from(toFloat64(get('pair_labels'))));
    for (const [name, got] of [['mlm_loss', mlm.loss], ['pair_loss', pair.loss]] as const) {
      const want = toFloat64(get(name))[0]!;
      assert.ok(Math.abs(got - want) / want < 1e-5, `${K.name}: ${name} ${got} vs ${want}`);
    }
    model.pretrainBackward();
    let gmax = 0;
    for (const spec of model.layout.specs) gmax = Math.max(gmax, maxAbs(toFloat64(get('grad.' + spec.name))));
    for (const spec of model.layout.specs) {
      if (spec.name.endsWith('key.bias')) continue; // zero in theory
      check(`${K.name} grad ${spec.name}`, model.grad(spec.name), toFloat64(get('grad.' + spec.name)), 1e-3, 1e-3 * gmax);
    }
    assert.ok(maxAbs(model.grad('bert.pooler.dense.weight')) > 0, 'the pair objective trains the pooler');
    assert.ok(maxAbs(model.grad('bert.embeddings.token_type_embeddings.weight').subarray(model.cfg.hidden_size)) > 0, 'and segment B\'s token-type embedding');
  }
});

test('a classifier checkpoint without the MLM head gets a freshly initialised one; the TF names map', async () => {
  const { model, initialised } = loadBert(join(FIX, 'parity-gelu'), { kernels: nativeKernels(), mlmHead: true });
  assert.ok(initialised.includes('cls.predictions.bias'));
  assert.equal(model.param('cls.predictions.transform.LayerNorm.weight')[0], 1);
  const { tfNameToHf } = await import('../src/io/tf1.js');
  assert.deepEqual(tfNameToHf('cls/predictions/output_bias'), { name: 'cls.predictions.bias', transpose: false });
  assert.deepEqual(tfNameToHf('cls/predictions/transform/dense/kernel'), { name: 'cls.predictions.transform.dense.weight', transpose: true });
  assert.deepEqual(tfNameToHf('cls/predictions/transform/LayerNorm/gamma'), { name: 'cls.predictions.transform.LayerNorm.weight', transpose: false });
  assert.equal(tfNameToHf('cls/seq_relationship/output_weights'), null);
});

// BERT's relatives (src/model/families/) against PyTorch twins written from HF's modeling files (tools/make_family_fixtures.py):
// XLM-R's positions after padding_idx and its head (dense, tanh, out_proj), DistilBERT's names and ReLU head without
// token types, ELECTRA's 16-wide embeddings projected to 32 and its GELU head
for (const family of ['xlm-roberta', 'distilbert', 'electra'] as const) {
  const dir = join(FIX, `parity-${family}`);
  test(`parity ${family}: native f32 and the TypeScript reference match PyTorch (outputs 1e-4, gradients 1e-3); bf16 within its bound`, () => {
    runParity(dir, 'safetensors', nativeKernels(), 'f32', 1e-4, 1e-3);
    runParity(dir, 'safetensors', refKernels, 'f32', 1e-4, 1e-3);
    const N = nativeKernels();
    runParity(dir, 'safetensors', N.bf16Supported ? N : refKernels, 'bf16', 3e-2, 5e-2);
  });
  test(`${family}: saved in its own Hugging Face layout (model_type, parameter names, config keys) and loaded back to the same weights`, (t) => {
    const { model } = loadBert(dir, { kernels: nativeKernels() });
    const tmp = tempDir(t);
    saveBert(model, tmp);
    const cfg = JSON.parse(readFileSync(join(tmp, 'config.json'), 'utf8')) as Record<string, unknown>;
    const orig = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(cfg.model_type, family);
    assert.deepEqual(cfg.architectures, orig.architectures);
    for (const [k, v] of Object.entries(orig)) if (!['architectures', 'position_embedding_type', 'summary_type', 'bos_token_id', 'eos_token_id'].includes(k)) assert.deepEqual(cfg[k], v, `config ${k}`);
    assert.deepEqual([...readSafetensors(join(tmp, 'model.safetensors')).tensors.keys()].sort(), [...readSafetensors(join(dir, 'model.safetensors')).tensors.keys()].sort());
    assert.deepEqual(loadBert(tmp, { kernels: nativeKernels() }).model.params, model.params);
  });
}

test('a model_type ja-bert does not load is one line naming the supported ones; a checkpoint of another family is refused by name', (t) => {
  const tmp = tempDir(t);
  writeFileSync(join(tmp, 'config.json'), JSON.stringify({ model_type: 'funnel', vocab_size: 10, hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 16 }));
  copyFileSync(join(FIX, 'parity-gelu', 'model.safetensors'), join(tmp, 'model.safetensors'));
  assert.throws(() => loadBert(tmp, { kernels: nativeKernels() }), /model_type "funnel" is not supported; ja-bert loads bert, roberta, xlm-roberta, distilbert, electra/);
  // an XLM-R config over BERT's weights: the missing and unexpected names are listed
  const cfg = JSON.parse(readFileSync(join(FIX, 'parity-xlm-roberta', 'config.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(tmp, 'config.json'), JSON.stringify({ ...cfg, max_position_embeddings: 64 }));
  assert.throws(() => loadBert(tmp, { kernels: nativeKernels() }), /missing: roberta\.embeddings\.word_embeddings\.weight.*unexpected: bert\.embeddings/);
});

test('ELECTRA pretraining matches PyTorch: generator MLM loss, replaced-token loss over real tokens, and every gradient of both models with the shared embeddings', () => {
  const dir = join(FIX, 'parity-electra-pretrain');
  const { get, batch } = referenceBatch(dir);
  const masked = toFloat64(get('masked_input_ids')), positions = toFloat64(get('positions')), targets = toFloat64(get('targets'));
  const sampled = toFloat64(get('sampled'));
  const { B, S } = batch;
  // the step's inputs as electraStep takes them: each row's real tokens, its masking, and the given samples
  const rows = Array.from({ length: B }, (_, b) => {
    const n = batch.attentionMask.subarray(b * S, b * S + S).reduce((a, x) => a + x, 0);
    return { input: Array.from(batch.inputIds.subarray(b * S, b * S + n)), tokenTypes: Array.from(batch.tokenTypeIds.subarray(b * S, b * S + n)), starts: new Uint8Array(n).fill(1) };
  });
  const masks = rows.map((r, b) => {
    const mine = Array.from(positions).map((p, i) => ({ p, i })).filter(({ p }) => Math.floor(p / S) === b);
    return { input: Array.from(masked.subarray(b * S, b * S + r.input.length)), positions: mine.map(({ p }) => p % S), targets: mine.map(({ i }) => targets[i]!) };
  });
  const sp = { cls: 2, sep: 3, mask: 4, pad: 0, vocab: 99, special: new Set([0, 1, 2, 3, 4]) };
  for (const K of [nativeKernels(), refKernels]) {
    const disc = loadBert(dir, { kernels: K, rtdHead: true });
    const gen = loadBert(join(dir, 'generator'), { kernels: K, mlmHead: true });
    assert.deepEqual([disc.initialised, gen.initialised], [['classifier.dense.weight', 'classifier.dense.bias'], ['classifier.dense.weight', 'classifier.dense.bias']],
      'every pretraining tensor comes from the checkpoints (the classification head\'s dense layer is not part of pretraining)');
    // the generator's own copy of the embeddings is overwritten by the discriminator's: they are one set of parameters
    gen.model.param('electra.embeddings.word_embeddings.weight').fill(0);
    disc.model.zeroGrads(); gen.model.zeroGrads();
    let draws = 0;
    const r = electraStep(disc.model, gen.model, rows, sp, { train: false, backward: true, seed: 0, rng: new Rng(1), discWeight: 50, masks, sample: () => sampled[draws++]! });
    assert.equal(draws, positions.length);
    for (const [name, got] of [['gen_loss', r.mlmLoss], ['disc_loss', r.rtdLoss], ['loss', r.loss]] as const) {
      const want = toFloat64(get(name))[0]!;
      assert.ok(Math.abs(got - want) / want < 1e-5, `${K.name}: ${name} ${got} vs ${want}`);
    }
    assert.equal(r.tp + r.fn, 4, 'four of the six samples differ from the original token');
    assert.equal(r.active, batch.attentionMask.reduce((a, x) => a + x, 0));
    check(`${K.name} disc logits`, disc.model.rtdLogits().subarray(0, B * S).map((z, i) => (batch.attentionMask[i] ? z : 0)),
      toFloat64(get('disc_logits')).map((z, i) => (batch.attentionMask[i] ? z : 0)), 1e-4);
    let gmax = 0;
    for (const [k, t] of readSafetensors(join(dir, 'reference.safetensors')).tensors) if (k.includes('grad.')) gmax = Math.max(gmax, maxAbs(toFloat64(t)));
    let n = 0;
    for (const [m, prefix] of [[disc.model, 'grad.'], [gen.model, 'generator_grad.']] as const) {
      for (const spec of m.layout.specs) {
        if (spec.name.startsWith('classifier.')) { assert.equal(maxAbs(m.grad(spec.name)), 0, `${spec.name} takes no part`); continue; }
        const ref = prefix === 'generator_grad.' && spec.name.startsWith('electra.embeddings.') ? null : get(prefix + spec.name);
        if (!ref) { assert.equal(maxAbs(m.grad(spec.name)), 0, `the generator's ${spec.name} gradient went to the discriminator's`); continue; }
        n++;
        if (spec.name.endsWith('key.bias')) { assert.ok(maxAbs(m.grad(spec.name)) / gmax <= 1e-6, `grad ${spec.name} should vanish`); continue; }
        check(`${K.name} ${prefix}${spec.name}`, m.grad(spec.name), toFloat64(ref), 1e-3, 1e-3 * gmax);
      }
    }
    assert.equal(n, [...readSafetensors(join(dir, 'reference.safetensors')).tensors.keys()].filter((k) => k.includes('grad.')).length, 'every reference gradient is compared');
  }
});
