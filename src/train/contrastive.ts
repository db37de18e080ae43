/**
 * Contrastive training of the bi-encoder (the `cosine` pair head), as
 * sentence-transformers trains one:
 *
 *   contrastive  MultipleNegativesRankingLoss: for a batch of positive pairs
 *                (a_i, b_i), cross-entropy of scale · cos(a_i, b_j) over j with
 *                target i; every other B of the batch is a negative. A B that
 *                is itself a known positive of a_i (the same A or the same B
 *                text elsewhere in the batch, or a labelled positive pair) is
 *                left out of a_i's negatives rather than pushed away.
 *   cosent       CoSENT: log(1 + Σ_{t_i > t_j} exp(scale · (cos_j − cos_i)))
 *                over the batch's pairs: every pair whose target is higher
 *                should have the higher cosine (0/1 labels or float scores).
 *
 * Both use scale 20 by default (sentence-transformers' default for both).
 * Neither trains the classifier on the cosine: `calibrate` fits it afterwards
 * on the training pairs (logistic regression for two labels, least squares for
 * scores), so predict, eval metrics and P(positive) in rank read a calibrated
 * probability while the ranking order stays the cosine's.
 */
import type { F32 } from '../core/kernels.js';
import { cosineAt, norm } from '../model/heads/cosine.js';
import type { PairModel } from '../model/pairmodel.js';
import type { PairInputs } from '../model/taskmodel.js';
import type { TrainTask } from './trainer.js';

export const CONTRASTIVE_LOSSES = ['cross-entropy', 'contrastive', 'cosent'] as const;
export type PairLoss = (typeof CONTRASTIVE_LOSSES)[number];

/** d cos(u, v) / du and / dv for unit-free u, v, scaled by k, added into du and dv */
function cosineGrad(u: F32, uo: number, v: F32, vo: number, D: number, k: number, du: F32, dv: F32): void {
  const nu = norm(u, uo, D), nv = norm(v, vo, D), cs = cosineAt(u, uo, v, vo, D);
  for (let d = 0; d < D; d++) {
    const x = u[uo + d]!, y = v[vo + d]!;
    du[uo + d] += k * (y / (nu * nv) - (cs * x) / (nu * nu));
    dv[vo + d] += k * (x / (nu * nv) - (cs * y) / (nv * nv));
  }
}

/**
 * MultipleNegativesRankingLoss of P pairs' vectors u, v [P, D]: mean over i of
 * −log softmax_j(scale · cos(u_i, v_j))[i], columns with excluded(i, j) left out (j ≠ i).
 * Returns the loss and adds dLoss · its gradients into du, dv.
 */
export function mnrlLoss(u: F32, v: F32, P: number, D: number, scale: number, excluded: (i: number, j: number) => boolean, dLoss: number, du: F32, dv: F32): number {
  let loss = 0;
  const row = new Float64Array(P);
  for (let i = 0; i < P; i++) {
    let mx = -Infinity;
    for (let j = 0; j < P; j++) {
      row[j] = j !== i && excluded(i, j) ? -Infinity : scale * cosineAt(u, i * D, v, j * D, D);
      mx = Math.max(mx, row[j]!);
    }
    let sum = 0;
    for (let j = 0; j < P; j++) sum += Math.exp(row[j]! - mx);
    loss += mx + Math.log(sum) - row[i]!;
    // d loss_i / d sim_ij = softmax_ij − [j = i], averaged over the batch
    for (let j = 0; j < P; j++) {
      if (row[j] === -Infinity) continue;
      const g = ((Math.exp(row[j]! - mx) / sum - (j === i ? 1 : 0)) * dLoss * scale) / P;
      if (g !== 0) cosineGrad(u, i * D, v, j * D, D, g, du, dv);
    }
  }
  return loss / P;
}

/**
 * CoSENT of P pairs' vectors u, v [P, D] and targets t: log(1 + Σ_{t_i > t_j} exp(scale · (cos_j − cos_i))).
 * Returns the loss and adds dLoss · its gradients into du, dv.
 */
export function cosentLoss(u: F32, v: F32, t: ArrayLike<number>, P: number, D: number, scale: number, dLoss: number, du: F32, dv: F32): number {
  const s = Float64Array.from({ length: P }, (_, p) => scale * cosineAt(u, p * D, v, p * D, D));
  // computed stably: m = max(0, every exponent)
  let mx = 0;
  for (let i = 0; i < P; i++) for (let j = 0; j < P; j++) if (t[i]! > t[j]!) mx = Math.max(mx, s[j]! - s[i]!);
  let sum = Math.exp(-mx);
  for (let i = 0; i < P; i++) for (let j = 0; j < P; j++) if (t[i]! > t[j]!) sum += Math.exp(s[j]! - s[i]! - mx);
  const ds = new Float64Array(P);
  for (let i = 0; i < P; i++) for (let j = 0; j < P; j++) if (t[i]! > t[j]!) {
    const w = Math.exp(s[j]! - s[i]! - mx) / sum;
    ds[j]! += w; ds[i]! -= w;
  }
  for (let p = 0; p < P; p++) if (ds[p] !== 0) cosineGrad(u, p * D, v, p * D, D, ds[p]! * scale * dLoss, du, dv);
  return mx + Math.log(sum);
}

/**
 * MultipleNegativesRankingLoss over the positive pairs `rows` (indices into f).
 * `keys`: each example's texts, to recognise duplicates and known positives.
 */
