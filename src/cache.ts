/**
 * The B-side cache of a pair-head model: every text of a corpus encoded once,
 * its cacheable representation stored in one versioned file, keyed by id and
 * by a hash of the text and of the model, so a changed text or model is
 * re-encoded and nothing stale is used. `rank` scores one A against all of it.
 *
 * File layout (little-endian):
 *   "JABCACHE" | u32 version | u32 header bytes | header JSON | values | [int8: f32 scales] | 32-byte SHA-256 of all before
 * The header names the model hash, the head config, the row width, the storage
 * type and, per entry, id, text, text hash, row count and offset (in values).
 * Storage (`cache build --cache-dtype`): f32 (4 bytes a value), bf16 (2, the
 * top half of the f32, rounded to nearest even), or int8 (1, symmetric, with one
 * f32 scale per row of `width` values: per token, or per text for one-vector
 * heads; the scales follow the values). A cache is read whole when it fits in
 * memory, else through a file descriptor, entry by entry, so one larger than
 * RAM still ranks (Ranker's chunked mode).
 */
import { AbortedError, JaBertError, registerError } from './core/errors.js';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync } from 'node:fs';
import { totalmem } from 'node:os';
import { dirname, relative, resolve } from 'node:path';
import type { DType, Kernels } from './core/kernels.js';
import { resolveDtype, type DTypeOption } from './core/dtype.js';
import { DataError, positiveLabelIndex } from './data/processors.js';
import { writeFileAtomic } from './io/atomic.js';
import { checkOutputPath, checkRegularFile, isSameOrAncestor, readFileChecked, realish } from './io/files.js';
import { CheckpointError } from './io/tensor.js';
import { InputFileError, readJsonFile, readJsonLines } from './io/text.js';
import { choiceOption, intOption, OptionError } from './core/options.js';
import { quantizeRows } from './core/quant.js';
import { findModelFiles, loadBert } from './model/load.js';
import { auxWidth, bf16Scoring, HEAD_TYPES, type BRep, type PairHeadConfig, type Side } from './model/heads/index.js';
import { PairModel } from './model/pairmodel.js';
import { loadTokenizer } from './tokenize/index.js';
import { InputBuilder } from './tokenize/inputs.js';

const MAGIC = 'JABCACHE';
/**
 * the largest magnitude a cached value (or an encoder output given with --from-embeddings) may have: encoder
 * outputs are O(10); within ±1e6 a head's products over a few thousand dimensions stay far inside f32's range
 */
export const MAX_CACHE_VALUE = 1e6;
export const CACHE_VERSION = 2;
/** the heads whose B side the retrieval index can key (src/retrieve.ts) */
export const RETRIEVABLE_HEADS: string[] = ['dot', 'additive', 'bi', 'cosine', 'poly'];
export const CACHE_STORAGES = ['f32', 'bf16', 'int8'] as const;
export type CacheStorage = (typeof CACHE_STORAGES)[number];
const VALUE_BYTES: Record<CacheStorage, number> = { f32: 4, bf16: 2, int8: 1 };

export class CacheError extends JaBertError { override readonly code = 'ERR_JA_BERT_CACHE'; }
registerError(CacheError);

export interface CacheEntry { id: string; text: string; hash: string; rows: number; offset: number }
export interface CacheHeader {
  version: number; model_hash: string; head: PairHeadConfig; hidden_size: number; width: number; per_token: boolean; storage: CacheStorage; entries: CacheEntry[]; floats: number;
  /** the LanceDB index of one key per text that rank retrieves from (src/retrieve.ts), when built with --index */
  index?: { kind: 'lancedb'; path: string };
}
/** the largest file Node reads in one piece (fs' kIoMaxLength, 2 GiB − 1); larger caches are read entry by entry */
export const MAX_WHOLE_READ = 2 ** 31 - 1;
/** a checked cache file: its header, and its values read from `buf` (the whole file) or through `fd` */
export interface Cache { header: CacheHeader; byId: Map<string, CacheEntry>; path: string; buf: Buffer | null; fd: number | null; dataStart: number; scaleStart: number; bytes: number }

