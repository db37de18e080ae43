/**
 * Ranking every cached text against one query with the head (exhaustive; chunked for caches larger than memory).
 */
import type { Kernels } from '../core/kernels.js';
import type { DTypeOption } from '../core/dtype.js';
import { DataError } from '../data/processors.js';
import { intOption } from '../core/options.js';
import type { BRep } from '../model/heads/index.js';
import { type Cache, closeCache, readCache } from './format.js';
import { type ScoringModel, cachedReps, checkCacheFor, encodeQuery, loadScoringModel, scoreAgainst } from './scoring.js';

export interface RankResult { results: Array<{ id: string; score: number }>; candidates: number; loadMs: number; encodeMs: number; scoreMs: number }


/** score one A (a cached id's text, or a new text) against every other cached text; the top K */
/**
 * A pair-head model and its cache, loaded once and laid out for scoring once:
 * `rank` and the server's /v1/rank keep one and score many queries against it.
 */
export class Ranker {
  private constructor(readonly model: ScoringModel, readonly cache: Cache, private readonly warm: BRep | null, readonly loadMs: number) {}

  /**
   * warm (default): every candidate decoded and laid out for scoring once, in memory. chunked: the
   * candidates read from the file and scored 4,096 at a time for each query, so a cache larger than
   * memory still ranks; chosen by itself when the file is larger than a quarter of RAM.
   */
  static load(o: { model: string; cache: string; kernels: Kernels; dtype?: DTypeOption; chunked?: boolean }): Ranker {
    const m = loadScoringModel(o.model, o.kernels, o.dtype);
    const cache = readCache(o.cache, o.chunked ? { inMemoryBytes: 0 } : {});
    checkCacheFor(cache, m);
    const tl = performance.now();
    const warm = cache.buf ? cachedReps(m, cache, cache.header.entries) : null;
    return new Ranker(m, cache, warm, performance.now() - tl);
  }

  /** whether candidates are read from the file per query */
  get chunked(): boolean { return this.warm === null; }

  close(): void { closeCache(this.cache); }

  get size(): number { return this.cache.header.entries.length; }

  /** the top K cached texts for a text, or for a cached text by id (itself left out) */
  rank(q: { id?: string; text?: string; top?: number }): RankResult {
    const { top, text, self } = rankQuery(this.cache, q);
    const t0 = performance.now();
    const a = encodeQuery(this.model, text);
    const t1 = performance.now();
    let scores: Float32Array;
    if (this.warm) scores = scoreAgainst(this.model, a, this.warm);
    else {
      const all = this.cache.header.entries, CH = 4096;
      scores = new Float32Array(all.length);
      for (let s = 0; s < all.length; s += CH) scores.set(scoreAgainst(this.model, a, cachedReps(this.model, this.cache, all.slice(s, s + CH))), s);
    }
    const t2 = performance.now();
    const entries = this.cache.header.entries;
    const order = entries.map((_, i) => i).filter((i) => i !== self).sort((x, y) => scores[y]! - scores[x]! || x - y).slice(0, top);
    return { results: order.map((i) => ({ id: entries[i]!.id, score: scores[i]! })), candidates: entries.length - (self >= 0 ? 1 : 0), loadMs: this.loadMs, encodeMs: t1 - t0, scoreMs: t2 - t1 };
  }
}


/** rank one A against every cached B (loads the model and the cache for this one query) */
export function rank(o: { model: string; cache: string; id?: string; text?: string; top?: number; kernels: Kernels; dtype?: DTypeOption; chunked?: boolean }): RankResult {
  checkRankQuery(o); // before the model and the cache are read
  const r = Ranker.load(o);
  try { return r.rank(o); } finally { r.close(); }
}


/** a checked rank query against a cache: top K, A's text, and A's entry index when it is a cached id (else -1; left out of the results) */
export function rankQuery(cache: Cache, q: { id?: string; text?: string; top?: number }): { top: number; text: string; self: number } {
  const top = checkRankQuery(q);
  if (q.id === undefined) return { top, text: q.text!, self: -1 };
  const e = cache.byId.get(q.id);
  if (!e) throw new DataError(`${cache.path}: no text with id "${q.id}" in the cache (${cache.header.entries.length} ids)`);
  return { top, text: e.text, self: cache.header.entries.indexOf(e) };
}


/** a rank query: exactly one of id and a non-empty text without NUL; returns top (default 10) */
export function checkRankQuery(q: { id?: string; text?: string; top?: number }): number {
  const top = intOption('top', q.top, 10);
  if ((q.id === undefined) === (q.text === undefined)) throw new DataError('rank needs exactly one of --id and --text');
  if (q.text !== undefined && (typeof q.text !== 'string' || q.text.trim() === '')) throw new DataError('--text is empty: give the text to rank against the cache');
  if (q.text?.includes('\0')) throw new DataError('--text contains a NUL character');
  return top;
}

