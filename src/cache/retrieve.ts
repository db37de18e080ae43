/**
 * Retrieve, then rerank (issue 16): an approximate-nearest-neighbour index in
 * LanceDB over one key vector per cached text, and `rank` that takes the top K
 * from the index and scores only those with the pair head's full scorer from
 * the (compact) cache.
 *
 * The keys are derived from what the head compares, with nothing trained for them:
 *   per-token heads (dot, additive): the L2-normalised mean of each run of 8 of
 *     B's cached token rows (up to 8 keys for a 64-token side); the query is the
 *     normalised mean of A's token vectors. A text is retrieved at its best key:
 *     the dot head's attention lets A match part of B, which one mean over all of
 *     B dilutes. On the man-page links (1,565 texts) a single whole-text mean
 *     already finds the dot head's exhaustive top 10 with recall 0.953 in its
 *     top 20. Among a million texts where a relevant half follows an unrelated
 *     one, though, 16-row runs kept 0.93 of the exhaustive top 10 even in their
 *     top 2,000 (the run mixes both halves), and 8-row runs 1.000 in their top
 *     100 (docs/PERF.md).
 *   one-vector heads (bi, cosine, poly): the normalised cached v, against A's
 *     normalised pooled vector.
 * lowrank and late compare projections that A's side does not expose here:
 * they are refused.
 *
 * The index is a LanceDB table (`ja_bert_keys`: i, id, vector; one row per key) in a folder
 * the cache names (header.index); it is written beside the target and renamed
 * into place. The stored vectors are the keys minus their mean: for a given
 * query, q·(k − μ) orders the texts exactly as q·k, and the centred vectors
 * spread around the origin, which the index's partitions need (the keys of
 * BERT's mean-pooled sides all point nearly the same way). Up to 4,096 keys
 * LanceDB searches them exhaustively; beyond, an IVF-flat index with √n
 * partitions (dot product), of which a query probes 5 % (at least 8). LanceDB's
 * IVF-HNSW-SQ kept only 0.80 of the exact top 100 on these keys, IVF-flat and
 * IVF-PQ with refinement 1.00 (docs/PERF.md).
 */
import { existsSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import * as lancedb from '@lancedb/lancedb';
import type { Kernels } from '../core/kernels.js';
import type { DTypeOption } from '../core/dtype.js';
import { choiceOption, intOption, OptionError } from '../core/options.js';
import { auxWidth, type Side } from '../model/heads/index.js';
import { CacheError, resolveIndexPath, checkIndexTarget, isIndexFolder, INDEX_MARKER, INDEX_TABLE, closeCache, entryValues, readCache, type Cache } from './format.js';
import { rankQuery, type RankResult } from './rank.js';
import { cachedReps, checkCacheFor, encodeQuery, loadScoringModel, scoreAgainst, type ScoringModel } from './scoring.js';

export { INDEX_TABLE, INDEX_MARKER, checkIndexTarget, isIndexFolder };
/** candidates retrieved per query when none is asked for (rank --retrieve, serve --retrieve, PairScorer) */
export const DEFAULT_RETRIEVE = 200;
const partitions = (n: number): number => Math.ceil(Math.sqrt(n));
/** partitions a query probes: 5 %, at least 8 */
const probes = (n: number): number => Math.max(8, Math.ceil(0.05 * partitions(n)));

/** lancedb://PATH → PATH (absolute) */
export function indexPath(uri: string): string {
  const m = /^lancedb:\/\/(.+)$/.exec(uri);
  if (!m) throw new OptionError(`--index must be lancedb://PATH, got ${JSON.stringify(uri)}`);
  return resolve(m[1]!);
}

const normalise = (v: Float32Array): Float32Array => {
  let s = 0;
  for (const x of v) s += x * x;
  const n = Math.sqrt(s);
  if (n > 0) for (let d = 0; d < v.length; d++) v[d]! /= n;
  return v;
};

/** token rows per key: a text of up to 64 rows has up to 8 keys */
export const KEY_ROWS = 8;

/** a cached text's keys (see the module comment): one per run of KEY_ROWS token rows, or its one vector */
export function entryKeys(cache: Cache, i: number): Float32Array[] {
  const e = cache.header.entries[i]!, v = entryValues(cache, e);
  if (!cache.header.per_token) return [normalise(v.slice(0, cache.header.width))];
  const D = cache.header.width - auxWidth(cache.header.head), keys: Float32Array[] = [];
  for (let r0 = 0; r0 < e.rows; r0 += KEY_ROWS) {
    const out = new Float32Array(D);
    for (let r = r0; r < Math.min(e.rows, r0 + KEY_ROWS); r++) for (let d = 0; d < D; d++) out[d]! += v[r * D + d]!;
    keys.push(normalise(out));
  }
  return keys;
}

/** A's key: the normalised mean of its real token vectors (per-token heads), or of its pooled vector */
export function queryKey(perToken: boolean, a: Side, D: number): Float32Array {
  if (!perToken) return normalise(a.pooled.slice(0, D));
  const out = new Float32Array(D);
  for (let i = 0; i < a.S; i++) if (a.mask[i]) for (let d = 0; d < D; d++) out[d]! += a.x[i * D + d]!;
  return normalise(out);
}

/**
 * the ANN index LanceDB builds over the keys (beyond 4,096 of them):
 *   ivf_flat: √keys partitions of the keys themselves (the default: exact within the partitions probed);
 *   ivf_pq: the same partitions, each key product-quantised to D/8 bytes (8 dimensions a byte),
 *     the search's candidates re-scored on the stored keys (refine ×PQ_REFINE); a far smaller
 *     index for corpora whose keys do not fit in memory.
 */
export const INDEX_TYPES = ['ivf_flat', 'ivf_pq'] as const;
export type IndexType = (typeof INDEX_TYPES)[number];
/** ivf_pq: how many times the asked-for keys are fetched from the quantised index and re-scored exactly */
export const PQ_REFINE = 4;

function indexConfig(type: IndexType, keys: number, dim: number): lancedb.Index {
  if (type === 'ivf_pq') {
    const sub = dim % 8 === 0 ? dim / 8 : dim % 4 === 0 ? dim / 4 : dim;
    return lancedb.Index.ivfPq({ distanceType: 'dot', numPartitions: partitions(keys), numSubVectors: sub, numBits: 8 });
  }
  return lancedb.Index.ivfFlat({ distanceType: 'dot', numPartitions: partitions(keys) });
}

/** write the index for a cache (every entry's key) into `path`, replacing what is there */
export async function writeIndex(cache: Cache, path: string, log?: (l: string) => void, type: IndexType = 'ivf_flat'): Promise<{ rows: number; keys: number; indexed: boolean; type: IndexType | null; seconds: number }> {
  choiceOption('index-type', type, INDEX_TYPES, 'ivf_flat');
  const t0 = Date.now();
  const n = cache.header.entries.length;
  if (n === 0) throw new CacheError(`${cache.path}: no texts to index`);
  checkIndexTarget(path, { cache: cache.path });
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  try {
    const db = await lancedb.connect(tmp);
    // the keys' mean (a first pass), then the centred keys in batches, so a large cache's keys never all sit in memory as JS arrays
    let sum: Float64Array | null = null, total = 0;
    for (let i = 0; i < n; i++) for (const k of entryKeys(cache, i)) { sum ??= new Float64Array(k.length); for (let d = 0; d < k.length; d++) sum[d]! += k[d]!; total++; }
    const mu = sum!.map((x) => x / total);
    const B = 20000;
    let table: lancedb.Table | null = null;
    for (let s = 0; s < n; s += B) {
      const rows = [];
      for (let i = s; i < Math.min(n, s + B); i++) for (const k of entryKeys(cache, i)) rows.push({ i, id: cache.header.entries[i]!.id, vector: Array.from(k, (x, d) => x - mu[d]!) });
      if (!table) table = await db.createTable(INDEX_TABLE, rows);
      else await table.add(rows);
      log?.(`index: ${Math.min(n, s + B)}/${n} keys`);
    }
    const indexed = total > 4096;
    if (indexed) {
      log?.(`index: building ${type === 'ivf_pq' ? 'IVF-PQ' : 'IVF-flat'} (dot product, ${partitions(total)} partitions over ${total} keys)`);
      await table!.createIndex('vector', { config: indexConfig(type, total, mu.length) });
    }
    table!.close();
    db.close();
    writeFileSync(join(tmp, INDEX_MARKER), JSON.stringify({ ja_bert_index: 1, table: INDEX_TABLE }) + '\n');
    // replaced only when it is an index ja-bert wrote (or an empty folder), checked again now
    checkIndexTarget(path, { cache: cache.path });
    if (existsSync(path)) rmSync(path, { recursive: true, force: true });
    renameSync(tmp, path);
    return { rows: n, keys: total, indexed, type: indexed ? type : null, seconds: (Date.now() - t0) / 1000 };
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

/** a pair-head model, its cache and the cache's LanceDB index: top K by key, reranked by the head */
export class RetrieveRanker {
  private constructor(readonly model: ScoringModel, readonly cache: Cache, private readonly db: lancedb.Connection, private readonly table: lancedb.Table, private readonly keys: number,
    /** the ANN index's type, null when LanceDB searches every key */
    readonly indexType: IndexType | null) {}

  /** `prewarm`: load the ANN index into memory now (a server's first queries then need not read it from disk) */
  static async load(o: { model: string; cache: string; kernels: Kernels; dtype?: DTypeOption; chunked?: boolean; prewarm?: boolean }): Promise<RetrieveRanker> {
    const m = loadScoringModel(o.model, o.kernels, o.dtype);
    const cache = readCache(o.cache, o.chunked ? { inMemoryBytes: 0 } : {});
    try {
      checkCacheFor(cache, m);
      const ix = cache.header.index;
      if (!ix) throw new CacheError(`${o.cache}: the cache names no index (build it with cache build --index lancedb://PATH)`);
      const ixPath = resolveIndexPath(o.cache, ix.path), name = basename(ixPath);
      if (!existsSync(ixPath)) throw new CacheError(`${o.cache}: its index ${name} is missing; rebuild it with cache build --index lancedb://PATH`);
      if (!isIndexFolder(ixPath)) throw new CacheError(`${o.cache}: its index ${name} is not a ja-bert index (no ${INDEX_MARKER} or no ${INDEX_TABLE} table); rebuild it with cache build --index`);
      let db: lancedb.Connection, table: lancedb.Table, rows: number;
      // LanceDB's own errors (a damaged table, a Rust panic in lance-io) are one line here
      try {
        db = await lancedb.connect(ixPath);
        table = await db.openTable(INDEX_TABLE);
        rows = await table.countRows();
      } catch { throw new CacheError(`${o.cache}: its index ${name} cannot be read (damaged?); rebuild it with cache build --index`); }
      const n = cache.header.entries.length;
      const most = cache.header.per_token ? cache.header.entries.reduce((s, e) => s + Math.ceil(e.rows / KEY_ROWS), 0) : n;
      if (rows !== most) throw new CacheError(`${o.cache}: its index ${name} has ${rows} keys for ${n} cached texts (${most} expected); rebuild it with cache build --index`);
      let ann: lancedb.IndexConfig[];
      try {
        ann = (await table.listIndices()).filter((x) => x.columns.includes('vector'));
        if (o.prewarm) for (const x of ann) await table.prewarmIndex(x.name);
        // one search now: a damaged index fails here, at load (a server is then unhealthy at start, not on every request)
        await table.vectorSearch(new Array<number>(cache.header.per_token ? m.pm.bert.cfg.hidden_size : cache.header.width - auxWidth(cache.header.head)).fill(0)).distanceType('dot').limit(1).select(['i']).toArray();
      } catch { throw new CacheError(`${o.cache}: its index ${name} cannot be searched (damaged?); rebuild it with cache build --index`); }
      const type: IndexType | null = ann.length === 0 ? null : ann.some((x) => /pq/i.test(x.indexType)) ? 'ivf_pq' : 'ivf_flat';
      return new RetrieveRanker(m, cache, db, table, rows, type);
    } catch (e) {
      closeCache(cache);
      throw e;
    }
  }

  get size(): number { return this.cache.header.entries.length; }

  /** the top `top` of the `retrieve` candidates the index returns for A, scored by the head */
  async rank(q: { id?: string; text?: string; top?: number; retrieve?: number; nprobes?: number }): Promise<RankResult & { retrieved: number; retrieveMs: number }> {
    const K = intOption('retrieve', q.retrieve, DEFAULT_RETRIEVE);
    const nprobes = intOption('nprobes', q.nprobes, probes(this.keys));
    const { top, text, self } = rankQuery(this.cache, q);
    const t0 = performance.now();
    const a = encodeQuery(this.model, text);
    const t1 = performance.now();
    const D = this.cache.header.width - auxWidth(this.cache.header.head);
    const key = queryKey(this.cache.header.per_token, a, this.cache.header.per_token ? this.model.pm.bert.cfg.hidden_size : D);
    // a text has several keys (one per KEY_ROWS rows): the nearest keys, each text counted once at its best key, until K texts
    const perText = Math.max(1, Math.round(this.keys / this.size));
    let search = this.table.vectorSearch(Array.from(key)).distanceType('dot').nprobes(nprobes).limit((K + 1) * perText * 2).select(['i', '_distance']);
    if (this.indexType === 'ivf_pq') search = search.refineFactor(PQ_REFINE);
    const hits = await search.toArray() as Array<{ i: number }>;
    const cand = [...new Set(hits.map((h) => Number(h.i)))].filter((i) => i !== self).slice(0, K);
    const t2 = performance.now();
    const entries = this.cache.header.entries;
    const scores = scoreAgainst(this.model, a, cachedReps(this.model, this.cache, cand.map((i) => entries[i]!)));
    const order = cand.map((_, k) => k).sort((x, y) => scores[y]! - scores[x]! || cand[x]! - cand[y]!).slice(0, top);
    const t3 = performance.now();
    return { results: order.map((k) => ({ id: entries[cand[k]!]!.id, score: scores[k]! })), candidates: entries.length - (self >= 0 ? 1 : 0), loadMs: 0, encodeMs: t1 - t0, scoreMs: t3 - t2, retrieved: cand.length, retrieveMs: t2 - t1 };
  }

  close(): void {
    this.table.close();
    this.db.close();
    closeCache(this.cache);
  }
}
