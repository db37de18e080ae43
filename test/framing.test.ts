// How special tokens frame one text and a pair, read from the model's own tokenizer files as Hugging Face reads them
// (tokenizer.json's post_processor, tokenizer_config.json's class), checked against the Rust tokenizers (the npm binding of
// HF's tokenizers) reading the same tokenizer.json. The SentencePiece model is trained here with spm_train in the layout of
// sbintuitions' modernbert-ja: <unk> <s> </s> <pad> <sep> <mask> <cls>, no [CLS].
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tokenizer as RustTokenizer } from 'tokenizers';
import { exportTokenizer } from '../src/export/tokenizer.js';
import { loadTokenizer, TokenizerError } from '../src/tokenize/index.js';
import { InputBuilder } from '../src/tokenize/inputs.js';
import { applyFraming } from '../src/tokenize/framing.js';
import { tokenizeFile } from '../src/tokenize/file.js';
import { japaneseTexts, requireCommand, SHARED_DIR } from './helpers.js';
import { Rng } from '../src/core/random.js';
import { nativeKernels } from '../src/core/native.js';
import { Bert } from '../src/model/bert.js';
import { makeConfig } from '../src/model/config.js';
import { saveBert } from '../src/model/load.js';
import { maskWords } from '../src/pretrain/pairs.js';
import { pretrain } from '../src/pretrain/pretrain.js';

let dir = '', spm = '', exported: Record<string, unknown> = {};
const pairs: Array<[string, string]> = [];
before(() => {
  requireCommand('spm_train', 'sentencepiece');
  dir = mkdtempSync(join(tmpdir(), 'jabert-framing-'));
  const pages = JSON.parse(readFileSync(join(SHARED_DIR, 'data/manpages-ja-links/honbun_data.json'), 'utf8')) as Record<string, string>;
  writeFileSync(join(dir, 'corpus.txt'), Object.values(pages).slice(0, 300).flatMap((b) => b.split('\n')).filter((l) => l.trim()).map((l) => l.slice(0, 2000)).join('\n') + '\n');
  execFileSync('spm_train', [`--input=${join(dir, 'corpus.txt')}`, `--model_prefix=${join(dir, 'sb')}`, '--vocab_size=1500', '--character_coverage=0.995', '--num_threads=2',
    '--unk_id=0', '--bos_id=1', '--eos_id=2', '--pad_id=3', '--control_symbols=<sep>,<mask>,<cls>'], { stdio: 'pipe' });
  spm = join(dir, 'sb.model');
  const texts = japaneseTexts('test', 0, 40);
  for (let i = 0; i + 1 < texts.length; i += 2) pairs.push([texts[i]!, texts[i + 1]!]);
  pairs.push(['', 'ls コマンド'], ['短い', '']);
  // tokenizer.json for the model, whose post-processor each case replaces
  exported = JSON.parse(exportTokenizer(loadTokenizer(spm), 512).files['tokenizer.json'] as string) as Record<string, unknown>;
});
process.on('exit', () => { if (dir) rmSync(dir, { recursive: true, force: true }); });

let n = 0;
/** a model folder: the .model (sbintuitions ship tokenizer.model beside tokenizer.json), and the given files */
function folder(files: { postProcessor?: unknown; tokenizerConfig?: Record<string, unknown>; noJson?: boolean; noModel?: boolean }): string {
  const d = join(dir, `m${n++}`);
  mkdirSync(d);
  if (!files.noModel) copyFileSync(spm, join(d, 'tokenizer.model'));
  if (!files.noJson) writeFileSync(join(d, 'tokenizer.json'), JSON.stringify({ ...exported, post_processor: files.postProcessor ?? null }));
  if (files.tokenizerConfig) writeFileSync(join(d, 'tokenizer_config.json'), JSON.stringify(files.tokenizerConfig));
  return d;
}

