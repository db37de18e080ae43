/**
 * Compact caches (issue 16): one pair-head model's cache stored as f32, bf16 and int8,
 * compared on what the storage changes. Reported for each storage:
 * - size: file bytes and representation bytes;
 * - eval accuracy: each eval pair's A scored against its B's cached representation, P(1) ≥ 0.5;
 * - ranking: recall@10 and MRR on the eval split, as compare computes them;
 * - agreement with f32: the share of the f32 cache's top 10 that each storage's top 10 keeps;
 * - timing: the warm and chunked rank time of one query against all cached texts.
 * Prints one JSON line per storage, then a one-line summary.
 *   node dist/bench/cache.js --model FT --texts honbun_data.json --pairs negaposi.json [--eval-ratio 0.333 --seed 42]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeCache, cacheDataBytes, cachedReps, closeCache, encodeQuery, loadScoringModel, Ranker, readCache, scoreAgainst } from '../src/cache/index.js';
import { parseArgs } from '../src/commands/args.js';
import { rankingMetrics } from '../src/compare.js';
import { engineInfo, nativeKernels } from '../src/core/native.js';
import { loadData } from '../src/data/load.js';

const { flags } = parseArgs(process.argv.slice(2), { model: 'string', texts: 'string', pairs: 'string', 'eval-ratio': 'number', seed: 'number' });
const model = flags.model as string, texts = flags.texts as string, pairs = flags.pairs as string;
if (!model || !texts || !pairs) { console.error('usage: node dist/bench/cache.js --model FT --texts F --pairs F'); process.exit(2); }
const K = nativeKernels(), info = engineInfo();
const data = loadData({ texts, pairs, evalRatio: flags['eval-ratio'] as number | undefined }, (flags.seed as number | undefined) ?? 42);
const m = loadScoringModel(model, K, 'auto');
const dir = mkdtempSync(join(tmpdir(), 'jabert-bench-cache-'));
const rows: Array<Record<string, number | string>> = [];
let refTops: Map<string, number[]> | null = null;
try {
  for (const storage of ['f32', 'bf16', 'int8'] as const) {
    const path = join(dir, `${storage}.jabc`);
    const b = encodeCache({ model, texts, cache: path, kernels: K, cacheDtype: storage });
    const cache = readCache(path);
    const byText = new Map(cache.header.entries.map((e) => [e.text, e]));
    let correct = 0;
    for (const e of data.eval) {
      const p = scoreAgainst(m, encodeQuery(m, e.textA), cachedReps(m, cache, [byText.get(e.textB!)!]))[0]!;
      if ((p >= 0.5 ? '1' : '0') === e.label) correct++;
    }
    const tops = new Map<string, number[]>();
    const rk = rankingMetrics(m, cache, data.eval, tops);
    if (!refTops) refTops = tops;
    let agree = 0;
    for (const [q, t] of tops) { const ref = new Set(refTops.get(q)); agree += t.filter((x) => ref.has(x)).length / ref.size; }
    const timeRank = (chunked: boolean) => {
      const r = Ranker.load({ model, cache: path, kernels: K, chunked });
      const id = cache.header.entries[0]!.id;
      r.rank({ id });
      const t0 = performance.now();
      for (let k = 0; k < 5; k++) r.rank({ id });
      r.close();
      return (performance.now() - t0) / 5;
    };
    const row = {
      storage, texts: cache.header.entries.length, file_bytes: cache.bytes, data_bytes: cacheDataBytes(cache), build_seconds: b.seconds,
      eval_accuracy: correct / data.eval.length, recall_at_10: rk.recall_at_10, mrr: rk.mrr, top10_agreement_with_f32: agree / tops.size,
      rank_warm_ms: timeRank(false), rank_chunked_ms: timeRank(true),
    };
    closeCache(cache);
    rows.push(row);
    console.log(JSON.stringify({ bench: 'cache', isa: info.isa, threads: info.threads, model_dtype: m.dtype, head: m.pm.bert.cfg.pair_head!.type, ...row }));
  }
  const f = rows[0]!;
  console.log(`cache storage bench (${info.isa}, ${m.pm.bert.cfg.pair_head!.type} head, ${f.texts} texts): ` + rows.map((r) =>
    `${r.storage} ${(Number(r.data_bytes) / 1e6).toFixed(1)} MB (${(100 * Number(r.data_bytes) / Number(f.data_bytes)).toFixed(1)} %), accuracy ${Number(r.eval_accuracy).toFixed(4)}, recall@10 ${Number(r.recall_at_10).toFixed(3)}, top-10 agreement ${Number(r.top10_agreement_with_f32).toFixed(3)}`).join('; '));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
