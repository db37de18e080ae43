/**
 * Cross-encoder fine-tuning as run_classifier does it, with Trainer-style
 * conveniences: batches padded to their longest row and grouped by length,
 * BERT's AdamW with linear warmup and decay, global-norm clipping, seeded
 * dropout (same seed -> same run), a progress line with loss, rate and ETA.
 */
import type { Kernels } from '../core/kernels.js';
import { Rng } from '../core/random.js';
import type { Bert } from '../model/bert.js';
import { type Features, padBatch } from '../tokenize/inputs.js';
import { AdamW, bertLearningRate } from './optimizer.js';

export interface TrainOptions {
  batchSize: number;
  learningRate: number;
  epochs: number;
  /** overrides epochs when given */
  maxSteps?: number;
  warmupProportion: number;
  seed: number;
  weightDecay?: number;
  maxGradNorm?: number;
  padId?: number;
  log?: (line: string) => void;
}

export interface CurvePoint { step: number; loss: number; lr: number }

export interface TrainResult {
  globalStep: number;
  /** mean training loss over the last 10 % of steps */
  finalLoss: number;
  curve: CurvePoint[];
  seconds: number;
  tokensPerSecond: number;
}

/** indices in batches of similar length: shuffle, sort within mega-batches of 50, shuffle the batch order */
export function lengthGroupedBatches(lengths: number[], batchSize: number, rng: Rng): number[][] {
  const idx = lengths.map((_, i) => i);
  for (let i = idx.length - 1; i > 0; i--) { const j = rng.int(i + 1); [idx[i], idx[j]] = [idx[j]!, idx[i]!]; }
  const batches: number[][] = [];
  const mega = batchSize * 50;
  for (let s = 0; s < idx.length; s += mega) {
    const chunk = idx.slice(s, s + mega).sort((a, b) => lengths[b]! - lengths[a]!);
    for (let k = 0; k < chunk.length; k += batchSize) batches.push(chunk.slice(k, k + batchSize));
  }
  for (let i = batches.length - 1; i > 0; i--) { const j = rng.int(i + 1); [batches[i], batches[j]] = [batches[j]!, batches[i]!]; }
  return batches;
}

export function trainingSteps(nTrain: number, o: Pick<TrainOptions, 'batchSize' | 'epochs' | 'maxSteps'>): number {
  return o.maxSteps ?? Math.floor((nTrain / o.batchSize) * o.epochs);
}

function fmtTime(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const m = Math.floor(s / 60), sec = Math.round(s % 60);
  return m ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

export function train(model: Bert, K: Kernels, features: Features[], labels: Int32Array, o: TrainOptions): TrainResult {
  const total = trainingSteps(features.length, o);
  if (total < 1) throw new Error(`no training steps: ${features.length} examples, batch size ${o.batchSize}, ${o.epochs} epochs`);
  const warmup = Math.floor(total * o.warmupProportion);
  const opt = new AdamW(model, K, { lr: o.learningRate, weightDecay: o.weightDecay ?? 0.01, maxGradNorm: o.maxGradNorm ?? 1.0 });
  const rng = new Rng(o.seed);
  const lengths = features.map((f) => f.inputIds.length);
  const curve: CurvePoint[] = [];
  const t0 = Date.now();
  let step = 0, tokens = 0, lastLog = 0;
  const isTty = process.stderr.isTTY === true;
  while (step < total) {
    for (const b of lengthGroupedBatches(lengths, o.batchSize, rng)) {
      if (step >= total) break;
      const batch = padBatch(b.map((i) => features[i]!), o.padId ?? 0);
      const y = Int32Array.from(b, (i) => labels[i]!);
      model.forward(batch, { train: true, seed: (o.seed * 1000003 + step) >>> 0 });
      const { loss } = model.loss(y);
      model.zeroGrads();
      model.backward({ labels: y });
      const lr = bertLearningRate(o.learningRate, step, total, warmup);
      opt.apply(lr);
      step++;
      tokens += batch.B * batch.S;
      curve.push({ step, loss, lr });
      const now = Date.now();
      if (o.log && (now - lastLog > (isTty ? 250 : 10000) || step === total)) {
        lastLog = now;
        const el = (now - t0) / 1000, rate = step / el;
        const recent = curve.slice(-20).reduce((a, c) => a + c.loss, 0) / Math.min(20, curve.length);
        const pct = Math.floor((100 * step) / total);
        const bar = '#'.repeat(Math.floor(pct / 5)).padEnd(20, '.');
        o.log(`train [${bar}] ${step}/${total} loss ${recent.toFixed(4)} ${rate.toFixed(2)} steps/s elapsed ${fmtTime(el)} ETA ${fmtTime((total - step) / rate)}`);
      }
    }
  }
  const seconds = (Date.now() - t0) / 1000;
  const tail = curve.slice(-Math.max(1, Math.ceil(curve.length / 10)));
  return { globalStep: step, finalLoss: tail.reduce((a, c) => a + c.loss, 0) / tail.length, curve, seconds, tokensPerSecond: tokens / seconds };
}

export interface EvalResult {
  probs: Float32Array[];
  predictions: number[];
  /** mean per-example loss (run_classifier's eval_loss) */
  evalLoss: number;
  /** mean of per-batch mean losses (the Estimator's loss) */
  loss: number;
}

export function evaluate(model: Bert, features: Features[], labels: Int32Array | null, batchSize: number, padId = 0): EvalResult {
  const C = model.numLabels;
  const probs: Float32Array[] = [], predictions: number[] = [];
  let sumLoss = 0, sumBatch = 0, batches = 0;
  // sorted by length for less padding; results go back in input order
  const order = features.map((_, i) => i).sort((a, b) => features[a]!.inputIds.length - features[b]!.inputIds.length);
  const outProbs = new Array<Float32Array>(features.length), outPred = new Array<number>(features.length);
  for (let s = 0; s < order.length; s += batchSize) {
    const b = order.slice(s, s + batchSize);
    model.forward(padBatch(b.map((i) => features[i]!), padId));
    const y = labels ? Int32Array.from(b, (i) => labels[i]!) : new Int32Array(b.length).fill(-1);
    const { loss, probs: p } = model.loss(y);
    if (labels) { sumLoss += loss * b.length; sumBatch += loss; batches++; }
    b.forEach((i, k) => {
      const row = p.slice(k * C, k * C + C);
      outProbs[i] = row;
      let best = 0;
      for (let c = 1; c < C; c++) if (row[c]! > row[best]!) best = c;
      outPred[i] = best;
    });
  }
  probs.push(...outProbs);
  predictions.push(...outPred);
  return { probs, predictions, evalLoss: labels ? sumLoss / features.length : NaN, loss: labels ? sumBatch / batches : NaN };
}
