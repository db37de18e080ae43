/**
 * The dense layer every part of the model uses (the encoder, the task heads through their context, the pair heads):
 * Hugging Face's nn.Linear with W stored [out, in], forward and backward as two or three matmuls on the Kernels seam.
 */
import type { F32, Kernels } from '../core/kernels.js';

/** out[R, O] = x[R, In] · Wᵀ (+ b); W is the f32 weight or, for a bf16 matmul (dt), its bf16 copy */
export function linear(K: Kernels, out: F32, x: F32, W: F32 | Uint16Array, b: F32 | null, R: number, O: number, In: number, dt: number): F32 {
  K.matmul(out, x, W, b, 1, R, O, In, false, true, false, dt);
  return out;
}

/** the backward of linear: dW += dYᵀ X, db += Σ_rows dY (db null: no bias), then dX = dY · W (+= with accumulate; dX null: not needed) */
export function linearBackward(K: Kernels, dY: F32, X: F32, W: F32 | Uint16Array, dW: F32, db: F32 | null, R: number, O: number, In: number, dt: number,
  dX: F32 | null, accumulate = false): void {
  K.matmul(dW, dY, X, null, 1, O, In, R, true, false, true, dt);
  if (db) K.colSumAccumulate(db, dY, R, O);
  if (dX) K.matmul(dX, dY, W, null, 1, R, In, O, false, false, accumulate, dt);
}
