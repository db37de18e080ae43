/**
 * Ranking at scale (issue 16): retrieve-then-rerank against exhaustive scoring with the same head,
 * on N candidates, for a trained pair-head model (the dot head in docs/PERF.md).
 *
 * Candidates: the real texts of --texts, encoded by the model, plus synthetic ones up to N. A
 * synthetic candidate splices two real texts chosen at random (seeded): the first half of text a's
 * cached token rows, then rows of text b, as many as a has, then Gaussian noise, σ = --noise × each
 * row's RMS, per value. With n real texts there are n² such pairs, so a million candidates are
 * distinct texts, not hundreds of noisy copies of each real one (which no one-vector key can
 * tell apart: the first version of this benchmark did that, docs/PERF.md). The cache is written
 * int8 as it is produced, so N × rows × width never sits in memory, and the LanceDB index is built
 * over its keys. Queries: the first --queries distinct A texts of the eval split of --pairs.
 *
 * Reported:
 * - build times: cache and index;
 * - sizes;
 * - peak RSS;
 * - per K (--k 100,200,500): query latency p50/p99 end to end (encode A, LanceDB search, read and
 *   rerank K) and recall@10 against exhaustive scoring of all N by the same head.
 * Prints JSON lines and a one-line summary.
 *   node dist/bench/scale.js --model FT --texts honbun.json --pairs negaposi.json --n 100000 [--queries 20 --k 100,200,500 --noise 0.3 --dir /tmp]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  cacheHeaderFor, closeCache, encodeQuery, encodeTexts, loadScoringModel, readCache, readCorpusTexts, scoreAgainst, cachedReps, textHash, writeCacheStream,
} from '../src/cache.js';
import { parseArgs } from '../src/cli/args.js';
import { engineInfo, nativeKernels } from '../src/core/native.js';
import { Rng } from '../src/core/random.js';
import { loadData } from '../src/data/load.js';
import { RetrieveRanker, writeIndex } from '../src/retrieve.js';

const { flags } = parseArgs(process.argv.slice(2), { model: 'string', texts: 'string', pairs: 'string', n: 'number', queries: 'number', k: 'string', noise: 'number', dir: 'string', keep: 'boolean' });
const model = flags.model as string, texts = flags.texts as string, pairs = flags.pairs as string;
if (!model || !texts || !pairs) { console.error('usage: node dist/bench/scale.js --model FT --texts F --pairs F --n 100000'); process.exit(2); }
const N = (flags.n as number | undefined) ?? 100000, Q = (flags.queries as number | undefined) ?? 20, noise = (flags.noise as number | undefined) ?? 0.3;
const Ks = ((flags.k as string | undefined) ?? '100,200,500').split(',').map(Number);
const K = nativeKernels(), info = engineInfo();
const m = loadScoringModel(model, K, K.autoDtype);
const bf16 = m.dtype === 'bf16' ? K : null;
const dir = mkdtempSync(join((flags.dir as string | undefined) ?? tmpdir(), 'jabert-scale-'));
const emit = (o: Record<string, unknown>) => console.log(JSON.stringify({ bench: 'scale', isa: info.isa, threads: info.threads, head: m.pm.bert.cfg.pair_head!.type, n: N, ...o }));
const rss = () => process.resourceUsage().maxRSS / 1024;
try {
  // 1. the real texts, encoded
  const real = readCorpusTexts(texts);
  let t0 = performance.now();
  const enc = encodeTexts(m, real.map((r) => r.text));
  const encodeS = (performance.now() - t0) / 1000;
  const W = m.pm.head.repWidth();
  // 2. the cache: real entries, then synthetic ones from perturbed real rows, written int8 as produced
  const rng = new Rng(7), pick = new Rng(11);
  const mix = Array.from({ length: N }, (_, i) => (i < real.length ? [i, i] : [pick.int(real.length), pick.int(real.length)]) as [number, number]);
  const metas = mix.map(([a, b], i) => (i < real.length ? { id: real[i]!.id, text: real[i]!.text, hash: textHash(real[i]!.text), rows: enc[i]!.rows }
    : { id: `syn${i}`, text: `synthetic ${i} (${real[a]!.id} + ${real[b]!.id})`, hash: textHash(`syn${i}`), rows: enc[a]!.rows }));
  const buf = new Float32Array(m.pm.sideLength * W);
  const valuesOf = (i: number): Float32Array => {
    if (i < real.length) return enc[i]!.data;
    const [ia, ib] = mix[i]!, A = enc[ia]!, B = enc[ib]!, rows = A.rows, half = Math.ceil(rows / 2);
    const v = buf.subarray(0, rows * W);
    for (let r = 0; r < rows; r++) {
      const src = r < half ? A.data : B.data, sr = r < half ? r : (r - half) % B.rows;
      let ss = 0;
      for (let j = 0; j < W; j++) ss += src[sr * W + j]! ** 2;
      const s = noise * Math.sqrt(ss / W);
      for (let j = 0; j < W; j++) v[r * W + j] = src[sr * W + j]! + s * rng.normal();
    }
    return v;
  };
  const cachePath = join(dir, 'scale.jabc'), indexPathDir = join(dir, 'index');
  t0 = performance.now();
  const bytes = writeCacheStream(cachePath, { ...cacheHeaderFor(m, 'int8'), index: { kind: 'lancedb', path: indexPathDir } }, metas, valuesOf);
  const cacheS = (performance.now() - t0) / 1000;
  let cache = readCache(cachePath);
  t0 = performance.now();
  const ix = await writeIndex(cache, indexPathDir, (l) => { if (/building/.test(l)) console.error(l); });
  const indexS = (performance.now() - t0) / 1000;
  closeCache(cache);
  emit({ phase: 'build', encode_real_seconds: encodeS, real_texts: real.length, cache_seconds: cacheS, cache_bytes: bytes, index_seconds: indexS, index_rows: ix.rows, index_keys: ix.keys, ann_index: ix.indexed, noise, peak_rss_mb: rss() });
  // 3. exhaustive top 10 for each query, all queries per chunk of decoded candidates
  const data = loadData({ texts, pairs }, 42);
  const queries = [...new Set(data.eval.map((e) => e.textA))].slice(0, Q);
  cache = readCache(cachePath, { inMemoryBytes: 0 });
  // copies: an encoded side's arrays are views into the model's workspace, which the next encoding reuses
  const sides = queries.map((q) => { const a = encodeQuery(m, q); return { ...a, x: a.x.slice(), mask: a.mask.slice(), pooled: a.pooled.slice() }; });
  const exact = queries.map(() => new Float32Array(N));
  t0 = performance.now();
  const CH = 2048;
  for (let s = 0; s < N; s += CH) {
    const rep = cachedReps(cache, cache.header.entries.slice(s, s + CH), m.pm.sideLength, bf16);
    sides.forEach((a, qi) => exact[qi]!.set(scoreAgainst(m, a, rep), s));
  }
  const exhaustiveMs = (performance.now() - t0) / queries.length;
  closeCache(cache);
  const top10 = exact.map((sc) => new Set(Array.from(sc.keys()).sort((x, y) => sc[y]! - sc[x]! || x - y).slice(0, 10).map((i) => metas[i]!.id)));
  emit({ phase: 'exhaustive', queries: queries.length, exhaustive_ms_per_query: exhaustiveMs, peak_rss_mb: rss() });
  // 4. retrieve-then-rerank, end to end as rank runs it
  const rr = await RetrieveRanker.load({ model, cache: cachePath, kernels: K, chunked: true });
  const summary: string[] = [];
  for (const k of Ks) {
    await rr.rank({ text: queries[0]!, top: 10, retrieve: k }); // warm-up
    const lat: number[] = [], search: number[] = [], rerank: number[] = [];
    let recall = 0;
    for (const [qi, q] of queries.entries()) {
      const t = performance.now();
      const r = await rr.rank({ text: q, top: 10, retrieve: k });
      lat.push(performance.now() - t);
      search.push(r.retrieveMs); rerank.push(r.scoreMs);
      recall += r.results.filter((x) => top10[qi]!.has(x.id)).length / 10;
    }
    lat.sort((a, b) => a - b);
    const p = (f: number) => lat[Math.min(lat.length - 1, Math.floor(f * lat.length))]!;
    const med = (a: number[]) => a.sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
    const row = { phase: 'retrieve', k, queries: queries.length, p50_ms: p(0.5), p99_ms: p(0.99), search_p50_ms: med(search), read_rerank_p50_ms: med(rerank), recall_at_10: recall / queries.length, peak_rss_mb: rss() };
    emit(row);
    summary.push(`K ${k}: p50 ${row.p50_ms.toFixed(0)} ms, p99 ${row.p99_ms.toFixed(0)} ms, recall@10 ${row.recall_at_10.toFixed(3)}`);
  }
  rr.close();
  console.log(`scale bench (${info.isa}, ${m.pm.bert.cfg.pair_head!.type} head, ${N} candidates, int8 cache ${(bytes / 1e9).toFixed(2)} GB, index ${indexS.toFixed(0)} s, exhaustive ${exhaustiveMs.toFixed(0)} ms/query): ${summary.join('; ')}`);
} finally {
  if (!flags.keep) rmSync(dir, { recursive: true, force: true });
}
