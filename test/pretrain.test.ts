// Masked-LM pretraining: masking statistics, packing, learning, loading, resume.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../src/core/random.js';
import { nativeKernels } from '../src/core/native.js';
import { loadBert, saveBert } from '../src/model/load.js';
import { Bert } from '../src/model/bert.js';
import { makeConfig } from '../src/model/config.js';
import { loadTokenizer } from '../src/tokenize/index.js';
import { maskSequence, packSequences, type Special } from '../src/pretrain/pretrain.js';
import { makeChunks, maskWords, pairInstance, WordStarts } from '../src/pretrain/pairs.js';
import type { SentencePieceTokenizer } from '../src/tokenize/sentencepiece.js';
import { faultEnv, SHARED_DIR } from './helpers.js';

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
  // SIGKILL part-way (fault injection at a file-system step, test/fault-preload.ts), then the same command again
  const countFile = join(dir, 'events');
  assert.equal(cli(args(join(dir, 'counted')), faultEnv({ JA_BERT_FAULT_COUNT: countFile })).status, 0);
  const events = Number(readFileSync(countFile, 'utf8'));
  for (const at of [Math.round(events * 0.6), events - 1]) {
    const out = join(dir, `killed-${at}`);
    const k = cli(args(out), faultEnv({ JA_BERT_FAULT_AT: String(at) }));
    assert.equal(k.signal, 'SIGKILL', `event ${at} of ${events}: exit ${k.status}, ${k.stderr.slice(-600)}`);
    const resumed = cli(args(out));
    if (at < events - 3) assert.match(resumed.stderr, /resuming from .*checkpoint-\d+ at step \d+\/40/);
    assert.ok(resumed.status === 0 || /already finished/.test(resumed.stderr), resumed.stderr);
    assert.deepEqual(readFileSync(join(out, 'model.safetensors')), readFileSync(join(dir, 'whole', 'model.safetensors')));
    assert.ok(existsSync(join(out, 'pretrain_report.json')));
  }
});

test('whole-word masking: SentencePiece pieces start a word exactly where MeCab (UniDic) starts one; masking takes whole words', () => {
  const tok = loadTokenizer(WIKI) as SentencePieceTokenizer;
  const ws = new WordStarts(tok);
  const texts = ['自然言語処理の研究者は大規模なコーパスを使って事前学習を行います。', 'ファイルシステムをマウントするには mount コマンドを実行してください。', '東京都渋谷区で開催された国際会議に参加しました。'];
  let multi = 0;
  for (const t of texts) {
    const e = tok.encodeSpans(t), s = ws.encode(t);
    assert.deepEqual(s.ids, e.ids);
    // the normalised text without spaces, and MeCab's own word boundaries in it (the mecab command, independent of the binding)
    const norm = new TextDecoder().decode(e.normalized).replace(/\u2581/g, ' ');
    const wak = spawnSync('mecab', ['-d', '/var/lib/mecab/dic/unidic', '-Owakati'], { input: norm + '\n', encoding: 'utf8' }).stdout.trim().split(/\s+/);
    const bounds = new Set<number>();
    let at = 0;
    for (const w of wak) { bounds.add(at); at += [...w].length; }
    // each piece's first non-space character, counted in the text without spaces
    let pos = 0;
    e.tokens.forEach((p, i) => {
      const body = [...p.replace(/\u2581/g, '')];
      if (body.length === 0) { assert.equal(s.starts[i], 1, 'a lone ▁ piece is its own word'); return; }
      assert.equal(s.starts[i], bounds.has(pos) ? 1 : 0, `${t}: piece ${i} "${p}" at ${pos}`);
      pos += body.length;
    });
    multi += s.starts.filter((x) => x === 0).length;
  }
  assert.ok(multi > 0, 'some words span several pieces');
  // masking: a chosen word is masked whole
  const sp: Special = { cls: 2, sep: 3, mask: 4, pad: 0, vocab: 1000, special: new Set([0, 1, 2, 3, 4]) };
  const input = [2, ...Array.from({ length: 39 }, (_, i) => 10 + i), 3];
  const starts = Uint8Array.from(input, (_, i) => (i % 3 === 1 || i === 0 || i === input.length - 1 ? 1 : 0)); // words of 3 pieces
  const rng = new Rng(5);
  for (let n = 0; n < 200; n++) {
    const m = maskWords(input, starts, sp, rng);
    const chosen = new Set(m.positions);
    for (const p of chosen) for (let q = p - ((p - 1) % 3); q < p - ((p - 1) % 3) + 3; q++) assert.ok(chosen.has(q), `position ${q} of ${p}'s word`);
    assert.ok(chosen.size === 6, `${chosen.size} masked of 39 (15 % = 6: two whole words)`);
  }
});

