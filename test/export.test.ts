// ja-bert export (issue 15): the default model and a fine-tuned demo
// cross-encoder as ONNX + tokenizer.json, loaded offline by onnxruntime-node,
// transformers.js and the Rust tokenizers, reproducing ja-bert's ids and
// probabilities; the int8 export's size and accuracy; HF's PyTorch layout
// round-trips; a pair-head model exports its encoder and head.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { Tokenizer as RustTokenizer } from 'tokenizers';
import { AutoModelForSequenceClassification, AutoTokenizer, env, pipeline } from '@huggingface/transformers';
import { nativeKernels } from '../src/core/native.js';
import { OptionError } from '../src/core/options.js';
import { exportModel } from '../src/export/export.js';
import { finetune } from '../src/finetune.js';
import { TextClassifier, TextEncoder } from '../src/infer/models.js';
import { loadBert, saveBert } from '../src/model/load.js';
import { Bert } from '../src/model/bert.js';
import { makeConfig } from '../src/model/config.js';
import { DEFAULT_MODEL } from '../src/model/default.js';
import { loadTokenizer, SentencePieceTokenizer } from '../src/tokenize/index.js';
import { InputBuilder, padBatch } from '../src/tokenize/inputs.js';
import { evaluateLogits } from '../src/infer/evaluate.js';
import { CrossModel } from '../src/model/crossmodel.js';
import { loadData } from '../src/data/load.js';
import { entryValues, readCache } from '../src/cache/index.js';
import { maxAbs, maxAbsDiff, maxRelErr, SHARED_DIR, tinySetup } from './helpers.js';

const K = nativeKernels();
const ROOT = new URL('../../', import.meta.url).pathname;
const DEMO = join(ROOT, 'data/demo/manpages-ja-links-sample');
let dir = '', defOut = '', ftModel = '', ftOut = '';
let texts: string[] = [], pairs: Array<{ text: string; textB: string }> = [];
/** texts whose transformers.js ids differ from ja-bert's by an exact Viterbi tie (see tieOrSame) */
const tjsTies = new Set<string>();

/**
 * 'same' when the ids are equal; 'tie' when they differ only as two segmentations of the same
 * normalised text with the same total score (to f32 rounding): SentencePiece breaks such ties by
 * its f32 path sums, HF's Unigram implementations by their own order; else 'different'.
 */
function tieOrSame(tok: SentencePieceTokenizer, want: number[], got: number[]): 'same' | 'tie' | 'different' {
  if (want.join(' ') === got.join(' ')) return 'same';
  const m = tok.model, piece = (ids: number[]) => ids.map((i) => m.pieces[i]).join(''), score = (ids: number[]) => ids.reduce((s, i) => s + m.scores[i]!, 0);
  return piece(want) === piece(got) && Math.abs(score(want) - score(got)) <= 1e-5 * Math.abs(score(want)) ? 'tie' : 'different';
}

env.allowRemoteModels = false;
env.allowLocalModels = true;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'jabert-export-'));
  // 200 sentences of ordinary Japanese prose (chABSA's test split), short enough for 128 tokens as pairs
  const tok = loadTokenizer(DEFAULT_MODEL);
  texts = readFileSync(join(SHARED_DIR, 'data/chabsa/test.tsv'), 'utf8').split('\n').filter(Boolean).map((l) => l.split('\t')[0]!)
    .filter((t) => tok.encode(t).ids.length <= 60).slice(0, 200);
  assert.equal(texts.length, 200);
  pairs = texts.map((t, i) => ({ text: t, textB: texts[(i + 1) % texts.length]! }));
  defOut = join(dir, 'default-export');
  exportModel({ model: DEFAULT_MODEL, output: defOut, kernels: K, quantize: 'int8' });
  // a demo cross-encoder: one epoch on the shipped man-page link pairs
  ftModel = join(dir, 'demo-cross');
  finetune({ model: DEFAULT_MODEL, output: ftModel, kernels: K, texts: join(DEMO, 'honbun_data.json'), pairs: join(DEMO, 'negaposi.json'), epochs: 1, learningRate: 1e-4, saveSteps: 0 });
  ftOut = join(dir, 'demo-export');
  exportModel({ model: ftModel, output: ftOut, kernels: K, quantize: 'int8' });
});
after(() => { if (dir && !process.env.KEEP) rmSync(dir, { recursive: true, force: true }); });

