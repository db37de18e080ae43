// The pretraining corpus builder on small synthetic sources.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildCorpus, decodeEntities, isJapanese, markupParagraphs, moStrings, splitSentences } from '../src/pretrain/corpus.js';
import { tempDir } from './helpers.js';

test('markup: tags stripped (inline code kept), scripts and styles dropped, entities decoded, blocks become paragraphs', () => {
  const html = '<html><head><title>題名のページ</title><style>p{}</style></head><body><script>var x = "日本語";</script>' +
    '<p>これは<b>太字</b>と<code>ls -l</code>を含む段落です。&amp; &#x3042;&#12354;</p><div>二つ目の段落です！次の文？</div><!-- コメント --></body></html>';
  assert.deepEqual(markupParagraphs(html), ['題名のページ', 'これは太字とls -lを含む段落です。& ああ', '二つ目の段落です！次の文？']);
  assert.equal(decodeEntities('&lt;a&gt; &quot;b&quot; &unknown;'), '<a> "b" &unknown;');
});

test('Japanese filter and sentence splitting', () => {
  assert.ok(isJapanese('これは十分に長い日本語の文章です。'));
  assert.ok(!isJapanese('This is English text with 一 kanji.'));
  assert.ok(!isJapanese('短い'));
  assert.deepEqual(splitSentences('一つ目です。二つ目です！三つ目？ 最後'), ['一つ目です。', '二つ目です！', '三つ目？', '最後']);
});

test('gettext catalogs: msgstr strings without accelerators or format directives', () => {
  // a little-endian .mo with one header entry and one message
  const entries: Array<[string, string]> = [['', 'Content-Type: text/plain; charset=UTF-8\n'], ['Open', '_ファイルを開く (%s)']];
  const enc = new TextEncoder();
  const n = entries.length, head = 28, tabs = head + 16 * n;
  const ids = entries.map((e) => enc.encode(e[0])), strs = entries.map((e) => enc.encode(e[1]));
  let off = tabs;
  const pos: number[] = [];
  for (const b of [...ids, ...strs]) { pos.push(off); off += b.length + 1; }
  const buf = new Uint8Array(off);
  const dv = new DataView(buf.buffer);
  dv.setUint32(0, 0x950412de, true); dv.setUint32(8, n, true); dv.setUint32(12, head, true); dv.setUint32(16, head + 8 * n, true);
  [...ids, ...strs].forEach((b, i) => { buf.set(b, pos[i]!); dv.setUint32(head + 8 * i, b.length, true); dv.setUint32(head + 8 * i + 4, pos[i]!, true); });
  assert.deepEqual(moStrings(buf, 'x.mo'), ['ファイルを開く ( )']);
  assert.throws(() => moStrings(new Uint8Array(40), 'bad.mo'), /bad\.mo: not a gettext \.mo file/);
});

test('buildCorpus: one sentence per line, blank line between documents, duplicates once, counts reported; man pages refused', (t) => {
  const d = tempDir(t);
  mkdirSync(join(d, 'src', 'sub'), { recursive: true });
  writeFileSync(join(d, 'src', 'a.html'), '<p>最初の文書の一文目です。二文目です。</p><p>Only English here, nothing else.</p><p>共通の段落はここにあります。</p>');
  writeFileSync(join(d, 'src', 'sub', 'b.html'), '<p>共通の段落はここにあります。</p><p>二つ目の文書にだけある段落です。</p>');
  writeFileSync(join(d, 'src', 'c.txt'), '対象外の拡張子のファイルです。');
  const out = join(d, 'corpus.txt');
  const r = buildCorpus({ output: out, sources: [{ name: 'test', package: 'none', roots: [join(d, 'src')], include: /\.html$/ }] });
  assert.equal(readFileSync(out, 'utf8'), '最初の文書の一文目です。\n二文目です。\n共通の段落はここにあります。\n\n二つ目の文書にだけある段落です。\n');
  assert.equal(r.total.files, 2);
  assert.equal(r.total.documents, 2);
  assert.equal(r.total.sentences, 4);
  assert.throws(() => buildCorpus({ output: out, sources: [{ name: 'man', package: 'manpages-ja', roots: ['/usr/share/man/ja'], include: /./ }] }), /evaluation data/);
});
