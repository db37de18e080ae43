/**
 * Training of a BERT with a cacheable pair head (its batched evaluation: infer/evaluate.ts): each example's
 * A and B texts are tokenized alone ([CLS] text [SEP], up to the head's side
 * length) and encoded by the same BERT in one batch.
 */
import { DataError, type Example, labelIds } from '../data/processors.js';
import type { PairModel } from '../model/pairmodel.js';
import type { Features, InputBuilder } from '../tokenize/inputs.js';
import type { TrainTask } from './trainer.js';
import { isPlainLoss, specLoss, specLossGrad, type LogitLoss, type LossSpec } from './loss.js';

export interface PairFeatures { a: Features[]; b: Features[] }

export function pairFeatures(builder: InputBuilder, examples: Example[], labels: string[], source: string): { features: PairFeatures; y: Int32Array } {
  const y = labelIds(examples, labels, source);
  return { features: pairSides(builder, examples, source), y };
}

/** each example's two sides, encoded alone */
export function pairSides(builder: InputBuilder, examples: Example[], source: string): PairFeatures {
  const a: Features[] = [], b: Features[] = [];
  for (const e of examples) {
    if (e.textB === undefined) throw new DataError(`${source}: example ${e.guid} has no second text; a pair head needs text pairs`);
    a.push(builder.features(e.textA));
    b.push(builder.features(e.textB));
  }
  return { a, b };
}

export function pairTask(pm: PairModel, f: PairFeatures, labels: Int32Array, padId: number, lossSpec?: LossSpec): TrainTask {
  return {
    lengths: f.a.map((x, i) => Math.max(x.inputIds.length, f.b[i]!.inputIds.length)),
    step(idx, seed, dLoss) {
      const y = Int32Array.from(idx, (i) => labels[i]!);
      const logits = pm.forward(idx.map((i) => f.a[i]!), idx.map((i) => f.b[i]!), padId, { train: true, seed });
      const { loss, probs } = pm.loss(logits, y);
      if (isPlainLoss(lossSpec)) {
        pm.backward(y, dLoss);
        return { loss, tokens: pm.lastTokens };
      }
      const d = new Float32Array(y.length * pm.C);
      specLossGrad(d, probs, y, y.length, pm.C, dLoss, lossSpec!);
      pm.backward(y, dLoss, d);
      return { loss: specLoss(probs, y, y.length, pm.C, lossSpec!), tokens: pm.lastTokens };
    },
  };
}

/** a pair head trained with a loss on its logits (regression: mseOn, multi-label: bceOn; train/loss.ts) */
export function pairLogitLossTask(pm: PairModel, f: PairFeatures, lossOf: LogitLoss, padId: number): TrainTask {
  return {
    lengths: f.a.map((x, i) => Math.max(x.inputIds.length, f.b[i]!.inputIds.length)),
    step(idx, seed, dLoss) {
      const z = pm.forward(idx.map((i) => f.a[i]!), idx.map((i) => f.b[i]!), padId, { train: true, seed });
      const { loss, dLogits } = lossOf(z, idx, dLoss);
      pm.backward(new Int32Array(idx.length), dLoss, dLogits);
      return { loss, tokens: pm.lastTokens };
    },
  };
}