const i64 = (rows: number[][], S: number, pad: number) => new ort.Tensor('int64', BigInt64Array.from(rows.flatMap((r) => [...r, ...new Array<number>(S - r.length).fill(pad)]), (v) => BigInt(v)), [rows.length, S]);

/** onnxruntime logits for pairs (or single texts), in batches of `batch`, each padded to its longest */
async function ortLogits(session: ort.InferenceSession, builder: InputBuilder, inputs: Array<{ text: string; textB?: string }>, batch: number): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (let s = 0; s < inputs.length; s += batch) {
    const f = inputs.slice(s, s + batch).map((p) => builder.features(p.text, p.textB));
    const S = Math.max(...f.map((x) => x.inputIds.length));
    const r = await session.run({
      input_ids: i64(f.map((x) => x.inputIds), S, builder.pad), token_type_ids: i64(f.map((x) => x.tokenTypeIds), S, 0),
      attention_mask: i64(f.map((x) => x.inputIds.map(() => 1)), S, 0),
    });
    const z = r.logits!.data as Float32Array, C = z.length / f.length;
    for (let i = 0; i < f.length; i++) out.push(z.slice(i * C, (i + 1) * C));
  }
  return out;
}

const softmax = (z: ArrayLike<number>) => { const m = Math.max(...Array.from(z)); const e = Array.from(z, (v) => Math.exp(v - m)); const s = e.reduce((a, b) => a + b, 0); return e.map((v) => v / s); };

test('the exported folders: config.json with pad_token_id and labels, tokenizer files, f32 and int8 ONNX; the int8 file is at most 35 % of the f32 one', () => {
  for (const [out, labels] of [[defOut, ['is_next', 'not_next']], [ftOut, ['0', '1']]] as const) {
    for (const f of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'spiece.model', 'onnx/model.onnx', 'onnx/model_quantized.onnx']) assert.ok(existsSync(join(out, f)), `${out}: ${f}`);
    const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(cfg.pad_token_id, 3, '[PAD] is id 3 in the default model\'s vocabulary, not HF\'s default 0');
    assert.deepEqual(cfg.id2label, Object.fromEntries(labels.map((l, i) => [String(i), l])));
    for (const k of ['max_position_embeddings', 'type_vocab_size', 'layer_norm_eps', 'hidden_act', 'model_type']) assert.ok(k in cfg, k);
    const ratio = statSync(join(out, 'onnx/model_quantized.onnx')).size / statSync(join(out, 'onnx/model.onnx')).size;
    assert.ok(ratio <= 0.35, `int8 / f32 = ${ratio}`);
  }
  // ja-bert's own config.json for a fine-tuned model names the pad id too
  assert.equal((JSON.parse(readFileSync(join(ftModel, 'config.json'), 'utf8')) as { pad_token_id: number }).pad_token_id, 3);
});

