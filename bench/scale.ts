/**
 * Ranking at scale (issue 16): retrieve-then-rerank against exhaustive scoring with the same head,
 * on N candidates, for a trained pair-head model (the dot head in docs/PERF.md).
 *
 * Candidates: real texts first, encoded by the model: those of --texts, then the lines of --corpus
 * (e.g. corpus/corpus.txt, Debian's Japanese documentation, one sentence a line; duplicates
 * dropped) up to N. Where there are not N real texts, synthetic ones fill the rest: each splices
 * two real texts chosen at random (seeded), the first half of text a's token rows, then rows of
 * text b, as many as a has (the real rows as int8 keeps them), plus Gaussian noise, σ = --noise × each row's RMS, per value. Without
 * --corpus the 1,565 link texts alone make the splices: each half then recurs in about 1,280 of a
 * million candidates, a far denser field of near-matches than a real corpus (the previous method,
 * kept as a stress case). The cache is written int8 as it is produced, so N × rows × width never
 * sits in memory, and the LanceDB index is built over its keys. Queries: the first --queries
 * distinct A texts of the eval split of --pairs. --work DIR keeps the cache, the index and the
 * exhaustive top 10 there, and a rerun reuses them (to measure the query side again).
 *
 * Reported:
 * - build times: cache and index;
 * - sizes;
 * - peak RSS;
 * - the exact keys' recall: the share of the exhaustive top 10 within the top K by best key over
 *   every key (no index), which separates what the keys lose from what the index's probing loses;
 * - per K (--k 100,200,500) and --nprobes: query latency end to end (encode A, LanceDB search, read
 *   and rerank K), the p50 of an untimed first pass over the queries (cold) and the p50/p99 of the
 *   timed second pass, and recall@10 against exhaustive scoring of all N by the same head.
 * Prints JSON lines and a one-line summary.
 *   node dist/bench/scale.js --model FT --texts honbun.json --pairs negaposi.json --n 100000 [--corpus corpus/corpus.txt --queries 20
 *     --k 100,200,500 --noise 0.3 --dir /tmp | --work DIR]
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  cacheHeaderFor, closeCache, encodeQuery, encodeTexts, loadScoringModel, readCache, readCorpusTexts, scoreAgainst, cachedReps, textHash, writeCacheStream,
} from '../src/cache/index.js';
import { parseArgs } from '../src/commands/args.js';
import { engineInfo, nativeKernels } from '../src/core/native.js';
import { quantizeRows } from '../src/core/quant.js';
import { Rng } from '../src/core/random.js';
import { loadData } from '../src/data/load.js';
import { entryKeys, queryKey, RetrieveRanker, writeIndex, type IndexType } from '../src/cache/retrieve.js';

const { flags } = parseArgs(process.argv.slice(2), { model: 'string', texts: 'string', pairs: 'string', corpus: 'string', work: 'string', nprobes: 'string', 'index-type': 'string', n: 'number', queries: 'number', k: 'string', noise: 'number', dir: 'string', keep: 'boolean' });
const model = flags.model as string, texts = flags.texts as string, pairs = flags.pairs as string;
if (!model || !texts || !pairs) { console.error('usage: node dist/bench/scale.js --model FT --texts F --pairs F --n 100000'); process.exit(2); }
const N = (flags.n as number | undefined) ?? 100000, Q = (flags.queries as number | undefined) ?? 20, noise = (flags.noise as number | undefined) ?? 0.3;
const Ks = ((flags.k as string | undefined) ?? '100,200,500').split(',').map(Number);
// --nprobes 10,20,40: partitions probed per search (default: the product's choice, 5 % of them, at least 8)
const indexType = ((flags['index-type'] as string | undefined) ?? 'ivf_flat') as IndexType;
const probeList: Array<number | undefined> = flags.nprobes ? (flags.nprobes as string).split(',').map(Number) : [undefined];
const K = nativeKernels(), info = engineInfo();
const m = loadScoringModel(model, K, 'auto');
// --work DIR: build there and keep it; a rerun with the same DIR, N and queries reuses the cache, index and exhaustive top 10
const work = flags.work as string | undefined;
const dir = work ?? mkdtempSync(join((flags.dir as string | undefined) ?? tmpdir(), 'jabert-scale-'));
if (work) mkdirSync(work, { recursive: true });
const cachePath = join(dir, 'scale.jabc'), indexPathDir = join(dir, 'index'), savedPath = join(dir, 'scale.json');
const emit = (o: Record<string, unknown>) => console.log(JSON.stringify({ bench: 'scale', isa: info.isa, threads: info.threads, head: m.pm.bert.cfg.pair_head!.type, n: N, ...o }));
const rss = () => process.resourceUsage().maxRSS / 1024;
interface Built { n: number; queries: string[]; top10: string[][]; bytes: number; indexS: number; exhaustiveMs: number }
/** 1–2: the candidates' int8 cache (an earlier run's in --work DIR is kept), its build figures */
function writeCandidates(): { bytes: number; encodeS: number | null; cacheS: number | null; real: number | null; links: number | null } {
  if (work && existsSync(cachePath)) { console.error(`reusing ${cachePath}`); return { bytes: statSync(cachePath).size, encodeS: null, cacheS: null, real: null, links: null }; }
  // 1. the real texts (--texts, then the lines of --corpus up to N), encoded, kept int8 in memory
  const real = readCorpusTexts(texts);
  const links = real.length;
  if (flags.corpus) {
    const seen = new Set(real.map((r) => r.text));
    readFileSync(flags.corpus as string, 'utf8').split('\n').forEach((line, ln) => {
      const t = line.trim();
      if (real.length < N && t.length > 0 && !seen.has(t)) { seen.add(t); real.push({ id: `corpus:${ln + 1}`, text: t }); }
    });
  }
  const W = m.pm.head.repWidth();
  let t0 = performance.now();
  const enc: Array<{ rows: number; q: Int8Array; scale: Float32Array }> = [];
  for (let s = 0; s < real.length; s += 1024) {
    for (const e of encodeTexts(m, real.slice(s, s + 1024).map((r) => r.text))) enc.push({ rows: e.rows, ...quantizeRows(e.data, e.rows, W) });
    if (s % 16384 === 0) console.error(`encoded ${s}/${real.length} real texts`);
  }
  const encodeS = (performance.now() - t0) / 1000;
  const realRow = (t: number, r: number, out: Float32Array, o: number) => { const e = enc[t]!, k = e.scale[r]!; for (let j = 0; j < W; j++) out[o + j] = e.q[r * W + j]! * k; };
  // 2. the cache: real entries, then synthetic ones from perturbed real rows, written int8 as produced
  const rng = new Rng(7), pick = new Rng(11);
  const mix = Array.from({ length: N }, (_, i) => (i < real.length ? [i, i] : [pick.int(real.length), pick.int(real.length)]) as [number, number]);
  const metas = mix.map(([a, b], i) => (i < real.length ? { id: real[i]!.id, text: real[i]!.text, hash: textHash(real[i]!.text), rows: enc[i]!.rows }
    : { id: `syn${i}`, text: `synthetic ${i} (${real[a]!.id} + ${real[b]!.id})`, hash: textHash(`syn${i}`), rows: enc[a]!.rows }));
  const buf = new Float32Array(m.pm.sideLength * W);
  const valuesOf = (i: number): Float32Array => {
    const [ia, ib] = mix[i]!, rows = enc[ia]!.rows, half = Math.ceil(rows / 2);
    const v = buf.subarray(0, rows * W);
    if (i < real.length) { for (let r = 0; r < rows; r++) realRow(i, r, v, r * W); return v; }
    for (let r = 0; r < rows; r++) {
      if (r < half) realRow(ia, r, v, r * W);
      else realRow(ib, (r - half) % enc[ib]!.rows, v, r * W);
      let ss = 0;
      for (let j = 0; j < W; j++) ss += v[r * W + j]! ** 2;
      const s = noise * Math.sqrt(ss / W);
      for (let j = 0; j < W; j++) v[r * W + j]! += s * rng.normal();
    }
    return v;
  };
  t0 = performance.now();
  const bytes = writeCacheStream(cachePath, { ...cacheHeaderFor(m, 'int8'), index: { kind: 'lancedb', path: indexPathDir } }, metas, valuesOf);
  return { bytes, encodeS, cacheS: (performance.now() - t0) / 1000, real: real.length, links };
}

