/**
 * Training and evaluation of a BERT with a cacheable pair head: each example's
 * A and B texts are tokenized alone ([CLS] text [SEP], up to the head's side
 * length) and encoded by the same BERT in one batch.
 */
import { DataError, type Example } from '../data/processors.js';
import type { PairModel } from '../model/pairmodel.js';
import type { Features, InputBuilder } from '../tokenize/inputs.js';
import type { EvalResult, TrainTask } from './trainer.js';

export interface PairFeatures { a: Features[]; b: Features[] }

export function pairFeatures(builder: InputBuilder, examples: Example[], labels: string[], source: string): { features: PairFeatures; y: Int32Array } {
  const index = new Map(labels.map((l, i) => [l, i]));
  const y = new Int32Array(examples.length);
  const a: Features[] = [], b: Features[] = [];
  examples.forEach((e, i) => {
    const id = index.get(e.label);
    if (id === undefined) throw new DataError(`${source}: example ${e.guid} has label "${e.label}", which the training data does not have (${labels.join(', ')})`);
    if (e.textB === undefined) throw new DataError(`${source}: example ${e.guid} has no second text; a pair head needs text pairs`);
    y[i] = id;
    a.push(builder.features(e.textA));
    b.push(builder.features(e.textB));
  });
  return { features: { a, b }, y };
}

export function pairTask(pm: PairModel, f: PairFeatures, labels: Int32Array, padId: number): TrainTask {
  return {
    lengths: f.a.map((x, i) => Math.max(x.inputIds.length, f.b[i]!.inputIds.length)),
    step(idx, seed, dLoss) {
      const y = Int32Array.from(idx, (i) => labels[i]!);
      const logits = pm.forward(idx.map((i) => f.a[i]!), idx.map((i) => f.b[i]!), padId, { train: true, seed });
      const { loss } = pm.loss(logits, y);
      pm.backward(y, dLoss);
      const S = Math.max(...idx.map((i) => Math.max(f.a[i]!.inputIds.length, f.b[i]!.inputIds.length)));
      return { loss, tokens: 2 * idx.length * S };
    },
  };
}

/** like trainer.evaluate, for a pair model: probabilities, predictions, eval_loss and the mean batch loss */
export function evaluatePairs(pm: PairModel, f: PairFeatures, labels: Int32Array | null, batchSize: number, padId: number): EvalResult {
  const C = pm.C, n = f.a.length;
  const order = f.a.map((_, i) => i).sort((x, y) => Math.max(f.a[x]!.inputIds.length, f.b[x]!.inputIds.length) - Math.max(f.a[y]!.inputIds.length, f.b[y]!.inputIds.length));
  const probs = new Array<Float32Array>(n), predictions = new Array<number>(n);
  let sumLoss = 0, sumBatch = 0, batches = 0;
  for (let s = 0; s < n; s += batchSize) {
    const idx = order.slice(s, s + batchSize);
    const logits = pm.forward(idx.map((i) => f.a[i]!), idx.map((i) => f.b[i]!), padId);
    const y = labels ? Int32Array.from(idx, (i) => labels[i]!) : new Int32Array(idx.length).fill(-1);
    const r = pm.loss(logits, y);
    if (labels) { sumLoss += r.loss * idx.length; sumBatch += r.loss; batches++; }
    idx.forEach((i, k) => {
      const row = r.probs.slice(k * C, k * C + C);
      probs[i] = row;
      let best = 0;
      for (let c = 1; c < C; c++) if (row[c]! > row[best]!) best = c;
      predictions[i] = best;
    });
  }
  return { probs, predictions, evalLoss: labels ? sumLoss / n : NaN, loss: labels ? sumBatch / batches : NaN };
}
