/**
 * A pair-head model loaded for its cache: encoding texts into cacheable rows, reading them back as B's
 * representation, encoding a query, scoring it against cached rows; the cache header a model writes and checks.
 */
import { maxSequenceLength } from '../model/config.js';
import { dirname, resolve } from 'node:path';
import type { DType, Kernels } from '../core/kernels.js';
import { resolveDtype, type DTypeOption } from '../core/dtype.js';
import { DataError, positiveLabelIndex } from '../data/processors.js';
import { OptionError } from '../core/options.js';
import { loadBert } from '../model/load.js';
import { auxWidth, bf16Scoring, HEAD_TYPES, RETRIEVABLE_HEADS, type BRep, type Side } from '../model/heads/index.js';
import { PairModel } from '../model/pairmodel.js';
import { loadTokenizer } from '../tokenize/index.js';
import { InputBuilder } from '../tokenize/inputs.js';
import { CACHE_VERSION, type Cache, type CacheEntry, CacheError, type CacheHeader, type CacheStorage, entryValues, entryValuesInto, indexInCacheFolder, modelHash } from './format.js';

/** a loaded pair-head model with what scoring needs */
export interface ScoringModel { pm: PairModel; builder: InputBuilder; hash: string; dir: string; positive: number; dtype: DType }


/** a pair-head model loaded for scoring; `dtype` as the caller's option (auto: bf16 where the CPU runs it natively) */
export function loadScoringModel(dir: string, kernels: Kernels, dtypeOption?: DTypeOption): ScoringModel {
  const dtype = resolveDtype(dtypeOption, kernels);
  const { model, files } = loadBert(dir, { kernels, dtype });
  if (!model.cfg.pair_head) throw new DataError(`${dir}: not a pair-head model (fine-tune one with --head ${HEAD_TYPES.join('|')})`);
  const pm = new PairModel(model);
  const builder = new InputBuilder(loadTokenizer(files.dir), Math.min(pm.sideLength, maxSequenceLength(model.cfg)));
  const labels = model.cfg.labels;
  const positive = positiveLabelIndex(labels);
  return { pm, builder, hash: modelHash(dir), dir, positive, dtype };
}


/**
 * each text's cached values from a batch's BRep: its token rows (per-token heads; `tokens` real
 * tokens each) or its one vector, then, for a head with an aux part (additive), its aux rows
 */
export function repValues(rep: BRep, tokens: number[], W: number): Array<{ rows: number; data: Float32Array }> {
  return tokens.map((t, k) => {
    const rows = rep.perToken ? t : 1, w = rep.W, base = rep.perToken ? k * rep.S * w : k * w;
    if (!rep.aux) return { rows, data: rep.data.slice(base, base + rows * w) };
    const aw = W - w, d = new Float32Array(rows * W);
    d.set(rep.data.subarray(base, base + rows * w), 0);
    d.set(rep.aux.subarray(k * rep.S * aw, k * rep.S * aw + rows * aw), rows * w);
    return { rows, data: d };
  });
}


/** encode texts with a pair-head model into their cache values, `batchSize` at a time (a queue worker's chunk) */
export function encodeTexts(m: ScoringModel, texts: string[], batchSize = 32): Array<{ rows: number; data: Float32Array }> {
  const out: Array<{ rows: number; data: Float32Array }> = [], W = m.pm.head.repWidth();
  for (let s = 0; s < texts.length; s += batchSize) {
    const feats = texts.slice(s, s + batchSize).map((t) => m.builder.features(t));
    out.push(...repValues(m.pm.bReps(feats, m.builder.pad), feats.map((f) => f.inputIds.length), W));
  }
  return out;
}


/** the header field naming the index a cache build will write (refused for a head the index cannot key) */
export function indexField(m: ScoringModel, index: string | undefined, cache?: string): { index?: { kind: 'lancedb'; path: string } } {
  if (!index) return {};
  // named relative to the cache's folder, which must hold it (a header can then never point elsewhere: resolveIndexPath)
  if (cache !== undefined) {
    const ix = indexInCacheFolder(cache, resolve(index));
    if (ix === null) throw new OptionError(`--index lancedb://${index}: the index must be a folder inside the cache's folder ${dirname(cache)} (the cache names it by a relative path)`);
    index = ix.relative;
  }
  if (!RETRIEVABLE_HEADS.includes(m.pm.bert.cfg.pair_head!.type)) {
    throw new OptionError(`--index: the ${m.pm.bert.cfg.pair_head!.type} head compares projections of A that the index cannot form; retrieval works for ${RETRIEVABLE_HEADS.join(', ')}`);
  }
  return { index: { kind: 'lancedb', path: index } };
}


/** the header a cache of this model gets */
export function cacheHeaderFor(m: ScoringModel, storage: CacheStorage): Omit<CacheHeader, 'entries' | 'floats'> {
  return { version: CACHE_VERSION, model_hash: m.hash, head: m.pm.bert.cfg.pair_head!, hidden_size: m.pm.bert.cfg.hidden_size, width: m.pm.head.repWidth(), per_token: m.pm.head.perToken(), storage };
}


