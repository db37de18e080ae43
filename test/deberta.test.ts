// DeBERTa-v2/v3 against its PyTorch twin (tools/make_deberta_fixtures.py, written from HF's modeling_deberta_v2.py): hidden
// states, the pooler, logits, loss and every parameter gradient, for ku-nlp's settings (shared keys, log buckets, a normed
// table, no absolute positions), separate position projections without buckets, and c2p alone; HF's log buckets in float32;
// the relative-position kernels; config errors that name the field; save/load; a seeded training step.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nativeKernels } from '../src/core/native.js';
import { refKernels } from '../src/core/ref.js';
import type { Kernels } from '../src/core/kernels.js';
import { loadBert, saveBert } from '../src/model/load.js';
import { makeConfig } from '../src/model/config.js';
import { logBucket, relativeIndex } from '../src/model/families/deberta.js';
import { familyOf } from '../src/model/families/index.js';
import { readSafetensors, writeSafetensors } from '../src/io/safetensors.js';
import { toFloat64, type RawTensor } from '../src/io/tensor.js';
import { Bert, type Batch } from '../src/model/bert.js';
import { checkFillMaskOnnx, checkMlmParity, checkParity as check, maxAbs, maxRelErr, SHARED_DIR, tempDir } from './helpers.js';

const FIX = new URL('../../test/fixtures/', import.meta.url).pathname;
const FIXTURES = ['parity-deberta', 'parity-deberta-sep', 'parity-deberta-c2p'];
const ROOT = new URL('../../', import.meta.url).pathname;
const cli = (...args: string[]) => spawnSync(join(ROOT, 'bin/ja-bert'), args, { encoding: 'utf8' });

function reference(dir: string) {
  const f = readSafetensors(join(dir, 'reference.safetensors'));
  const get = (k: string): RawTensor => { const t = f.tensors.get(k); if (!t) throw new Error(`reference lacks ${k}`); return t; };
  const ids = get('input_ids');
  const [B, S] = ids.shape as [number, number];
  const batch: Batch = { B, S, inputIds: Int32Array.from(toFloat64(ids)), tokenTypeIds: Int32Array.from(toFloat64(get('token_type_ids'))),
    attentionMask: Uint8Array.from(toFloat64(get('attention_mask'))) };
  return { batch, labels: Int32Array.from(toFloat64(get('labels'))), get, tensors: f.tensors };
}

function parity(dir: string, K: Kernels, dtype: 'f32' | 'bf16', outTol: number, gradTol: number): void {
  const nw = dtype === 'bf16', ref = reference(dir);
  const { model } = loadBert(dir, { kernels: K, dtype });
  assert.equal(model.cfg.model_type, 'deberta-v2');
  const out = model.forward(ref.batch, { train: false });
  // real tokens only: HF zeroes padding rows' embeddings and its masked softmax leaves them rows of its own
  const D = model.cfg.hidden_size, mask = ref.batch.attentionMask, want0 = toFloat64(ref.get('sequence_output'));
  const real = (x: ArrayLike<number>) => Float64Array.from({ length: x.length }, (_, i) => (mask[Math.floor(i / D)] ? x[i]! : 0));
  check('sequence_output (real tokens)', real(out.sequenceOutput), real(want0), outTol, 0, nw);
  check('pooled_output (ContextPooler)', out.pooledOutput, toFloat64(ref.get('pooled_output')), outTol, 0, nw);
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
    const want = toFloat64(ref.get('grad.' + spec.name));
    if (maxAbs(want) < 1e-9 * gmax) {
      // a gradient that is zero in exact arithmetic (without p2c, key_proj's bias shifts every score of a query row alike, which the
      // softmax ignores): what f32 leaves of the cancelling sum, within f32's resolution of the largest gradient
      assert.ok(maxAbs(model.grad(spec.name)) <= (nw ? 1e-3 : 1e-6) * gmax, `grad ${spec.name}: ${maxAbs(model.grad(spec.name))} where the twin has 0`);
      continue;
    }
    check(`grad ${spec.name}`, model.grad(spec.name), toFloat64(ref.get('grad.' + spec.name)), gradTol, (nw ? 1e-2 : 1e-3) * gmax, nw);
  }
  assert.equal(count, ref.tensors.size - 8, 'every reference gradient is compared (and no parameter HF lacks)');
}

