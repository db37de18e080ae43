// compare's retrieval metrics for the cached heads (recall@10, MRR on the eval
// split), checked against the same ranking computed through the Classifier
// (pairs scored without the cache).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Classifier, closeEngine, compare } from '../src/index.js';
import { loadData } from '../src/data/load.js';
import { tinySetup } from './helpers.js';

let dir = '';
after(async () => { await closeEngine(); if (dir) rmSync(dir, { recursive: true, force: true }); });

test('compare reports recall@10 and MRR for every cached head, the contrastive bi-encoder included (none for the cross-encoder), equal to a ranking by the uncached scorer', async () => {
  dir = mkdtempSync(join(tmpdir(), 'jabert-rank-'));
  const t = tinySetup(dir, { seed: 10, from: 800, to: 890 });
  const out = join(dir, 'cmp');
  const rows = await compare({ model: t.model, texts: t.texts, pairs: t.pairs, output: out, heads: ['cross', 'dot', 'bi+contrastive'], maxSteps: 3, batchSize: 8,
    maxSeqLength: 32, learningRate: 1e-3, dtype: 'f32', timingPairs: 5 });
  const cross = rows.find((r) => r.head === 'cross')!;
  assert.equal(cross.recall_at_10, null);
  assert.match(readFileSync(join(out, 'compare.md'), 'utf8'), /\| recall@10 \| MRR \|/);
  // the same queries and candidates, scored pair by pair through the Classifier
  const data = loadData({ texts: t.texts, pairs: t.pairs }, 42);
  const cands = [...new Set(data.eval.map((e) => e.textB!))];
  const queries = new Map<string, Set<string>>();
  for (const e of data.eval) if (e.label === '1') { if (!queries.has(e.textA)) queries.set(e.textA, new Set()); queries.get(e.textA)!.add(e.textB!); }
  // dot: an attention head; bi+contrastive: the bi-encoder trained with in-batch negatives, ranked by its cosine
  for (const head of ['dot', 'bi+contrastive']) {
    const row = rows.find((r) => r.head === head)!;
    assert.ok(row.ranking_queries > 0);
    assert.ok(row.recall_at_10! >= 0 && row.recall_at_10! <= 1 && row.mrr! > 0 && row.mrr! <= 1);
    const clf = await Classifier.load(join(out, head), { dtype: 'f32' });
    let recall = 0, mrr = 0;
    for (const [a, pos] of queries) {
      const res = await clf.classify(cands.map((b) => ({ text: a, textB: b })));
      const order = cands.map((b, i) => ({ b, s: res[i]!.probabilities['1']! })).map((x, i) => ({ ...x, i })).sort((x, y) => y.s - x.s || x.i - y.i);
      const ranks = order.flatMap((x, r) => (pos.has(x.b) ? [r + 1] : []));
      recall += ranks.filter((r) => r <= 10).length / pos.size;
      mrr += 1 / ranks[0]!;
    }
    await clf.close();
    assert.equal(row.ranking_queries, queries.size);
    assert.ok(Math.abs(row.recall_at_10! - recall / queries.size) < 1e-9, `${head}: recall ${row.recall_at_10} vs ${recall / queries.size}`);
    assert.ok(Math.abs(row.mrr! - mrr / queries.size) < 1e-6, `${head}: mrr ${row.mrr} vs ${mrr / queries.size}`);
  }
});
