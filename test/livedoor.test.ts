// The livedoor processor on a small corpus laid out as ldcc-20140209 is:
// text/<category>/<article>.txt (+ LICENSE.txt), as a folder and as a .tar.gz.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readLivedoor, splitLivedoor } from '../src/data/livedoor.js';
import { tempDir } from './helpers.js';

function corpus(root: string): void {
  for (const cat of ['dokujo-tsushin', 'it-life-hack', 'sports-watch']) {
    mkdirSync(join(root, 'text', cat), { recursive: true });
    writeFileSync(join(root, 'text', cat, 'LICENSE.txt'), 'license text\n');
    for (let i = 0; i < 10; i++) {
      writeFileSync(join(root, 'text', cat, `${cat}-${i}.txt`), `http://news.livedoor.com/article/detail/${i}/\n2012-09-0${i % 9 + 1}T10:00:00+0900\n${cat} の記事 ${i}\n本文\tタブ入り\n二行目\n`);
    }
  }
}

test('articles: URL and date dropped, tabs -> full-width space, label = category, LICENSE skipped; folder and tar.gz agree', (t) => {
  const d = tempDir(t);
  corpus(d);
  const fromDir = readLivedoor(join(d, 'text'));
  assert.equal(fromDir.length, 30);
  const a = fromDir.find((e) => e.guid === 'it-life-hack/it-life-hack-3.txt')!;
  assert.equal(a.label, 'it-life-hack');
  assert.equal(a.textA, 'it-life-hack の記事 3\n本文\u3000タブ入り\n二行目');
  execFileSync('tar', ['czf', join(d, 'ldcc-20140209.tar.gz'), '-C', d, 'text']);
  assert.deepEqual(readLivedoor(join(d, 'ldcc-20140209.tar.gz')), fromDir);
  assert.deepEqual(readLivedoor(d), fromDir, 'the folder above text/ works too');
});

test('split: 3/5 : 1/5 : 1/5, seeded, disjoint', (t) => {
  const d = tempDir(t);
  corpus(d);
  const ex = readLivedoor(d);
  const s = splitLivedoor(ex, 42);
  assert.deepEqual([s.train.length, s.dev.length, s.test.length], [18, 6, 6]);
  assert.equal(new Set([...s.train, ...s.dev, ...s.test].map((e) => e.guid)).size, 30);
  assert.deepEqual(splitLivedoor(ex, 42).test.map((e) => e.guid), s.test.map((e) => e.guid));
  assert.notDeepEqual(splitLivedoor(ex, 43).test.map((e) => e.guid), s.test.map((e) => e.guid));
});

test('bad corpora are one clear error', (t) => {
  const d = tempDir(t);
  assert.throws(() => readLivedoor(join(d, 'nope.tar.gz')), /nope\.tar\.gz: no such file or folder/);
  writeFileSync(join(d, 'broken.tar.gz'), 'not gzip');
  assert.throws(() => readLivedoor(join(d, 'broken.tar.gz')), /broken\.tar\.gz: cannot decompress/);
  mkdirSync(join(d, 'empty'));
  assert.throws(() => readLivedoor(join(d, 'empty')), /no articles/);
});