test('sentence pairs: [CLS] A [SEP] B [SEP] with token types; NSP takes B from another document half the time, SOP swaps half the time', () => {
  const sp: Special = { cls: 2, sep: 3, mask: 4, pad: 0, vocab: 1000, special: new Set([0, 1, 2, 3, 4]) };
  // documents of numbered one-token sentences: doc d's sentence k is token 100 * d + k + 10
  const docs = Array.from({ length: 6 }, (_, d) => Array.from({ length: 8 }, (_, k) => ({ ids: [100 * d + k + 10, 100 * d + k + 10], starts: Uint8Array.from([1, 0]) })));
  const chunks = makeChunks(docs, 14, 1, 0);
  assert.ok(chunks.every((c) => docs[c.doc]!.slice(c.first, c.end).reduce((a, s) => a + s.ids.length, 0) <= 12));
  for (const objective of ['nsp', 'sop'] as const) {
    const rng = new Rng(9);
    let ones = 0;
    for (let n = 0; n < 400; n++) {
      const c = chunks[n % chunks.length]!;
      const x = pairInstance(docs, c, objective, 14, rng, sp);
      assert.ok(x.input.length <= 14);
      const s1 = x.input.indexOf(3);
      assert.equal(x.input[0], 2); assert.equal(x.input.at(-1), 3);
      assert.deepEqual(x.tokenTypes, x.input.map((_, i) => (i <= s1 ? 0 : 1)));
      const a = x.input.slice(1, s1), b = x.input.slice(s1 + 1, -1);
      assert.ok(a.length > 0 && b.length > 0);
      const docOf = (t: number) => Math.floor((t - 10) / 100);
      if (objective === 'nsp') {
        assert.equal(docOf(b[0]!) !== docOf(a[0]!), x.label === 1, 'NSP label 1 = B from another document');
        if (x.label === 0) assert.ok(b[0]! >= a.at(-1)!, 'B continues A');
      } else {
        assert.ok(b.every((t) => docOf(t) === docOf(a[0]!)));
        assert.equal(b[0]! < a.at(-1)!, x.label === 1, 'SOP label 1 = B comes before A');
      }
      ones += x.label;
    }
    assert.ok(ones > 150 && ones < 250, `${objective}: ${ones} of 400 labelled 1`);
  }
});

test('pretrain --objective sop --wwm trains the pair head and reports held-out pair accuracy; a folder of another run is refused; bad --objective', () => {
  const args = (out: string, obj = 'sop') => ['pretrain', '--corpus', corpus, '--tokenizer', WIKI, '--output', out, '--layers', '1', '--hidden', '32', '--heads', '2',
    '--intermediate', '64', '--max-seq-length', '32', '--batch-size', '16', '--max-steps', '12', '--learning-rate', '2e-3', '--eval-steps', '6', '--save-steps', '6', '--seed', '3', '--objective', obj, '--wwm'];
  const out = join(dir, 'sop');
  const r = cli(args(out));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /pair accuracy \d\.\d{4}/);
  const rep = JSON.parse(readFileSync(join(out, 'pretrain_report.json'), 'utf8')) as { objective: string; whole_word_masking: boolean; eval_pair_accuracy: number; evaluations: Array<Record<string, number>> };
  assert.equal(rep.objective, 'sop');
  assert.equal(rep.whole_word_masking, true);
  assert.ok(rep.eval_pair_accuracy >= 0 && rep.eval_pair_accuracy <= 1);
  assert.ok(rep.evaluations.every((e) => typeof e.eval_pair_accuracy === 'number'));
  const m = loadBert(out, { kernels: nativeKernels(), mlmHead: true, nspHead: true });
  assert.deepEqual(m.initialised, [], 'cls.seq_relationship is saved with the model');
  const other = cli(args(out, 'nsp'));
  assert.equal(other.status, 1);
  assert.match(other.stderr, /holds another run/);
  const bad = cli(args(join(dir, 'bad'), 'xyz'));
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--objective must be mlm, nsp, sop or electra, got "xyz"/);
  assert.ok(!existsSync(join(dir, 'bad')));
});

test('continued pretraining (--model) writes a complete model folder: weights, config and the tokenizer of the model it started from', () => {
  const base = join(dir, 'cont-base'), out = join(dir, 'cont');
  const common = ['--corpus', corpus, '--max-seq-length', '32', '--batch-size', '16', '--max-steps', '4', '--learning-rate', '2e-3', '--seed', '3', '--objective', 'nsp'];
  let r = cli(['pretrain', ...common, '--tokenizer', WIKI, '--output', base, '--layers', '1', '--hidden', '32', '--heads', '2', '--intermediate', '64']);
  assert.equal(r.status, 0, r.stderr);
  r = cli(['pretrain', ...common, '--model', base, '--output', out]);
  assert.equal(r.status, 0, r.stderr);
  for (const f of ['config.json', 'model.safetensors', 'spiece.model', 'pretrain_report.json']) assert.ok(existsSync(join(out, f)), `${f} in the continued model`);
  assert.deepEqual(readFileSync(join(out, 'spiece.model')), readFileSync(WIKI));
  // it loads as a model folder with its tokenizer, and continuing it again works
  assert.equal(loadTokenizer(out).vocabSize, loadTokenizer(WIKI).vocabSize);
  r = cli(['pretrain', ...common, '--model', out, '--output', join(dir, 'cont2')]);
  assert.equal(r.status, 0, r.stderr);
});

