/**
 * BERT's optimizer exactly as google-research/bert optimization.py builds it:
 * Adam (beta1 0.9, beta2 0.999, eps 1e-6) without bias correction, decoupled
 * weight decay 0.01 skipped for LayerNorm and bias, gradients clipped to a
 * global norm of 1.0, learning rate warmed up linearly then decayed linearly.
 */
import type { Kernels } from '../core/kernels.js';
import type { Bert } from '../model/bert.js';

export interface AdamWOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** global-norm clip; 0 or Infinity disables */
  maxGradNorm?: number;
}

/**
 * google-research/bert's schedule: polynomial (power 1) decay from lr to 0 over
 * totalSteps, replaced by lr * step / warmupSteps while step < warmupSteps.
 * step is the number of optimizer steps already taken (0 for the first).
 */
export function bertLearningRate(lr: number, step: number, totalSteps: number, warmupSteps: number): number {
  if (warmupSteps > 0 && step < warmupSteps) return (lr * step) / warmupSteps;
  if (totalSteps <= 0) return lr;
  return lr * Math.max(0, 1 - Math.min(step, totalSteps) / totalSteps);
}

export class AdamW {
  readonly m: Float32Array;
  readonly v: Float32Array;
  step = 0;
  constructor(private model: Bert, private K: Kernels, public opts: AdamWOptions) {
    this.m = new Float32Array(model.layout.total);
    this.v = new Float32Array(model.layout.total);
  }

  /** global L2 norm of the gradient arena */
  gradNorm(): number {
    const g = this.model.ensureGrads();
    return Math.sqrt(this.K.sumSquares(g, g.length));
  }

  /** clip, update, and count the step; returns the gradient norm before clipping */
  apply(lr: number): number {
    const model = this.model, K = this.K, o = this.opts;
    const g = model.ensureGrads();
    const norm = this.gradNorm();
    const maxNorm = o.maxGradNorm ?? 1.0;
    if (maxNorm > 0 && Number.isFinite(maxNorm) && norm > maxNorm) K.scale(g, maxNorm / norm, g.length);
    const b1 = o.beta1 ?? 0.9, b2 = o.beta2 ?? 0.999, eps = o.eps ?? 1e-6, wd = o.weightDecay ?? 0.01;
    const { decayEnd, total } = model.layout;
    const p = model.params;
    K.adamwStep(p.subarray(0, decayEnd), g.subarray(0, decayEnd), this.m.subarray(0, decayEnd), this.v.subarray(0, decayEnd), decayEnd, lr, b1, b2, eps, wd);
    K.adamwStep(p.subarray(decayEnd), g.subarray(decayEnd), this.m.subarray(decayEnd), this.v.subarray(decayEnd), total - decayEnd, lr, b1, b2, eps, 0);
    model.paramsChanged();
    this.step++;
    return norm;
  }
}
