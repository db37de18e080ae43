/**
 * Masked-LM pretraining, the way google-research/bert pretrains: sequences
 * packed from consecutive sentences of a document up to max_seq_length,
 * dynamic masking of 15 % of the tokens per step (80 % [MASK], 10 % a random
 * token, 10 % unchanged), the MLM head tied to the word embeddings, BERT's
 * AdamW with warmup and decay, checkpoints with resume, held-out MLM loss and
 * accuracy logged as it goes. Continued pretraining starts from --model.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Kernels } from '../core/kernels.js';
import { resolveDtype, type DTypeOption } from '../core/dtype.js';
import { Rng } from '../core/random.js';
import { DataError } from '../data/processors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { loadBert, saveBert } from '../io/checkpoint.js';
import { Bert } from '../model/bert.js';
import { makeConfig } from '../model/config.js';
import { checkOutputDir } from '../finetune.js';
import { loadTokenizer, type Tokenizer } from '../tokenize/index.js';
import { padBatch } from '../tokenize/inputs.js';
import { latestCheckpoint, trainTask, type TrainTask } from '../train/trainer.js';

export interface Special { cls: number; sep: number; mask: number; pad: number; vocab: number; special: Set<number> }

/** documents (blank-line separated) -> token-id sequences of at most maxLen - 2 tokens, consecutive sentences packed */
export function packSequences(tok: Tokenizer, corpus: string, maxLen: number): number[][] {
  const out: number[][] = [];
  for (const doc of corpus.split(/\n\s*\n/)) {
    let cur: number[] = [];
    for (const line of doc.split('\n')) {
      if (!line.trim()) continue;
      const ids = tok.encode(line).ids.slice(0, maxLen - 2);
      if (cur.length + ids.length > maxLen - 2 && cur.length) { out.push(cur); cur = []; }
      cur = cur.concat(ids);
    }
    if (cur.length) out.push(cur);
  }
  return out;
}

/**
 * BERT's dynamic masking of one sequence (with [CLS]/[SEP] around it): 15 % of
 * the non-special positions (at least one); of those 80 % -> [MASK], 10 % -> a
 * random non-special token, 10 % kept. Returns the input ids and (position, target) pairs.
 */
export function maskSequence(ids: number[], sp: Special, rng: Rng, prob = 0.15): { input: number[]; positions: number[]; targets: number[] } {
  const input = [sp.cls, ...ids, sp.sep];
  const cand = ids.map((_, i) => i + 1);
  for (let i = cand.length - 1; i > 0; i--) { const j = rng.int(i + 1); [cand[i], cand[j]] = [cand[j]!, cand[i]!]; }
  const k = Math.max(1, Math.round(ids.length * prob));
  const chosen = cand.slice(0, k).sort((a, b) => a - b);
  const targets = chosen.map((p) => input[p]!);
  for (const p of chosen) {
    const r = rng.next();
    if (r < 0.8) input[p] = sp.mask;
    else if (r < 0.9) { let t: number; do { t = rng.int(sp.vocab); } while (sp.special.has(t)); input[p] = t; }
  }
  return { input, positions: chosen, targets };
}

export function mlmTask(model: Bert, seqs: number[][], sp: Special): TrainTask & { lastAccuracy: number } {
  const task = {
    lengths: seqs.map((s) => s.length + 2),
    lastAccuracy: 0,
    step(b: number[], seed: number, dLoss: number) {
      const rng = new Rng(seed);
      const masked = b.map((i) => maskSequence(seqs[i]!, sp, rng));
      const batch = padBatch(masked.map((m) => ({ inputIds: m.input, tokenTypeIds: m.input.map(() => 0) })), sp.pad);
      const positions: number[] = [], targets: number[] = [];
      masked.forEach((m, r) => m.positions.forEach((p, j) => { positions.push(r * batch.S + p); targets.push(m.targets[j]!); }));
      model.forward(batch, { train: true, seed });
      const { loss, accuracy } = model.mlmLoss(Int32Array.from(positions), Int32Array.from(targets));
      model.mlmBackward(dLoss);
      task.lastAccuracy = accuracy;
      return { loss, tokens: batch.B * batch.S };
    },
  };
  return task;
}

/** MLM loss and accuracy on held-out sequences, with fixed masks */
export function evaluateMlm(model: Bert, seqs: number[][], sp: Special, batchSize = 32): { loss: number; accuracy: number } {
  const rng = new Rng(12345);
  let loss = 0, acc = 0, n = 0;
  for (let s = 0; s < seqs.length; s += batchSize) {
    const masked = seqs.slice(s, s + batchSize).map((q) => maskSequence(q, sp, rng));
    const batch = padBatch(masked.map((m) => ({ inputIds: m.input, tokenTypeIds: m.input.map(() => 0) })), sp.pad);
    const positions: number[] = [], targets: number[] = [];
    masked.forEach((m, r) => m.positions.forEach((p, j) => { positions.push(r * batch.S + p); targets.push(m.targets[j]!); }));
    model.forward(batch);
    const r = model.mlmLoss(Int32Array.from(positions), Int32Array.from(targets));
    loss += r.loss * positions.length; acc += r.accuracy * positions.length; n += positions.length;
  }
  return { loss: loss / Math.max(1, n), accuracy: acc / Math.max(1, n) };
}

