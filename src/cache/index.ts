/**
 * The pair cache (`cache build`, `rank`, `worker`): every B text encoded once by a pair-head model and
 * stored in one checked file, then ranked against a query by the head, exhaustively or through a
 * LanceDB index of one key per text (retrieve-then-rerank).
 *
 *   format.ts    the file: layout, storage (f32/bf16/int8), reading and checked writing, paths it owns
 *   scoring.ts   a pair-head model loaded for scoring: encode texts and queries, cached rows → B's representation
 *   build.ts     encodeCache: a corpus or encoder outputs → cache, unchanged texts reused, resumable
 *   rank.ts      Ranker: every cached text scored against a query (chunked for caches larger than memory)
 *   retrieve.ts  the LanceDB index and RetrieveRanker (@lancedb/lancedb, loaded only when an index is used)
 *   queue.ts     builds split into chunks over BullMQ workers on Redis (bullmq, loaded only for --queue)
 *
 * Two entries decide between those: buildCache (local or queued, then the index) and openRanker (exhaustive,
 * or retrieve-then-rerank when the cache names an index).
 */
import { existsSync } from 'node:fs';
import { loadFeature } from '../core/optional.js';
import type { Kernels } from '../core/kernels.js';
import type { DTypeOption } from '../core/dtype.js';
import { choiceOption, OptionError } from '../core/options.js';
import { encodeCache, type BuildResult } from './build.js';
import { closeCache, readCache, readCacheHeaderIndex, type CacheStorage } from './format.js';
import { Ranker, type RankResult } from './rank.js';

export { encodeCache, readCorpusTexts, readEmbeddings, type BuildResult } from './build.js';
export {
  CACHE_STORAGES, CACHE_VERSION, CacheError, INDEX_MARKER, INDEX_TABLE, MAX_CACHE_VALUE, MAX_WHOLE_READ, cacheDataBytes, cacheFileSize,
  checkCacheTarget, checkIndexTarget, closeCache, entryValues, entryValuesInto, isIndexFolder, looksLikeCache, modelHash, readCache,
  readCacheHeaderIndex, resolveIndexPath, textHash, writeCacheFile, writeCacheStream,
  type Cache, type CacheEntry, type CacheHeader, type CacheRecord, type CacheStorage,
} from './format.js';
export { Ranker, rank, rankQuery, type RankResult } from './rank.js';
export { cacheHeaderFor, cachedReps, checkCacheFor, encodeQuery, encodeTexts, indexField, loadScoringModel, repSlice, scoreAgainst, type ScoringModel } from './scoring.js';

/** where a built cache went, and its index when one was asked for */
export interface CacheBuildResult extends BuildResult {
  /** --queue: encoded by the queue's workers */
  queued: boolean;
  index?: { path: string; keys: number; rows: number; type: 'ivf_flat' | 'ivf_pq' | null; seconds: number };
}

export interface CacheBuildOptions {
  model: string; cache: string; kernels: Kernels;
  texts?: string;
  /** the encoder's outputs computed elsewhere (JSONL {id, text, last_hidden_state, pooler_output}), in place of encoding texts */
  fromEmbeddings?: string;
  batchSize?: number; dtype?: DTypeOption; cacheDtype?: CacheStorage; partialEverySeconds?: number; overwrite?: boolean;
  /** lancedb://PATH (or a folder path): a LanceDB index of one key per text, written after the cache, named in its header */
  index?: string;
  indexType?: 'ivf_flat' | 'ivf_pq';
  /** redis://HOST:PORT[/DB]: chunks encoded by `ja-bert worker`s (BullMQ), merged here */
  queue?: string;
  chunkSize?: number; stallSeconds?: number;
  log?: (line: string) => void;
  signal?: AbortSignal;
}

