/**
 * The one interface of a model fine-tuned for a task (features -> logits -> loss, backward), whichever kind it is:
 * the cross-encoder (model/crossmodel.ts: one input [CLS] A [SEP] B [SEP] per example, BERT's classifier on the pooled
 * vector) or a BERT with a cacheable pair head (model/pairmodel.ts: A and B encoded alone, the head scores them).
 * Training (train/trainer.ts classificationTask, logitLossTask), batched evaluation (infer/evaluate.ts), fine-tuning
 * and inference hold a TaskModel and never ask which kind it is.
 */
import type { F32 } from '../core/kernels.js';
import type { Features, InputBuilder } from '../tokenize/inputs.js';
import type { Bert, ForwardOptions } from './bert.js';

/**
 * A set of examples as a task model reads them: `a` holds one input per example (the cross-encoder's joint input, a
 * pair head's side A), `b` a pair head's side B.
 */
export interface TaskInputs { a: Features[]; b?: Features[] }

/** the inputs of a pair head: each example's two sides, encoded alone */
export interface PairInputs extends TaskInputs { b: Features[] }

/** what the model reads of an example */
export interface TextPair { guid?: string; textA: string; textB?: string }

export interface TaskModel {
  readonly bert: Bert;
  /** logits per example */
  readonly C: number;
  /** tokens in the last forward's batch, padding included */
  readonly lastTokens: number;
  /** the examples' inputs (DataError: a pair head given an example with no text B) */
  inputs(builder: InputBuilder, examples: readonly TextPair[], source: string): TaskInputs;
  /** forward over the examples `idx` of x (padded to their longest); logits [idx.length, C] */
  logits(x: TaskInputs, idx: readonly number[], padId: number, opts?: ForwardOptions): F32;
  /** mean cross-entropy of the last forward's logits (labels -1: no label); keeps the probabilities for backward */
  loss(logits: F32, labels: Int32Array): { loss: number; probs: F32 };
  /** backward of the last forward: plain cross-entropy's gradient scaled by dLoss, or `dLogits`, the gradient a loss of the logits gives */
  backward(labels: Int32Array, dLoss: number, dLogits?: F32): void;
}

/** an example's length in tokens for length grouping: its input's, or its longer side's */
export function inputLength(x: TaskInputs, i: number): number {
  return x.b ? Math.max(x.a[i]!.inputIds.length, x.b[i]!.inputIds.length) : x.a[i]!.inputIds.length;
}
