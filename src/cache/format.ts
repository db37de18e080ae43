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
import { JaBertError, registerError } from '../core/errors.js';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { totalmem } from 'node:os';
import { dirname, relative, resolve } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { checkOutputPath, checkRegularFile, isSameOrAncestor, readFileChecked, realish } from '../io/files.js';
import { CheckpointError } from '../io/tensor.js';
import { OptionError } from '../core/options.js';
import { quantizeRows } from '../core/quant.js';
import { findModelFiles } from '../model/load.js';
import type { PairHeadConfig } from '../model/heads/index.js';

export const MAGIC = 'JABCACHE';

/**
 * the largest magnitude a cached value (or an encoder output given with --from-embeddings) may have: encoder
 * outputs are O(10); within ±1e6 a head's products over a few thousand dimensions stay far inside f32's range
 */
export const MAX_CACHE_VALUE = 1e6;

export const CACHE_VERSION = 2;


export const CACHE_STORAGES = ['f32', 'bf16', 'int8'] as const;

export type CacheStorage = (typeof CACHE_STORAGES)[number];

export const VALUE_BYTES: Record<CacheStorage, number> = { f32: 4, bf16: 2, int8: 1 };


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
export function cacheBytes(c: Cache, pos: number, len: number, scratch?: Scratch): Uint8Array {
  if (c.buf) return c.buf.subarray(pos, pos + len);
  let out: Buffer;
  if (scratch) { if (scratch.b.length < len) scratch.b = Buffer.allocUnsafe(Math.max(len, 2 * scratch.b.length)); out = scratch.b; } else out = Buffer.alloc(len);
  let got = 0;
  while (got < len) { const n = readSync(c.fd!, out, got, len - got, pos + got); if (n === 0) throw new CacheError(`${c.path}: ended early (changed while in use?)`); got += n; }
  return out.subarray(0, len);
}

export interface Scratch { b: Buffer }
export const dataScratch: Scratch = { b: Buffer.allocUnsafe(1 << 16) }, scaleScratch: Scratch = { b: Buffer.allocUnsafe(1 << 10) };


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
export function encodeValues(v: Float32Array, W: number, st: CacheStorage): { data: Uint8Array; scales: Uint8Array } {
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
export function readCacheHeaderOnly(path: string, withHeader = true): Partial<CacheHeader> | null {
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
export function indexInCacheFolder(cache: string, index: string): { path: string; relative: string } | null {
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


export function writeCache(path: string, header: Omit<CacheHeader, 'entries' | 'floats'>, entries: Array<{ id: string; text: string; hash: string; rows: number; data: Float32Array }>): number {
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


export type CacheRecord = { id: string; text: string; hash: string; rows: number; data: Float32Array };

export { writeCache as writeCacheFile };


export const cacheFileSize = (p: string): number => statSync(p).size;

