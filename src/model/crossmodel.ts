/**
 * The cross-encoder as a TaskModel (model/taskmodel.ts): BERT reads [CLS] A [SEP] B [SEP] and its classifier scores
 * the pooled vector (HF's BertForSequenceClassification). `taskModel` picks the kind a model's config names.
 */
import type { F32 } from '../core/kernels.js';
import { type InputBuilder, padBatch } from '../tokenize/inputs.js';
import type { Bert, ForwardOptions } from './bert.js';
import { PairModel } from './pairmodel.js';
import type { TaskInputs, TaskModel, TextPair } from './taskmodel.js';

export class CrossModel implements TaskModel {
  private tokens = 0;

  constructor(readonly bert: Bert) {
    if (bert.numLabels === 0) throw new Error('CrossModel needs a model with a classifier');
  }

  get C(): number { return this.bert.numLabels; }
  get lastTokens(): number { return this.tokens; }

  inputs(builder: InputBuilder, examples: readonly TextPair[]): TaskInputs {
    return { a: examples.map((e) => builder.features(e.textA, e.textB)) };
  }

  logits(x: TaskInputs, idx: readonly number[], padId: number, opts: ForwardOptions = {}): F32 {
    const batch = padBatch(idx.map((i) => x.a[i]!), padId);
    this.tokens = batch.B * batch.S;
    return this.bert.forward(batch, opts).logits!;
  }

  /** the logits are the last forward's, which the model keeps */
  loss(_logits: F32, labels: Int32Array): { loss: number; probs: F32 } { return this.bert.loss(labels); }

  backward(labels: Int32Array, dLoss: number, dLogits?: F32): void { this.bert.backward({ labels, dLoss, dLogits }); }
}

/** the task model a fine-tuned BERT is: a pair head's when its config names one, else the cross-encoder */
export function taskModel(bert: Bert): CrossModel | PairModel {
  return bert.cfg.pair_head ? new PairModel(bert) : new CrossModel(bert);
}
