// The pretraining corpus builder on small synthetic sources.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildCorpus, CorpusError, decodeEntities, ftlStrings, isJapanese, markupParagraphs, moStrings, propertiesStrings, splitSentences } from '../src/pretrain/corpus.js';
import { tempDir, zipFiles } from './helpers.js';

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

test('Fluent and .properties catalogs: values only, placeables and printf directives dropped', () => {
  const ftl = '# comment\nsave-button =\n    .label = 保存する\n    .accesskey = S\nwelcome = ようこそ { -brand-short-name } へ。\n    次の行も同じ値です。\n' +
    'items = { $n ->\n    [one] 一つの項目\n   *[other] { $n } 個の項目\n}\n';
  assert.deepEqual(ftlStrings(ftl), ['保存する', 'S', 'ようこそ へ。 次の行も同じ値です。', '一つの項目 個の項目']);
  const props = '! comment\n# comment\nkey1 = \\u30d5\\u30a1\\u30a4\\u30eb %S \\u3092\\u958b\\u304f\nkey2:続きの\\\n    行です\nempty=\n';
  assert.deepEqual(propertiesStrings(props), ['ファイル を開く', '続きの行です']);
});

test('buildCorpus: members of zip archives (jar, xpi) as documents; declared Shift_JIS decoded', (t) => {
  const d = tempDir(t);
  mkdirSync(join(d, 'src'), { recursive: true });
  const sjis = Buffer.from([0x3c, 0x6d, 0x65, 0x74, 0x61, 0x20, 0x63, 0x68, 0x61, 0x72, 0x73, 0x65, 0x74, 0x3d, 0x53, 0x68, 0x69, 0x66, 0x74, 0x5f, 0x4a, 0x49, 0x53, 0x3e]); // <meta charset=Shift_JIS>
  // 「日本語の文章です。」 in Shift_JIS, repeated to pass the length filter
  const body = Buffer.from([0x93, 0xfa, 0x96, 0x7b, 0x8c, 0xea, 0x82, 0xcc, 0x95, 0xb6, 0x8f, 0xcd, 0x82, 0xc5, 0x82, 0xb7, 0x81, 0x42]);
  writeFileSync(join(d, 'src', 'help.jar'), zipFiles([['a/one.html', '<p>アーカイブの中の一つ目の文書です。</p>'], ['a/two.html', '<p>アーカイブの中の二つ目の文書です。</p>'],
    ['a/skip.css', 'p { 日本語でもこれは読まない設定ファイルです。 }'], ['a/sjis.html', Buffer.concat([sjis, Buffer.from('<p>'), body, body, Buffer.from('</p>')])]], true));
  const out = join(d, 'out', 'corpus.txt');
  const r = buildCorpus({ output: out, sources: [{ name: 'jar', package: 'none', roots: [join(d, 'src')], include: /\.jar$/, members: /\.html$/ }] });
  assert.equal(readFileSync(out, 'utf8'), 'アーカイブの中の一つ目の文書です。\n\n日本語の文章です。\n日本語の文章です。\n\nアーカイブの中の二つ目の文書です。\n');
  assert.equal(r.total.files, 1);
  assert.equal(r.total.documents, 3);
  writeFileSync(join(d, 'src', 'help.jar'), Buffer.from('not a zip'));
  assert.throws(() => buildCorpus({ output: out, sources: [{ name: 'jar', package: 'none', roots: [join(d, 'src')], include: /\.jar$/, members: /\.html$/ }] }), CorpusError);
});
