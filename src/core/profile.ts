/**
 * Where a step's time goes: a Kernels object that times every call of the kernels it wraps and sums the time per
 * kind of operation (GEMM, attention softmax, GELU, layer norm, copies, ...). Every kernel is one synchronous call
 * (native ones return when done), so the wall time of a call is the operation's; what is left of a step is host
 * code (input checks, the heads' host loops, JavaScript between calls). The wrapper adds two clock reads per call.
 */
import type { Kernels } from './kernels.js';

/** the operation kinds a breakdown reports, and the kernels each covers */
export const OPERATION_KINDS = {
  gemm: ['matmul', 'linearPacked'],
  // int8 dense layers: each call quantises its input rows, multiplies in int8 and dequantises (one native call)
  gemm_int8: ['linearInt8'],
  quantization: ['quantizeRowsS8', 'packInt8Weights'],
  packing: ['packDenseWeights'],
  attention_softmax: ['attnSoftmaxForward', 'attnSoftmaxShared', 'attnSoftmaxWindow', 'attnSoftmaxBackward'],
  relative_position: ['relPosBias', 'relPosBiasBackward'],
  blocked_attention: ['attnBlocked', 'attnBlockedBackward'],
  gelu: ['geluForward', 'geluBackward', 'gegluForward', 'gegluBackward'],
  layernorm: ['layernormForward', 'layernormBackward'],
  head_copies: ['splitHeads', 'mergeHeads3', 'headsToRows', 'rowsToHeads'],
  rotary: ['ropeApply'],
  dropout: ['dropoutForward', 'dropoutRowsForward', 'dropoutBackward'],
  elementwise: ['addForward', 'accumulate', 'scale', 'sumSquares', 'tanhForward', 'tanhBackward', 'colSumAccumulate'],
  bf16_conversion: ['f32ToBf16', 'bf16ToF32'],
  embedding: ['embeddingForward', 'embeddingBackward'],
  loss: ['softmaxForward', 'softmaxBackward', 'crossEntropyForward', 'crossEntropyBackward'],
  pair_heads: ['attnPoolFeatures', 'maxSim', 'additiveScores'],
  optimizer: ['adamwStep'],
} as const satisfies Record<string, ReadonlyArray<keyof Kernels>>;

export type OperationKind = keyof typeof OPERATION_KINDS;

export interface KernelProfile {
  /** the wrapped kernels: give these to the model and the optimizer */
  readonly kernels: Kernels;
  /** milliseconds and calls per kind since the last reset */
  totals(): Record<OperationKind, { ms: number; calls: number }>;
  /** milliseconds and calls per kernel (the kinds' parts) since the last reset, kernels never called left out */
  byKernel(): Record<string, { ms: number; calls: number }>;
  reset(): void;
}

export function profileKernels(K: Kernels): KernelProfile {
  const kinds = Object.keys(OPERATION_KINDS) as OperationKind[];
  // one counter per kernel; a kind's totals are the sums of its kernels'
  const fns = kinds.flatMap((kind) => OPERATION_KINDS[kind] as readonly string[]);
  const ms = new Float64Array(fns.length), calls = new Float64Array(fns.length);
  const wrapped: Record<string, unknown> = { name: K.name, isa: K.isa, autoDtype: K.autoDtype, bf16Supported: K.bf16Supported, int8WeightMax: K.int8WeightMax };
  fns.forEach((fn, k) => {
    const f = (K as unknown as Record<string, (...a: unknown[]) => unknown>)[fn]!;
    wrapped[fn] = (...args: unknown[]) => {
      const t0 = performance.now();
      const r = f(...args);
      ms[k] += performance.now() - t0;
      calls[k]++;
      return r;
    };
  });
  const of = (fn: string) => { const k = fns.indexOf(fn); return { ms: ms[k]!, calls: calls[k]! }; };
  return {
    kernels: Object.freeze(wrapped) as unknown as Kernels,
    totals: () => Object.fromEntries(kinds.map((kind) => [kind, (OPERATION_KINDS[kind] as readonly string[]).map(of)
      .reduce((s, v) => ({ ms: s.ms + v.ms, calls: s.calls + v.calls }), { ms: 0, calls: 0 })])) as Record<OperationKind, { ms: number; calls: number }>,
    byKernel: () => Object.fromEntries(fns.filter((fn) => of(fn).calls > 0).map((fn) => [fn, of(fn)])),
    reset: () => { ms.fill(0); calls.fill(0); },
  };
}
