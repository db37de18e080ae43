// BertJapaneseTokenizer's algorithm (MeCab IPADIC / UniDic + WordPiece, and
// character splitting) against the stdlib Python reference in tools/, which
// runs the real `mecab` command, generated during the test run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadTokenizer, TokenizerError, WordPieceTokenizer } from '../src/tokenize/index.js';
import { mecabDicDir, readVocab, SPECIAL_TOKENS as SPECIAL } from '../src/tokenize/wordpiece.js';
import { japaneseTexts, requireCommand, tempDir } from './helpers.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const SHARED = join(ROOT, 'test/fixtures/shared');
const TOHOKU = join(SHARED, 'models/tohoku-v1-vocab');

function texts(): string[] {
  const out = japaneseTexts('test', 300, 450);
  out.push('', ' ', 'ＡＢＣ　ａｂｃ　１２３', 'ｶﾀｶﾅ ﾊﾝｶｸ ﾃﾞｽ', '㈱ ㌔ ① ⅱ', '絵文字😀を含む文🎌です', '𠮷野家と𩸽', 'タブ\tと\t\t連続',
    '空白   の    連続  ', '[CLS] 特殊[SEP]トークン [MASK] を含む [UNK]', 'UPPER lower MiXeD', 'あ'.repeat(150), 'x'.repeat(120),
    '長い文' + '日本語の文章、'.repeat(500), 'ß İ ǅ ﬁ', '〜～−－￥＄');
  return out;
}

function reference(args: string[], input: string[]): number[][] {
  requireCommand('mecab', 'mecab');
  const out = execFileSync('/usr/bin/python3', [join(ROOT, 'tools/bertjapanese_reference.py'), ...args], { input: JSON.stringify(input), maxBuffer: 1 << 28 });
  return JSON.parse(out.toString()) as number[][];
}

function compare(tok: WordPieceTokenizer, args: string[]): void {
  const input = texts();
  assert.ok(input.length >= 1000);
  const want = reference(args, input);
  const bad: string[] = [];
  input.forEach((t, i) => {
    const got = tok.encode(t).ids;
    if (got.join(' ') !== want[i]!.join(' ')) bad.push(`${JSON.stringify(t.slice(0, 50))}: got ${got.slice(0, 10)} want ${want[i]!.slice(0, 10)}`);
  });
  assert.equal(bad.length, 0, `${bad.length}/${input.length} differ, e.g.\n${bad.slice(0, 5).join('\n')}`);
}

test('MeCab IPADIC + WordPiece (cl-tohoku v1 vocab) matches the reference', () => {
  const tok = loadTokenizer(TOHOKU) as WordPieceTokenizer;
  compare(tok, [join(TOHOKU, 'vocab.txt'), 'mecab', mecabDicDir('ipadic'), 'wordpiece', '0']);
});

test('MeCab UniDic + WordPiece, lowercased, matches the reference', () => {
  const tok = loadTokenizer(TOHOKU, { mecabDic: mecabDicDir('unidic'), lowercase: true }) as WordPieceTokenizer;
  compare(tok, [join(TOHOKU, 'vocab.txt'), 'mecab', mecabDicDir('unidic'), 'wordpiece', '1']);
});

test('MeCab + character splitting (char-v3 style) matches the reference', (t) => {
  const d = tempDir(t);
  const chars = readVocab(join(TOHOKU, 'vocab.txt')).filter((v) => v.startsWith('[') || Array.from(v).length === 1);
  writeFileSync(join(d, 'vocab.txt'), chars.join('\n') + '\n');
  writeFileSync(join(d, 'tokenizer_config.json'), JSON.stringify({ tokenizer_class: 'BertJapaneseTokenizer', word_tokenizer_type: 'mecab', subword_tokenizer_type: 'character', mecab_kwargs: { mecab_dic: 'ipadic' } }));
  compare(loadTokenizer(d) as WordPieceTokenizer, [join(d, 'vocab.txt'), 'mecab', mecabDicDir('ipadic'), 'character', '0']);
});

test("BERT's basic splitter + WordPiece (a vocab.txt without tokenizer_config.json) matches the reference", (t) => {
  const d = tempDir(t);
  copyFileSync(join(TOHOKU, 'vocab.txt'), join(d, 'vocab.txt'));
  const tok = loadTokenizer(d) as WordPieceTokenizer;
  assert.equal(tok.opts.wordTokenizer, 'basic');
  compare(tok, [join(d, 'vocab.txt'), 'basic', 'wordpiece', '1']);
});

