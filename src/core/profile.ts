/**
 * Where a step's time goes: a Kernels object that times every call of the kernels it wraps and sums the time per
 * kind of operation (GEMM, attention softmax, GELU, layer norm, copies, ...). Every kernel is one synchronous call
 * (native ones return when done), so the wall time of a call is the operation's; what is left of a step is host
 * code (input checks, the heads' host loops, JavaScript between calls). The wrapper adds two clock reads per call.
 */
import type { Kernels } from './kernels.js';

/** the operation kinds a breakdown reports, and the kernels each covers */
export const OPERATION_KINDS = {
  gemm: ['matmul'],
  attention_softmax: ['attnSoftmaxForward', 'attnSoftmaxShared', 'attnSoftmaxBackward'],
  gelu: ['geluForward', 'geluBackward'],
  layernorm: ['layernormForward', 'layernormBackward'],
  head_copies: ['splitHeads', 'mergeHeads3', 'headsToRows', 'rowsToHeads'],
  dropout: ['dropoutForward', 'dropoutBackward'],
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
  const ms = new Float64Array(kinds.length), calls = new Float64Array(kinds.length);
  const fnMs = new Map<string, number>(), fnCalls = new Map<string, number>();
  const wrapped: Record<string, unknown> = { name: K.name, isa: K.isa, autoDtype: K.autoDtype, bf16Supported: K.bf16Supported };
  kinds.forEach((kind, k) => {
    for (const fn of OPERATION_KINDS[kind]) {
      const f = (K as unknown as Record<string, (...a: unknown[]) => unknown>)[fn]!;
      fnMs.set(fn, 0); fnCalls.set(fn, 0);
      wrapped[fn] = (...args: unknown[]) => {
        const t0 = performance.now();
        const r = f(...args);
        const dt = performance.now() - t0;
        ms[k] += dt; calls[k]++;
        fnMs.set(fn, fnMs.get(fn)! + dt); fnCalls.set(fn, fnCalls.get(fn)! + 1);
        return r;
      };
    }
  });
  return {
    kernels: Object.freeze(wrapped) as unknown as Kernels,
    totals: () => Object.fromEntries(kinds.map((kind, k) => [kind, { ms: ms[k]!, calls: calls[k]! }])) as Record<OperationKind, { ms: number; calls: number }>,
    byKernel: () => Object.fromEntries([...fnMs].filter(([fn]) => fnCalls.get(fn)! > 0).map(([fn, t]) => [fn, { ms: t, calls: fnCalls.get(fn)! }])),
    reset: () => { ms.fill(0); calls.fill(0); for (const fn of fnMs.keys()) { fnMs.set(fn, 0); fnCalls.set(fn, 0); } },
  };
}
