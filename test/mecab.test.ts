// MeCab dictionaries: a folder path with spaces works; damaged dictionaries (seeded
// random flips, truncation, enlargement of each binary file) end in one clean line and a
// non-zero exit, or in a correct run — never in a signal or a hang.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from '../src/core/random.js';
import { MecabError, MecabTagger, checkDictionary } from '../src/tokenize/mecab.js';
import { SHARED_DIR, tempDir } from './helpers.js';

const IPADIC = '/var/lib/mecab/dic/ipadic-utf8';
const BIN = new URL('../../bin/ja-bert', import.meta.url).pathname;
const CASES = Number(process.env.JA_BERT_FUZZ_CASES ?? 16);

test('a dictionary folder whose path holds spaces opens and splits as the original does', (t) => {
  const d = join(tempDir(t), 'mecab dic with spaces');
  mkdirSync(d);
  for (const f of readdirSync(IPADIC)) copyFileSync(join(IPADIC, f), join(d, f));
  const text = '東京都の天気は晴れです。';
  const a = new MecabTagger(IPADIC), b = new MecabTagger(d);
  assert.deepEqual(b.words(text), a.words(text));
  assert.deepEqual(a.words(text).slice(0, 3), ['東京', '都', 'の']);
  assert.throws(() => a.words('前\0後'), /NUL character/);
  a.close(); b.close();
});

test('damaged MeCab dictionaries: a clean one-line error or a correct run, never a crash (seeded)', (t) => {
  const d = join(tempDir(t), 'dic');
  mkdirSync(d);
  for (const f of readdirSync(IPADIC)) copyFileSync(join(IPADIC, f), join(d, f));
  const texts = readFileSync(join(SHARED_DIR, 'data/chabsa/test.tsv'), 'utf8').split('\n').slice(0, 200).map((l) => l.split('\t')[0]).join('\n') + '\n';
  writeFileSync(join(d, '..', 'in.txt'), texts);
  const rng = new Rng(20261130);
  const files = ['sys.dic', 'sys.dic', 'unk.dic', 'matrix.bin', 'char.bin'];
  const outcomes = { ok: 0, refused: 0 };
  for (let c = 0; c < CASES; c++) {
    const file = files[rng.int(files.length)]!;
    const orig = readFileSync(join(IPADIC, file));
    let b = Buffer.from(orig);
    const kind = ['flip', 'flip', 'flip', 'truncate', 'enlarge'][rng.int(5)]!;
    // flips in sys.dic land in its header, double array and tokens (the bulk is feature text)
    const span = file === 'sys.dic' ? Math.min(b.length, 72 + 8_000_000) : b.length;
    if (kind === 'flip') for (let i = 1 + rng.int(4); i > 0; i--) { const o = rng.int(span); b[o] = b[o]! ^ (1 << rng.int(8)); }
    else if (kind === 'truncate') b = b.subarray(0, rng.int(b.length));
    else b = Buffer.concat([b, Buffer.alloc(1 + rng.int(64), 0x41)]);
    writeFileSync(join(d, file), b);
    const r = spawnSync(BIN, ['tokenize', '--tokenizer', join(SHARED_DIR, 'models/tohoku-v1-vocab'), '--mecab-dic', d, '--input', join(d, '..', 'in.txt'), '--output', join(d, '..', 'out.jsonl')],
      { encoding: 'utf8', timeout: 60_000 });
    const what = `case ${c}: ${kind} ${file}`;
    assert.equal(r.signal, null, `${what}: killed by ${r.signal}`);
    if (r.status === 0) outcomes.ok++;
    else {
      outcomes.refused++;
      assert.equal(r.status, 1, `${what}: exit ${r.status}`);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, `${what}: ${r.stderr}`);
      assert.match(lines[0]!, /^ja-bert: .*dic.*: /, what);
    }
    copyFileSync(join(IPADIC, file), join(d, file));
  }
  // the classes the checks exist for are refused before MeCab sees them
  writeFileSync(join(d, 'sys.dic'), readFileSync(join(IPADIC, 'sys.dic')).subarray(0, 1000));
  assert.throws(() => checkDictionary(d), (e: Error) => e instanceof MecabError && /sys\.dic: damaged MeCab dictionary \(bad magic number or file size\)/.test(e.message));
  copyFileSync(join(IPADIC, 'sys.dic'), join(d, 'sys.dic'));
  writeFileSync(join(d, 'matrix.bin'), Buffer.concat([readFileSync(join(IPADIC, 'matrix.bin')), Buffer.alloc(2)]));
  assert.throws(() => checkDictionary(d), /matrix\.bin: damaged MeCab dictionary \(matrix\.bin declares/);
  assert.ok(outcomes.refused > 0, JSON.stringify(outcomes));
});