export function mnrlTask(pm: PairModel, f: PairInputs, rows: number[], keys: { a: string[]; b: string[] }, padId: number, scale: number): TrainTask {
  const positives = new Set(rows.map((i) => `${keys.a[i]}\u0000${keys.b[i]}`));
  return {
    lengths: rows.map((i) => Math.max(f.a[i]!.inputIds.length, f.b[i]!.inputIds.length)),
    step(idx, seed, dLoss) {
      const ex = idx.map((k) => rows[k]!), P = ex.length, D = pm.bert.cfg.hidden_size;
      const { a, b } = pm.sides(ex.map((i) => f.a[i]!), ex.map((i) => f.b[i]!), padId, { train: true, seed });
      // another B of the batch is no negative for a_i when it is a_i's own B text, or a positive of a_i
      const excluded = (i: number, j: number): boolean => keys.b[ex[j]!] === keys.b[ex[i]!] || keys.a[ex[j]!] === keys.a[ex[i]!] || positives.has(`${keys.a[ex[i]!]}\u0000${keys.b[ex[j]!]}`);
      const dua = new Float32Array(P * D), dvb = new Float32Array(P * D);
      const loss = mnrlLoss(a.pooled, b.pooled, P, D, scale, excluded, dLoss, dua, dvb);
      pm.backwardPooled(dua, dvb);
      return { loss, tokens: pm.lastTokens };
    },
  };
}

/** CoSENT over all pairs, against each example's target (0/1 for labels, or a score) */
export function cosentTask(pm: PairModel, f: PairInputs, targets: Float64Array, padId: number, scale: number): TrainTask {
  return {
    lengths: f.a.map((x, i) => Math.max(x.inputIds.length, f.b[i]!.inputIds.length)),
    step(idx, seed, dLoss) {
      const P = idx.length, D = pm.bert.cfg.hidden_size;
      const { a, b } = pm.sides(idx.map((i) => f.a[i]!), idx.map((i) => f.b[i]!), padId, { train: true, seed });
      const dua = new Float32Array(P * D), dvb = new Float32Array(P * D);
      const loss = cosentLoss(a.pooled, b.pooled, Float64Array.from(idx, (i) => targets[i]!), P, D, scale, dLoss, dua, dvb);
      pm.backwardPooled(dua, dvb);
      return { loss, tokens: pm.lastTokens };
    },
  };
}

/** cos(a_i, b_i) of up to `limit` pairs of f (evenly spaced), in batches, no dropout */
export function pairCosines(pm: PairModel, f: PairInputs, padId: number, limit = 4096, batch = 64): { rows: number[]; cos: Float64Array } {
  const n = f.a.length, m = Math.min(n, limit);
  const rows = Array.from({ length: m }, (_, k) => Math.floor((k * n) / m));
  const cos = new Float64Array(m), D = pm.bert.cfg.hidden_size;
  for (let s = 0; s < m; s += batch) {
    const part = rows.slice(s, s + batch);
    const { a, b } = pm.sides(part.map((i) => f.a[i]!), part.map((i) => f.b[i]!), padId);
    part.forEach((_, p) => { cos[s + p] = cosineAt(a.pooled, p * D, b.pooled, p * D, D); });
  }
  return { rows, cos };
}

/**
 * Logistic regression of y ∈ {0, 1} on one feature x (Newton's method, a small L2 penalty on the
 * slope so that separable data still has an answer): P(y = 1) = σ(w x + c).
 */
export function logistic1d(x: ArrayLike<number>, y: ArrayLike<number>, l2 = 1e-2): { w: number; c: number } {
  let w = 0, c = 0;
  const n = x.length;
  for (let it = 0; it < 100; it++) {
    let gw = l2 * w, gc = 0, hww = l2, hwc = 0, hcc = 1e-9;
    for (let i = 0; i < n; i++) {
      const p = 1 / (1 + Math.exp(-(w * x[i]! + c))), r = p - y[i]!, q = p * (1 - p);
      gw += r * x[i]!; gc += r; hww += q * x[i]! * x[i]!; hwc += q * x[i]!; hcc += q;
    }
    const det = hww * hcc - hwc * hwc;
    if (!(det > 0)) break;
    const dw = (hcc * gw - hwc * gc) / det, dc = (hww * gc - hwc * gw) / det;
    w -= dw; c -= dc;
    if (Math.abs(dw) + Math.abs(dc) < 1e-10) break;
  }
  return { w, c };
}

/** least squares y ≈ w x + c */
export function linear1d(x: ArrayLike<number>, y: ArrayLike<number>): { w: number; c: number } {
  const n = x.length;
  let mx = 0, my = 0;
  for (let i = 0; i < n; i++) { mx += x[i]!; my += y[i]!; }
  mx /= n; my /= n;
  let sxy = 0, sxx = 0;
  for (let i = 0; i < n; i++) { sxy += (x[i]! - mx) * (y[i]! - my); sxx += (x[i]! - mx) ** 2; }
  const w = sxx > 0 ? sxy / sxx : 0;
  return { w, c: my - w * mx };
}

/**
 * Fit the cosine head's classifier to the training pairs' cosines: for two labels, logits
 * [0, w·cos + c] (positive label's row), so P(positive) = σ(w·cos + c); for regression, w·cos + c.
 */
export function calibrate(pm: PairModel, f: PairInputs, padId: number, target: { positive: number; y: Int32Array } | { scores: Float64Array }): { w: number; c: number } {
  const { rows, cos } = pairCosines(pm, f, padId);
  const { weight: W, bias: B } = pm.head.classifier;
  W.fill(0); B.fill(0);
  let fit: { w: number; c: number };
  if ('scores' in target) {
    fit = linear1d(cos, rows.map((i) => target.scores[i]!));
    W[0] = fit.w; B[0] = fit.c;
  } else {
    fit = logistic1d(cos, rows.map((i) => (target.y[i] === target.positive ? 1 : 0)));
    W[target.positive] = fit.w; B[target.positive] = fit.c;
  }
  pm.bert.paramsChanged();
  return fit;
}
