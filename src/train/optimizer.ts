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

/**
 * AdamW over one model's parameter arena, or over several trained in the same
 * steps (ELECTRA's generator beside its discriminator): their moments lie
 * end to end in m and v, and one global norm over every gradient clips them
 * all, as google-research/electra's optimizer does.
 */
export class AdamW {
  readonly m: Float32Array;
  readonly v: Float32Array;
  step = 0;
  private readonly models: Bert[];
  constructor(model: Bert | Bert[], private K: Kernels, public opts: AdamWOptions) {
    this.models = Array.isArray(model) ? model : [model];
    const total = this.models.reduce((a, x) => a + x.layout.total, 0);
    this.m = new Float32Array(total);
    this.v = new Float32Array(total);
  }

  /** global L2 norm of the gradient arenas */
  gradNorm(): number {
    let s = 0;
    for (const x of this.models) { const g = x.ensureGrads(); s += this.K.sumSquares(g, g.length); }
    return Math.sqrt(s);
  }

  /** clip, update, and count the step; returns the gradient norm before clipping */
  apply(lr: number): number {
    const K = this.K, o = this.opts;
    const norm = this.gradNorm();
    const maxNorm = o.maxGradNorm ?? 1.0;
    const clip = maxNorm > 0 && Number.isFinite(maxNorm) && norm > maxNorm;
    const b1 = o.beta1 ?? 0.9, b2 = o.beta2 ?? 0.999, eps = o.eps ?? 1e-6, wd = o.weightDecay ?? 0.01;
    let at = 0;
    for (const model of this.models) {
      const g = model.ensureGrads();
      if (clip) K.scale(g, maxNorm / norm, g.length);
      const { decayEnd, total } = model.layout;
      const p = model.params, m = this.m.subarray(at, at + total), v = this.v.subarray(at, at + total);
      K.adamwStep(p.subarray(0, decayEnd), g.subarray(0, decayEnd), m.subarray(0, decayEnd), v.subarray(0, decayEnd), decayEnd, lr, b1, b2, eps, wd);
      K.adamwStep(p.subarray(decayEnd), g.subarray(decayEnd), m.subarray(decayEnd), v.subarray(decayEnd), total - decayEnd, lr, b1, b2, eps, 0);
      model.paramsChanged();
      at += total;
    }
    this.step++;
    return norm;
  }
}
