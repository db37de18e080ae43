import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { linkPairs, parseRoff, readManPages, roffInline } from '../src/data/manpages.js';
import { readPairExamples } from '../src/data/processors.js';
import { tempDir } from './helpers.js';

const page = (name: string, desc: string, see: string) => `.\\" comment line
.TH ${name.toUpperCase()} 2 2020-01-01 "Linux" "Linux Programmer's Manual"
.SH 名前
${name} \\- ${desc}の操作
.SH 書式
.B #include <unistd.h>
.SH 説明
\\fB${name}\\fP() は${desc}を行う。
.BR read (2)
と同じく
.I fd
を使う。
.SH 関連項目
${see}
`;

test('roff: escapes, font macros and sections become plain text', () => {
  assert.equal(roffInline('\\fBopen\\fP(2) \\- \\(lqx\\(rq \\e n\\&.'), 'open(2) - “x” \\ n.');
  const s = parseRoff(page('foo', 'ファイル', '\\fBbar\\fP(2), \\fBbaz\\fP(3)'));
  assert.equal(s.get('名前'), 'foo - ファイルの操作');
  assert.equal(s.get('説明'), 'foo() はファイルを行う。 read(2) と同じく fd を使う。');
  assert.equal(s.get('関連項目'), 'bar(2), baz(3)');
  assert.equal(s.get('書式'), '#include <unistd.h>');
});

test('man pages -> link pairs in the seed format: positives linked, negatives not, balanced', (t) => {
  const dir = tempDir(t);
  mkdirSync(join(dir, 'man2')); mkdirSync(join(dir, 'man3'));
  const names = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
  // a ring of links a-b-c-...-h-a, each page naming the next one under 関連項目
  names.forEach((n, i) => writeFileSync(join(dir, 'man2', `${n}.2.gz`), gzipSync(page(n, `処理${i}`, `\\fB${names[(i + 1) % names.length]}\\fP(2)`))));
  writeFileSync(join(dir, 'man2', 'alias.2.gz'), gzipSync('.so man2/a.2\n'));
  writeFileSync(join(dir, 'man3', 'english.3'), '.SH 名前\nenglish \\- 英語のまま\n.SH 説明\nThis page is untranslated.\n.SH 関連項目\n.BR a (2)\n');
  const pages = readManPages(dir);
  assert.deepEqual(pages.map((p) => p.title), names.map((n) => `${n}(2)`));
  assert.deepEqual(pages[0]!.links, ['b(2)']);
  assert.match(pages[0]!.body, /^a - 処理0の操作\na\(\) は処理0を行う。/);
  const set = linkPairs(pages, 7);
  const pos = set.pairs.filter((p) => p[2] === 1), neg = set.pairs.filter((p) => p[2] === 0);
  assert.equal(pos.length, 8);
  assert.equal(neg.length, 8);
  const idx = (t: string) => names.indexOf(t.replace('(2)', ''));
  const ringDist = (a: string, b: string) => { const d = Math.abs(idx(a) - idx(b)); return Math.min(d, 8 - d); };
  for (const [a, b] of pos) assert.equal(ringDist(a, b), 1, `${a} ${b} should be linked`);
  for (const [a, b] of neg) assert.ok(ringDist(a, b) > 1, `${a} ${b} should not be linked`);
  // the files load through the seed-format reader
  writeFileSync(join(dir, 'honbun_data.json'), JSON.stringify(set.texts));
  writeFileSync(join(dir, 'negaposi.json'), JSON.stringify(set.pairs));
  assert.equal(readPairExamples(join(dir, 'honbun_data.json'), join(dir, 'negaposi.json')).length, 16);
  assert.deepEqual(linkPairs(pages, 7), set, 'same seed, same pairs');
  assert.equal(linkPairs(pages, 7, 6).pairs.length, 6);
});

test('the shipped demo sample is in the seed format, balanced, and every title has a text', () => {
  const dir = new URL('../../data/demo/manpages-ja-links-sample/', import.meta.url).pathname;
  const texts = JSON.parse(readFileSync(join(dir, 'honbun_data.json'), 'utf8')) as Record<string, string>;
  const ex = readPairExamples(join(dir, 'honbun_data.json'), join(dir, 'negaposi.json'));
  assert.equal(ex.length, 2000);
  assert.equal(ex.filter((e) => e.label === '1').length, 1000);
  assert.ok(Object.values(texts).every((t) => /[\u3040-\u30ff]/.test(t) && t.length <= 500));
});