/** the bytes [pos, pos + len) of a cache file; read through the descriptor into `scratch` (reused: valid until its next use) when given */
function cacheBytes(c: Cache, pos: number, len: number, scratch?: Scratch): Uint8Array {
  if (c.buf) return c.buf.subarray(pos, pos + len);
  let out: Buffer;
  if (scratch) { if (scratch.b.length < len) scratch.b = Buffer.allocUnsafe(Math.max(len, 2 * scratch.b.length)); out = scratch.b; } else out = Buffer.alloc(len);
  let got = 0;
  while (got < len) { const n = readSync(c.fd!, out, got, len - got, pos + got); if (n === 0) throw new CacheError(`${c.path}: ended early (changed while in use?)`); got += n; }
  return out.subarray(0, len);
}
interface Scratch { b: Buffer }
const dataScratch: Scratch = { b: Buffer.allocUnsafe(1 << 16) }, scaleScratch: Scratch = { b: Buffer.allocUnsafe(1 << 10) };

/** one entry's values, decoded to f32 (rows × width) */
export function entryValues(c: Cache, e: CacheEntry): Float32Array {
  const out = new Float32Array(e.rows * c.header.width);
  entryValuesInto(c, e, out, 0);
  return out;
}

/** one entry's values decoded into out[at, at + rows × width), without an intermediate copy (rank reads its candidates this way) */
export function entryValuesInto(c: Cache, e: CacheEntry, out: Float32Array, at: number): void {
  const W = c.header.width, n = e.rows * W, st = c.header.storage;
  const raw = cacheBytes(c, c.dataStart + e.offset * VALUE_BYTES[st], n * VALUE_BYTES[st], dataScratch);
  const bad = (why: string) => new CacheError(`${c.path}: entry "${e.id}" holds ${why}; rebuild it with cache build`);
  if (st === 'int8') {
    // int8 × a finite scale is finite: the scales are checked, the values need not be
    const sc = cacheBytes(c, c.scaleStart + (e.offset / W) * 4, e.rows * 4, scaleScratch), sv = new DataView(sc.buffer, sc.byteOffset, sc.byteLength);
    const q = new Int8Array(raw.buffer, raw.byteOffset, n);
    for (let r = 0; r < e.rows; r++) {
      const k = sv.getFloat32(r * 4, true);
      if (!(Number.isFinite(k) && k >= 0 && k * 127 <= MAX_CACHE_VALUE)) throw bad(`a scale of ${k}`);
      for (let j = r * W, o = at + r * W; j < (r + 1) * W; j++, o++) out[o] = q[j]! * k;
    }
    return;
  }
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  if (st === 'f32') for (let i = 0; i < n; i++) out[at + i] = dv.getFloat32(i * 4, true);
  else { const u = new Uint32Array(out.buffer, out.byteOffset + at * 4, n); for (let i = 0; i < n; i++) u[i] = dv.getUint16(i * 2, true) << 16; }
  // bounded, not only finite: every head's score of values within ±MAX_CACHE_VALUE stays finite in f32
  for (let i = at; i < at + n; i++) if (!(Math.abs(out[i]!) <= MAX_CACHE_VALUE)) throw bad(`${Number.isFinite(out[i]!) ? 'an out-of-range' : 'a non-finite'} value (${out[i]}) at ${i - at}; values must be within ±${MAX_CACHE_VALUE}`);
}