test('tokenizer.json: the Rust tokenizers and transformers.js give ja-bert\'s ids (= spm_encode\'s) on 200 sentences, up to listed exact ties; their normaliser differences on hand-picked characters are listed', async (t) => {
  const tok = loadTokenizer(DEFAULT_MODEL) as SentencePieceTokenizer;
  const rust = RustTokenizer.fromFile(join(defOut, 'tokenizer.json'));
  const tjs = await AutoTokenizer.from_pretrained(defOut);
  const spm = spawnSync('spm_encode', ['--model', join(DEFAULT_MODEL, 'spiece.model'), '--output_format', 'id'], { input: texts.join('\n') + '\n', encoding: 'utf8' });
  assert.equal(spm.status, 0, spm.stderr);
  const spmIds = spm.stdout.trimEnd().split('\n');
  const ties: string[] = [];
  for (let i = 0; i < texts.length; i++) {
    const ids = tok.encode(texts[i]!).ids;
    assert.equal(ids.join(' '), spmIds[i], `spm_encode, text ${i}`);
    const r = tieOrSame(tok, ids, (await rust.encode(texts[i]!, null, { addSpecialTokens: false })).getIds());
    const j = tieOrSame(tok, ids, tjs.encode(texts[i]!, { add_special_tokens: false }));
    assert.notEqual(r, 'different', `Rust tokenizers, text ${i}: ${texts[i]}`);
    assert.notEqual(j, 'different', `transformers.js, text ${i}: ${texts[i]}`);
    if (r === 'tie' || j === 'tie') ties.push(`text ${i} (Rust ${r}, transformers.js ${j}): ${texts[i]}`);
    if (j === 'tie') tjsTies.add(texts[i]!);
  }
  // exact ties are rare: at most 1 % of ordinary sentences
  assert.ok(ties.length <= 2, `${ties.length} ties:\n${ties.join('\n')}`);
  t.diagnostic(`ids identical on ${200 - ties.length} of 200; equal-score segmentations broken the other way on ${ties.length}:\n${ties.join('\n')}`);
  // special tokens and pairs: [CLS] a [SEP] b [SEP] with token types 0/1, as ja-bert builds them
  const b = new InputBuilder(tok, 128), f = b.features(pairs[0]!.text, pairs[0]!.textB);
  const enc = tjs(pairs[0]!.text, { text_pair: pairs[0]!.textB }) as { input_ids: { tolist(): bigint[][] }; token_type_ids: { tolist(): bigint[][] } };
  assert.deepEqual(enc.input_ids.tolist()[0]!.map(Number), f.inputIds);
  assert.deepEqual(enc.token_type_ids.tolist()[0]!.map(Number), f.tokenTypeIds);
  const r = await rust.encode(pairs[0]!.text, pairs[0]!.textB);
  assert.deepEqual(r.getIds(), f.inputIds);
  // beyond ordinary prose: characters where the readers' normalisers differ from SentencePiece's charsmap
  // (transformers.js applies NFKC instead of it; the Rust tokenizers apply it per grapheme). ja-bert's ids
  // are spm_encode's on every one; each difference is listed with what each side made of the text
  const hard = ['全角チルダ～と波ダッシュ〜', '㍿の略記', 'ｶﾞｷﾞｸﾞ半角', '丸数字①②と単位㎏', 'タブ\tと改行\nの空白', '  前後の空白  '];
  const spmHard = spawnSync('spm_encode', ['--model', join(DEFAULT_MODEL, 'spiece.model'), '--output_format', 'id'], { input: hard.map((h) => h.replace(/\n/g, ' ')).join('\n') + '\n', encoding: 'utf8' });
  const diffs: string[] = [];
  for (const [k, h0] of hard.entries()) {
    const h = h0.replace(/\n/g, ' ');
    const ids = tok.encode(h).ids;
    assert.equal(ids.join(' '), spmHard.stdout.trimEnd().split('\n')[k], `spm_encode: ${JSON.stringify(h)}`);
    const show = (x: number[]) => x.map((i) => tok.model.pieces[i]).join(' ');
    const rid = (await rust.encode(h, null, { addSpecialTokens: false })).getIds(), jid = tjs.encode(h, { add_special_tokens: false });
    if (rid.join(' ') !== ids.join(' ')) diffs.push(`Rust tokenizers ${JSON.stringify(h)}: ${show(rid)} | spm: ${show(ids)}`);
    if (jid.join(' ') !== ids.join(' ')) diffs.push(`transformers.js ${JSON.stringify(h)}: ${show(jid)} | spm: ${show(ids)} (NFKC: ${JSON.stringify(h.normalize('NFKC'))})`);
  }
  t.diagnostic(`differences on ${hard.length} hand-picked strings:\n${diffs.join('\n')}`);
});