for (const name of FIXTURES) {
  const dir = join(FIX, name);
  test(`${name}: native f32 matches the PyTorch twin (outputs 1e-4, gradients 1e-3)`, () => parity(dir, nativeKernels(), 'f32', 1e-4, 1e-3));
  test(`${name}: TypeScript reference kernels match the PyTorch twin`, () => parity(dir, refKernels, 'f32', 1e-4, 1e-3));
  test(`${name}: bf16 within the normwise bound (outputs 3e-2, gradients 5e-2), native where the CPU has bf16, else the reference's emulation`, () => {
    const N = nativeKernels();
    parity(dir, N.bf16Supported ? N : refKernels, 'bf16', 3e-2, 5e-2);
  });
}

test('log buckets: make_log_bucket_position as HF computes it in float32, for every relative position −1023 … 1023 of six bucket settings; the index is clamped to the table', () => {
  const f = readSafetensors(join(FIX, 'deberta-buckets.safetensors')).tensors;
  const rel = toFloat64(f.get('relative_positions')!);
  let settings = 0;
  for (const [name, t] of f) {
    const m = /^buckets\.(\d+)\.(\d+)$/.exec(name);
    if (!m) continue;
    settings++;
    const b = Number(m[1]), max = Number(m[2]), want = toFloat64(t);
    rel.forEach((r, i) => assert.equal(logBucket(r, b, max), want[i], `bucket(${r}, ${b}, ${max})`));
  }
  assert.equal(settings, 6);
  // ku-nlp's: 256 buckets over 512 positions, table rows 0 … 511; the index of query i and key j is clamp(bucket(i − j) + 256)
  const d = { relative_attention: true, max_relative_positions: -1, position_buckets: 256, pos_att_type: ['p2c', 'c2p'] as Array<'c2p' | 'p2c'>,
    share_att_key: true, norm_rel_ebd: true, position_biased_input: false, legacy: true };
  assert.equal(relativeIndex(0, 0, d, 512), 256);
  assert.equal(relativeIndex(5, 0, d, 512), 261);
  assert.equal(relativeIndex(0, 511, d, 512), 256 - 255);
  assert.equal(relativeIndex(40_000, 0, d, 512), 511, 'beyond the table: its last row');
  assert.equal(relativeIndex(0, 40_000, d, 512), 0);
});

