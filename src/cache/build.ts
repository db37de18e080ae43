/**
 * Encoding a corpus into a cache file (`ja-bert cache build` without --queue): texts or encoder outputs given
 * as embeddings, unchanged texts reused from the cache already there, partial progress kept and resumed.
 */
import { AbortedError } from '../core/errors.js';
import { Progress } from '../core/progress.js';
import { closeSync, existsSync, openSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Kernels } from '../core/kernels.js';
import type { DTypeOption } from '../core/dtype.js';
import { DataError } from '../data/processors.js';
import { InputFileError, readJsonFile, readJsonLines } from '../io/text.js';
import { choiceOption, intOption, OptionError } from '../core/options.js';
import type { BRep, Side } from '../model/heads/index.js';
import { CACHE_STORAGES, type Cache, CacheError, type CacheHeader, type CacheStorage, MAX_CACHE_VALUE, checkCacheTarget, closeCache, entryValues, readCache, textHash, writeCache } from './format.js';
import { cacheHeaderFor, checkCacheFor, indexField, loadScoringModel, repValues } from './scoring.js';

/**
 * encoder outputs computed outside ja-bert (docs/EXPORT.md): one JSONL line per text,
 * {"id", "text", "last_hidden_state": [[D floats] per real token, [CLS] … [SEP], at most side_length],
 * "pooler_output": [D floats]}
 */
export function readEmbeddings(path: string, D: number, S: number): Array<{ id: string; text: string; x: Float32Array; rows: number; pooled: Float32Array }> {
  let lines: Array<{ value: unknown; line: number }>;
  try { lines = readJsonLines(path); } catch (e) { if (e instanceof InputFileError) throw new DataError(e.message); throw e; }
  const vec = (v: unknown, where: string): Float32Array => {
    if (!Array.isArray(v) || v.length !== D || !v.every((x) => typeof x === 'number' && Math.abs(x) <= MAX_CACHE_VALUE)) throw new DataError(`${where} must be ${D} finite numbers within ±${MAX_CACHE_VALUE} (the model's hidden size; encoder outputs)`);
    return Float32Array.from(v as number[]);
  };
  const seen = new Set<string>();
  return lines.map(({ value, line }) => {
    const at = `${path}:${line}`;
    const v = value as Record<string, unknown> | null;
    if (!v || typeof v !== 'object' || Array.isArray(v) || typeof v.id !== 'string' || typeof v.text !== 'string') throw new DataError(`${at}: needs string "id" and "text"`);
    if (seen.has(v.id)) throw new DataError(`${at}: id "${v.id}" appears twice`);
    seen.add(v.id);
    const h = v.last_hidden_state;
    if (!Array.isArray(h) || h.length < 1 || h.length > S) throw new DataError(`${at}: "last_hidden_state" must be 1 to ${S} token vectors (the head's side length), got ${Array.isArray(h) ? h.length : typeof h}`);
    const x = new Float32Array(h.length * D);
    h.forEach((row, t) => x.set(vec(row, `${at}: last_hidden_state[${t}]`), t * D));
    return { id: v.id, text: v.text, x, rows: h.length, pooled: vec(v.pooler_output, `${at}: "pooler_output"`) };
  });
}


/** texts to cache: honbun_data.json ({id: text}) or JSONL lines {"id": ..., "text": ...} */
export function readCorpusTexts(path: string): Array<{ id: string; text: string }> {
  const strict = <T>(f: () => T): T => { try { return f(); } catch (e) { if (e instanceof InputFileError) throw new DataError(e.message); throw e; } };
  let out: Array<{ id: string; text: string }>;
  if (path.endsWith('.jsonl')) {
    out = strict(() => readJsonLines(path)).map(({ value, line }) => {
      const v = value as Record<string, unknown> | null;
      if (!v || typeof v !== 'object' || typeof v.id !== 'string' || typeof v.text !== 'string') throw new DataError(`${path}:${line}: needs string "id" and "text"`);
      return { id: v.id, text: v.text };
    });
  } else {
    const v = strict(() => readJsonFile(path));
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new DataError(`${path}: expected a JSON object mapping ids to texts`);
    out = Object.entries(v as Record<string, unknown>).map(([id, text]) => {
      if (typeof text !== 'string') throw new DataError(`${path}: the text of "${id}" is not a string`);
      return { id, text };
    });
  }
  const seen = new Set<string>();
  for (const t of out) { if (seen.has(t.id)) throw new DataError(`${path}: id "${t.id}" appears twice`); seen.add(t.id); }
  return out;
}


export interface BuildResult { entries: number; encoded: number; reused: number; bytes: number; seconds: number }


/**
 * Build or update the cache: texts whose id and text hash are already cached
 * for this model are kept, the rest encoded in batches; ids no longer in the
 * corpus are dropped. Written atomically.
 */