for (const which of ['default', 'demo'] as const) {
  test(`onnxruntime-node runs the ${which} model's onnx/model.onnx: ja-bert's probabilities within 1e-4 on 200 pairs, batch 1 and batch 16 with padding; transformers.js the same`, async (t) => {
    const model = which === 'default' ? DEFAULT_MODEL : ftModel, out = which === 'default' ? defOut : ftOut;
    const clf = TextClassifier.load(model, { kernels: K, dtype: 'f32' });
    const want = clf.probabilities(pairs).probs;
    const session = await ort.InferenceSession.create(join(out, 'onnx/model.onnx'));
    const builder = new InputBuilder(loadTokenizer(model), 128);
    for (const batch of [1, 16]) {
      const z = await ortLogits(session, builder, pairs, batch);
      z.forEach((l, i) => assert.ok(maxRelErr(softmax(l), want[i]!, 1e-2) < 1e-4, `batch ${batch}, pair ${i}: ${softmax(l)} vs ${Array.from(want[i]!)}`));
    }
    if (which === 'demo') {
      // the logits themselves, against ja-bert's (what `encode` writes for a model with a classifier)
      const { model: bert } = loadBert(model, { kernels: K, dtype: 'f32' });
      const zj = evaluateLogits(new CrossModel(bert), { a: pairs.map((p) => builder.features(p.text, p.textB)) }, 16, builder.pad);
      const zo = (await ortLogits(session, builder, pairs, 16)).flatMap((l) => Array.from(l));
      // normwise, relative to the largest logit: two f32 engines that sum in different orders (oneDNN picks its
      // kernels per CPU: AVX2, AVX-512, AMX) differ by about √K·u per dot product of length K (u = 2^-24, K up to
      // the intermediate size), compounded over the encoder's chain of matmuls (6 per layer); a per-element bound
      // would instead be set by whichever logit happens to be near zero
      const cfg = JSON.parse(readFileSync(join(model, 'config.json'), 'utf8')) as { intermediate_size: number; num_hidden_layers: number };
      const bound = 2 ** -24 * Math.sqrt(cfg.intermediate_size) * 6 * cfg.num_hidden_layers;
      const err = maxAbsDiff(zo, zj) / maxAbs(zj);
      t.diagnostic(`logits against ja-bert's: normwise error ${err.toExponential(2)} (bound ${bound.toExponential(2)})`);
      assert.ok(err < bound, `logits: normwise error ${err.toExponential(2)} against ${bound.toExponential(2)}`);
    }
    // transformers.js: the same folder, offline; its tokenizer pads the batch and builds the token types
    const tjs = await AutoTokenizer.from_pretrained(out);
    const m = await AutoModelForSequenceClassification.from_pretrained(out, { dtype: 'fp32' });
    for (let s = 0; s < pairs.length; s += 50) {
      const part = pairs.slice(s, s + 50);
      const enc = tjs(part.map((p) => p.text), { text_pair: part.map((p) => p.textB), padding: true, truncation: true });
      const { logits } = await m(enc) as { logits: { data: Float32Array; dims: number[] } };
      const C = logits.dims[1]!;
      part.forEach((q, i) => {
        if (tjsTies.has(q.text) || tjsTies.has(q.textB)) return; // other ids (an exact tie, listed above)
        const p = softmax(logits.data.subarray(i * C, (i + 1) * C));
        assert.ok(maxRelErr(p, want[s + i]!, 1e-2) < 1e-4, `transformers.js, pair ${s + i}: ${p} vs ${Array.from(want[s + i]!)}`);
      });
    }
    await m.dispose();
  });
}

test('transformers.js pipeline(\'text-classification\') on the demo model: ja-bert\'s label and probability for 200 texts', async () => {
  const clf = TextClassifier.load(ftModel, { kernels: K, dtype: 'f32' });
  const want = clf.classify(texts.map((t) => ({ text: t })));
  const pipe = await pipeline('text-classification', ftOut, { dtype: 'fp32' });
  const got = await pipe(texts) as Array<{ label: string; score: number }>;
  got.forEach((g, i) => {
    if (tjsTies.has(texts[i]!)) return; // other ids (an exact tie, listed above)
    assert.equal(g.label, want[i]!.label, `text ${i}`);
    assert.ok(Math.abs(g.score - want[i]!.score) < 1e-4, `text ${i}: ${g.score} vs ${want[i]!.score}`);
  });
  await pipe.dispose();
});

