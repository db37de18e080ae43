/**
 * Which dtype a run uses. `auto` (every command's default) is bf16 where the
 * kernels run bf16 matmuls natively (oneDNN avx512_core_bf16 or
 * avx512_core_amx) and f32 elsewhere; an explicit bf16 on a CPU that cannot
 * run it is refused before anything is read or written.
 */
import { JaBertError, registerError } from './errors.js';
import type { DType, Kernels } from './kernels.js';

export type DTypeOption = DType | 'auto';
export const DTYPE_OPTIONS: readonly DTypeOption[] = ['auto', 'f32', 'bf16', 'int8'];

export class DTypeError extends JaBertError { override readonly code = 'ERR_JA_BERT_DTYPE'; override readonly exitCode = 2; }
registerError(DTypeError);

/** a --dtype value: auto, f32, bf16 or int8 (undefined = auto) */
export function parseDtype(v: unknown): DTypeOption {
  if (v === undefined) return 'auto';
  if (typeof v !== 'string' || !(DTYPE_OPTIONS as readonly string[]).includes(v)) throw new DTypeError(`--dtype must be auto, f32, bf16 or int8, got "${String(v)}"`);
  return v as DTypeOption;
}

/** a training job's dtype: int8 is refused with one line (it is an inference dtype: its weights are quantised copies) */
export function trainingDtype(d: DType, job: string): DType {
  if (d === 'int8') throw new DTypeError(`${job}: --dtype int8 is for inference (predict, encode, serve, rank, cache build, the baseline, bench infer); train in auto, f32 or bf16`);
  return d;
}

/** the dtype a run uses on these kernels */
export function resolveDtype(d: DTypeOption | undefined, K: Pick<Kernels, 'autoDtype' | 'bf16Supported' | 'isa'>): DType {
  if (d === undefined || d === 'auto') return K.autoDtype;
  if (d === 'bf16' && !K.bf16Supported) {
    throw new DTypeError(`--dtype bf16: this CPU does not run bf16 natively (oneDNN ISA ${K.isa}; bf16 needs avx512_core_bf16 or avx512_core_amx); use --dtype auto or f32`);
  }
  return d;
}
