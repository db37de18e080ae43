// BERT's relatives end to end (issue 26): small XLM-R, DistilBERT and ELECTRA models in their Hugging Face layouts
// fine-tune as cross-encoders and with a cacheable pair head, predict, encode, run the baseline, build a cache and
// rank, all through the CLI as for BERT; their outputs stay in the family's layout. XLM-R's SentencePiece model gets
// fairseq's ids, and its pairs are framed <s> a </s></s> b </s>.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nativeKernels } from '../src/core/native.js';
import { Bert } from '../src/model/bert.js';
import { makeConfig } from '../src/model/config.js';
import { saveBert } from '../src/model/load.js';
import { readSafetensors } from '../src/io/safetensors.js';
import { InputBuilder } from '../src/tokenize/inputs.js';
import { loadTokenizer, SentencePieceTokenizer } from '../src/tokenize/index.js';
import { maxRelErr, requireCommand, SHARED_DIR, tinySetup, type TinySetup } from './helpers.js';
import { TextClassifier } from '../src/infer/models.js';
import * as ort from 'onnxruntime-node';
import { Tokenizer as RustTokenizer } from 'tokenizers';
import { AutoModelForSequenceClassification, AutoTokenizer, env } from '@huggingface/transformers';

env.allowRemoteModels = false;
env.allowLocalModels = true;

const ROOT = new URL('../../', import.meta.url).pathname;
const cli = (...args: string[]) => spawnSync(join(ROOT, 'bin/ja-bert'), args, { encoding: 'utf8' });
let dir = '', t: TinySetup, xlmrSpm = '';