/** values → the storage's bytes (int8: the values, then one scale per row of W) */
function encodeValues(v: Float32Array, W: number, st: CacheStorage): { data: Uint8Array; scales: Uint8Array } {
  if (st === 'f32') return { data: new Uint8Array(v.buffer, v.byteOffset, v.byteLength), scales: new Uint8Array(0) };
  if (st === 'bf16') {
    const u = new Uint32Array(v.buffer, v.byteOffset, v.length), o = new Uint16Array(v.length);
    for (let i = 0; i < v.length; i++) { const x = u[i]!; o[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16; }
    return { data: new Uint8Array(o.buffer), scales: new Uint8Array(0) };
  }
  const { q, scale: sc } = quantizeRows(v, v.length / W, W);
  return { data: new Uint8Array(q.buffer), scales: new Uint8Array(sc.buffer) };
}

/** bytes the stored representations take (values and int8 scales), without the header and texts */
export const cacheDataBytes = (c: Cache): number => c.bytes - 32 - c.dataStart;

/** the index a cache file names, read from its header alone (no checksum pass); null when none or unreadable */
export function readCacheHeaderIndex(path: string): string | null {
  try {
    const header = readCacheHeaderOnly(path);
    return header?.index?.path ? resolveIndexPath(path, header.index.path) : null;
  } catch { return null; }
}

/** a regular file's cache header (unchecked), or null when the file does not begin as a ja-bert cache; a FIFO or device is never opened */
function readCacheHeaderOnly(path: string, withHeader = true): Partial<CacheHeader> | null {
  if (!statSync(path).isFile()) return null;
  const fd = openSync(path, 'r');
  try {
    const pre = Buffer.alloc(16);
    if (readSync(fd, pre, 0, 16, 0) < 8 || pre.toString('latin1', 0, 8) !== MAGIC) return null;
    if (!withHeader) return {};
    const h = Buffer.alloc(pre.readUInt32LE(12));
    readSync(fd, h, 0, h.length, 16);
    return JSON.parse(h.toString('utf8')) as Partial<CacheHeader>;
  } finally { closeSync(fd); }
}

/**
 * the index folder a cache header names: relative to the cache's folder (absolute in caches built before),
 * and inside that folder, so a damaged or hostile header (`../../etc`) names nothing else
 */
export function resolveIndexPath(cachePath: string, stored: string): string {
  const p = indexInCacheFolder(cachePath, stored);
  if (p === null) throw new CacheError(`${cachePath}: its header names an index outside the cache's folder; rebuild it with cache build --index`);
  return p.path;
}

/** `index` resolved against the cache's folder (real paths): its path and its name relative to that folder, or null when it is not inside it */
function indexInCacheFolder(cache: string, index: string): { path: string; relative: string } | null {
  const base = dirname(realish(cache)), p = realish(resolve(base, index));
  return p !== base && isSameOrAncestor(base, p) ? { path: p, relative: relative(base, p) } : null;
}

/** release a cache read through a file descriptor */
export function closeCache(c: Cache): void {
  if (c.fd !== null) { closeSync(c.fd); c.fd = null; }
}

export const textHash = (t: string): string => createHash('sha256').update(t, 'utf8').digest('hex').slice(0, 32);

/** SHA-256 over the model's config and weights: a cache is valid only for the exact model that wrote it */
export function modelHash(dir: string): string {
  const f = findModelFiles(dir);
  const h = createHash('sha256');
  h.update(readFileChecked(f.configPath, 'model config', undefined, CheckpointError));
  h.update(readFileChecked(f.weightsPath, 'model weights', undefined, CheckpointError));
  return h.digest('hex');
}

/** a loaded pair-head model with what scoring needs */
export interface ScoringModel { pm: PairModel; builder: InputBuilder; hash: string; dir: string; positive: number; dtype: DType }

export function loadScoringModel(dir: string, kernels: Kernels, dtype: DType = 'f32'): ScoringModel {
  const { model, files } = loadBert(dir, { kernels, dtype });
  if (!model.cfg.pair_head) throw new DataError(`${dir}: not a pair-head model (fine-tune one with --head ${HEAD_TYPES.join('|')})`);
  const pm = new PairModel(model);
  const builder = new InputBuilder(loadTokenizer(files.dir), Math.min(pm.sideLength, model.cfg.max_position_embeddings));
  const labels = model.cfg.labels;
  const positive = positiveLabelIndex(labels);
  return { pm, builder, hash: modelHash(dir), dir, positive, dtype };
}

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

/**
 * open and check a cache: magic, version, SHA-256 of the whole file, every header field against
 * the data's size. Read whole when it is at most `inMemoryBytes` (default a quarter of RAM) and
 * under 2 GiB (the most one read of a file gives Node),
 * else kept open and read entry by entry (the checksum streamed).
 */
export function readCache(path: string, o: { inMemoryBytes?: number } = {}): Cache {
  if (!existsSync(path)) throw new CacheError(`${path}: no such cache file`);
  const size = checkRegularFile(path, 'cache', Number.MAX_SAFE_INTEGER, CacheError).size;
  const bad = (why: string) => new CacheError(`${path}: not a usable ja-bert cache (${why}); rebuild it with cache build`);
  if (size < 16 + 32) throw bad('no JABCACHE header');
  const whole = size <= Math.min(o.inMemoryBytes ?? totalmem() / 4, MAX_WHOLE_READ);
  const buf = whole ? readFileSync(path) : null;
  const fd = whole ? null : openSync(path, 'r');
  try {
    const c0: Cache = { header: null as unknown as CacheHeader, byId: new Map(), path, buf, fd, dataStart: 0, scaleStart: 0, bytes: size };
    const pre = Buffer.from(cacheBytes(c0, 0, 16));
    if (pre.toString('latin1', 0, 8) !== MAGIC) throw bad('no JABCACHE header');
    const version = pre.readUInt32LE(8);
    if (version !== CACHE_VERSION) throw bad(`version ${version}, this ja-bert reads version ${CACHE_VERSION}`);
    // the checksum, over everything before it, in 16 MB pieces when the file is not in memory
    const sha = createHash('sha256');
    for (let pos = 0; pos < size - 32; pos += 16 << 20) sha.update(cacheBytes(c0, pos, Math.min(16 << 20, size - 32 - pos)));
    if (!sha.digest().equals(cacheBytes(c0, size - 32, 32))) throw bad('checksum mismatch: truncated or damaged');
    const hlen = pre.readUInt32LE(12);
    if (16 + hlen > size - 32) throw bad('header length past the end');
    let header: CacheHeader;
    try { header = JSON.parse(Buffer.from(cacheBytes(c0, 16, hlen)).toString('utf8')) as CacheHeader; } catch { throw bad('header is not JSON'); }
    // every field checked, not only the checksum: a header edited and re-hashed must still describe its data exactly
    const int = (v: unknown, min = 0) => Number.isSafeInteger(v) && (v as number) >= min;
    if (!header || typeof header !== 'object' || header.version !== version || typeof header.model_hash !== 'string' || !header.head || typeof header.head !== 'object'
      || !int(header.hidden_size, 1) || !int(header.width, 1) || typeof header.per_token !== 'boolean' || !Array.isArray(header.entries) || !int(header.floats)
      || !(CACHE_STORAGES as readonly string[]).includes(header.storage)
      || (header.index !== undefined && (!header.index || header.index.kind !== 'lancedb' || typeof header.index.path !== 'string'))) throw bad('header fields missing or of the wrong type');
    let offset = 0;
    const byId = new Map<string, CacheEntry>();
    for (const e of header.entries) {
      if (!e || typeof e.id !== 'string' || typeof e.text !== 'string' || typeof e.hash !== 'string' || !int(e.rows, 1) || !int(e.offset)) throw bad('an entry is missing fields');
      if (e.offset !== offset) throw bad(`entry "${e.id}" starts at ${e.offset}, expected ${offset}`);
      if (!header.per_token && e.rows !== 1) throw bad(`entry "${e.id}" has ${e.rows} rows in a one-vector cache`);
      if (byId.has(e.id)) throw bad(`id "${e.id}" appears twice`);
      byId.set(e.id, e);
      offset += e.rows * header.width;
    }
    if (offset !== header.floats) throw bad(`the entries hold ${offset} values, the header says ${header.floats}`);
    const dataStart = 16 + hlen, scaleStart = dataStart + header.floats * VALUE_BYTES[header.storage];
    const end = scaleStart + (header.storage === 'int8' ? (header.floats / header.width) * 4 : 0);
    if (end !== size - 32) throw bad('data size does not match its header');
    return { header, byId, path, buf, fd, dataStart, scaleStart, bytes: size };
  } catch (e) {
    if (fd !== null) closeSync(fd);
    throw e;
  }
}

function writeCache(path: string, header: Omit<CacheHeader, 'entries' | 'floats'>, entries: Array<{ id: string; text: string; hash: string; rows: number; data: Float32Array }>): number {
  return writeCacheStream(path, header, entries, (i) => entries[i]!.data);
}

/**
 * write a cache whose values are produced one entry at a time (`valuesOf(i)`, rows × width
 * floats), so a cache larger than memory can be written; atomically, as every cache
 */
export function writeCacheStream(path: string, header: Omit<CacheHeader, 'entries' | 'floats'>, metas: Array<{ id: string; text: string; hash: string; rows: number }>, valuesOf: (i: number) => Float32Array): number {
  const out: CacheEntry[] = [];
  let offset = 0;
  for (const e of metas) { out.push({ id: e.id, text: e.text, hash: e.hash, rows: e.rows, offset }); offset += e.rows * header.width; }
  const full: CacheHeader = { ...header, entries: out, floats: offset };
  const hjson = Buffer.from(JSON.stringify(full), 'utf8');
  const pre = Buffer.alloc(16);
  pre.write(MAGIC, 0, 'latin1'); pre.writeUInt32LE(CACHE_VERSION, 8); pre.writeUInt32LE(hjson.length, 12);
  const sha = createHash('sha256');
  let size = 0;
  writeFileAtomic(path, (w) => {
    const put = (b: Uint8Array) => { sha.update(b); w(b); size += b.length; };
    put(pre); put(hjson);
    const scales: Uint8Array[] = [];
    metas.forEach((e, i) => {
      const v = valuesOf(i);
      if (v.length !== e.rows * header.width) throw new CacheError(`${path}: entry "${e.id}" has ${v.length} values, expected ${e.rows} × ${header.width}`);
      const enc = encodeValues(v, header.width, header.storage);
      put(enc.data); // written before the next entry is produced
      if (enc.scales.length) scales.push(enc.scales);
    });
    for (const sc of scales) put(sc);
    const d = sha.digest();
    w(d); size += d.length;
  });
  return size;
}

/**
 * each text's cached values from a batch's BRep: its token rows (per-token heads; `tokens` real
 * tokens each) or its one vector, then, for a head with an aux part (additive), its aux rows
 */
function repValues(rep: BRep, tokens: number[], W: number): Array<{ rows: number; data: Float32Array }> {
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

/** a file that begins as a ja-bert cache does (its magic), whatever its version or state */
export function looksLikeCache(path: string): boolean {
  try { return readCacheHeaderOnly(path, false) !== null; } catch { return false; }
}

/**
 * where a cache build may write: `cache` (and its CACHE.partial) are new or ja-bert caches (any other file only
 * with `overwrite`, never a folder), never the texts, the model's files or a folder holding them; the index likewise
 */
export function checkCacheTarget(cache: string, c: { inputs?: Array<{ flag: string; path: string | undefined }>; model?: string; overwrite?: boolean; index?: string }): void {
  checkOutputPath('--cache', cache, { inputs: c.inputs, model: c.model });
  for (const p of [cache, `${cache}.partial`]) {
    if (!existsSync(p)) continue;
    const st = statSync(p);
    if (!st.isFile()) throw new CacheError(`${p}: exists and is not a file (a cache is one file); give another --cache path`);
    if (!looksLikeCache(p) && !c.overwrite) throw new CacheError(`${p}: exists and is not a ja-bert cache; ja-bert replaces only its own caches (--overwrite replaces the file)`);
  }
  if (c.index !== undefined) checkIndexTarget(c.index, { cache, inputs: c.inputs, model: c.model });
}

/** the LanceDB table of an index folder (src/retrieve.ts) */
export const INDEX_TABLE = 'ja_bert_keys';

/** the file that marks a folder as an index ja-bert wrote (a rebuild replaces only such a folder) */
export const INDEX_MARKER = '.ja-bert-index';

/** a folder holding ja-bert's marker, its table and nothing else */
export function isIndexFolder(path: string): boolean {
  try {
    if (!statSync(path).isDirectory()) return false;
    const names = readdirSync(path);
    return names.includes(INDEX_MARKER) && names.includes(`${INDEX_TABLE}.lance`) && names.every((f) => f === INDEX_MARKER || f === `${INDEX_TABLE}.lance` || f === '__manifest');
  } catch { return false; }
}

/**
 * where an index may be written: not there yet, an empty folder, or an index ja-bert wrote; never a file,
 * a folder of other files, the working folder, or a folder holding the command's inputs or model
 */
export function checkIndexTarget(path: string, c: { cache: string; inputs?: Array<{ flag: string; path: string | undefined }>; model?: string }): void {
  checkOutputPath('--index', path, { inputs: [{ flag: '--cache', path: c.cache }, ...(c.inputs ?? [])], model: c.model, folder: true });
  if (!existsSync(path)) return;
  const st = statSync(path);
  if (!st.isDirectory()) throw new OptionError(`--index lancedb://${path}: exists and is not a folder; ja-bert replaces only an index it wrote`);
  if (readdirSync(path).length && !isIndexFolder(path)) throw new OptionError(`--index lancedb://${path}: a folder that is not a ja-bert index (no ${INDEX_MARKER}, or other files in it); ja-bert replaces only an index it wrote: give another path`);
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

export type CacheRecord = { id: string; text: string; hash: string; rows: number; data: Float32Array };
export { writeCache as writeCacheFile };

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

export interface BuildResult { entries: number; encoded: number; reused: number; bytes: number; seconds: number }

/**
 * Build or update the cache: texts whose id and text hash are already cached
 * for this model are kept, the rest encoded in batches; ids no longer in the
 * corpus are dropped. Written atomically.
 */
export function buildCache(o: { model: string; texts?: string; cache: string; kernels: Kernels; batchSize?: number; dtype?: DTypeOption; log?: (l: string) => void;
  /** the encoder's outputs computed elsewhere (the exported onnx/model.onnx): JSONL lines {id, text, last_hidden_state, pooler_output}, in place of texts */ fromEmbeddings?: string;
  /** write progress to CACHE.partial every this many seconds (default 30) */ partialEverySeconds?: number;
  /** how values are stored: f32 (default), bf16 or int8 (one scale per row) */ cacheDtype?: CacheStorage;
  /** the folder of the LanceDB index this cache will name (written next, by retrieve.ts' writeIndex) */ index?: string;
  /** replace a file at `cache` that is not a ja-bert cache (without it such a file is refused) */ overwrite?: boolean;
  /** checked between batches: progress goes to CACHE.partial, then AbortedError (the same call resumes) */ signal?: AbortSignal }): BuildResult {
  const t0 = Date.now();
  const bs = intOption('batch-size', o.batchSize, 32);
  if (o.partialEverySeconds !== undefined && !(o.partialEverySeconds >= 0)) throw new OptionError(`--save-seconds must be a number ≥ 0, got ${o.partialEverySeconds}`);
  const m = loadScoringModel(o.model, o.kernels, resolveDtype(o.dtype, o.kernels));
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
  const tStart = Date.now();
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
    const done = Math.min(s + bs, todo.length), el = (Date.now() - tStart) / 1000;
    o.log?.(`cache [${'#'.repeat(Math.round((done / todo.length) * 20)).padEnd(20, '.')}] ${done}/${todo.length} encoded, ${(done / el).toFixed(1)} texts/s, ETA ${Math.round((el / done) * (todo.length - done))}s`);
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

/**
 * cached representations of the given entries as one BRep (per-token rows
 * padded to S): the warm, scoring-ready layout. `bf16`: also a bf16 copy, so
 * the attention heads score with bf16 matmuls (converted by the kernels given).
 */
export function cachedReps(cache: Cache, entries: CacheEntry[], S: number, bf16: Kernels | null = null): BRep {
  const rep = cachedRepsF32(cache, entries, S);
  if (bf16 && rep.perToken && bf16Scoring(cache.header.head.type)) {
    rep.dataBf16 = new Uint16Array(rep.data.length);
    bf16.f32ToBf16(rep.dataBf16, rep.data, rep.data.length);
  }
  return rep;
}

function cachedRepsF32(cache: Cache, entries: CacheEntry[], S: number): BRep {
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

export interface RankResult { results: Array<{ id: string; score: number }>; candidates: number; loadMs: number; encodeMs: number; scoreMs: number }

/** score one A (a cached id's text, or a new text) against every other cached text; the top K */
/**
 * A pair-head model and its cache, loaded once and laid out for scoring once:
 * `rank` and the server's /v1/rank keep one and score many queries against it.
 */
export class Ranker {
  private constructor(readonly model: ScoringModel, readonly cache: Cache, private readonly warm: BRep | null, readonly loadMs: number, private readonly bf16: Kernels | null) {}

  /**
   * warm (default): every candidate decoded and laid out for scoring once, in memory. chunked: the
   * candidates read from the file and scored 4,096 at a time for each query, so a cache larger than
   * memory still ranks; chosen by itself when the file is larger than a quarter of RAM.
   */
  static load(o: { model: string; cache: string; kernels: Kernels; dtype?: DTypeOption; chunked?: boolean }): Ranker {
    const m = loadScoringModel(o.model, o.kernels, resolveDtype(o.dtype, o.kernels));
    const cache = readCache(o.cache, o.chunked ? { inMemoryBytes: 0 } : {});
    checkCacheFor(cache, m);
    const tl = performance.now(), bf16 = m.dtype === 'bf16' ? o.kernels : null;
    const warm = cache.buf ? cachedReps(cache, cache.header.entries, m.pm.sideLength, bf16) : null;
    return new Ranker(m, cache, warm, performance.now() - tl, bf16);
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
      for (let s = 0; s < all.length; s += CH) scores.set(scoreAgainst(this.model, a, cachedReps(this.cache, all.slice(s, s + CH), this.model.pm.sideLength, this.bf16)), s);
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
function checkRankQuery(q: { id?: string; text?: string; top?: number }): number {
  const top = intOption('top', q.top, 10);
  if ((q.id === undefined) === (q.text === undefined)) throw new DataError('rank needs exactly one of --id and --text');
  if (q.text !== undefined && (typeof q.text !== 'string' || q.text.trim() === '')) throw new DataError('--text is empty: give the text to rank against the cache');
  if (q.text?.includes('\0')) throw new DataError('--text contains a NUL character');
  return top;
}

export const cacheFileSize = (p: string): number => statSync(p).size;