test('int8: accuracy on the demo eval split within 1 point of the f32 export (onnxruntime-node)', async () => {
  const data = loadData({ texts: join(DEMO, 'honbun_data.json'), pairs: join(DEMO, 'negaposi.json') }, 42);
  const builder = new InputBuilder(loadTokenizer(ftModel), 128);
  const acc = async (file: string) => {
    const s = await ort.InferenceSession.create(join(ftOut, 'onnx', file));
    const z = await ortLogits(s, builder, data.eval.map((e) => ({ text: e.textA, textB: e.textB })), 32);
    return z.filter((l, i) => String(l[1]! > l[0]! ? 1 : 0) === data.eval[i]!.label).length / z.length;
  };
  const f32 = await acc('model.onnx'), q8 = await acc('model_quantized.onnx');
  const report = JSON.parse(readFileSync(join(ftModel, 'report.json'), 'utf8')) as { eval_accuracy: number };
  assert.ok(Math.abs(f32 - report.eval_accuracy) < 0.01, `f32 ONNX ${f32} vs ja-bert's eval ${report.eval_accuracy}`);
  assert.ok(Math.abs(q8 - f32) <= 0.01, `int8 ${q8} vs f32 ${f32}`);
});

test('ja-bert\'s own --dtype int8 on the same demo eval split: accuracy within 1 point of its f32, 98 % of predictions the same, centred logits within 0.5 (issue 30)', () => {
  const data = loadData({ texts: join(DEMO, 'honbun_data.json'), pairs: join(DEMO, 'negaposi.json') }, 42);
  const inputs = data.eval.map((e) => ({ text: e.textA, textB: e.textB }));
  const run = (dtype: 'f32' | 'int8') => TextClassifier.load(ftModel, { kernels: K, dtype }).probabilities(inputs, 64);
  const f = run('f32'), q = run('int8');
  const acc = (r: typeof f) => r.predictions.filter((p, i) => String(p) === data.eval[i]!.label).length / inputs.length;
  assert.ok(Math.abs(acc(q) - acc(f)) <= 0.01, `int8 ${acc(q)} vs f32 ${acc(f)}`);
  const same = q.predictions.filter((p, i) => p === f.predictions[i]).length / inputs.length;
  assert.ok(same >= 0.98, `int8 agrees with f32 on ${same}`);
  // log-probabilities, centred per row: the logits up to the softmax's per-row constant
  let worst = 0;
  q.probs.forEach((p, i) => {
    const a = Math.log(p[1]!) - Math.log(p[0]!), b = Math.log(f.probs[i]![1]!) - Math.log(f.probs[i]![0]!);
    worst = Math.max(worst, Math.abs(a - b) / 2);
  });
  assert.ok(worst < 0.5 && worst > 0, `largest centred-logit difference ${worst}`);
});

test('--format hf: model.safetensors + config.json + tokenizer files that ja-bert (and HF) load back to the same probabilities', () => {
  const out = join(dir, 'hf');
  const r = exportModel({ model: ftModel, output: out, kernels: K, format: 'hf' });
  assert.ok(r.files.includes('model.safetensors') && !r.files.some((f) => f.startsWith('onnx/')));
  const a = TextClassifier.load(ftModel, { kernels: K, dtype: 'f32' }).probabilities(pairs.slice(0, 20)).probs;
  const b = TextClassifier.load(out, { kernels: K, dtype: 'f32' }).probabilities(pairs.slice(0, 20)).probs;
  a.forEach((p, i) => assert.deepEqual(Array.from(b[i]!), Array.from(p)));
});