const SB = { unk: 0, bos: 1, eos: 2, pad: 3, sep: 4, mask: 5, cls: 6 };
const ids = (d: string, t: string) => loadTokenizer(d).encode(t).ids;

/** ja-bert's framing of the Rust tokenizers' bare ids (no special tokens) equals the Rust tokenizers' framed ids and type ids over the same
 *  tokenizer.json, single texts and pairs (the bare ids are the Rust ones: its Unigram breaks exact-score ties otherwise than spm_encode,
 *  which ja-bert follows); and ja-bert's own features are its framing of its own ids */
async function sameAsRust(d: string, typeIds: boolean): Promise<void> {
  const tok = loadTokenizer(d), b = new InputBuilder(tok, 100_000);
  const rust = RustTokenizer.fromFile(join(d, 'tokenizer.json'));
  const bare = async (t: string) => (await rust.encode(t, null, { addSpecialTokens: false })).getIds();
  for (const [x, y] of pairs) {
    for (const [f, r] of [[applyFraming(b.framing, await bare(x)), await rust.encode(x)], [applyFraming(b.framing, await bare(x), await bare(y)), await rust.encode(x, y)]] as const) {
      assert.deepEqual(f.inputIds, r.getIds(), `ids: ${x} / ${y}`);
      assert.deepEqual(f.tokenTypeIds, typeIds ? r.getTypeIds() : r.getIds().map(() => 0), `type ids: ${x} / ${y}`);
    }
    assert.deepEqual(b.features(x, y), applyFraming(b.framing, tok.encode(x).ids, tok.encode(y).ids));
  }
}

test('sbintuitions\' layout (tokenizer.model + tokenizer_config.json LlamaTokenizer, add_bos_token and add_eos_token): <s> a </s><s> b </s>, pad <pad>, no type ids; export keeps the framing for the Rust tokenizers', async () => {
  const cfg = { tokenizer_class: 'LlamaTokenizer', add_bos_token: true, add_eos_token: true, bos_token: '<s>', eos_token: '</s>', cls_token: '<cls>', sep_token: '<sep>', mask_token: '<mask>', pad_token: '<pad>', unk_token: '<unk>' };
  for (const noJson of [true, false]) {
    const d = folder({ tokenizerConfig: cfg, noJson, postProcessor: { type: 'BertProcessing', sep: ['<sep>', SB.sep], cls: ['<cls>', SB.cls] } });
    const b = new InputBuilder(loadTokenizer(d), 64);
    assert.equal(b.pad, SB.pad);
    const [x, y] = pairs[0]!, a = ids(d, x), bb = ids(d, y);
    assert.deepEqual(b.features('短い').inputIds, [SB.bos, ...ids(d, '短い'), SB.eos]);
    const f = b.features(x, y);
    assert.ok(f.inputIds.length <= 64);
    // run_classifier's truncation within 64 - 4
    const la = f.inputIds.indexOf(SB.eos) - 1;
    assert.deepEqual(f.inputIds, [SB.bos, ...a.slice(0, la), SB.eos, SB.bos, ...bb.slice(0, f.inputIds.length - la - 4), SB.eos]);
    assert.ok(f.tokenTypeIds.every((t) => t === 0));
    // the exported tokenizer.json frames the same for the Rust tokenizers, and its config says no token types
    const out = folder({ noModel: true, noJson: true });
    const files = exportTokenizer(loadTokenizer(d), 512).files;
    for (const [name, body] of Object.entries(files)) writeFileSync(join(out, name), body);
    assert.deepEqual((JSON.parse(files['tokenizer_config.json'] as string) as { model_input_names: string[] }).model_input_names, ['input_ids', 'attention_mask']);
    assert.equal((JSON.parse(files['special_tokens_map.json'] as string) as { cls_token: string }).cls_token, '<cls>');
    await sameAsRust(out, false);
  }
  // add_eos_token false (LlamaTokenizer's default): <s> a <s> b
  const d = folder({ tokenizerConfig: { ...cfg, add_eos_token: false }, noJson: true });
  assert.deepEqual(new InputBuilder(loadTokenizer(d), 64).features('短い', 'ls').inputIds, [SB.bos, ...ids(d, '短い'), SB.bos, ...ids(d, 'ls')]);
  // tokenize --special frames the same way
  writeFileSync(join(d, 'in.txt'), '短い\n');
  tokenizeFile({ tokenizer: d, input: join(d, 'in.txt'), output: join(d, 'out.jsonl'), special: true });
  assert.deepEqual(JSON.parse(readFileSync(join(d, 'out.jsonl'), 'utf8')).ids, [SB.bos, ...ids(d, '短い')]);
  // neither flag: add_bos_token defaults to true, add_eos_token to false
  const e = folder({ tokenizerConfig: { tokenizer_class: 'LlamaTokenizerFast' }, noJson: true });
  assert.deepEqual(new InputBuilder(loadTokenizer(e), 64).features('短い', 'ls').inputIds, [SB.bos, ...ids(e, '短い'), SB.bos, ...ids(e, 'ls')]);
});