/** check that a cache belongs to this model and head */
export function checkCacheFor(cache: Cache, m: ScoringModel): void {
  const h = m.pm.bert.cfg.pair_head!;
  if (JSON.stringify(cache.header.head) !== JSON.stringify(h)) throw new CacheError(`${cache.path}: the cache was built for the ${String(cache.header.head.type)} head, the model has the ${h.type} head`);
  if (cache.header.model_hash !== m.hash) throw new CacheError(`${cache.path}: the cache was built by another model (or an older version of ${m.dir}); rebuild it with cache build`);
  // the shape of what is stored must be what this head reads
  const W = m.pm.head.repWidth(), perToken = m.pm.head.perToken(), D = m.pm.bert.cfg.hidden_size;
  if (cache.header.width !== W || cache.header.per_token !== perToken || cache.header.hidden_size !== D) {
    throw new CacheError(`${cache.path}: the cache stores rows of width ${cache.header.width}${cache.header.per_token ? ' per token' : ''} (hidden ${cache.header.hidden_size}), this head reads ${W}${perToken ? ' per token' : ''} (hidden ${D}); rebuild it with cache build`);
  }
  const tooLong = perToken ? cache.header.entries.find((e) => e.rows > m.pm.sideLength) : undefined;
  if (tooLong) throw new CacheError(`${cache.path}: entry "${tooLong.id}" has ${tooLong.rows} token rows, more than the model's side length ${m.pm.sideLength}; rebuild it with cache build`);
}


/**
 * cached representations of the given entries as one BRep (per-token rows padded to the model's side length): the
 * warm, scoring-ready layout. A bf16 model gets a bf16 copy too, so the attention heads score with bf16 matmuls.
 */
export function cachedReps(m: ScoringModel, cache: Cache, entries: CacheEntry[]): BRep {
  const rep = cachedRepsF32(cache, entries, m.pm.sideLength);
  if (m.dtype === 'bf16' && rep.perToken && bf16Scoring(cache.header.head.type)) {
    rep.dataBf16 = new Uint16Array(rep.data.length);
    m.pm.bert.K.f32ToBf16(rep.dataBf16, rep.data, rep.data.length);
  }
  return rep;
}


export function cachedRepsF32(cache: Cache, entries: CacheEntry[], S: number): BRep {
  const { width: W, per_token: perToken } = cache.header;
  const P = entries.length;
  if (!perToken) {
    const data = new Float32Array(P * W);
    entries.forEach((e, p) => data.set(entryValues(cache, e), p * W));
    return { P, S: 1, W, perToken: false, data, mask: new Uint8Array(P).fill(1) };
  }
  const mask = new Uint8Array(P * S);
  const k = auxWidth(cache.header.head);
  if (k > 0) {
    // data rows, then aux rows (additive: b_j, then U b_j)
    const D = W - k;
    const data = new Float32Array(P * S * D), aux = new Float32Array(P * S * k);
    entries.forEach((e, p) => {
      const rows = Math.min(e.rows, S), v = entryValues(cache, e);
      data.set(v.subarray(0, rows * D), p * S * D);
      aux.set(v.subarray(e.rows * D, e.rows * D + rows * k), p * S * k);
      mask.fill(1, p * S, p * S + rows);
    });
    return { P, S, W: D, perToken: true, data, mask, aux };
  }
  const data = new Float32Array(P * S * W);
  entries.forEach((e, p) => {
    if (e.rows > S) throw new CacheError(`${cache.path}: entry "${e.id}" has ${e.rows} token rows, more than the side length ${S}; rebuild it with cache build`);
    entryValuesInto(cache, e, data, p * S * W);
    mask.fill(1, p * S, p * S + e.rows);
  });
  return { P, S, W, perToken: true, data, mask };
}


/** A's side, encoded alone and padded to the side length */
export function encodeQuery(m: ScoringModel, text: string): Side {
  return m.pm.encode([m.builder.features(text)], m.builder.pad, { S: m.pm.sideLength });
}


/** rows [s, e) of a BRep, as views */
export function repSlice(rep: BRep, s: number, e: number): BRep {
  const rows = rep.perToken ? rep.S : 1, auxW = rep.aux ? rep.aux.length / (rep.P * rows) : 0;
  return {
    P: e - s, S: rep.S, W: rep.W, perToken: rep.perToken, data: rep.data.subarray(s * rows * rep.W, e * rows * rep.W), mask: rep.mask.subarray(s * rows, e * rows),
    aux: rep.aux ? rep.aux.subarray(s * rows * auxW, e * rows * auxW) : undefined,
    dataBf16: rep.dataBf16 ? rep.dataBf16.subarray(s * rows * rep.W, e * rows * rep.W) : undefined,
  };
}


/**
 * P(positive) of A against every row of `rep` (a warm cache: cachedReps of the
 * candidates, built once), in chunks; A-side work is done once per call.
 */
export function scoreAgainst(m: ScoringModel, a: Side, rep: BRep, chunk = 256): Float32Array {
  const out = new Float32Array(rep.P), C = m.pm.C, D = m.pm.bert.cfg.hidden_size;
  const aCopy: Side = { P: 1, S: a.S, x: a.x.slice(0, a.S * D), mask: a.mask.slice(0, a.S), pooled: a.pooled.slice(0, D) };
  const query = {};
  for (let s = 0; s < rep.P; s += chunk) {
    const e = Math.min(rep.P, s + chunk);
    const logits = m.pm.head.scoreCached(aCopy, repSlice(rep, s, e), query);
    for (let p = 0; p < e - s; p++) {
      let mx = -Infinity;
      for (let c = 0; c < C; c++) mx = Math.max(mx, logits[p * C + c]!);
      let sum = 0;
      for (let c = 0; c < C; c++) sum += Math.exp(logits[p * C + c]! - mx);
      out[s + p] = Math.exp(logits[p * C + m.positive]! - mx) / sum;
      // a score that is not a number is an error, never a ranking (a diverged model)
      if (!Number.isFinite(out[s + p]!)) throw new CacheError(`scoring gave a non-finite score (the model's head output is ${logits[p * C + m.positive]}); the model's weights are damaged or its training diverged`);
    }
  }
  return out;
}

