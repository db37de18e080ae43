/**
 * Batched evaluation of a task model (model/taskmodel.ts: the cross-encoder or a pair head): examples sorted by
 * length, scored in batches, results back in input order. Used by fine-tuning's evaluations and by inference
 * (infer/models.ts); training itself takes evaluation as a callback.
 */
import type { F32 } from '../core/kernels.js';
import { inputLength, type TaskInputs, type TaskModel } from '../model/taskmodel.js';
import { mseLoss } from '../train/loss.js';

/** data-parallel evaluation (train/distributed.ts): rank r of size scores the batches r, r + size, …; the results are gathered by a sum */
export interface EvalShards { readonly rank: number; readonly size: number; allreduceSum(a: Float32Array | Float64Array): void }

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
  scoreBatch: (idx: number[], y: Int32Array) => { loss: number; probs: Float32Array }, shards?: EvalShards): EvalResult {
  let sumLoss = 0, sumBatch = 0, batches = 0;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => lengthOf(a) - lengthOf(b));
  const nb = Math.ceil(n / batchSize), batchLoss = new Float64Array(nb), all = new Float32Array(n * C);
  for (let j = 0; j < nb; j++) {
    if (shards && j % shards.size !== shards.rank) continue;
    const b = order.slice(j * batchSize, (j + 1) * batchSize);
    const y = labels ? Int32Array.from(b, (i) => labels[i]!) : new Int32Array(b.length).fill(-1);
    const { loss, probs: p } = scoreBatch(b, y);
    batchLoss[j] = loss;
    b.forEach((i, k) => all.set(p.subarray(k * C, k * C + C), i * C));
  }
  // gathered: every other rank's slots are zeros, so the sums are the values (exactly); then summed in batch order, as one process would
  if (shards) { shards.allreduceSum(batchLoss); shards.allreduceSum(all); }
  const outProbs = new Array<Float32Array>(n), outPred = new Array<number>(n);
  for (let j = 0; j < nb; j++) {
    const len = Math.min(batchSize, n - j * batchSize);
    if (labels) { sumLoss += batchLoss[j]! * len; sumBatch += batchLoss[j]!; batches++; }
  }
  for (let i = 0; i < n; i++) {
    const row = all.slice(i * C, i * C + C);
    outProbs[i] = row;
    let best = 0;
    for (let c = 1; c < C; c++) if (row[c]! > row[best]!) best = c;
    outPred[i] = best;
  }
  return { probs: outProbs, predictions: outPred, evalLoss: labels ? sumLoss / n : NaN, loss: labels ? sumBatch / batches : NaN };
}

/** a task model's probabilities, predictions and loss for every example (labels: -1 or null = none) */
export function evaluate(tm: TaskModel, x: TaskInputs, labels: Int32Array | null, batchSize: number, padId = 0, shards?: EvalShards): EvalResult {
  return evaluateBatches(x.a.length, (i) => inputLength(x, i), tm.C, labels, batchSize, (idx, y) => tm.loss(tm.logits(x, idx, padId, { grad: false }), y), shards);
}
/** every example's C logits [n, C], in order, from batches of similar length */
export function logitBatches(n: number, lengthOf: (i: number) => number, C: number, batchSize: number, run: (idx: number[]) => F32, shards?: EvalShards): Float32Array {
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => lengthOf(a) - lengthOf(b));
  const out = new Float32Array(n * C);
  for (let s = 0, j = 0; s < n; s += batchSize, j++) {
    if (shards && j % shards.size !== shards.rank) continue;
    const idx = order.slice(s, s + batchSize), z = run(idx);
    idx.forEach((i, k) => out.set(z.subarray(k * C, (k + 1) * C), i * C));
  }
  if (shards) shards.allreduceSum(out);
  return out;
}

/** a task model's logits for every example [n, C], in order */
export function evaluateLogits(tm: TaskModel, x: TaskInputs, batchSize: number, padId = 0, shards?: EvalShards): Float32Array {
  return logitBatches(x.a.length, (i) => inputLength(x, i), tm.C, batchSize, (idx) => tm.logits(x, idx, padId, { grad: false }), shards);
}

/** a regressor's score per example in order; with targets, the mean squared error too */
export interface ScoreResult { scores: Float32Array; mse: number }

export const scoreResult = (scores: Float32Array, targets: Float64Array | null): ScoreResult => ({ scores, mse: targets ? mseLoss(scores, targets, scores.length) : NaN });

export function evaluateScores(tm: TaskModel, x: TaskInputs, targets: Float64Array | null, batchSize: number, padId = 0, shards?: EvalShards): ScoreResult {
  return scoreResult(evaluateLogits(tm, x, batchSize, padId, shards), targets);
}