export interface PretrainOptions {
  corpus: string;
  output: string;
  kernels: Kernels;
  /** continue from this model; else a new one with the shape below and `tokenizer`'s vocabulary */
  model?: string;
  tokenizer?: string;
  layers?: number; hidden?: number; heads?: number; intermediate?: number;
  maxSeqLength?: number; batchSize?: number; learningRate?: number; epochs?: number; maxSteps?: number;
  warmupProportion?: number; seed?: number; dtype?: DTypeOption; saveSteps?: number; evalSteps?: number; overwrite?: boolean;
  log?: (l: string) => void;
}

export function pretrain(o: PretrainOptions): { steps: number; evalLoss: number; evalAccuracy: number; seconds: number } {
  const dtype = resolveDtype(o.dtype, o.kernels);
  if (!existsSync(o.corpus)) throw new DataError(`${o.corpus}: no such file`);
  const tokPath = o.tokenizer ?? o.model;
  if (!tokPath) throw new DataError('pretrain needs --tokenizer (a SentencePiece model) or --model (continued pretraining)');
  const tok = loadTokenizer(tokPath);
  const id = (t: string) => { const v = tok.tokenId(t); if (v === undefined) throw new DataError(`${tokPath}: the vocabulary has no ${t} piece`); return v; };
  const sp: Special = { cls: id('[CLS]'), sep: id('[SEP]'), mask: id('[MASK]'), pad: tok.tokenId('[PAD]') ?? tok.tokenId('<pad>') ?? 0, vocab: tok.vocabSize, special: new Set<number>() };
  for (const t of ['[CLS]', '[SEP]', '[MASK]', '[PAD]', '<pad>', '<unk>', '<s>', '</s>', '[UNK]']) { const v = tok.tokenId(t); if (v !== undefined) sp.special.add(v); }
  const maxLen = o.maxSeqLength ?? 128, seed = o.seed ?? 42;
  const resumeFrom = existsSync(join(o.output, 'run.json')) && !o.overwrite ? latestCheckpoint(o.output) : null;
  if (!resumeFrom) checkOutputDir(o.output, o.overwrite ?? false);
  const all = packSequences(tok, readFileSync(o.corpus, 'utf8'), maxLen);
  const train = all.filter((_, i) => i % 50 !== 49), held = all.filter((_, i) => i % 50 === 49).slice(0, 500);
  if (train.length === 0) throw new DataError(`${o.corpus}: no text to pretrain on`);
  let model: Bert;
  if (resumeFrom) model = loadBert(resumeFrom, { kernels: o.kernels, dtype, mlmHead: true }).model;
  else if (o.model) model = loadBert(o.model, { kernels: o.kernels, dtype, mlmHead: true, seed }).model;
  else {
    const cfg = makeConfig({ vocab_size: tok.vocabSize, hidden_size: o.hidden ?? 256, num_hidden_layers: o.layers ?? 4, num_attention_heads: o.heads ?? 4,
      intermediate_size: o.intermediate ?? 4 * (o.hidden ?? 256), max_position_embeddings: Math.max(512, maxLen) }, 'pretrain');
    model = new Bert(cfg, { kernels: o.kernels, dtype, seed, mlmHead: true });
  }
  if (!resumeFrom) writeFileAtomic(join(o.output, 'run.json'), (w) => w(JSON.stringify({ corpus: o.corpus, tokenizer: tokPath, maxLen, seed, sequences: all.length }) + '\n'));
  o.log?.(`pretraining on ${train.length} sequences (${held.length} held out), vocabulary ${tok.vocabSize}`);
  const task = mlmTask(model, train, sp);
  const t0 = Date.now();
  const r = trainTask(model, o.kernels, task, {
    batchSize: o.batchSize ?? 32, learningRate: o.learningRate ?? 1e-4, epochs: o.epochs ?? 1, maxSteps: o.maxSteps,
    warmupProportion: o.warmupProportion ?? 0.1, seed, log: o.log,
    checkpoint: o.saveSteps ? { dir: o.output, every: o.saveSteps } : undefined, resumeFrom: resumeFrom ?? undefined,
    evaluation: held.length ? { every: o.evalSteps ?? 0, run: () => evaluateMlm(model, held, sp) } : undefined,
  });
  const ev = held.length ? evaluateMlm(model, held, sp) : { loss: NaN, accuracy: NaN };
  saveBert(model, o.output);
  const tokFile = tokPath.endsWith('.model') ? tokPath : null;
  if (tokFile) writeFileAtomic(join(o.output, 'spiece.model'), (w) => w(readFileSync(tokFile)));
  const seconds = (Date.now() - t0) / 1000;
  writeFileAtomic(join(o.output, 'pretrain_report.json'), (w) => w(JSON.stringify({
    steps: r.globalStep, eval_mlm_loss: ev.loss, eval_mlm_accuracy: ev.accuracy, seconds: r.seconds, tokens_per_second: r.tokensPerSecond,
    train_sequences: train.length, heldout_sequences: held.length, evaluations: r.evals, learning_curve: r.curve, config: model.cfg,
  }, null, 1) + '\n'));
  return { steps: r.globalStep, evalLoss: ev.loss, evalAccuracy: ev.accuracy, seconds };
}
