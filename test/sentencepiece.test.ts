// SentencePiece ids against Debian's spm_encode, generated during the test run:
// models trained here with spm_train (unigram, BPE, byte fallback) and the real
// 32k Japanese unigram model in test/fixtures/shared/models/wiki-ja-albert-spm.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SentencePieceTokenizer, TokenizerError, parseSentencePieceModel } from '../src/tokenize/sentencepiece.js';
import { loadTokenizer } from '../src/tokenize/index.js';
import { japaneseTexts, requireCommand } from './helpers.js';

const SHARED = new URL('../../test/fixtures/shared/', import.meta.url).pathname;
const WIKI = join(SHARED, 'models/wiki-ja-albert-spm/wiki-ja_albert.model');

/** ≥ 1,000 real sentences plus edge cases, one per line (spm_encode reads lines) */
function testTexts(): string[] {
  const texts = japaneseTexts('train', 0, 150);
  texts.push(
    '', ' ', '　', '\t', 'ＡＢＣ　ａｂｃ　１２３', 'ABC abc 123', 'ｶﾀｶﾅ ﾊﾝｶｸ ﾃﾞｽ', 'ｶﾞｷﾞｸﾞｹﾞｺﾞ', '㈱ ㌔ ① ⅱ ﬁ',
    '絵文字😀を含む文🎌です', '𠮷野家と𩸽', 'タブ\tと\t\t連続', '空白   の    連続  ', '   前後に空白   ', 'a  b', '。、・「」『』（）',
    'Linux カーネル 5.10 の read(2) と write(2)', 'UPPER lower MiXeD', '改行なしの非常に長い文' + 'とても'.repeat(3000) + '終わり',
    'ß ẞ İ ı ǅ', '\u200b零幅\u200b空白', 'ﾟﾞ゛゜', '〜～−－', '￥＄％＆', 'x'.repeat(500), '日本語'.repeat(200),
  );
  return texts;
}

function spmIds(model: string, texts: string[], dir: string): number[][] {
  const input = join(dir, 'texts.txt');
  writeFileSync(input, texts.join('\n') + '\n');
  const out = execFileSync('spm_encode', [`--model=${model}`, '--output_format=id', `--input=${input}`], { maxBuffer: 1 << 28, encoding: 'utf8' });
  const lines = out.split('\n');
  return texts.map((_, i) => (lines[i]!.trim() === '' ? [] : lines[i]!.trim().split(' ').map(Number)));
}

let dir = '';
let texts: string[] = [];
before(() => {
  requireCommand('spm_train', 'sentencepiece');
  requireCommand('spm_encode', 'sentencepiece');
  dir = mkdtempSync(join(tmpdir(), 'jabert-spm-'));
  texts = testTexts();
  assert.ok(texts.filter((t) => t.length > 0).length >= 1000, `${texts.length} texts`);
  // a training corpus from the man pages (evaluation texts above are separate lines)
  const pages = JSON.parse(readFileSync(join(SHARED, 'data/manpages-ja-links/honbun_data.json'), 'utf8')) as Record<string, string>;
  const corpus = Object.values(pages).slice(200, 900).flatMap((b) => b.split('\n')).filter((l) => l.trim()).map((l) => l.slice(0, 2000));
  writeFileSync(join(dir, 'corpus.txt'), corpus.join('\n') + '\n');
  const train = (name: string, extra: string[]) => execFileSync('spm_train', [
    `--input=${join(dir, 'corpus.txt')}`, `--model_prefix=${join(dir, name)}`, '--vocab_size=2000', '--character_coverage=0.995',
    '--num_threads=2', '--control_symbols=[PAD],[CLS],[SEP],[MASK]', ...extra,
  ], { stdio: 'pipe' });
  train('unigram', ['--model_type=unigram']);
  train('bpe', ['--model_type=bpe']);
  train('bytes', ['--model_type=unigram', '--byte_fallback=true']);
  train('bpebytes', ['--model_type=bpe', '--byte_fallback=true', '--user_defined_symbols=<url>,カーネル']);
});

process.on('exit', () => { if (dir) rmSync(dir, { recursive: true, force: true }); });

function compare(model: string, lowercase = false): void {
  const tok = SentencePieceTokenizer.fromFile(model, { lowercase });
  const inputs = lowercase ? texts.map((t) => t.toLowerCase()) : texts;
  const want = spmIds(model, inputs, dir);
  const bad: string[] = [];
  texts.forEach((t, i) => {
    const got = tok.encode(t).ids;
    if (got.join(' ') !== want[i]!.join(' ')) bad.push(`${JSON.stringify(t.slice(0, 60))}: got ${got.slice(0, 12)} want ${want[i]!.slice(0, 12)}`);
  });
  assert.equal(bad.length, 0, `${bad.length}/${texts.length} differ from spm_encode, e.g.\n${bad.slice(0, 5).join('\n')}`);
}