test('a pair-head model exports its shared encoder (last_hidden_state, pooler_output = ja-bert\'s) and the head in pair_head.safetensors + pair_head.json', async () => {
  const t = tinySetup(join(dir, 'tiny'), { seed: 4, from: 0, to: 60 });
  const m = join(dir, 'tiny-dot');
  finetune({ model: t.model, output: m, kernels: K, texts: t.texts, pairs: t.pairs, head: 'dot', maxSteps: 2, batchSize: 8, maxSeqLength: 32, dtype: 'f32', saveSteps: 0 });
  const out = join(dir, 'tiny-dot-export');
  const r = exportModel({ model: m, output: out, kernels: K });
  assert.equal(r.task, 'feature-extraction');
  const spec = JSON.parse(readFileSync(join(out, 'pair_head.json'), 'utf8')) as { type: string; side_length: number; positive_label: string };
  assert.deepEqual([spec.type, spec.side_length, spec.positive_label], ['dot', 16, '1']);
  assert.ok(statSync(join(out, 'pair_head.safetensors')).size > 0);
  const enc = TextEncoder.load(m, { kernels: K, dtype: 'f32', maxSeqLength: spec.side_length });
  const some = Object.values(t.body).slice(0, 4);
  const session = await ort.InferenceSession.create(join(out, 'onnx/model.onnx'));
  const builder = new InputBuilder(loadTokenizer(m), spec.side_length);
  for (const text of some) {
    const f = builder.features(text);
    const o = await session.run({ input_ids: i64([f.inputIds], f.inputIds.length, 0), token_type_ids: i64([f.tokenTypeIds], f.inputIds.length, 0), attention_mask: i64([f.inputIds.map(() => 1)], f.inputIds.length, 0) });
    const want = enc.embed([text], { pooling: 'pooled' })[0]!;
    assert.ok(maxRelErr(o.pooler_output!.data as Float32Array, want, 1e-2) < 1e-4);
  }
  // the documented way back: encode B outside ja-bert (examples/cache-from-onnx.mjs: transformers.js' tokenizer,
  // onnxruntime-node), build the cache from those vectors, and rank as from a cache ja-bert encoded itself
  const emb = join(dir, 'emb.jsonl'), c1 = join(dir, 'from-emb.jabc'), c2 = join(dir, 'own.jabc');
  const ex = spawnSync(process.execPath, [join(ROOT, 'examples/cache-from-onnx.mjs'), out, t.texts, emb], { encoding: 'utf8' });
  assert.equal(ex.status, 0, ex.stderr);
  const cli = (...a: string[]) => spawnSync(join(ROOT, 'bin/ja-bert'), a, { encoding: 'utf8' });
  let r2 = cli('cache', 'build', '--model', m, '--from-embeddings', emb, '--cache', c1, '--dtype', 'f32');
  assert.equal(r2.status, 0, r2.stderr);
  r2 = cli('cache', 'build', '--model', m, '--texts', t.texts, '--cache', c2, '--dtype', 'f32');
  assert.equal(r2.status, 0, r2.stderr);
  const a = readCache(c1), b = readCache(c2);
  assert.deepEqual(a.header.entries.map((e) => [e.id, e.rows]), b.header.entries.map((e) => [e.id, e.rows]));
  const values = (c: typeof a) => Float32Array.from(c.header.entries.flatMap((e) => Array.from(entryValues(c, e))));
  assert.ok(maxRelErr(values(a), values(b), 1e-2) < 1e-4, `cache data ${maxRelErr(values(a), values(b), 1e-2)}`);
  const id = Object.keys(t.body)[0]!;
  const top = (c: string) => cli('rank', '--model', m, '--cache', c, '--id', id, '--top', '5', '--dtype', 'f32').stdout.split('\n').filter((l) => /^\s*\d+\s/.test(l)).map((l) => l.trim().split(/\s+/).slice(2).join(' '));
  const t1 = top(c1);
  assert.equal(t1.length, 5);
  assert.deepEqual(t1, top(c2));
  // a damaged line is refused with its line number
  writeFileSync(emb, readFileSync(emb, 'utf8').split('\n')[0] + '\n{"id": "x", "text": "y", "last_hidden_state": [[1, 2]], "pooler_output": []}\n');
  r2 = cli('cache', 'build', '--model', m, '--from-embeddings', emb, '--cache', join(dir, 'bad.jabc'));
  assert.equal(r2.status, 1);
  assert.match(r2.stderr, /emb\.jsonl:2: last_hidden_state\[0\] must be 32 finite numbers/);
});

