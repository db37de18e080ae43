// Pair encoding and truncation as run_classifier does them; text lines in encode.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nativeKernels } from '../src/core/native.js';
import { saveBert } from '../src/model/load.js';
import { Bert } from '../src/model/bert.js';
import { makeConfig } from '../src/model/config.js';
import { loadTokenizer } from '../src/tokenize/index.js';
import { InputBuilder, padBatch, truncateSeqPair } from '../src/tokenize/inputs.js';
import { tempDir } from './helpers.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const WIKI = join(ROOT, 'test/fixtures/shared/models/wiki-ja-albert-spm/wiki-ja_albert.model');

test('_truncate_seq_pair: pop from the longer side, from b when equal', () => {
  const cases: Array<[number[], number[], number, number[], number[]]> = [
    [[1, 2, 3, 4, 5], [6, 7, 8], 6, [1, 2, 3], [6, 7, 8]],
    [[1, 2, 3], [4, 5, 6], 4, [1, 2], [4, 5]],
    [[1, 2], [3, 4, 5, 6, 7], 3, [1, 2], [3]],
    [[1], [2], 5, [1], [2]],
    [[], [1, 2, 3], 1, [], [1]],
  ];
  for (const [a, b, max, wa, wb] of cases) {
    const x = a.slice(), y = b.slice();
    truncateSeqPair(x, y, max);
    assert.deepEqual([x, y], [wa, wb], `${a} | ${b} max ${max}`);
  }
});

test('features match run_classifier convert_single_example (Python reference over the same token ids)', () => {
  const tok = loadTokenizer(WIKI, { lowercase: true });
  const lines = readFileSync(join(ROOT, 'test/fixtures/shared/data/chabsa/train.tsv'), 'utf8').split('\n').slice(0, 120).map((l) => l.split('\t')[0]!).filter(Boolean);
  const pairs = lines.slice(0, 60).map((a, i) => [a, i % 3 === 0 ? null : lines[60 + i]!] as const);
  for (const max of [8, 32, 128]) {
    const b = new InputBuilder(tok, max);
    const ours = pairs.map(([x, y]) => b.features(x, y ?? undefined));
    const [cls, sep] = b.framing.single.flatMap((x) => ('special' in x ? x.ids : []));
    const payload = { cls, sep, max, pairs: pairs.map(([x, y]) => [tok.encode(x).ids, y === null ? null : tok.encode(y).ids]) };
    const py = `
import json, sys
d = json.load(sys.stdin)
def _truncate_seq_pair(tokens_a, tokens_b, max_length):
    while True:
        total_length = len(tokens_a) + len(tokens_b)
        if total_length <= max_length:
            break
        if len(tokens_a) > len(tokens_b):
            tokens_a.pop()
        else:
            tokens_b.pop()
out = []
for a, b in d["pairs"]:
    if b is not None:
        _truncate_seq_pair(a, b, d["max"] - 3)
    elif len(a) > d["max"] - 2:
        a = a[0:(d["max"] - 2)]
    ids = [d["cls"]] + a + [d["sep"]]
    seg = [0] * len(ids)
    if b is not None:
        ids += b + [d["sep"]]
        seg += [1] * (len(b) + 1)
    out.append([ids, seg])
print(json.dumps(out))`;
    const want = JSON.parse(execFileSync('/usr/bin/python3', ['-c', py], { input: JSON.stringify(payload) }).toString()) as Array<[number[], number[]]>;
    ours.forEach((f, i) => {
      assert.deepEqual(f.inputIds, want[i]![0], `pair ${i} max ${max}`);
      assert.deepEqual(f.tokenTypeIds, want[i]![1]);
      assert.ok(f.inputIds.length <= max);
    });
  }
});

test('batches pad to their longest row with the pad id and mask', () => {
  const b = padBatch([{ inputIds: [2, 5, 3], tokenTypeIds: [0, 0, 0] }, { inputIds: [2, 3], tokenTypeIds: [0, 0] }], 0);
  assert.equal(b.S, 3);
  assert.deepEqual(Array.from(b.inputIds), [2, 5, 3, 2, 3, 0]);
  assert.deepEqual(Array.from(b.attentionMask), [1, 1, 1, 1, 1, 0]);
});

test('encode: text and text_b lines equal their pre-tokenized form', (t) => {
  const d = tempDir(t);
  const tok = loadTokenizer(WIKI);
  const cfg = makeConfig({ vocab_size: tok.vocabSize, hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 32, max_position_embeddings: 64, labels: ['0', '1'] });
  saveBert(new Bert(cfg, { kernels: nativeKernels(), seed: 9 }), d);
  copyFileSync(WIKI, join(d, 'spiece.model'));
  const b = new InputBuilder(tok, 24);
  const a = 'ソフトウェアの設定ファイルを読み込む', bb = '日本語の文章を単語に分割して数える処理です';
  const f1 = b.features(a, bb), f2 = b.features(a);
  writeFileSync(join(d, 'in.jsonl'), [JSON.stringify({ text: a, text_b: bb }), JSON.stringify({ text: a }),
    JSON.stringify({ input_ids: f1.inputIds, token_type_ids: f1.tokenTypeIds }), JSON.stringify({ input_ids: f2.inputIds })].join('\n') + '\n');
  const r = spawnSync(join(ROOT, 'bin/ja-bert'), ['encode', '--model', d, '--input', join(d, 'in.jsonl'), '--output', join(d, 'out.jsonl'), '--max-seq-length', '24'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const out = readFileSync(join(d, 'out.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { logits: number[] });
  const close = (x: number[], y: number[]) => x.every((v, i) => Math.abs(v - y[i]!) <= 1e-5 * Math.max(1, Math.abs(y[i]!)));
  assert.ok(close(out[0]!.logits, out[2]!.logits), 'pair text = pair ids');
  assert.ok(close(out[1]!.logits, out[3]!.logits), 'single text = single ids');
  assert.ok(!close(out[0]!.logits, out[1]!.logits), 'text_b changes the result');
});
