/**
 * Batched evaluation of a task model (model/taskmodel.ts: the cross-encoder or a pair head): examples sorted by
 * length, scored in batches, results back in input order. Used by fine-tuning's evaluations and by inference
 * (infer/models.ts); training itself takes evaluation as a callback.
 */
import type { F32 } from '../core/kernels.js';
import { inputLength, type TaskInputs, type TaskModel } from '../model/taskmodel.js';
import { mseLoss } from '../train/loss.js';

export interface EvalResult {
  probs: Float32Array[];
  predictions: number[];
  /** mean per-example loss (run_classifier's eval_loss) */
  evalLoss: number;
  /** mean of per-batch mean losses (the Estimator's loss) */
  loss: number;
}

/**
 * The evaluation loop shared by every model kind: examples sorted by length
 * (less padding) and scored in batches by `scoreBatch` (mean loss and
 * probabilities [b, C] for the given indices and labels, -1 = none); results
 * go back in input order.
 */
export function evaluateBatches(n: number, lengthOf: (i: number) => number, C: number, labels: Int32Array | null, batchSize: number,
  scoreBatch: (idx: number[], y: Int32Array) => { loss: number; probs: Float32Array }): EvalResult {
  let sumLoss = 0, sumBatch = 0, batches = 0;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => lengthOf(a) - lengthOf(b));
  const outProbs = new Array<Float32Array>(n), outPred = new Array<number>(n);
  for (let s = 0; s < order.length; s += batchSize) {
    const b = order.slice(s, s + batchSize);
    const y = labels ? Int32Array.from(b, (i) => labels[i]!) : new Int32Array(b.length).fill(-1);
    const { loss, probs: p } = scoreBatch(b, y);
    if (labels) { sumLoss += loss * b.length; sumBatch += loss; batches++; }
    b.forEach((i, k) => {
      const row = p.slice(k * C, k * C + C);
      outProbs[i] = row;
      let best = 0;
      for (let c = 1; c < C; c++) if (row[c]! > row[best]!) best = c;
      outPred[i] = best;
    });
  }
  return { probs: outProbs, predictions: outPred, evalLoss: labels ? sumLoss / n : NaN, loss: labels ? sumBatch / batches : NaN };
}

/** a task model's probabilities, predictions and loss for every example (labels: -1 or null = none) */
export function evaluate(tm: TaskModel, x: TaskInputs, labels: Int32Array | null, batchSize: number, padId = 0): EvalResult {
  return evaluateBatches(x.a.length, (i) => inputLength(x, i), tm.C, labels, batchSize, (idx, y) => tm.loss(tm.logits(x, idx, padId, { grad: false }), y));
}
/** every example's C logits [n, C], in order, from batches of similar length */
export function logitBatches(n: number, lengthOf: (i: number) => number, C: number, batchSize: number, run: (idx: number[]) => F32): Float32Array {
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => lengthOf(a) - lengthOf(b));
  const out = new Float32Array(n * C);
  for (let s = 0; s < n; s += batchSize) {
    const idx = order.slice(s, s + batchSize), z = run(idx);
    idx.forEach((i, k) => out.set(z.subarray(k * C, (k + 1) * C), i * C));
  }
  return out;
}

/** a task model's logits for every example [n, C], in order */
export function evaluateLogits(tm: TaskModel, x: TaskInputs, batchSize: number, padId = 0): Float32Array {
  return logitBatches(x.a.length, (i) => inputLength(x, i), tm.C, batchSize, (idx) => tm.logits(x, idx, padId, { grad: false }));
}

/** a regressor's score per example in order; with targets, the mean squared error too */
export interface ScoreResult { scores: Float32Array; mse: number }

export const scoreResult = (scores: Float32Array, targets: Float64Array | null): ScoreResult => ({ scores, mse: targets ? mseLoss(scores, targets, scores.length) : NaN });

export function evaluateScores(tm: TaskModel, x: TaskInputs, targets: Float64Array | null, batchSize: number, padId = 0): ScoreResult {
  return scoreResult(evaluateLogits(tm, x, batchSize, padId), targets);
}
