/**
 * safetensors: u64 LE header length, JSON header {name: {dtype, shape,
 * data_offsets}} with optional __metadata__, then raw little-endian data.
 */
import { readFileSync } from 'node:fs';
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
    throw new CheckpointError(`${path}: the header is not valid JSON (${(e as Error).message})`);
  }
  const dataStart = 8 + hlen;
  const tensors = new Map<string, RawTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, v] of Object.entries(header)) {
    if (name === '__metadata__') { metadata = (v ?? {}) as Record<string, string>; continue; }
    const e = v as { dtype?: string; shape?: number[]; data_offsets?: [number, number] };
    const dtype = e.dtype as DTypeName;
    if (!(dtype in DTYPE_BYTES)) throw new CheckpointError(`${path}: tensor ${name} has unsupported dtype ${e.dtype}`);
    if (!Array.isArray(e.shape) || !Array.isArray(e.data_offsets)) throw new CheckpointError(`${path}: tensor ${name} lacks shape or data_offsets`);
    const [s, t] = e.data_offsets;
    const want = numel(e.shape) * DTYPE_BYTES[dtype];
    if (t - s !== want) throw new CheckpointError(`${path}: tensor ${name} has ${t - s} bytes for shape [${e.shape}] ${dtype} (needs ${want})`);
    if (dataStart + t > buf.byteLength) throw new CheckpointError(`${path}: tensor ${name} runs past the end of the file; the file is truncated`);
    tensors.set(name, { dtype, shape: e.shape, data: buf.subarray(dataStart + s, dataStart + t) });
  }
  return { tensors, metadata };
}

export function readSafetensors(path: string): SafetensorsFile {
  return parseSafetensors(readFileSync(path), path);
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

