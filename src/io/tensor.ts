/** A tensor as read from a checkpoint: little-endian contiguous bytes, C order. */
import { JaBertError, registerError } from '../core/errors.js';
export type DTypeName = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export interface RawTensor {
  dtype: DTypeName;
  shape: number[];
  data: Uint8Array;
}

export class CheckpointError extends JaBertError { override readonly code = 'ERR_JA_BERT_CHECKPOINT'; }
registerError(CheckpointError);

export const DTYPE_BYTES: Record<DTypeName, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

/** the index of the first non-finite value of `v`, or -1 (weights, outputs: a diverged model is refused, never used) */
export function firstNonFinite(v: ArrayLike<number>): number {
  for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i]!)) return i;
  return -1;
}

export function numel(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** convert any numeric tensor to f64 numbers (for references) */
export function toFloat64(t: RawTensor): Float64Array {
  const n = numel(t.shape);
  const dv = new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    switch (t.dtype) {
      case 'F64': out[i] = dv.getFloat64(i * 8, true); break;
      case 'F32': out[i] = dv.getFloat32(i * 4, true); break;
      case 'F16': out[i] = halfToFloat(dv.getUint16(i * 2, true)); break;
      case 'BF16': { const b = new DataView(new ArrayBuffer(4)); b.setUint32(0, dv.getUint16(i * 2, true) << 16, true); out[i] = b.getFloat32(0, true); break; }
      case 'I64': out[i] = Number(dv.getBigInt64(i * 8, true)); break;
      case 'I32': out[i] = dv.getInt32(i * 4, true); break;
      case 'I16': out[i] = dv.getInt16(i * 2, true); break;
      case 'I8': out[i] = dv.getInt8(i); break;
      case 'U8': case 'BOOL': out[i] = dv.getUint8(i); break;
    }
  }
  return out;
}

/** convert a floating tensor to f32 (the engine's parameter type) */
export function toFloat32(t: RawTensor): Float32Array {
  const n = numel(t.shape);
  if (t.dtype === 'F32') {
    const out = new Float32Array(n);
    new Uint8Array(out.buffer).set(t.data.subarray(0, n * 4));
    return out;
  }
  if (t.dtype === 'BF16') {
    const out = new Float32Array(n);
    const u = new Uint32Array(out.buffer);
    const dv = new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    for (let i = 0; i < n; i++) u[i] = dv.getUint16(i * 2, true) << 16;
    return out;
  }
  if (t.dtype === 'F16' || t.dtype === 'F64') return Float32Array.from(toFloat64(t));
  throw new CheckpointError(`expected a floating-point tensor, got ${t.dtype}`);
}