test('tokenizer.json\'s post_processor frames as the Rust tokenizers do: TemplateProcessing, BertProcessing, RobertaProcessing, a Sequence with ByteLevel, none', async () => {
  const sp = (id: string, t = 0) => ({ SpecialToken: { id, type_id: t } }), seq = (id: 'A' | 'B', t: number) => ({ Sequence: { id, type_id: t } });
  const specials = (...names: Array<[string, number[]]>) => Object.fromEntries(names.map(([k, v]) => [k, { id: k, ids: v, tokens: v.map(() => k) }]));
  const cases: Array<[string, unknown, boolean]> = [
    ['template <cls> a <sep> b <sep>, type ids 0 / 1', { type: 'TemplateProcessing', single: [sp('<cls>'), seq('A', 0), sp('<sep>')], pair: [sp('<cls>'), seq('A', 0), sp('<sep>'), seq('B', 1), sp('<sep>', 1)], special_tokens: specials(['<cls>', [SB.cls]], ['<sep>', [SB.sep]]) }, true],
    ['template with a two-id special token and B first', { type: 'TemplateProcessing', single: [seq('A', 0), sp('<x>')], pair: [sp('<cls>', 2), seq('B', 1), sp('<x>', 1), seq('A', 0)], special_tokens: specials(['<cls>', [SB.cls]], ['<x>', [SB.sep, SB.mask]]) }, true],
    ['BertProcessing', { type: 'BertProcessing', sep: ['<sep>', SB.sep], cls: ['<cls>', SB.cls] }, true],
    ['RobertaProcessing', { type: 'RobertaProcessing', sep: ['</s>', SB.eos], cls: ['<s>', SB.bos], trim_offsets: true, add_prefix_space: false }, false],
    ['Sequence [ByteLevel, RobertaProcessing]', { type: 'Sequence', processors: [{ type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false }, { type: 'RobertaProcessing', sep: ['</s>', SB.eos], cls: ['<s>', SB.bos], trim_offsets: false, add_prefix_space: false }] }, false],
    ['no post-processor', null, true],
  ];
  for (const [name, pp, typeIds] of cases) {
    for (const noModel of [false, true]) {
      const d = folder({ postProcessor: pp, noModel });
      await sameAsRust(d, typeIds).catch((e: Error) => { throw new Error(`${name}${noModel ? ' (tokenizer.json alone)' : ''}: ${e.message}`); });
    }
  }
  // a truncated pair keeps every special token and fits max_seq_length
  const d = folder({ postProcessor: cases[1]![1] });
  const f = new InputBuilder(loadTokenizer(d), 20).features(pairs[0]![0], pairs[0]![1]);
  assert.equal(f.inputIds.length, 20);
  assert.deepEqual([f.inputIds[0], ...f.inputIds.slice(f.inputIds.indexOf(SB.mask) - 1, f.inputIds.indexOf(SB.mask) + 1)], [SB.cls, SB.sep, SB.mask]);
});