test('WordPiece tokenizers: BERT\'s basic splitting exports a tokenizer.json that the Rust tokenizers read to ja-bert\'s ids; MeCab exports vocab.txt + BertJapaneseTokenizer\'s config, with the ONNX model', async () => {
  const vocab = join(SHARED_DIR, 'models/tohoku-v1-vocab');
  const mk = (name: string, tokCfg: Record<string, unknown>) => {
    const d = join(dir, name);
    const cfg = makeConfig({ vocab_size: 32000, hidden_size: 32, num_hidden_layers: 1, num_attention_heads: 4, intermediate_size: 64, max_position_embeddings: 64, labels: ['0', '1'] });
    saveBert(new Bert(cfg, { kernels: K, seed: 3 }), d);
    copyFileSync(join(vocab, 'vocab.txt'), join(d, 'vocab.txt'));
    writeFileSync(join(d, 'tokenizer_config.json'), JSON.stringify(tokCfg));
    return d;
  };
  const basic = mk('wp-basic', { tokenizer_class: 'BertTokenizer', do_lower_case: false });
  const r = exportModel({ model: basic, output: join(dir, 'wp-basic-export'), kernels: K });
  assert.equal(r.tokenizerNote, null);
  const rust = RustTokenizer.fromFile(join(r.output, 'tokenizer.json')), tok = loadTokenizer(basic);
  for (const [i, text] of texts.entries()) assert.deepEqual((await rust.encode(text, null, { addSpecialTokens: false })).getIds(), tok.encode(text).ids, `text ${i}: ${text}`);
  const mecab = mk('wp-mecab', JSON.parse(readFileSync(join(vocab, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>);
  const logs: string[] = [];
  const m = exportModel({ model: mecab, output: join(dir, 'wp-mecab-export'), kernels: K, log: (l) => logs.push(l) });
  assert.match(m.tokenizerNote ?? '', /MeCab/);
  assert.ok(logs.some((l) => /no tokenizer\.json: MeCab/.test(l)));
  assert.ok(!m.files.includes('tokenizer.json') && m.files.includes('vocab.txt') && m.files.includes('onnx/model.onnx'));
  assert.equal((JSON.parse(readFileSync(join(m.output, 'tokenizer_config.json'), 'utf8')) as { tokenizer_class: string }).tokenizer_class, 'BertJapaneseTokenizer');
  // and ja-bert reads the exported folder back with the same MeCab tokenizer
  assert.deepEqual(loadTokenizer(m.output).encode(texts[0]!).ids, loadTokenizer(mecab).encode(texts[0]!).ids);
});

test('export refuses, in one line and before writing: a non-empty output without --overwrite, an opset below 17, --quantize with --format hf, fill-mask without an MLM head', () => {
  const full = join(dir, 'full');
  mkdirSync(full, { recursive: true });
  writeFileSync(join(full, 'keep.txt'), 'x');
  assert.throws(() => exportModel({ model: DEFAULT_MODEL, output: full, kernels: K }), (e: Error) => e instanceof OptionError && /--overwrite/.test(e.message));
  assert.ok(existsSync(join(full, 'keep.txt')));
  assert.throws(() => exportModel({ model: DEFAULT_MODEL, output: join(dir, 'o1'), kernels: K, opset: 13 }), OptionError);
  assert.throws(() => exportModel({ model: DEFAULT_MODEL, output: join(dir, 'o2'), kernels: K, format: 'hf', quantize: 'int8' }), OptionError);
  assert.throws(() => exportModel({ model: ftModel, output: join(dir, 'o3'), kernels: K, task: 'fill-mask' }), /masked-LM head/);
  for (const o of ['o1', 'o2', 'o3']) assert.ok(!existsSync(join(dir, o)), o);
});

test('fill-mask: the masked-LM head of the family (the default model\'s cls.predictions; an ELECTRA generator\'s generator_predictions, E < hidden, exact GELU) in onnxruntime-node gives ja-bert\'s log-probabilities', async (t) => {
  // a small ELECTRA generator as pretrain --objective electra writes one (ElectraForMaskedLM): embedding_size 16, hidden 32
  const gen = join(dir, 'electra-generator');
  const gcfg = makeConfig({ model_type: 'electra', vocab_size: 32000, embedding_size: 16, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 64,
    max_position_embeddings: 128, hidden_act: 'gelu_new', initializer_range: 0.2 });
  saveBert(new Bert(gcfg, { kernels: K, seed: 11, mlmHead: true }), gen);
  copyFileSync(join(SHARED_DIR, 'models/wiki-ja-albert-spm/wiki-ja_albert.model'), join(gen, 'spiece.model'));
  for (const [name, model, arch] of [['default model', DEFAULT_MODEL, 'BertForMaskedLM'], ['ELECTRA generator', gen, 'ElectraForMaskedLM']] as const) {
    const out = join(dir, `fill-mask-${name.replace(/ /g, '-')}`);
    exportModel({ model, output: out, kernels: K, task: 'fill-mask' });
    const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as { architectures: string[]; intermediate_size: number; num_hidden_layers: number; vocab_size: number };
    assert.deepEqual(cfg.architectures, [arch]);
    const builder = new InputBuilder(loadTokenizer(model), 64);
    const feats = texts.slice(0, 6).map((s) => builder.features(s));
    const S = Math.max(...feats.map((f) => f.inputIds.length)), B = feats.length, V = cfg.vocab_size;
    const session = await ort.InferenceSession.create(join(out, 'onnx/model.onnx'));
    const inputs: Record<string, ort.Tensor> = { input_ids: i64(feats.map((f) => f.inputIds), S, builder.pad), attention_mask: i64(feats.map((f) => f.inputIds.map(() => 1)), S, 0) };
    if (session.inputNames.includes('token_type_ids')) inputs.token_type_ids = i64(feats.map((f) => f.tokenTypeIds), S, 0);
    const zo = (await session.run(inputs)).logits!.data as Float32Array;
    assert.equal(zo.length, B * S * V);
    // ja-bert: the same batch, its masked-LM probabilities at every real token
    const { model: bert } = loadBert(model, { kernels: K, dtype: 'f32', mlmHead: true });
    bert.forward(padBatch(feats, builder.pad));
    const positions = Int32Array.from(feats.flatMap((f, b) => f.inputIds.map((_, s) => b * S + s)));
    const { probs } = bert.mlmLoss(positions, new Int32Array(positions.length));
    // log-softmax of ORT's logits against log(ja-bert's probabilities), normwise as the classifier's logits are compared (above):
    // the encoder's 6 matmuls a layer and the head's two (dense, tied decoder)
    let worst = 0, scale = 0, zeros = 0;
    positions.forEach((p, i) => {
      const row = zo.subarray(p * V, (p + 1) * V);
      let m = -Infinity, sum = 0;
      for (const z of row) m = Math.max(m, z);
      for (const z of row) sum += Math.exp(z - m);
      const lse = m + Math.log(sum);
      for (let v = 0; v < V; v++) {
        const pj = probs[i * V + v]!;
        if (pj === 0) { zeros++; continue; }
        worst = Math.max(worst, Math.abs(row[v]! - lse - Math.log(pj)));
        scale = Math.max(scale, Math.abs(row[v]! - lse));
      }
    });
    assert.ok(zeros < positions.length * V * 0.001, `${name}: ${zeros} probabilities underflow`);
    const err = worst / scale, bound = 2 ** -24 * Math.sqrt(cfg.intermediate_size) * (6 * cfg.num_hidden_layers + 2);
    t.diagnostic(`${name}: log-probabilities against ja-bert's over ${positions.length} tokens: normwise error ${err.toExponential(2)} (bound ${bound.toExponential(2)})`);
    assert.ok(err < bound, `${name}: normwise error ${err.toExponential(2)} against ${bound.toExponential(2)}`);
  }
});