test('unigram model trained by spm_train: ids identical to spm_encode', () => compare(join(dir, 'unigram.model')));
test('BPE model: ids identical to spm_encode', () => compare(join(dir, 'bpe.model')));
test('unigram with byte fallback: ids identical to spm_encode', () => compare(join(dir, 'bytes.model')));
test('BPE with byte fallback and user-defined symbols: ids identical to spm_encode', () => compare(join(dir, 'bpebytes.model')));
test('the real 32k Japanese wiki model: ids identical to spm_encode', () => compare(WIKI));
test('lowercasing first (the yoheikikuta behaviour) equals spm_encode on lowercased text', () => compare(WIKI, true));

test('pieces: a sentence starts with the dummy-prefix piece, specials are control pieces', () => {
  const tok = SentencePieceTokenizer.fromFile(join(dir, 'unigram.model'));
  const e = tok.encode('これはテストです');
  assert.ok(e.tokens[0]!.startsWith('▁'));
  assert.deepEqual(e.tokens.map((t) => tok.model.pieces.indexOf(t)), e.ids);
  assert.equal(tok.model.types[tok.model.pieces.indexOf('[CLS]')], 3);
  assert.deepEqual(tok.encode('').ids, []);
});

test('unreadable model files give one clear error naming the file', () => {
  const bad = join(dir, 'bad.model');
  writeFileSync(bad, Buffer.from([0x0a, 0xff, 0xff, 0xff]));
  assert.throws(() => SentencePieceTokenizer.fromFile(bad), (e: Error) => e instanceof TokenizerError && e.message.includes(bad));
  writeFileSync(bad, 'plain text, not a model\n');
  assert.throws(() => SentencePieceTokenizer.fromFile(bad), /bad\.model: not a SentencePiece model/);
  assert.throws(() => SentencePieceTokenizer.fromFile(join(dir, 'missing.model')), /missing\.model: no such file/);
  assert.throws(() => parseSentencePieceModel(new Uint8Array(0), 'empty.model'), /empty\.model: not a SentencePiece model \(no pieces\)/);
});

test('a .vocab file maps pieces to ids by line, as the seed does; the seed folder layout uses it', () => {
  const vocab = join(dir, 'wiki.vocab');
  const lines = readFileSync(WIKI.replace(/\.model$/, '.vocab'), 'utf8').split('\n').filter(Boolean);
  // consistent vocab: identical ids; swapped lines: ids follow the file
  const same = SentencePieceTokenizer.fromFile(WIKI, { vocabFile: WIKI.replace(/\.model$/, '.vocab') });
  const plain = SentencePieceTokenizer.fromFile(WIKI);
  const text = '日本語の文章を単語に分割する';
  assert.deepEqual(same.encode(text).ids, plain.encode(text).ids);
  const first = plain.encode(text).ids[1]!;
  [lines[first], lines[first + 1]] = [lines[first + 1]!, lines[first]!];
  writeFileSync(vocab, lines.join('\n') + '\n');
  const swapped = SentencePieceTokenizer.fromFile(WIKI, { vocabFile: vocab });
  assert.equal(swapped.encode(text).ids[1], first + 1);
  assert.equal(swapped.tokenId('[CLS]'), plain.tokenId('[CLS]'));
  const seedDir = join(dir, 'seed');
  execFileSync('mkdir', ['-p', seedDir]);
  writeFileSync(join(seedDir, 'bert_config.json'), '{}');
  writeFileSync(join(seedDir, 'wiki-ja.model'), readFileSync(WIKI));
  writeFileSync(join(seedDir, 'wiki-ja.vocab'), lines.join('\n') + '\n');
  assert.equal(loadTokenizer(seedDir).encode(text).ids[1], first + 1);
});

test('newlines: spm_encode reads lines, so a text with \\n is checked against the same text with \\t (both whitespace to the charsmap)', () => {
  const tok = SentencePieceTokenizer.fromFile(WIKI);
  const pairs = [['行1\n行2', '行1\t行2'], ['改行\r\nCRLF', '改行\tCRLF'], ['\n\n前後\n', '\t\t前後\t']];
  const want = spmIds(WIKI, pairs.map((p) => p[1]!), dir);
  pairs.forEach(([nl], i) => assert.deepEqual(tok.encode(nl!).ids, want[i]));
});