test('without tokenizer.json, tokenizer_config.json\'s class frames as its slow tokenizer: BERT-like, RoBERTa-like, T5-like; model_input_names decides type ids', () => {
  const frame = (cfg: Record<string, unknown>) => new InputBuilder(loadTokenizer(folder({ tokenizerConfig: cfg, noJson: true })), 64).features('短い', 'ls');
  const a = ids(folder({ noJson: true }), '短い'), b = ids(folder({ noJson: true }), 'ls');
  const bert = { inputIds: [SB.cls, ...a, SB.sep, ...b, SB.sep], tokenTypeIds: [...a.map(() => 0), 0, 0, ...b.map(() => 1), 1] };
  assert.deepEqual(frame({ tokenizer_class: 'BertTokenizer', cls_token: '<cls>', sep_token: '<sep>', pad_token: '<pad>' }), bert);
  assert.deepEqual(frame({ tokenizer_class: 'DebertaV2Tokenizer', cls_token: { content: '<cls>', special: true }, sep_token: '<sep>', pad_token: '<pad>' }), bert);
  assert.deepEqual(frame({ tokenizer_class: 'DistilBertTokenizer', cls_token: '<cls>', sep_token: '<sep>', pad_token: '<pad>' }), { ...bert, tokenTypeIds: bert.tokenTypeIds.map(() => 0) });
  assert.deepEqual(frame({ tokenizer_class: 'BertTokenizerFast', cls_token: '<cls>', sep_token: '<sep>', pad_token: '<pad>', model_input_names: ['input_ids', 'attention_mask'] }).tokenTypeIds, bert.tokenTypeIds.map(() => 0));
  assert.deepEqual(frame({ tokenizer_class: 'XLMRobertaTokenizer' }), { inputIds: [SB.bos, ...a, SB.eos, SB.eos, ...b, SB.eos], tokenTypeIds: [...a, 0, 0, 0, ...b, 0].map(() => 0) });
  assert.deepEqual(frame({ tokenizer_class: 'T5Tokenizer' }).inputIds, [...a, SB.eos, ...b, SB.eos]);
  // a class ja-bert does not know leaves the vocabulary to decide: <s> a </s></s> b </s> (no [CLS] here)
  assert.deepEqual(frame({ tokenizer_class: 'SomeNewTokenizer' }).inputIds, [SB.bos, ...a, SB.eos, SB.eos, ...b, SB.eos]);
  // special tokens from special_tokens_map.json when the config does not name them
  const d = folder({ tokenizerConfig: { tokenizer_class: 'BertTokenizer' }, noJson: true });
  writeFileSync(join(d, 'special_tokens_map.json'), JSON.stringify({ cls_token: '<cls>', sep_token: '<sep>', pad_token: '<pad>' }));
  assert.deepEqual(new InputBuilder(loadTokenizer(d), 64).features('短い', 'ls'), bert);
});