test('pretrain --objective electra: generator and discriminator learn together, saved as ElectraForPreTraining + generator/ElectraForMaskedLM with one set of embeddings; resumes after SIGKILL exactly; continues from its folder', () => {
  const args = (out: string, extra: string[] = []) => ['pretrain', '--corpus', corpus, '--tokenizer', WIKI, '--output', out, '--layers', '1', '--hidden', '32', '--heads', '2',
    '--intermediate', '64', '--max-seq-length', '32', '--batch-size', '16', '--max-steps', '30', '--learning-rate', '2e-3', '--eval-steps', '10', '--save-steps', '10', '--seed', '3',
    '--objective', 'electra', '--generator-size', '0.25', ...extra];
  const out = join(dir, 'electra');
  const r = cli(args(out));
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /generator hidden 8/);
  assert.match(r.stdout, /replaced-token accuracy \d\.\d{4}/);
  const rep = JSON.parse(readFileSync(join(out, 'pretrain_report.json'), 'utf8')) as { objective: string; disc_weight: number; generator: { hidden_size: number };
    evaluations: Array<Record<string, number>>; eval_rtd_accuracy: number; eval_replaced: number };
  assert.equal(rep.objective, 'electra');
  assert.equal(rep.disc_weight, 50);
  assert.equal(rep.generator.hidden_size, 8);
  const ev = rep.evaluations;
  assert.equal(ev.length, 3);
  assert.ok(ev[2]!.eval_loss! < ev[0]!.eval_loss!, `the generator's held-out MLM loss falls: ${ev.map((e) => e.eval_loss!.toFixed(3))}`);
  assert.ok(ev[2]!.eval_rtd_loss! < ev[0]!.eval_rtd_loss!, `the discriminator's held-out loss falls: ${ev.map((e) => e.eval_rtd_loss!.toFixed(3))}`);
  assert.ok(rep.eval_replaced > 0 && rep.eval_replaced < 0.15, `a share of the real tokens is replaced: ${rep.eval_replaced}`);
  // Hugging Face's layout: the discriminator with its head, the generator in generator/, the same embedding values
  const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
  const gcfg = JSON.parse(readFileSync(join(out, 'generator', 'config.json'), 'utf8')) as Record<string, unknown>;
  assert.deepEqual([cfg.model_type, cfg.architectures, cfg.embedding_size], ['electra', ['ElectraForPreTraining'], 32]);
  assert.deepEqual([gcfg.model_type, gcfg.architectures, gcfg.hidden_size, gcfg.num_attention_heads, gcfg.embedding_size], ['electra', ['ElectraForMaskedLM'], 8, 1, 32]);
  const disc = loadBert(out, { kernels: nativeKernels(), rtdHead: true }), gen = loadBert(join(out, 'generator'), { kernels: nativeKernels(), mlmHead: true });
  assert.deepEqual(disc.initialised, ['classifier.dense.weight', 'classifier.dense.bias'], 'the discriminator head is saved; the classification head is not pretrained');
  assert.deepEqual(gen.initialised, ['classifier.dense.weight', 'classifier.dense.bias']);
  for (const n of ['word_embeddings.weight', 'position_embeddings.weight', 'token_type_embeddings.weight', 'LayerNorm.weight', 'LayerNorm.bias']) {
    assert.deepEqual(gen.model.param(`electra.embeddings.${n}`), disc.model.param(`electra.embeddings.${n}`), `shared ${n}`);
  }
  assert.ok(gen.model.layout.byName.has('electra.embeddings_project.weight'), 'the generator projects the 32-wide embeddings to its 8');
  // fine-tuning starts from the discriminator: a classifier on it
  assert.ok(loadBert(out, { kernels: nativeKernels(), labels: ['0', '1'] }).initialised.includes('classifier.out_proj.weight'));
  // SIGKILL part-way, then the same command: the same two models
  const kill = join(dir, 'electra-killed'), countFile = join(dir, 'electra-events');
  assert.equal(cli(args(join(dir, 'electra-counted')), faultEnv({ JA_BERT_FAULT_COUNT: countFile })).status, 0);
  const at = Math.round(Number(readFileSync(countFile, 'utf8')) * 0.6);
  const k = cli(args(kill), faultEnv({ JA_BERT_FAULT_AT: String(at) }));
  assert.equal(k.signal, 'SIGKILL', `event ${at}: exit ${k.status}, ${k.stderr.slice(-600)}`);
  const resumed = cli(args(kill));
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.match(resumed.stderr, /resuming from .*checkpoint-\d+ at step \d+\/30/);
  for (const f of ['model.safetensors', 'generator/model.safetensors']) assert.deepEqual(readFileSync(join(kill, f)), readFileSync(join(out, f)), f);
  // continued from the folder (its generator/ with it); the objective must fit the model
  const cont = cli(['pretrain', '--corpus', corpus, '--model', out, '--output', join(dir, 'electra-cont'), '--max-seq-length', '32', '--batch-size', '16', '--max-steps', '3', '--objective', 'electra']);
  assert.equal(cont.status, 0, cont.stderr);
  assert.match(cont.stderr, /generator hidden 8/);
  const wrong = cli(['pretrain', '--corpus', corpus, '--model', out, '--output', join(dir, 'electra-mlm'), '--max-steps', '3']);
  assert.equal(wrong.status, 2);
  assert.match(wrong.stderr, /is electra: .*use --objective electra/);
  const flag = cli(['pretrain', '--corpus', corpus, '--tokenizer', WIKI, '--output', join(dir, 'electra-flag'), '--objective', 'nsp', '--disc-weight', '10']);
  assert.equal(flag.status, 2);
  assert.match(flag.stderr, /--disc-weight and --embedding-size are for --objective electra/);
  assert.ok(!existsSync(join(dir, 'electra-flag')) && !existsSync(join(dir, 'electra-mlm')));
});