export function encodeCache(o: { model: string; texts?: string; cache: string; kernels: Kernels; batchSize?: number; dtype?: DTypeOption; log?: (l: string) => void;
  /** the encoder's outputs computed elsewhere (the exported onnx/model.onnx): JSONL lines {id, text, last_hidden_state, pooler_output}, in place of texts */ fromEmbeddings?: string;
  /** write progress to CACHE.partial every this many seconds (default 30) */ partialEverySeconds?: number;
  /** how values are stored: f32 (default), bf16 or int8 (one scale per row) */ cacheDtype?: CacheStorage;
  /** the folder of the LanceDB index this cache will name (written next, by retrieve.ts' writeIndex) */ index?: string;
  /** replace a file at `cache` that is not a ja-bert cache (without it such a file is refused) */ overwrite?: boolean;
  /** checked between batches: progress goes to CACHE.partial, then AbortedError (the same call resumes) */ signal?: AbortSignal }): BuildResult {
  const t0 = Date.now();
  const bs = intOption('batch-size', o.batchSize, 32);
  if (o.partialEverySeconds !== undefined && !(o.partialEverySeconds >= 0)) throw new OptionError(`--save-seconds must be a number ≥ 0, got ${o.partialEverySeconds}`);
  const m = loadScoringModel(o.model, o.kernels, o.dtype);
  if ((o.texts === undefined) === (o.fromEmbeddings === undefined)) throw new OptionError('cache build needs --texts or --from-embeddings (one of them)');
  const D = m.pm.bert.cfg.hidden_size, S = m.pm.sideLength;
  const emb = o.fromEmbeddings ? readEmbeddings(o.fromEmbeddings, D, S) : null;
  const texts = emb ?? readCorpusTexts(o.texts!);
  checkCacheTarget(o.cache, { inputs: [{ flag: '--texts', path: o.texts }, { flag: '--from-embeddings', path: o.fromEmbeddings }], model: o.model, overwrite: o.overwrite, index: o.index });
  // a cache that cannot be written fails now, not after encoding everything
  const probe = `${o.cache}.${process.pid}.probe`;
  // created exclusively: a file that happens to have the probe's name is not ja-bert's to truncate or remove
  try { closeSync(openSync(probe, 'wx')); rmSync(probe, { force: true }); } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new CacheError(`${o.cache}: cannot write in ${dirname(o.cache)} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const W = m.pm.head.repWidth();
  const storage = choiceOption('cache-dtype', o.cacheDtype, CACHE_STORAGES, 'f32');
  const header: Omit<CacheHeader, 'entries' | 'floats'> = { ...cacheHeaderFor(m, storage), ...indexField(m, o.index, o.cache) };
  // reusable rows: the existing cache, and the progress an interrupted build left in CACHE.partial
  const partialPath = `${o.cache}.partial`;
  const sources: Cache[] = [];
  for (const p of [o.cache, partialPath]) {
    if (!existsSync(p)) continue;
    try {
      const c = readCache(p);
      checkCacheFor(c, m);
      // values are reused only in the same storage (an int8 row read back into an f32 cache would keep its rounding)
      if (c.header.storage !== storage) { o.log?.(`${p}: stored as ${c.header.storage}, building ${storage}: not reused`); closeCache(c); continue; }
      sources.push(c);
    } catch (e) { o.log?.(`${(e as Error).message.split(';')[0]}: not reused`); }
  }
  if (sources.some((c) => c.path === partialPath)) o.log?.(`resuming from ${partialPath} (${sources.find((c) => c.path === partialPath)!.header.entries.length} texts encoded before)`);
  const entries: Array<{ id: string; text: string; hash: string; rows: number; data: Float32Array }> = [];
  const todo: number[] = [];
  for (const { id, text } of texts) {
    const hash = textHash(text);
    const src = sources.map((c) => ({ c, e: c.byId.get(id) })).find((x) => x.e && x.e.hash === hash);
    if (src) entries.push({ id, text, hash, rows: src.e!.rows, data: entryValues(src.c, src.e!) });
    else { todo.push(entries.length); entries.push({ id, text, hash, rows: 0, data: new Float32Array(0) }); }
  }
  const bar = new Progress(o.log, 'cache', todo.length, 'texts');
  let lastPartial = Date.now();
  for (let s = 0; s < todo.length; s += bs) {
    if (o.signal?.aborted) {
      if (s > 0) writeCache(partialPath, header, entries.filter((e) => e.rows > 0));
      sources.forEach(closeCache);
      throw new AbortedError(`cache build cancelled after ${s} of ${todo.length} texts${s > 0 ? ` (progress kept in ${partialPath}; the same call resumes)` : ''}`);
    }
    const idx = todo.slice(s, s + bs);
    let rep: BRep, tokens: number[];
    if (emb) {
      // the head's B side from the given encoder outputs, laid out as the encoder's own batch would be
      const byId = new Map(emb.map((e) => [e.id, e]));
      const side: Side = { P: idx.length, S, x: new Float32Array(idx.length * S * D), mask: new Uint8Array(idx.length * S), pooled: new Float32Array(idx.length * D) };
      tokens = idx.map((i, k) => {
        const e = byId.get(entries[i]!.id)!;
        side.x.set(e.x, k * S * D); side.mask.fill(1, k * S, k * S + e.rows); side.pooled.set(e.pooled, k * D);
        return e.rows;
      });
      rep = m.pm.head.bRep(side);
    } else {
      const feats = idx.map((i) => m.builder.features(entries[i]!.text));
      tokens = feats.map((f) => f.inputIds.length);
      rep = m.pm.bReps(feats, m.builder.pad);
    }
    repValues(rep, tokens, W).forEach((v, k) => { entries[idx[k]!]!.rows = v.rows; entries[idx[k]!]!.data = v.data; });
    const done = Math.min(s + bs, todo.length);
    bar.update(done);
    // progress on disk: everything encoded so far, as a cache of its own (a killed build resumes from it)
    if (done < todo.length && Date.now() - lastPartial >= (o.partialEverySeconds ?? 30) * 1000) {
      writeCache(partialPath, header, entries.filter((e) => e.rows > 0));
      lastPartial = Date.now();
    }
  }
  sources.forEach(closeCache);
  const bytes = writeCache(o.cache, header, entries);
  rmSync(partialPath, { force: true });
  return { entries: entries.length, encoded: todo.length, reused: entries.length - todo.length, bytes, seconds: (Date.now() - t0) / 1000 };
}