test('MeCab splits as the mecab command does on a literal sentence', () => {
  const tok = loadTokenizer(TOHOKU) as WordPieceTokenizer;
  // 吾輩 is not in the v1 vocabulary: WordPiece splits it
  assert.deepEqual(tok.encode('吾輩は猫である。').tokens, ['吾', '##輩', 'は', '猫', 'で', 'ある', '。']);
  assert.deepEqual(tok.encode('[CLS]日本語[SEP]').tokens, ['[CLS]', '日本語', '[SEP]']);
});

test('bad tokenizer folders give one clear error naming the file', (t) => {
  const d = tempDir(t);
  assert.throws(() => loadTokenizer(d), (e: Error) => e instanceof TokenizerError && e.message.includes(d) && /no tokenizer files/.test(e.message));
  writeFileSync(join(d, 'vocab.txt'), 'a\nb\n');
  assert.throws(() => loadTokenizer(d), /vocab\.txt: no \[UNK\] token/);
  writeFileSync(join(d, 'tokenizer_config.json'), '{ not json');
  assert.throws(() => loadTokenizer(d), /tokenizer_config\.json: not valid JSON/);
  writeFileSync(join(d, 'tokenizer_config.json'), '{"word_tokenizer_type": "jumanpp"}');
  assert.throws(() => loadTokenizer(d), /tokenizer_config\.json: word_tokenizer_type "jumanpp" is not supported/);
  writeFileSync(join(d, 'tokenizer_config.json'), '{"word_tokenizer_type": "mecab", "mecab_kwargs": {"mecab_dic": "nodic"}}');
  assert.throws(() => loadTokenizer(d), /mecab_dic "nodic" is not known/);
  assert.throws(() => loadTokenizer(join(d, 'none')), /no such file or folder/);
});

test('tokenizer.json (BERT WordPiece, via @huggingface/tokenizers) agrees with the basic + WordPiece path', (t) => {
  const d = tempDir(t);
  const vocab = readVocab(join(TOHOKU, 'vocab.txt'));
  const json = {
    version: '1.0', truncation: null, padding: null,
    added_tokens: SPECIAL.map((content) => ({ id: vocab.indexOf(content), content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: null, decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab: Object.fromEntries(vocab.map((v, i) => [v, i])) },
  };
  writeFileSync(join(d, 'tokenizer.json'), JSON.stringify(json));
  const fast = loadTokenizer(d);
  copyFileSync(join(TOHOKU, 'vocab.txt'), join(d, 'vocab.txt'));
  const slow = loadTokenizer(join(d, 'vocab.txt'));
  assert.equal(fast.tokenId('[CLS]'), slow.tokenId('[CLS]'));
  // @huggingface/tokenizers 0.2.0 does not space out CJK ideographs outside the
  // BMP (U+20000 and up), as Hugging Face's Rust/Python BertPreTokenizer and
  // google-research's BasicTokenizer do; those texts are checked for that
  // known deviation, all others must agree exactly
  const astralCjk = /[\u{20000}-\u{2FA1F}]/u;
  const bad: string[] = [];
  let deviations = 0;
  for (const x of texts()) {
    const a = fast.encode(x).ids.join(' '), b = slow.encode(x).ids.join(' ');
    if (astralCjk.test(x)) { if (a !== b) deviations++; continue; }
    if (a !== b) bad.push(`${JSON.stringify(x.slice(0, 40))}: ${a.slice(0, 60)} vs ${b.slice(0, 60)}`);
  }
  assert.equal(bad.length, 0, `${bad.length} differ, e.g.\n${bad.slice(0, 5).join('\n')}`);
  assert.equal(deviations, 1, 'the known astral-CJK deviation of @huggingface/tokenizers (if this fails, the library changed: re-check)');
  writeFileSync(join(d, 'tokenizer.json'), '{"model": ');
  assert.throws(() => loadTokenizer(d), /tokenizer\.json: not valid JSON/);
});

test('newlines and tabs split MeCab words like spaces', () => {
  const tok = loadTokenizer(TOHOKU) as WordPieceTokenizer;
  const want = reference([join(TOHOKU, 'vocab.txt'), 'mecab', mecabDicDir('ipadic'), 'wordpiece', '0'], ['日本語 の文 です']);
  for (const t of ['日本語\nの文\r\nです', '日本語\tの文\tです']) assert.deepEqual(tok.encode(t).ids, want[0]);
});