for (const family of ['deberta-v2', 'modernbert'] as const) {
  test(`continued masked-LM pretraining of a ${family} model (its masked-LM head, decoder tied): the held-out loss falls, the output keeps the family, its head and its settings; a pair objective is refused in one line`, () => {
    const base = join(dir, `${family}-base`), out = join(dir, `${family}-cont`);
    const vocab = loadTokenizer(WIKI).vocabSize;
    const shape = { vocab_size: vocab, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 64, max_position_embeddings: 64 };
    const cfg = makeConfig(family === 'deberta-v2'
      ? { model_type: family, ...shape, relative_attention: true, pos_att_type: ['p2c', 'c2p'], position_buckets: 8, share_att_key: true, norm_rel_ebd: 'layer_norm',
        position_biased_input: false, type_vocab_size: 0 }
      : { model_type: family, ...shape, local_attention: 8, global_attn_every_n_layers: 2 }, 'test');
    saveBert(new Bert(cfg, { kernels: nativeKernels(), seed: 5, mlmHead: true }), base);
    copyFileSync(WIKI, join(base, 'spiece.model'));
    const r = cli(['pretrain', '--corpus', corpus, '--model', base, '--output', out, '--max-seq-length', '32', '--batch-size', '16', '--max-steps', '40',
      '--learning-rate', '2e-3', '--eval-steps', '10', '--save-steps', '0', '--seed', '3']);
    assert.equal(r.status, 0, r.stderr);
    const rep = JSON.parse(readFileSync(join(out, 'pretrain_report.json'), 'utf8')) as { evaluations: Array<{ eval_loss: number }> };
    assert.ok(rep.evaluations.at(-1)!.eval_loss < rep.evaluations[0]!.eval_loss * 0.8, `held-out MLM loss ${rep.evaluations.map((e) => e.eval_loss.toFixed(3))}`);
    const saved = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as Record<string, unknown>;
    if (family === 'deberta-v2') assert.deepEqual([saved.model_type, saved.position_buckets, saved.share_att_key, saved.norm_rel_ebd, saved.legacy], ['deberta-v2', 8, true, 'layer_norm', true]);
    else assert.deepEqual([saved.model_type, saved.local_attention, saved.global_attn_every_n_layers, saved.decoder_bias], ['modernbert', 8, 2, true]);
    const { model, initialised } = loadBert(out, { kernels: nativeKernels(), mlmHead: true });
    assert.deepEqual(initialised, [], 'the masked-LM head is saved under its HF names');
    assert.ok(model.layout.byName.has(family === 'deberta-v2' ? 'cls.predictions.transform.dense.weight' : 'decoder.bias'));
    const pair = cli(['pretrain', '--corpus', corpus, '--model', base, '--output', join(dir, `${family}-nsp`), '--objective', 'nsp', '--max-steps', '2']);
    assert.equal(pair.status, 2, pair.stderr);
    assert.match(pair.stderr, new RegExp(`is ${family}: ja-bert continues .*DeBERTa-v2 and ModernBERT \\(--objective mlm\\)`));
    assert.equal(pair.stderr.trim().split('\n').length, 1, pair.stderr);
  });
}