async function build(): Promise<Built> {
  const { bytes, encodeS, cacheS, real, links } = writeCandidates();
  let cache = readCache(cachePath);
  let t0 = performance.now();
  const ix = await writeIndex(cache, indexPathDir, (l) => { if (/building/.test(l)) console.error(l); }, indexType);
  const indexS = (performance.now() - t0) / 1000;
  closeCache(cache);
  emit({ phase: 'build', encode_real_seconds: encodeS, real_texts: real, link_texts: links, cache_seconds: cacheS, cache_bytes: bytes, index_seconds: indexS, index_rows: ix.rows, index_keys: ix.keys, ann_index: ix.indexed, noise, peak_rss_mb: rss() });
  // 3. exhaustive top 10 for each query, all queries per chunk of decoded candidates
  const data = loadData({ texts, pairs }, 42);
  const queries = [...new Set(data.eval.map((e) => e.textA))].slice(0, Q);
  cache = readCache(cachePath, { inMemoryBytes: 0 });
  // copies: an encoded side's arrays are views into the model's workspace, which the next encoding reuses
  const sides = queries.map((q) => { const a = encodeQuery(m, q); return { ...a, x: a.x.slice(), mask: a.mask.slice(), pooled: a.pooled.slice() }; });
  const exact = queries.map(() => new Float32Array(N));
  // beside it, each text's best key similarity (the retriever's order, exact: no index), for the diagnostics below
  const D = m.pm.bert.cfg.hidden_size, perToken = cache.header.per_token;
  const qkeys = sides.map((a) => queryKey(perToken, a, D)), byKey = queries.map(() => new Float32Array(N));
  let keyMs = 0;
  t0 = performance.now();
  const CH = 2048;
  for (let s = 0; s < N; s += CH) {
    const rep = cachedReps(m, cache, cache.header.entries.slice(s, s + CH));
    sides.forEach((a, qi) => exact[qi]!.set(scoreAgainst(m, a, rep), s));
    const tk = performance.now();
    for (let p = 0; p < rep.P; p++) for (const k of entryKeys(cache, s + p)) qkeys.forEach((q, qi) => { let d = 0; for (let j = 0; j < k.length; j++) d += q[j]! * k[j]!; if (d > byKey[qi]![s + p]! || byKey[qi]![s + p] === 0) byKey[qi]![s + p] = d; });
    keyMs += performance.now() - tk;
  }
  const exhaustiveMs = (performance.now() - t0 - keyMs) / queries.length;
  closeCache(cache);
  const order = (sc: Float32Array) => Array.from(sc.keys()).sort((x, y) => sc[y]! - sc[x]! || x - y);
  const top10idx = exact.map((sc) => order(sc).slice(0, 10));
  const ids = readCache(cachePath, { inMemoryBytes: 0 }), top10 = top10idx.map((t) => new Set(t.map((i) => ids.header.entries[i]!.id)));
  closeCache(ids);
  // where the exhaustive top 10 sit in the exact key order: recall of the exact key top K (what an exact index would give)
  const keyRanks = byKey.map((sc, qi) => { const o = order(sc), pos = new Map(o.map((i, r) => [i, r])); return top10idx[qi]!.map((i) => pos.get(i)!); });
  const keyRecall = Object.fromEntries([...Ks, 1000, 2000, 5000].map((k) => [`k${k}`, keyRanks.reduce((s, r) => s + r.filter((x) => x < k).length / 10, 0) / queries.length]));
  emit({ phase: 'exhaustive', queries: queries.length, exhaustive_ms_per_query: exhaustiveMs, exact_key_recall_at_10: keyRecall, key_ranks: keyRanks, peak_rss_mb: rss() });
  const built: Built = { n: N, queries, top10: top10.map((t) => [...t]), bytes, indexS, exhaustiveMs };
  writeFileSync(savedPath, JSON.stringify(built));
  return built;
}