/** `cache build`: encode here or over a queue, then write the index the cache names; every option checked before anything is encoded */
export async function buildCache(o: CacheBuildOptions): Promise<CacheBuildResult> {
  if (o.index !== undefined) process.env.LANCEDB_LOG ??= 'error'; // LanceDB's k-means chatter, unless asked for
  // loaded only here: @lancedb/lancedb for an index, bullmq and ioredis for a queue
  const retrieve = o.index !== undefined ? await loadFeature('index', () => import('./retrieve.js')) : null;
  const index = retrieve ? retrieve.indexPath(o.index!) : undefined;
  if (o.indexType !== undefined && !retrieve) throw new OptionError('--index-type needs --index lancedb://PATH');
  const indexType = retrieve ? choiceOption('index-type', o.indexType, retrieve.INDEX_TYPES, 'ivf_flat') : undefined;
  let r: BuildResult;
  if (o.queue !== undefined) {
    if (o.fromEmbeddings !== undefined) throw new OptionError('--queue builds from --texts (workers encode them), not from --from-embeddings');
    if (o.texts === undefined) throw new OptionError('--queue needs --texts');
    const { buildCacheQueued } = await loadFeature('queue', () => import('./queue.js'));
    r = await buildCacheQueued({ model: o.model, texts: o.texts, cache: o.cache, kernels: o.kernels, queue: o.queue, chunkSize: o.chunkSize, batchSize: o.batchSize,
      dtype: o.dtype, cacheDtype: o.cacheDtype, stallSeconds: o.stallSeconds, index, overwrite: o.overwrite, log: o.log });
  } else {
    r = encodeCache({ model: o.model, texts: o.texts, fromEmbeddings: o.fromEmbeddings, cache: o.cache, kernels: o.kernels, index, batchSize: o.batchSize, dtype: o.dtype,
      log: o.log, partialEverySeconds: o.partialEverySeconds, cacheDtype: o.cacheDtype, overwrite: o.overwrite, signal: o.signal });
  }
  const out: CacheBuildResult = { ...r, queued: o.queue !== undefined };
  if (retrieve) {
    const c = readCache(o.cache);
    try {
      const ix = await retrieve.writeIndex(c, index!, o.log, indexType);
      out.index = { path: index!, keys: ix.keys, rows: ix.rows, type: ix.type, seconds: ix.seconds };
    } finally { closeCache(c); }
  }
  return out;
}

/** a query for a ranker: a new text, or a cached text by id (itself left out) */
export interface RankQuery { id?: string; text?: string; top?: number }

/** a loaded ranker of either kind: exhaustive (every cached text scored) or retrieve-then-rerank */
export interface OpenRanker {
  readonly kind: 'exhaustive' | 'retrieve';
  /** cached texts */
  readonly size: number;
  /** the pair head's name */
  readonly head: string;
  /** candidates the index retrieves per query (retrieve kind) */
  readonly retrieve: number | null;
  rank(q: RankQuery): Promise<RankResult & { retrieved?: number; retrieveMs?: number }>;
  close(): void;
}

/**
 * Open a cache for ranking. A cache whose header names a LanceDB index is ranked by retrieve-then-rerank
 * (the top `retrieve`, default 200, by the index, scored by the head); `retrieve: 0` scores every candidate;
 * `retrieve` > 0 on a cache without an index, or `nprobes` without one, is refused.
 */
export async function openRanker(o: { model: string; cache: string; kernels: Kernels; dtype?: DTypeOption; chunked?: boolean; retrieve?: number; nprobes?: number; prewarm?: boolean }): Promise<OpenRanker> {
  const named = o.retrieve !== 0 && readCacheHeaderIndex(o.cache);
  if (o.retrieve !== undefined && o.retrieve > 0 && !named && existsSync(o.cache)) throw new OptionError(`--retrieve: ${o.cache} names no index (build it with cache build --index lancedb://PATH)`);
  if (o.nprobes !== undefined && !named) throw new OptionError(`--nprobes: ${o.cache} is ranked without an index (--nprobes is for a cache built with --index)`);
  if (named) {
    process.env.LANCEDB_LOG ??= 'error';
    const { RetrieveRanker, DEFAULT_RETRIEVE } = await loadFeature('index', () => import('./retrieve.js'));
    const rr = await RetrieveRanker.load({ model: o.model, cache: o.cache, kernels: o.kernels, dtype: o.dtype, chunked: o.chunked, prewarm: o.prewarm });
    const retrieve = o.retrieve ?? DEFAULT_RETRIEVE;
    return { kind: 'retrieve', size: rr.size, head: rr.model.pm.head.cfg.type, retrieve, rank: (q) => rr.rank({ ...q, retrieve, nprobes: o.nprobes }), close: () => rr.close() };
  }
  const r = Ranker.load({ model: o.model, cache: o.cache, kernels: o.kernels, dtype: o.dtype, chunked: o.chunked });
  return { kind: 'exhaustive', size: r.size, head: r.model.pm.head.cfg.type, retrieve: null, rank: async (q) => r.rank(q), close: () => r.close() };
}
