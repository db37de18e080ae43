/**
 * The training loss beyond plain cross-entropy: label smoothing as HF
 * Trainer's LabelSmoother ((1 − ε)·NLL + ε·mean over classes of −log p) and
 * per-class weights (each example weighted by its label's weight, the mean
 * taken over the weights, as PyTorch's CrossEntropyLoss(weight=…)). Computed
 * from the probabilities the cross-entropy kernel already produced; O(B·C).
 * Evaluation loss stays plain cross-entropy (run_classifier's eval_loss).
 */
import type { F32 } from '../core/kernels.js';

export interface LossSpec {
  /** one weight per label index */
  classWeights?: Float32Array;
  /** ε in [0, 1) */
  labelSmoothing?: number;
}

/** whether the spec changes nothing (then the kernels' cross-entropy is used as it is) */
export const isPlainLoss = (s?: LossSpec): boolean => !s || (!s.classWeights && !s.labelSmoothing);

/** scikit-learn's compute_class_weight('balanced'): n / (C · count_c) */
export function balancedClassWeights(y: ArrayLike<number>, C: number): Float32Array {
  const count = new Float64Array(C);
  for (let i = 0; i < y.length; i++) count[y[i]!]!++;
  return Float32Array.from(count, (c) => (c > 0 ? y.length / (C * c) : 0));
}

export function specLoss(probs: F32, labels: Int32Array, B: number, C: number, s: LossSpec): number {
  const eps = s.labelSmoothing ?? 0;
  let sum = 0, wsum = 0;
  for (let i = 0; i < B; i++) {
    const y = labels[i]!;
    if (y < 0) continue;
    const w = s.classWeights ? s.classWeights[y]! : 1;
    let logSum = 0;
    for (let c = 0; c < C; c++) logSum += Math.log(Math.max(probs[i * C + c]!, 1e-30));
    const li = -(1 - eps) * Math.log(Math.max(probs[i * C + y]!, 1e-30)) - (eps * logSum) / C;
    sum += w * li;
    wsum += w;
  }
  return wsum > 0 ? sum / wsum : 0;
}

/** d(loss)/d(logits): (p − q) · w_y / Σw, q = (1 − ε)·onehot(y) + ε / C */
export function specLossGrad(dlogits: F32, probs: F32, labels: Int32Array, B: number, C: number, dLoss: number, s: LossSpec): void {
  const eps = s.labelSmoothing ?? 0;
  let wsum = 0;
  for (let i = 0; i < B; i++) if (labels[i]! >= 0) wsum += s.classWeights ? s.classWeights[labels[i]!]! : 1;
  for (let i = 0; i < B; i++) {
    const y = labels[i]!;
    if (y < 0 || wsum === 0) { dlogits.fill(0, i * C, i * C + C); continue; }
    const k = (dLoss * (s.classWeights ? s.classWeights[y]! : 1)) / wsum;
    for (let c = 0; c < C; c++) dlogits[i * C + c] = k * (probs[i * C + c]! - ((c === y ? 1 - eps : 0) + eps / C));
  }
}

/** mean squared error of one output per row (HF's regression loss, MSELoss) */
export function mseLoss(pred: F32, y: ArrayLike<number>, B: number): number {
  let s = 0;
  for (let i = 0; i < B; i++) s += (pred[i]! - y[i]!) ** 2;
  return s / B;
}

/** its gradient: 2 (pred − y) / B · dLoss */
export function mseGrad(dpred: F32, pred: F32, y: ArrayLike<number>, B: number, dLoss: number): void {
  for (let i = 0; i < B; i++) dpred[i] = (2 * (pred[i]! - y[i]!) * dLoss) / B;
}

/** binary cross-entropy with logits over every (example, label), averaged (PyTorch's BCEWithLogitsLoss, multi-label) */
export function bceLoss(logits: F32, Y: ArrayLike<number>, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) { const z = logits[i]!; s += Math.max(z, 0) - z * Y[i]! + Math.log1p(Math.exp(-Math.abs(z))); }
  return s / n;
}

/** its gradient: (σ(z) − y) / n · dLoss */
export function bceGrad(d: F32, logits: F32, Y: ArrayLike<number>, n: number, dLoss: number): void {
  for (let i = 0; i < n; i++) d[i] = ((1 / (1 + Math.exp(-logits[i]!)) - Y[i]!) * dLoss) / n;
}

export const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));

/** a loss on a micro-batch's logits [B, C] (rows `idx` of the training set): its value and its gradient */
export type LogitLoss = (logits: F32, idx: number[], dLoss: number) => { loss: number; dLogits: F32 };

/** MSE against float targets (regression, one output) */
export function mseOn(targets: Float64Array): LogitLoss {
  return (logits, idx, dLoss) => {
    const y = Float64Array.from(idx, (i) => targets[i]!), dLogits = new Float32Array(idx.length);
    mseGrad(dLogits, logits, y, idx.length, dLoss);
    return { loss: mseLoss(logits, y, idx.length), dLogits };
  };
}

/** binary cross-entropy against an n × C 0/1 matrix (multi-label) */
export function bceOn(Y: Uint8Array, C: number): LogitLoss {
  return (logits, idx, dLoss) => {
    const y = new Float64Array(idx.length * C), dLogits = new Float32Array(idx.length * C);
    idx.forEach((i, k) => { for (let c = 0; c < C; c++) y[k * C + c] = Y[i * C + c]!; });
    bceGrad(dLogits, logits, y, idx.length * C, dLoss);
    return { loss: bceLoss(logits, y, idx.length * C), dLogits };
  };
}
