/**
 * ELECTRA's pretraining objective (Clark et al., 2020; google-research/electra
 * run_pretraining.py): a small generator (ElectraForMaskedLM) fills the masked
 * positions by sampling from its own masked-LM distribution, and the
 * discriminator (ElectraForPreTraining) learns, at every real token, whether
 * the token it sees is the original or a replacement. The two share their
 * embeddings (word, position and token type tables and the embeddings'
 * LayerNorm), are trained jointly on generator loss + disc_weight ×
 * discriminator loss (disc_weight 50), and no gradient flows through the
 * sampling. A token the generator happens to sample correctly counts as
 * original, as in the paper.
 *
 * Sharing is implemented by copy and sum: the generator reads the
 * discriminator's embedding values before each step and hands its embedding
 * gradients to the discriminator's after it (a shared parameter's gradient is
 * the sum over its uses), so the discriminator alone holds the shared tables
 * that the optimizer updates.
 */
import type { F32 } from '../core/kernels.js';
import type { Rng } from '../core/random.js';
import type { Bert } from '../model/bert.js';
import { padBatch } from '../tokenize/inputs.js';
import { bceGrad, bceLoss } from '../train/loss.js';
import { maskWords, type Special } from './pairs.js';

/** the parameters the generator shares with the discriminator (the same names in both: both are ELECTRA models) */
export function sharedEmbeddingNames(m: Bert): string[] {
  const F = m.family;
  return [F.word, F.pos!, ...(F.type ? [F.type] : []), F.embLn.w, F.embLn.b];
}

/** the generator takes the discriminator's embedding values */
export function shareEmbeddings(disc: Bert, gen: Bert): void {
  for (const n of sharedEmbeddingNames(disc)) gen.param(n).set(disc.param(n));
  gen.paramsChanged();
}

/** the generator's embedding gradients join the discriminator's, and are cleared on the generator */
function joinEmbeddingGrads(disc: Bert, gen: Bert): void {
  for (const n of sharedEmbeddingNames(disc)) {
    const g = gen.grad(n);
    disc.K.accumulate(disc.grad(n), g, g.length);
    g.fill(0);
  }
}

/** draws a token id from row `row` of the generator's probabilities [M, V] */
export type Sampler = (probs: F32, row: number, V: number) => number;

/** sampling from the softmax (temperature 1, as ELECTRA's sample_from_softmax), by inverting the CDF with a uniform draw */
export function softmaxSampler(rng: Rng): Sampler {
  return (probs, row, V) => {
    const u = rng.next(), p = probs.subarray(row * V, row * V + V);
    let c = 0;
    for (let v = 0; v < V; v++) { c += p[v]!; if (u < c) return v; }
    // rounding left the total a hair under 1: the last token with any mass
    for (let v = V - 1; v > 0; v--) if (p[v]! > 0) return v;
    return 0;
  };
}

/** one example: its ids with [CLS]/[SEP], token types, and word starts (whole-word masking) */
export interface ElectraInstance { input: number[]; tokenTypes: number[]; starts: ArrayLike<number> }
/** a masking of one example: the generator's input and the (position, original id) pairs */
export interface Masking { input: number[]; positions: number[]; targets: number[] }

export interface ElectraStats {
  /** generator loss + discWeight × discriminator loss */
  loss: number;
  mlmLoss: number; mlmAccuracy: number; masked: number;
  rtdLoss: number;
  /** real tokens the discriminator judged, and its confusion counts (positive = replaced) */
  active: number; tp: number; fp: number; fn: number; tn: number;
  tokens: number;
}

export interface ElectraStepOptions {
  /** dropout on */
  train: boolean;
  /** gradients (default: train) */
  backward?: boolean;
  /** dropout seed of the step (the generator's; the discriminator's is drawn from rng) */
  seed: number;
  rng: Rng;
  discWeight: number;
  /** scale of the gradients (1 / gradient-accumulation steps) */
  dLoss?: number;
  /** how replacements are drawn (default: softmaxSampler(rng)) */
  sample?: Sampler;
  /** given maskings instead of drawing them (tests) */
  masks?: Masking[];
}

/**
 * One ELECTRA step over a batch: mask, run the generator and sample its
 * replacements, run the discriminator on the corrupted input; with train,
 * backward through both (the gradients accumulate into each model's arena,
 * the shared embeddings' into the discriminator's; zero them first).
 */
export function electraStep(disc: Bert, gen: Bert, inst: ElectraInstance[], sp: Special, o: ElectraStepOptions): ElectraStats {
  shareEmbeddings(disc, gen);
  const masks = o.masks ?? inst.map((x) => maskWords(x.input, x.starts, sp, o.rng));
  const batch = padBatch(masks.map((m, j) => ({ inputIds: m.input, tokenTypeIds: inst[j]!.tokenTypes })), sp.pad);
  const positions: number[] = [], targets: number[] = [];
  masks.forEach((m, r) => m.positions.forEach((p, j) => { positions.push(r * batch.S + p); targets.push(m.targets[j]!); }));
  // the generator: masked LM, then a replacement drawn for every masked position
  gen.forward(batch, { train: o.train, seed: o.seed });
  const mlm = gen.mlmLoss(Int32Array.from(positions), Int32Array.from(targets));
  const sample = o.sample ?? softmaxSampler(o.rng), V = gen.cfg.vocab_size;
  const sampled = positions.map((_, i) => sample(mlm.probs, i, V));
  const backward = o.backward ?? o.train;
  if (backward) gen.pretrainBackward(o.dLoss ?? 1);
  // the discriminator sees the original tokens with the masked positions replaced by the samples
  const ids = Int32Array.from(batch.inputIds);
  positions.forEach((p, i) => { ids[p] = sampled[i]!; });
  const N = batch.B * batch.S, labels = new Float32Array(N);
  positions.forEach((p, i) => { labels[p] = sampled[i] !== targets[i] ? 1 : 0; });
  const discSeed = o.rng.seed();
  disc.forward({ ...batch, inputIds: ids }, { train: o.train, seed: discSeed });
  const z = disc.rtdLogits();
  // binary cross-entropy over the real tokens (ElectraForPreTraining's active_loss: attention_mask == 1)
  const act: number[] = [];
  for (let i = 0; i < N; i++) if (batch.attentionMask[i]) act.push(i);
  const zA = Float32Array.from(act, (i) => z[i]!), yA = Float32Array.from(act, (i) => labels[i]!);
  const rtdLoss = bceLoss(zA, yA, act.length);
  let tp = 0, fp = 0, fn = 0, tn = 0;
  for (let k = 0; k < act.length; k++) {
    const pred = zA[k]! > 0, y = yA[k] === 1;
    if (pred && y) tp++; else if (pred) fp++; else if (y) fn++; else tn++;
  }
  if (backward) {
    const dA = new Float32Array(act.length), dZ = new Float32Array(N);
    bceGrad(dA, zA, yA, act.length, (o.dLoss ?? 1) * o.discWeight);
    act.forEach((i, k) => { dZ[i] = dA[k]!; });
    disc.pretrainBackward(1, dZ);
    joinEmbeddingGrads(disc, gen);
  }
  return { loss: mlm.loss + o.discWeight * rtdLoss, mlmLoss: mlm.loss, mlmAccuracy: mlm.accuracy, masked: positions.length, rtdLoss, active: act.length, tp, fp, fn, tn, tokens: N };
}