test('tokenizer files that cannot frame are one line naming the file and the field', () => {
  const bad = (files: Parameters<typeof folder>[0], re: RegExp) => assert.throws(() => new InputBuilder(loadTokenizer(folder(files)), 64), (e: Error) => e instanceof TokenizerError && re.test(e.message) && !e.message.includes('\n'), JSON.stringify(files));
  bad({ postProcessor: { type: 'SomethingNew' } }, /tokenizer\.json: post_processor SomethingNew: a post-processor ja-bert does not know/);
  bad({ postProcessor: { type: 'TemplateProcessing', single: [{ SpecialToken: { id: '<cls>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }], pair: [], special_tokens: {} } }, /special token "<cls>" is not in special_tokens/);
  bad({ postProcessor: { type: 'TemplateProcessing', single: [{ Sequence: { id: 'A', type_id: 0 } }], pair: [{ Sequence: { id: 'A', type_id: 0 } }], special_tokens: {} } }, /pair template must hold \$A and \$B once each/);
  bad({ postProcessor: { type: 'BertProcessing', sep: ['<sep>', SB.sep], cls: ['<cls>', 999] } }, /frames with <cls> as id 999, but the tokenizer gives it id 6/);
  bad({ postProcessor: { type: 'BertProcessing', sep: '<sep>', cls: ['<cls>', SB.cls] } }, /BertProcessing sep: expected \[token, id\]/);
  bad({ noJson: true, tokenizerConfig: { tokenizer_class: 'BertTokenizer', cls_token: '[CLS]' } }, /tokenizer_config\.json: the cls_token "\[CLS\]" is not in the vocabulary/);
  bad({ noJson: true, tokenizerConfig: { tokenizer_class: 'LlamaTokenizer', add_bos_token: 'yes' } }, /add_bos_token and add_eos_token must be true or false/);
  // a max_seq_length that cannot hold the pair's special tokens
  assert.throws(() => new InputBuilder(loadTokenizer(folder({ noJson: true, tokenizerConfig: { tokenizer_class: 'XLMRobertaTokenizer' } })), 3), /max_seq_length must be at least 4/);
});

test('continued masked-LM pretraining of a ModernBERT whose tokenizer has no [CLS] (sbintuitions\' layout): sequences framed <s> … </s>, masked with <mask>', () => {
  const base = folder({ noJson: true, tokenizerConfig: { tokenizer_class: 'LlamaTokenizer', add_bos_token: true, add_eos_token: true, mask_token: '<mask>', pad_token: '<pad>', cls_token: '<cls>', sep_token: '<sep>' } });
  const cfg = makeConfig({ model_type: 'modernbert', vocab_size: loadTokenizer(spm).vocabSize, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 64,
    max_position_embeddings: 64, local_attention: 8, global_attn_every_n_layers: 2, pad_token_id: SB.pad, bos_token_id: SB.bos, eos_token_id: SB.eos, cls_token_id: SB.cls, sep_token_id: SB.sep }, 'test');
  saveBert(new Bert(cfg, { kernels: nativeKernels(), seed: 5, mlmHead: true }), base);
  const pages = Object.values(JSON.parse(readFileSync(join(SHARED_DIR, 'data/manpages-ja-links/honbun_data.json'), 'utf8')) as Record<string, string>);
  const corpus = join(dir, 'pretrain-corpus.txt');
  writeFileSync(corpus, pages.slice(300, 420).map((b) => b.split('\n').filter((l) => l.trim()).slice(0, 4).join('\n')).join('\n\n') + '\n');
  const out = join(dir, 'pretrained');
  const r = pretrain({ corpus, output: out, kernels: nativeKernels(), model: base, maxSeqLength: 32, batchSize: 8, maxSteps: 3, saveSteps: 0, seed: 1 });
  assert.equal(r.steps, 3);
  assert.ok(Number.isFinite(r.evalLoss) && r.evalLoss > 0, `held-out loss ${r.evalLoss}`);
  assert.deepEqual(JSON.parse(readFileSync(join(out, 'tokenizer_config.json'), 'utf8')), JSON.parse(readFileSync(join(base, 'tokenizer_config.json'), 'utf8')));
  // its masking never touches the framing's <s> and </s>
  const sp = { cls: SB.bos, sep: SB.eos, mask: SB.mask, pad: SB.pad, vocab: 1500, special: new Set(Object.values(SB)), frame: new Set([SB.bos, SB.eos]) };
  for (let seed = 0; seed < 50; seed++) {
    const m = maskWords([SB.bos, 100, 101, 102, SB.eos], new Uint8Array(5).fill(1), sp, new Rng(seed), 0.5);
    assert.ok(m.positions.every((p) => p >= 1 && p <= 3), `positions ${m.positions}`);
  }
});