try {
  const saved = existsSync(savedPath) ? JSON.parse(readFileSync(savedPath, 'utf8')) as Built : null;
  const reuse = saved && saved.n === N && saved.queries.length === Q ? saved : null;
  if (reuse) console.error(`reusing ${dir}: the cache, index and exhaustive top 10 of an earlier run`);
  const { queries, bytes, exhaustiveMs } = reuse ?? await build();
  let { indexS } = reuse ?? JSON.parse(readFileSync(savedPath, 'utf8')) as Built;
  const top10 = (reuse ?? JSON.parse(readFileSync(savedPath, 'utf8')) as Built).top10.map((t) => new Set(t));
  // 4. retrieve-then-rerank, end to end as rank runs it; an earlier run's index that no longer fits the keys (another key scheme) is rebuilt
  const load = () => RetrieveRanker.load({ model, cache: cachePath, kernels: K, chunked: true });
  let rr: RetrieveRanker | null = null;
  try {
    rr = await load();
    if (rr.indexType !== indexType) throw new Error(`the index is ${rr.indexType}, --index-type ${indexType} asked for`);
  } catch (e) {
    if (!reuse) throw e;
    rr?.close();
    console.error(`rebuilding the index: ${(e as Error).message}`);
    const c = readCache(cachePath), t0 = performance.now();
    const ix = await writeIndex(c, indexPathDir, (l) => { if (/building/.test(l)) console.error(l); }, indexType);
    indexS = (performance.now() - t0) / 1000;
    closeCache(c);
    emit({ phase: 'index', index_type: indexType, index_seconds: indexS, index_rows: ix.rows, index_keys: ix.keys, ann_index: ix.indexed, peak_rss_mb: rss() });
    rr = await load();
  }
  const summary: string[] = [];
  for (const nprobes of probeList) for (const k of Ks) {
    // an untimed pass first (the index's partitions and the candidates' pages come into memory): its p50 is the cold latency
    const cold: number[] = [];
    for (const q of queries) { const t = performance.now(); await rr.rank({ text: q, top: 10, retrieve: k, nprobes }); cold.push(performance.now() - t); }
    const lat: number[] = [], search: number[] = [], rerank: number[] = [];
    let recall = 0;
    for (const [qi, q] of queries.entries()) {
      const t = performance.now();
      const r = await rr.rank({ text: q, top: 10, retrieve: k, nprobes });
      lat.push(performance.now() - t);
      search.push(r.retrieveMs); rerank.push(r.scoreMs);
      recall += r.results.filter((x) => top10[qi]!.has(x.id)).length / 10;
    }
    lat.sort((a, b) => a - b);
    const p = (f: number) => lat[Math.min(lat.length - 1, Math.floor(f * lat.length))]!;
    const med = (a: number[]) => a.sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
    const row = { phase: 'retrieve', k, nprobes: nprobes ?? 'default', queries: queries.length, cold_p50_ms: med(cold), p50_ms: p(0.5), p99_ms: p(0.99), search_p50_ms: med(search), read_rerank_p50_ms: med(rerank), recall_at_10: recall / queries.length, peak_rss_mb: rss() };
    emit(row);
    summary.push(`K ${k}${nprobes ? ` nprobes ${nprobes}` : ''}: p50 ${row.p50_ms.toFixed(0)} ms, p99 ${row.p99_ms.toFixed(0)} ms, recall@10 ${row.recall_at_10.toFixed(3)}`);
  }
  rr.close();
  console.log(`scale bench (${info.isa}, ${m.pm.bert.cfg.pair_head!.type} head, ${N} candidates, int8 cache ${(bytes / 1e9).toFixed(2)} GB, index ${indexS.toFixed(0)} s, exhaustive ${exhaustiveMs.toFixed(0)} ms/query): ${summary.join('; ')}`);
} finally {
  if (!flags.keep && !work) rmSync(dir, { recursive: true, force: true });
}
