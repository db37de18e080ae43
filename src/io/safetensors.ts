/**
 * safetensors: u64 LE header length, JSON header {name: {dtype, shape,
 * data_offsets}} with optional __metadata__, then raw little-endian data.
 */
import { readFileChecked } from './files.js';
import { jsonErrorReason } from './text.js';
import { writeFileAtomic } from './atomic.js';
import { CheckpointError, DTYPE_BYTES, numel, type DTypeName, type RawTensor } from './tensor.js';

export interface SafetensorsFile {
  tensors: Map<string, RawTensor>;
  metadata: Record<string, string>;
}

export function parseSafetensors(buf: Uint8Array, path = 'safetensors'): SafetensorsFile {
  if (buf.byteLength < 8) throw new CheckpointError(`${path}: too short to be a safetensors file (${buf.byteLength} bytes)`);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const hlen = Number(dv.getBigUint64(0, true));
  if (hlen > buf.byteLength - 8 || hlen > 100_000_000) throw new CheckpointError(`${path}: header length ${hlen} exceeds the file (${buf.byteLength} bytes); the file is truncated or not safetensors`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(buf.subarray(8, 8 + hlen))) as Record<string, unknown>;
  } catch (e) {
    throw new CheckpointError(`${path}: the header is not valid JSON (${jsonErrorReason(e)})`);
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) throw new CheckpointError(`${path}: the header is not a JSON object`);
  const dataStart = 8 + hlen;
  const tensors = new Map<string, RawTensor>();
  let metadata: Record<string, string> = {};
  // offsets must be non-negative integers, in order, non-overlapping, and cover the data section exactly
  const spans: Array<[number, number, string]> = [];
  for (const [name, v] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (v !== null && (typeof v !== 'object' || Array.isArray(v) || Object.values(v as object).some((x) => typeof x !== 'string'))) throw new CheckpointError(`${path}: __metadata__ must map names to strings`);
      metadata = (v ?? {}) as Record<string, string>;
      continue;
    }
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new CheckpointError(`${path}: tensor ${name}'s entry is not an object`);
    const e = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const dtype = e.dtype as DTypeName;
    if (typeof e.dtype !== 'string' || !Object.prototype.hasOwnProperty.call(DTYPE_BYTES, dtype)) throw new CheckpointError(`${path}: tensor ${name} has unsupported dtype ${String(e.dtype)}`);
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new CheckpointError(`${path}: tensor ${name}'s shape must be a list of non-negative integers`);
    if (!Array.isArray(e.data_offsets) || e.data_offsets.length !== 2 || !e.data_offsets.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new CheckpointError(`${path}: tensor ${name}'s data_offsets must be two non-negative integers`);
    const [s, t] = e.data_offsets as [number, number];
    const want = numel(e.shape as number[]) * DTYPE_BYTES[dtype];
    if (t - s !== want) throw new CheckpointError(`${path}: tensor ${name} has ${t - s} bytes for shape [${String(e.shape)}] ${dtype} (needs ${want})`);
    if (dataStart + t > buf.byteLength) throw new CheckpointError(`${path}: tensor ${name} runs past the end of the file; the file is truncated`);
    spans.push([s, t, name]);
    tensors.set(name, { dtype, shape: e.shape as number[], data: buf.subarray(dataStart + s, dataStart + t) });
  }
  spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let end = 0;
  for (const [s, t, name] of spans) {
    if (s < end) throw new CheckpointError(`${path}: tensor ${name}'s data overlaps another tensor's`);
    if (s > end) throw new CheckpointError(`${path}: ${s - end} bytes before tensor ${name} belong to no tensor; the file is damaged`);
    end = t;
  }
  if (dataStart + end !== buf.byteLength) throw new CheckpointError(`${path}: ${buf.byteLength - dataStart - end} bytes after the last tensor belong to no tensor; the file is damaged`);
  return { tensors, metadata };
}

export function readSafetensors(path: string): SafetensorsFile {
  return parseSafetensors(readFileChecked(path, 'model weights', undefined, CheckpointError), path);
}

export interface TensorToWrite {
  name: string;
  shape: number[];
  data: Float32Array | Float64Array | Uint16Array | Int32Array;
  /** for Uint16Array data: BF16 (default) or F16 */
  dtype?: DTypeName;
}

/** write atomically (a temp file in the same folder, fsync, then rename) */
export function writeSafetensors(path: string, tensors: TensorToWrite[], metadata: Record<string, string> = {}): void {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let off = 0;
  for (const t of tensors) {
    const dtype: DTypeName = t.data instanceof Float32Array ? 'F32' : t.data instanceof Float64Array ? 'F64' : t.data instanceof Int32Array ? 'I32' : (t.dtype ?? 'BF16');
    if (numel(t.shape) !== t.data.length) throw new CheckpointError(`writeSafetensors: ${t.name} has ${t.data.length} values for shape [${t.shape}]`);
    header[t.name] = { dtype, shape: t.shape, data_offsets: [off, off + t.data.byteLength] };
    off += t.data.byteLength;
  }
  let h = Buffer.from(JSON.stringify(header));
  const pad = (8 - (h.length % 8)) % 8;
  if (pad) h = Buffer.concat([h, Buffer.alloc(pad, 0x20)]);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  writeFileAtomic(path, (write) => {
    write(len);
    write(h);
    for (const t of tensors) write(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  });
}