before(() => {
  requireCommand('spm_train', 'sentencepiece');
  dir = mkdtempSync(join(tmpdir(), 'jabert-families-'));
  t = tinySetup(dir, { seed: 4, from: 500, to: 600 });
  // an XLM-R-like SentencePiece model: <unk> <s> </s> at 0-2 and no [CLS], as sentencepiece.bpe.model is
  const corpus = Object.values(JSON.parse(readFileSync(join(SHARED_DIR, 'data/manpages-ja-links/honbun_data.json'), 'utf8')) as Record<string, string>)
    .slice(0, 400).flatMap((b) => b.split('\n')).filter((l) => l.trim()).map((l) => l.slice(0, 1000));
  writeFileSync(join(dir, 'corpus.txt'), corpus.join('\n') + '\n');
  execFileSync('spm_train', [`--input=${join(dir, 'corpus.txt')}`, `--model_prefix=${join(dir, 'xlmr')}`, '--vocab_size=800', '--character_coverage=0.995',
    '--num_threads=2', '--model_type=unigram'], { stdio: 'pipe' });
  xlmrSpm = join(dir, 'xlmr.model');
});
after(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

/** a random small model of the family, saved in its HF layout, with its tokenizer */
function familyModel(family: 'xlm-roberta' | 'distilbert' | 'electra' | 'modernbert' | 'deberta-v2'): string {
  const out = join(dir, `base-${family}`);
  mkdirSync(out, { recursive: true });
  const common = { num_attention_heads: 4, max_position_embeddings: 80, initializer_range: 0.02 };
  const raw: Record<string, unknown> = family === 'xlm-roberta'
    ? { model_type: family, vocab_size: 802, hidden_size: 32, num_hidden_layers: 1, intermediate_size: 64, type_vocab_size: 1, pad_token_id: 1, layer_norm_eps: 1e-5, ...common }
    : family === 'distilbert'
      ? { model_type: family, vocab_size: 32000, dim: 32, n_layers: 1, n_heads: 4, hidden_dim: 64, activation: 'gelu', max_position_embeddings: 80, pad_token_id: 0 }
      : family === 'modernbert'
        // two layers, the second local (a window of 16 tokens, half 8: shorter than the 48-token inputs)
        ? { model_type: family, vocab_size: 32000, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 48, max_position_embeddings: 80,
          local_attention: 16, global_attn_every_n_layers: 2, pad_token_id: 0 }
        : family === 'deberta-v2'
          // ku-nlp's settings at a small width: shared keys, log buckets (16, so that 48-token inputs reach them), no absolute positions
          ? { model_type: family, vocab_size: 32000, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 48, max_position_embeddings: 80,
            relative_attention: true, pos_att_type: ['p2c', 'c2p'], position_buckets: 16, share_att_key: true, norm_rel_ebd: 'layer_norm',
            position_biased_input: false, type_vocab_size: 0, pad_token_id: 0 }
          : { model_type: family, vocab_size: 32000, embedding_size: 16, hidden_size: 32, num_hidden_layers: 1, intermediate_size: 64, ...common };
  saveBert(new Bert(makeConfig(raw), { kernels: nativeKernels(), seed: 3 }), out);
  if (family === 'xlm-roberta') copyFileSync(xlmrSpm, join(out, 'sentencepiece.bpe.model'));
  else copyFileSync(join(SHARED_DIR, 'models/wiki-ja-albert-spm/wiki-ja_albert.model'), join(out, 'spiece.model'));
  return out;
}

test('XLM-R\'s SentencePiece model read with fairseq\'s ids; pairs framed <s> a </s></s> b </s> with segment ids 0', () => {
  const plain = SentencePieceTokenizer.fromFile(xlmrSpm);
  const fs = SentencePieceTokenizer.fromFile(xlmrSpm, { fairseq: true });
  assert.deepEqual(['<s>', '<pad>', '</s>', '<unk>'].map((p) => fs.tokenId(p)), [0, 1, 2, 3]);
  assert.equal(fs.tokenId('<mask>'), 801);
  assert.equal(fs.vocabSize, 802, 'the pieces, <pad> and <mask>');
  const text = 'ファイルの一覧を表示する。ls コマンド';
  assert.deepEqual(fs.encode(text).ids, plain.encode(text).ids.map((i) => (i === 0 ? 3 : i + 1)));
  // a folder whose config.json says xlm-roberta gets fairseq's ids
  const m = familyModel('xlm-roberta');
  const tok = loadTokenizer(m);
  assert.deepEqual(tok.encode(text).ids, fs.encode(text).ids);
  const b = new InputBuilder(tok, 16);
  assert.match(b.framing.source, /the vocabulary \(<s> and <\/s>/);
  const f = b.features('ファイルの一覧を表示する', '削除する');
  const a = fs.encode('ファイルの一覧を表示する').ids, bb = fs.encode('削除する').ids;
  assert.equal(b.pad, 1);
  assert.deepEqual(f.inputIds.slice(0, 1), [0]);
  assert.ok(f.inputIds.length <= 16);
  assert.deepEqual(f.inputIds, [0, ...a.slice(0, f.inputIds.length - 4 - Math.min(bb.length, 6)), 2, 2, ...bb.slice(0, Math.min(bb.length, 6)), 2].slice(0, f.inputIds.length));
  assert.ok(f.tokenTypeIds.every((x) => x === 0));
});

for (const family of ['xlm-roberta', 'distilbert', 'electra', 'modernbert', 'deberta-v2'] as const) {
  test(`${family}: finetune (cross-encoder and dot head), predict, encode, baseline, cache build and rank, outputs in the family's layout`, () => {
    const base = familyModel(family);
    const common = ['--texts', t.texts, '--pairs', t.pairs, '--max-steps', '3', '--batch-size', '8', '--max-seq-length', '48', '--dtype', 'f32', '--save-steps', '0'];
    const cross = join(dir, `${family}-cross`);
    let r = cli('finetune', '--model', base, '--output', cross, ...common);
    assert.equal(r.status, 0, r.stderr);
    const cfg = JSON.parse(readFileSync(join(cross, 'config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(cfg.model_type, family);
    const names = [...readSafetensors(join(cross, 'model.safetensors')).tensors.keys()];
    const classifier = family === 'distilbert' ? ['pre_classifier.weight', 'classifier.weight'] : family === 'modernbert' ? ['head.dense.weight', 'head.norm.weight', 'classifier.weight']
      : family === 'deberta-v2' ? ['pooler.dense.weight', 'classifier.weight', 'deberta.encoder.rel_embeddings.weight'] : ['classifier.dense.weight', 'classifier.out_proj.weight'];
    for (const n of classifier) assert.ok(names.includes(n), `${n} in ${names.filter((x) => !/layer/.test(x)).join(' ')}`);
    assert.ok(names.every((n) => !n.startsWith('bert.')), 'no BERT names');
    if (family === 'distilbert') assert.deepEqual([cfg.dim, cfg.n_layers, cfg.hidden_dim], [32, 1, 64]);
    // predict with what finetune wrote
    const input = join(dir, `${family}-in.jsonl`), pred = join(dir, `${family}-pred.jsonl`);
    writeFileSync(input, t.slice.slice(0, 5).map(([a, b]) => JSON.stringify({ text: t.body[a], text_b: t.body[b] })).join('\n') + '\n');
    r = cli('predict', '--model', cross, '--input', input, '--output', pred);
    assert.equal(r.status, 0, r.stderr);
    const rows = readFileSync(pred, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { label: string; probabilities: Record<string, number> });
    assert.equal(rows.length, 5);
    for (const row of rows) assert.ok(Math.abs(Object.values(row.probabilities).reduce((x, y) => x + y, 0) - 1) < 1e-5);
    // encode: mean pooling
    const enc = join(dir, `${family}-enc.jsonl`);
    r = cli('encode', '--model', cross, '--input', input, '--output', enc, '--pooling', 'mean');
    assert.equal(r.status, 0, r.stderr);
    assert.equal((JSON.parse(readFileSync(enc, 'utf8').split('\n')[0]!) as { embedding: number[] }).embedding.length, 32);
    // the frozen-vector baseline on the first token's vector
    r = cli('baseline', '--model', base, '--output', join(dir, `${family}-baseline`), '--texts', t.texts, '--pairs', t.pairs, '--pooling', 'cls', '--max-seq-length', '48', '--dtype', 'f32');
    assert.equal(r.status, 0, r.stderr);
    // a cacheable pair head over the family's encoder, its cache and a ranking
    const dot = join(dir, `${family}-dot`);
    r = cli('finetune', '--model', base, '--output', dot, '--head', 'dot', ...common);
    assert.equal(r.status, 0, r.stderr);
    const cache = join(dir, `${family}.jabc`);
    r = cli('cache', 'build', '--model', dot, '--texts', t.texts, '--cache', cache, '--dtype', 'f32');
    assert.equal(r.status, 0, r.stderr);
    r = cli('rank', '--model', dot, '--cache', cache, '--id', t.slice[0]![0], '--top', '3', '--json', '--dtype', 'f32');
    assert.equal(r.status, 0, r.stderr);
    assert.equal((JSON.parse(r.stdout) as { results: unknown[] }).results.length, 3);
  });

  test(`${family}: exported (ONNX + tokenizer.json), onnxruntime-node, the Rust tokenizers and transformers.js give ja-bert's ids and probabilities`, async () => {
    const cross = join(dir, `${family}-cross`), out = join(dir, `${family}-export`);
    const r = cli('export', '--model', cross, '--output', out);
    assert.equal(r.status, 0, r.stderr);
    const exported = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(exported.model_type, family);
    // short enough not to be truncated (transformers.js' pair truncation is its own; what is compared here is the ids and the model)
    const pairs = t.slice.slice(0, 24).map(([a, b]) => ({ text: t.body[a]!.slice(0, 24), textB: t.body[b]!.slice(0, 24) }));
    const clf = TextClassifier.load(cross, { kernels: nativeKernels(), dtype: 'f32', maxSeqLength: 76 });
    const want = clf.classify(pairs).map((c) => clf.labels.map((l) => c.probabilities[l]!));
    // onnxruntime-node on ja-bert's own inputs; only the inputs the graph declares (no token types for XLM-R and DistilBERT)
    const session = await ort.InferenceSession.create(join(out, 'onnx/model.onnx'));
    assert.equal(session.inputNames.includes('token_type_ids'), family === 'electra');
    const builder = new InputBuilder(loadTokenizer(cross), 76);
    const f = pairs.map((p) => builder.features(p.text, p.textB));
    const S = Math.max(...f.map((x) => x.inputIds.length));
    assert.ok(S < 76, `no pair is truncated (${S} tokens)`);
    const i64 = (rows: number[][], pad: number) => new ort.Tensor('int64', BigInt64Array.from(rows.flatMap((row) => [...row, ...new Array<number>(S - row.length).fill(pad)]), (v) => BigInt(v)), [rows.length, S]);
    const feeds: Record<string, ort.Tensor> = { input_ids: i64(f.map((x) => x.inputIds), builder.pad), attention_mask: i64(f.map((x) => x.inputIds.map(() => 1)), 0) };
    if (session.inputNames.includes('token_type_ids')) feeds.token_type_ids = i64(f.map((x) => x.tokenTypeIds), 0);
    const z = (await session.run(feeds)).logits!.data as Float32Array;
    want.forEach((w, i) => assert.ok(maxRelErr(softmax(z.subarray(i * w.length, (i + 1) * w.length)), w, 1e-2) < 1e-4, `onnxruntime, pair ${i}`));
    // the Rust tokenizers (the npm binding of HF's tokenizers) read the same tokenizer.json to ja-bert's ids, pair framing included
    const rust = RustTokenizer.fromFile(join(out, 'tokenizer.json'));
    for (const [i, p] of pairs.entries()) assert.deepEqual((await rust.encode(p.text, p.textB)).getIds(), f[i]!.inputIds, `Rust tokenizers ids, pair ${i}`);
    // transformers.js: its tokenizer from tokenizer.json gives ja-bert's ids; its model gives ja-bert's probabilities
    const tjs = await AutoTokenizer.from_pretrained(out);
    const enc = tjs(pairs.map((p) => p.text), { text_pair: pairs.map((p) => p.textB), padding: true }) as { input_ids: { tolist(): bigint[][] } };
    const ids = enc.input_ids.tolist().map((row) => row.map(Number));
    f.forEach((x, i) => assert.deepEqual(ids[i]!.slice(0, x.inputIds.length), x.inputIds, `transformers.js ids, pair ${i}`));
    const m = await AutoModelForSequenceClassification.from_pretrained(out, { dtype: 'fp32' });
    const { logits } = await m(enc) as { logits: { data: Float32Array; dims: number[] } };
    const C = logits.dims[1]!;
    want.forEach((w, i) => assert.ok(maxRelErr(softmax(logits.data.subarray(i * C, (i + 1) * C)), w, 1e-2) < 1e-4, `transformers.js, pair ${i}`));
    await m.dispose();
  });
}

const softmax = (v: ArrayLike<number>): number[] => { const mx = Math.max(...Array.from(v)); const e = Array.from(v, (x) => Math.exp(x - mx)); const s = e.reduce((a, b) => a + b, 0); return e.map((x) => x / s); };

test('a sentence-transformers folder (modules.json, 1_Pooling, 2_Normalize): the encoder pools and normalises as it declares; a pooling ja-bert does not compute is one line', async () => {
  const { TextEncoder } = await import('../src/infer/models.js');
  const m = familyModel('xlm-roberta');
  const texts = ['ファイルを削除する', 'ディレクトリの一覧'];
  const plain = TextEncoder.load(m, { kernels: nativeKernels(), dtype: 'f32' });
  assert.equal(plain.declared, null);
  writeFileSync(join(m, 'modules.json'), JSON.stringify([{ idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Transformer' },
    { idx: 1, name: '1', path: '1_Pooling', type: 'sentence_transformers.models.Pooling' }, { idx: 2, name: '2', path: '2_Normalize', type: 'sentence_transformers.models.Normalize' }]));
  mkdirSync(join(m, '1_Pooling'));
  const pool = (mode: string) => writeFileSync(join(m, '1_Pooling', 'config.json'), JSON.stringify({ word_embedding_dimension: 32, pooling_mode_cls_token: mode === 'cls',
    pooling_mode_mean_tokens: mode === 'mean', pooling_mode_max_tokens: mode === 'max', pooling_mode_mean_sqrt_len_tokens: false }));
  for (const mode of ['mean', 'cls'] as const) {
    pool(mode);
    const st = TextEncoder.load(m, { kernels: nativeKernels(), dtype: 'f32' });
    assert.deepEqual(st.declared, { pooling: mode, normalize: true });
    const got = st.embed(texts), want = plain.embed(texts, { pooling: mode, normalize: true });
    got.forEach((v, i) => { assert.deepEqual(Array.from(v), Array.from(want[i]!)); assert.ok(Math.abs(v.reduce((a, x) => a + x * x, 0) - 1) < 1e-5); });
  }
  pool('max');
  assert.throws(() => TextEncoder.load(m, { kernels: nativeKernels(), dtype: 'f32' }), /1_Pooling\/config\.json: pooling max_tokens is not one ja-bert computes \(mean_tokens or cls_token\)/);
});

test('XLM-R tokenizer parity on 2,000 Japanese lines: ja-bert\'s fairseq ids are spm_encode\'s + 1, and the exported tokenizer.json read by the Rust tokenizers gives them too (up to exact-score ties, at most 1 %)', async (t) => {
  requireCommand('spm_encode', 'sentencepiece');
  const { Tokenizer: RustTokenizer } = await import('tokenizers');
  const out = join(dir, 'xlm-roberta-export'); // written by the export test above
  const lines = ['test.tsv', 'train.tsv'].flatMap((f) => readFileSync(join(SHARED_DIR, 'data/chabsa', f), 'utf8').split('\n').filter(Boolean).map((l) => l.split('\t')[0]!))
    .filter((l) => l.trim()).slice(0, 2000);
  assert.equal(lines.length, 2000);
  const tok = loadTokenizer(join(dir, 'base-xlm-roberta')) as SentencePieceTokenizer;
  assert.ok(tok.fairseq);
  const spm = spawnSync('spm_encode', ['--model', xlmrSpm, '--output_format', 'id'], { input: lines.join('\n') + '\n', encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
  assert.equal(spm.status, 0, spm.stderr);
  const spmIds = spm.stdout.trimEnd().split('\n').map((l) => l.split(' ').map(Number).map((i) => (i === 0 ? 3 : i + 1)));
  const rust = RustTokenizer.fromFile(join(out, 'tokenizer.json'));
  const m = tok.model, unshift = (i: number) => (i === 3 ? m.unkId : i - 1);
  const pieces = (ids: number[]) => ids.map((i) => m.pieces[unshift(i)]).join(''), score = (ids: number[]) => ids.reduce((s, i) => s + m.scores[unshift(i)]!, 0);
  let ties = 0;
  for (const [i, line] of lines.entries()) {
    const ids = tok.encode(line).ids;
    assert.deepEqual(ids, spmIds[i], `spm_encode, line ${i}: ${line}`);
    const r = (await rust.encode(line, null, { addSpecialTokens: false })).getIds();
    if (r.join(' ') === ids.join(' ')) continue;
    assert.ok(pieces(r) === pieces(ids) && Math.abs(score(r) - score(ids)) <= 1e-5 * Math.abs(score(ids)), `Rust tokenizers, line ${i}: ${line}\n${r.join(' ')}\n${ids.join(' ')}`);
    ties++;
  }
  assert.ok(ties <= 20, `${ties} ties`);
  t.diagnostic(`ids identical on ${2000 - ties} of 2,000 lines; ${ties} equal-score segmentations broken the other way`);
  // a pair through the Rust tokenizers: <s> a </s></s> b </s>, as ja-bert frames it
  const b = new InputBuilder(tok, 512), f = b.features(lines[0]!, lines[1]!);
  assert.deepEqual((await rust.encode(lines[0]!, lines[1]!)).getIds(), f.inputIds);
});

test('a tokenizer defined by the model\'s own code (tokenizer_config.json auto_map, as LINE\'s DistilBERT) is one line, not a silently different tokenization', () => {
  const m = familyModel('distilbert');
  writeFileSync(join(m, 'tokenizer_config.json'), JSON.stringify({ tokenizer_class: 'DistilBertJapaneseTokenizer', auto_map: { AutoTokenizer: ['distilbert_japanese_tokenizer.DistilBertJapaneseTokenizer', null] } }));
  assert.throws(() => loadTokenizer(m), /tokenizer_config\.json names DistilBertJapaneseTokenizer, a tokenizer defined by the model's own Python code \(auto_map\); ja-bert cannot reproduce it/);
});