test('DeBERTa config: DebertaV2Config\'s keys and defaults read (ku-nlp\'s config as published); what ja-bert cannot run is one line naming the field', () => {
  const ku = { model_type: 'deberta-v2', architectures: ['DebertaV2ForMaskedLM'], attention_probs_dropout_prob: 0.1, hidden_act: 'gelu', hidden_dropout_prob: 0.1,
    hidden_size: 768, initializer_range: 0.02, intermediate_size: 3072, layer_norm_eps: 1e-7, max_position_embeddings: 512, max_relative_positions: -1,
    norm_rel_ebd: 'layer_norm', num_attention_heads: 12, num_hidden_layers: 12, pad_token_id: 0, pooler_dropout: 0, pooler_hidden_act: 'gelu',
    pooler_hidden_size: 768, pos_att_type: ['p2c', 'c2p'], position_biased_input: false, position_buckets: 256, relative_attention: true,
    share_att_key: true, type_vocab_size: 0, vocab_size: 32000 };
  const cfg = makeConfig(ku);
  assert.deepEqual(cfg.deberta, { relative_attention: true, max_relative_positions: -1, position_buckets: 256, pos_att_type: ['p2c', 'c2p'], share_att_key: true,
    norm_rel_ebd: true, position_biased_input: false, legacy: true });
  assert.equal(cfg.type_vocab_size, 0);
  // ku-nlp's checkpoints carry the masked-LM head under cls.predictions (DebertaV2Config's legacy, true by default)
  assert.equal(familyOf(cfg).mlm?.bias, 'cls.predictions.bias');
  assert.equal(familyOf(makeConfig({ ...ku, legacy: false })).mlm?.bias, 'lm_predictions.lm_head.bias');
  assert.throws(() => makeConfig({ ...ku, legacy: 'yes' }), /"legacy" must be true or false/);
  assert.equal(cfg.pooler_dropout, 0);
  // DebertaV2Config's defaults: no relative attention, absolute positions, layer_norm_eps 1e-7, no token types
  const bare = makeConfig({ model_type: 'deberta-v2', vocab_size: 10, hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 8 });
  assert.deepEqual([bare.deberta!.relative_attention, bare.deberta!.position_biased_input, bare.layer_norm_eps, bare.type_vocab_size], [false, true, 1e-7, 0]);
  const small = { model_type: 'deberta-v2', vocab_size: 10, hidden_size: 8, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 8 };
  for (const [extra, re] of [
    [{ conv_kernel_size: 3 }, /"conv_kernel_size" is 3: ja-bert does not run DeBERTa-v2's convolution layer/],
    [{ pos_att_type: ['c2p', 'q2k'] }, /"pos_att_type" must list "c2p" and\/or "p2c"/],
    [{ pooler_hidden_act: 'tanh' }, /"pooler_hidden_act" is "tanh"/],
    [{ embedding_size: 16 }, /"embedding_size" is 16, not hidden_size 8/],
    [{ relative_attention: 'yes' }, /"relative_attention" must be true or false/],
    [{ position_buckets: 2.5 }, /"position_buckets" must be an integer/],
    [{ cls_dropout: 1 }, /"cls_dropout" must be a probability below 1/],
  ] as const) {
    assert.throws(() => makeConfig({ ...small, ...extra }, 'x/config.json'), (e: Error) => re.test(e.message) && e.message.startsWith('x/config.json: ') && !e.message.includes('\n'), JSON.stringify(extra));
  }
});

test('save then load: the same tensors under HF\'s names and config.json in DebertaV2Config\'s keys; a bare DebertaV2Model and a masked-LM checkpoint load as the encoder', (t) => {
  const src = join(FIX, 'parity-deberta'), ref = reference(src);
  const { model } = loadBert(src, { kernels: nativeKernels() });
  const logits = model.forward(ref.batch).logits!.slice();
  const dir = tempDir(t);
  saveBert(model, dir);
  const json = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(json.model_type, 'deberta-v2');
  assert.deepEqual(json.architectures, ['DebertaV2ForSequenceClassification']);
  for (const [k, v] of Object.entries({ relative_attention: true, position_buckets: 8, max_relative_positions: 12, share_att_key: true, norm_rel_ebd: 'layer_norm',
    position_biased_input: false, pooler_hidden_act: 'gelu', pooler_hidden_size: 32, pooler_dropout: 0 })) assert.deepEqual(json[k], v, k);
  assert.deepEqual(json.pos_att_type, ['p2c', 'c2p']);
  assert.ok(!('deberta' in json) && !('position_embedding_type' in json));
  const again = loadBert(dir, { kernels: nativeKernels() }).model;
  assert.deepEqual(again.forward(ref.batch).logits, logits);
  // a bare DebertaV2Model (no deberta. prefix, no head) and a DebertaV2ForMaskedLM (with cls.predictions and lm_predictions): the encoder loads
  const st = readSafetensors(join(src, 'model.safetensors'));
  const enc = [...st.tensors].filter(([n]) => n.startsWith('deberta.'));
  const cases: Array<[string, Array<{ name: string; shape: number[]; data: Float32Array }>]> = [
    ['bare', enc.map(([n, tt]) => ({ name: n.slice('deberta.'.length), shape: tt.shape, data: Float32Array.from(toFloat64(tt)) }))],
    ['mlm', [...enc.map(([n, tt]) => ({ name: n, shape: tt.shape, data: Float32Array.from(toFloat64(tt)) })),
      { name: 'cls.predictions.bias', shape: [99], data: new Float32Array(99) }, { name: 'lm_predictions.lm_head.bias', shape: [99], data: new Float32Array(99) }]],
  ];
  for (const [kind, tensors] of cases) {
    const d = join(tempDir(t), kind);
    saveBert(model, d);
    writeSafetensors(join(d, 'model.safetensors'), tensors, { format: 'pt' });
    const { model: m, initialised } = loadBert(d, { kernels: nativeKernels() });
    assert.deepEqual(initialised.sort(), ['classifier.bias', 'classifier.weight', 'pooler.dense.bias', 'pooler.dense.weight'], kind);
    assert.deepEqual(m.param('deberta.encoder.rel_embeddings.weight'), model.param('deberta.encoder.rel_embeddings.weight'));
  }
});

test('training step: dropout on (embeddings, attention, the relative-position rows, ContextPooler\'s pooler_dropout, cls_dropout) is seeded; native and reference kernels give the same gradients', () => {
  const dir = join(FIX, 'parity-deberta-sep'), ref = reference(dir);
  const grads = (K: Kernels) => {
    const { model } = loadBert(dir, { kernels: K });
    assert.equal(model.cfg.pooler_dropout, 0.1);
    assert.equal(model.cfg.classifier_dropout, 0.2);
    const a = model.forward(ref.batch, { train: true, seed: 5 }).logits!.slice();
    const b = model.forward(ref.batch, { train: true, seed: 5 }).logits!.slice();
    assert.deepEqual(a, b, 'the same seed, the same dropout');
    const ev = model.forward(ref.batch, { train: false }).logits!.slice();
    assert.ok(maxRelErr(a, ev, 1e-2) > 1e-3, 'dropout changes the logits');
    model.forward(ref.batch, { train: true, seed: 5 });
    model.loss(ref.labels);
    model.zeroGrads();
    model.backward({ labels: ref.labels });
    return model.grads!.slice();
  };
  const n = grads(nativeKernels()), r = grads(refKernels);
  assert.ok(maxRelErr(n, r, 1e-2, 1e-3 * maxAbs(r)) < 1e-3);
});

test('ku-nlp\'s DeBERTa-v2 expects Juman++-segmented input: an unsegmented input gets one note line (once), a segmented one none; what ja-bert trains from it keeps the expectation', (t) => {
  const root = tempDir(t);
  // a small DeBERTa where the Hugging Face cache would put ku-nlp/deberta-v2-base-japanese, with a SentencePiece tokenizer
  const src = join(root, 'models--ku-nlp--deberta-v2-base-japanese', 'snapshots', 'abc123');
  mkdirSync(src, { recursive: true });
  const raw = { model_type: 'deberta-v2', vocab_size: 32000, hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 32,
    max_position_embeddings: 64, relative_attention: true, pos_att_type: ['p2c', 'c2p'], position_buckets: 8, share_att_key: true, norm_rel_ebd: 'layer_norm',
    position_biased_input: false, type_vocab_size: 0, labels: ['0', '1'] };
  saveBert(new Bert(makeConfig(raw), { kernels: nativeKernels(), seed: 1 }), src);
  copyFileSync(join(SHARED_DIR, 'models/wiki-ja-albert-spm/wiki-ja_albert.model'), join(src, 'spm.model'));
  const write = (name: string, rows: Array<[string, string]>) => {
    writeFileSync(join(root, name), rows.map(([a, b]) => JSON.stringify({ text: a, text_b: b })).join('\n') + '\n');
    return join(root, name);
  };
  const raw1 = write('raw.jsonl', [['ファイルの一覧を表示するコマンドです', '削除する'], ['ディレクトリを作成するコマンドです', '作る']]);
  const seg = write('seg.jsonl', [['ファイル の 一覧 を 表示 する コマンド です', '削除 する']]);
  const predict = (model: string, input: string) => cli('predict', '--model', model, '--input', input, '--output', join(root, 'out.jsonl'));
  let r = predict(src, raw1);
  assert.equal(r.status, 0, r.stderr);
  const notes = r.stderr.split('\n').filter((l) => l.startsWith('ja-bert: note:'));
  assert.equal(notes.length, 1, r.stderr);
  assert.match(notes[0]!, /segmented into words by Juman\+\+ .*jumanpp --segment.*"ファイルの一覧を表示するコマンドです"/);
  r = predict(src, seg);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(!r.stderr.includes('note:'), r.stderr);
  // fine-tuned from it: config.json says word_segmentation juman++, and the note follows the model
  const pairs = join(root, 'pairs.tsv');
  writeFileSync(pairs, ['ファイル の 一覧\t表示 する\t1', 'ディレクトリ を 作成\t作る\t0', 'ファイル を 削除\t消す\t1', '一覧 を 表示\t作る\t0'].join('\n') + '\n');
  const out = join(root, 'tuned');
  r = cli('finetune', '--model', src, '--output', out, '--train', pairs, '--max-steps', '1', '--batch-size', '2', '--max-seq-length', '32', '--dtype', 'f32', '--save-steps', '0');
  assert.equal(r.status, 0, r.stderr);
  assert.equal((JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as Record<string, unknown>).word_segmentation, 'juman++');
  r = predict(out, raw1);
  assert.equal(r.stderr.split('\n').filter((l) => l.startsWith('ja-bert: note:')).length, 1, r.stderr);
  // another DeBERTa (not ku-nlp's v2) takes raw text without a note
  const other = join(root, 'other');
  saveBert(new Bert(makeConfig(raw), { kernels: nativeKernels(), seed: 1 }), other);
  copyFileSync(join(src, 'spm.model'), join(other, 'spm.model'));
  r = predict(other, raw1);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(!r.stderr.includes('note:'), r.stderr);
});

for (const name of ['parity-deberta-mlm', 'parity-deberta-mlm-lm']) {
  test(`${name}: DebertaV2ForMaskedLM's head (${name.endsWith('-lm') ? 'legacy: false, lm_predictions.lm_head' : 'legacy, cls.predictions'}; decoder tied) matches the twin: loss and every gradient, native and reference`, () => {
    checkMlmParity(join(FIX, name), name.endsWith('-lm') ? 'lm_predictions.lm_head.bias' : 'cls.predictions.bias');
  });
}

test('fill-mask ONNX export of a DeBERTa masked-LM checkpoint: onnxruntime gives the twin\'s logits at the masked positions', async () => {
  for (const name of ['parity-deberta-mlm', 'parity-deberta-mlm-lm']) await checkFillMaskOnnx(join(FIX, name));
});
