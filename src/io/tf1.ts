/**
 * TensorFlow tensor bundles (`<prefix>.index` + `<prefix>.data-0000N-of-0000M`),
 * the format of TF1 checkpoints such as yoheikikuta/bert-japanese's.
 *
 * The .index file is a LevelDB-style table: data blocks of prefix-compressed
 * key/value entries, an index block pointing at them, and a 48-byte footer
 * ending in the magic 0xdb4775248b80fb57. Each block has a 5-byte trailer
 * (compression: 0 none, 1 snappy; masked crc32c). Key "" holds the
 * BundleHeaderProto; every other key is a variable name whose value is a
 * BundleEntryProto {dtype=1, shape=2, shard_id=3, offset=4, size=5, crc32c=6}.
 */
import { existsSync } from 'node:fs';
import { readFileChecked } from './files.js';
import { Proto } from './protobuf.js';
import { CheckpointError, type DTypeName, type RawTensor } from './tensor.js';

// ---- crc32c (Castagnoli) ----------------------------------------------------
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

export function crc32c(data: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** LevelDB's masking of stored CRCs */
export function maskCrc(crc: number): number {
  return (((crc >>> 15) | (crc << 17)) + 0xa282ead8) >>> 0;
}

// ---- snappy (raw block format) ----------------------------------------------
export function snappyDecompress(src: Uint8Array, what = 'snappy block'): Uint8Array {
  let p = 0;
  let len = 0, shift = 0;
  for (;;) {
    if (p >= src.length) throw new CheckpointError(`${what}: truncated length`);
    const b = src[p++]!;
    len += (b & 0x7f) * 2 ** shift;
    if (!(b & 0x80)) break;
    shift += 7;
  }
  const out = new Uint8Array(len);
  let o = 0;
  while (p < src.length) {
    const tag = src[p++]!;
    const type = tag & 3;
    if (type === 0) {
      let n = tag >>> 2;
      if (n >= 60) {
        const bytes = n - 59;
        n = 0;
        for (let i = 0; i < bytes; i++) n |= src[p + i]! << (8 * i);
        n >>>= 0;
        p += bytes;
      }
      n += 1;
      if (p + n > src.length || o + n > len) throw new CheckpointError(`${what}: literal runs past the end`);
      out.set(src.subarray(p, p + n), o);
      p += n;
      o += n;
      continue;
    }
    let n: number, off: number;
    if (type === 1) { n = 4 + ((tag >>> 2) & 7); off = ((tag >>> 5) << 8) | src[p++]!; }
    else if (type === 2) { n = (tag >>> 2) + 1; off = src[p]! | (src[p + 1]! << 8); p += 2; }
    else { n = (tag >>> 2) + 1; off = (src[p]! | (src[p + 1]! << 8) | (src[p + 2]! << 16) | (src[p + 3]! << 24)) >>> 0; p += 4; }
    if (off === 0 || off > o || o + n > len) throw new CheckpointError(`${what}: bad copy (offset ${off}, length ${n})`);
    for (let i = 0; i < n; i++, o++) out[o] = out[o - off]!;
  }
  if (o !== len) throw new CheckpointError(`${what}: decompressed ${o} bytes, expected ${len}`);
  return out;
}

// TensorFlow DataType enum -> our dtype names
const TF_DTYPES: Record<number, DTypeName> = { 1: 'F32', 2: 'F64', 3: 'I32', 4: 'U8', 5: 'I16', 6: 'I8', 9: 'I64', 10: 'BOOL', 14: 'BF16', 19: 'F16' };
const TF_STRING = 7;

export interface BundleEntry {
  dtype: number;
  shape: number[];
  shardId: number;
  offset: number;
  size: number;
  crc32c: number | null;
}

function parseEntry(b: Uint8Array): BundleEntry {
  const r = new Proto(b);
  const e: BundleEntry = { dtype: 0, shape: [], shardId: 0, offset: 0, size: 0, crc32c: null };
  while (!r.done) {
    const tag = r.varint(), f = Math.floor(tag / 8), w = tag & 7;
    if (f === 1 && w === 0) e.dtype = r.varint();
    else if (f === 2 && w === 2) {
      const s = new Proto(r.bytes());
      while (!s.done) {
        const t2 = s.varint();
        if (t2 >>> 3 === 2 && (t2 & 7) === 2) {
          const d = new Proto(s.bytes());
          let size = 0;
          while (!d.done) { const t3 = d.varint(); if (t3 >>> 3 === 1 && (t3 & 7) === 0) size = d.varint(); else d.skip(t3 & 7); }
          e.shape.push(size);
        } else s.skip(t2 & 7);
      }
    } else if (f === 3 && w === 0) e.shardId = r.varint();
    else if (f === 4 && w === 0) e.offset = r.varint();
    else if (f === 5 && w === 0) e.size = r.varint();
    else if (f === 6 && w === 5) e.crc32c = r.fixed32();
    else r.skip(w);
  }
  return e;
}

// ---- the table ------------------------------------------------------------------
function readBlock(file: Uint8Array, offset: number, size: number, path: string): Uint8Array {
  if (offset + size + 5 > file.length) throw new CheckpointError(`${path}: block at ${offset} runs past the end of the file; the file is truncated`);
  const body = file.subarray(offset, offset + size);
  const type = file[offset + size]!;
  const stored = new DataView(file.buffer, file.byteOffset + offset + size + 1, 4).getUint32(0, true);
  const actual = maskCrc(crc32c(file.subarray(offset, offset + size + 1)));
  if (stored !== actual) throw new CheckpointError(`${path}: block at ${offset} fails its crc32c check; the file is corrupt`);
  if (type === 0) return body;
  if (type === 1) return snappyDecompress(body, `${path}: block at ${offset}`);
  throw new CheckpointError(`${path}: block at ${offset} has unknown compression type ${type}`);
}

function blockEntries(block: Uint8Array, path: string): Array<[Uint8Array, Uint8Array]> {
  const dv = new DataView(block.buffer, block.byteOffset, block.byteLength);
  if (block.length < 4) throw new CheckpointError(`${path}: block too short`);
  const numRestarts = dv.getUint32(block.length - 4, true);
  const end = block.length - 4 - 4 * numRestarts;
  if (end < 0) throw new CheckpointError(`${path}: corrupt block restart array`);
  const r = new Proto(block.subarray(0, end));
  const out: Array<[Uint8Array, Uint8Array]> = [];
  let prev = new Uint8Array(0);
  while (!r.done) {
    const shared = r.varint(), nonShared = r.varint(), vlen = r.varint();
    const key = new Uint8Array(shared + nonShared);
    key.set(prev.subarray(0, shared));
    key.set(r.b.subarray(r.p, r.p + nonShared), shared);
    r.p += nonShared;
    const value = r.b.subarray(r.p, r.p + vlen);
    r.p += vlen;
    out.push([key, value]);
    prev = key;
  }
  return out;
}

/** list every entry of a bundle's .index */
export function readBundleIndex(indexPath: string): { numShards: number; entries: Map<string, BundleEntry> } {
  if (!existsSync(indexPath)) throw new CheckpointError(`${indexPath}: no such file`);
  const file = readFileChecked(indexPath, 'TF checkpoint index', undefined, CheckpointError);
  if (file.length < 48) throw new CheckpointError(`${indexPath}: too short to be a TF checkpoint index`);
  const footer = file.subarray(file.length - 48);
  const fdv = new DataView(footer.buffer, footer.byteOffset, 48);
  if (fdv.getUint32(40, true) !== 0x8b80fb57 || fdv.getUint32(44, true) !== 0xdb477524) {
    throw new CheckpointError(`${indexPath}: bad table magic; not a TensorFlow checkpoint index`);
  }
  const f = new Proto(footer);
  f.varint(); f.varint(); // metaindex handle (unused)
  const idxOff = f.varint(), idxSize = f.varint();
  const entries = new Map<string, BundleEntry>();
  let numShards = 1;
  const dec = new TextDecoder();
  for (const [, handle] of blockEntries(readBlock(file, idxOff, idxSize, indexPath), indexPath)) {
    const h = new Proto(handle);
    const off = h.varint(), size = h.varint();
    for (const [k, v] of blockEntries(readBlock(file, off, size, indexPath), indexPath)) {
      const key = dec.decode(k);
      if (key === '') {
        const hr = new Proto(v);
        while (!hr.done) { const t = hr.varint(); if (t >>> 3 === 1 && (t & 7) === 0) numShards = hr.varint(); else hr.skip(t & 7); }
        continue;
      }
      entries.set(key, parseEntry(v));
    }
  }
  return { numShards, entries };
}

function shardPath(prefix: string, shard: number, numShards: number): string {
  const pad = (n: number) => String(n).padStart(5, '0');
  return `${prefix}.data-${pad(shard)}-of-${pad(numShards)}`;
}

/** read every numeric tensor of a checkpoint; crc32c verified */
export function readTf1Checkpoint(prefix: string, opts: { keep?: (name: string) => boolean } = {}): Map<string, RawTensor> {
  const { numShards, entries } = readBundleIndex(prefix + '.index');
  const shards = new Map<number, Uint8Array>();
  const out = new Map<string, RawTensor>();
  for (const [name, e] of entries) {
    if (opts.keep && !opts.keep(name)) continue;
    if (e.dtype === TF_STRING) continue;
    const dtype = TF_DTYPES[e.dtype];
    if (!dtype) throw new CheckpointError(`${prefix}.index: tensor ${name} has unsupported TF dtype ${e.dtype}`);
    let data = shards.get(e.shardId);
    if (!data) {
      const p = shardPath(prefix, e.shardId, numShards);
      if (!existsSync(p)) throw new CheckpointError(`${p}: data shard missing for tensor ${name}`);
      data = readFileChecked(p, 'TF checkpoint data', undefined, CheckpointError);
      shards.set(e.shardId, data);
    }
    if (e.offset + e.size > data.length) throw new CheckpointError(`${shardPath(prefix, e.shardId, numShards)}: tensor ${name} runs past the end of the file; the file is truncated`);
    const bytes = data.subarray(e.offset, e.offset + e.size);
    // entries store the masked crc32c of the tensor bytes
    if (e.crc32c !== null && maskCrc(crc32c(bytes)) !== e.crc32c) {
      throw new CheckpointError(`${shardPath(prefix, e.shardId, numShards)}: tensor ${name} fails its crc32c check; the file is corrupt`);
    }
    out.set(name, { dtype, shape: e.shape, data: bytes.slice() });
  }
  return out;
}

/**
 * google-research/bert variable names -> Hugging Face names. Returns null for
 * names a BERT classifier never loads (optimizer slots, global_step, MLM/NSP heads).
 */
export function tfNameToHf(name: string): { name: string; transpose: boolean } | null {
  if (/(^|\/)(adam_m|adam_v)$/.test(name) || name === 'global_step' || name.startsWith('cls/seq_relationship')) return null;
  if (name === 'cls/predictions/output_bias') return { name: 'cls.predictions.bias', transpose: false };
  if (name.startsWith('cls/predictions/')) {
    const n = name.replace(/\//g, '.');
    if (n.endsWith('.kernel')) return { name: n.slice(0, -7) + '.weight', transpose: true };
    return { name: n.replace(/\.gamma$/, '.weight').replace(/\.beta$/, '.bias'), transpose: false };
  }
  if (name === 'output_weights') return { name: 'classifier.weight', transpose: false };
  if (name === 'output_bias') return { name: 'classifier.bias', transpose: false };
  if (!name.startsWith('bert/')) return { name, transpose: false };
  let n = name.replace(/\//g, '.').replace(/\.layer_(\d+)\./, '.layer.$1.');
  let transpose = false;
  if (n.endsWith('.kernel')) { n = n.slice(0, -7) + '.weight'; transpose = true; }
  else if (n.endsWith('.gamma')) n = n.slice(0, -6) + '.weight';
  else if (n.endsWith('.beta')) n = n.slice(0, -5) + '.bias';
  else if (/_embeddings$/.test(n)) n += '.weight';
  return { name: n, transpose };
}
