/**
 * The training loop every task shares (a cross-encoder or a pair head
 * fine-tuned as run_classifier does it, masked-LM and sentence-pair
 * pretraining), with Trainer-style conveniences: batches padded to their
 * longest row and grouped by length,
 * BERT's AdamW with linear warmup and decay, global-norm clipping, seeded
 * dropout (same seed -> same run), a progress line with loss, rate and ETA,
 * evaluation with early stopping and best-model reload, and checkpoints that a
 * rerun resumes exactly (including one at the end of training).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { float32Decimal, formatDuration, progressInterval } from '../core/progress.js';
import type { Kernels } from '../core/kernels.js';
import { Rng } from '../core/random.js';
import { writeFileAtomic } from '../io/atomic.js';
import { saveBert } from '../model/load.js';
import { readSafetensors, writeSafetensors } from '../io/safetensors.js';
import { firstNonFinite, toFloat32 } from '../io/tensor.js';
import type { Bert } from '../model/bert.js';
import type { Features } from '../tokenize/inputs.js';
import { CrossModel } from '../model/crossmodel.js';
import { inputLength, type TaskInputs, type TaskModel } from '../model/taskmodel.js';
import { AdamW, bertLearningRate } from './optimizer.js';
import { AbortedError, JaBertError, registerError } from '../core/errors.js';
import { isPlainLoss, specLoss, specLossGrad, type LogitLoss, type LossSpec } from './loss.js';
import { allreduceBuckets, checkSameEverywhere, type Comm, DistributedError, shardRange } from './distributed.js';

/** a checkpoint's Adam moments into the optimizer */
function loadMoments(opt: AdamW, dir: string): void {
  const mv = readSafetensors(join(dir, 'optimizer.safetensors')).tensors;
  opt.m.set(toFloat32(mv.get('adam_m')!));
  opt.v.set(toFloat32(mv.get('adam_v')!));
}

/** this shard's share of each loss term's global size: local sizes summed over the ranks (at most 4 terms) */
function shareOf(comm: Comm, local: number[]): number[] {
  if (local.length > 4) throw new Error('shareOf: at most 4 loss terms');
  const v = new Float64Array(4);
  v.set(local);
  comm.allreduceSum(v);
  return local.map((x, i) => (v[i]! > 0 ? x / v[i]! : 0));
}

export { AbortedError };
/** training produced a non-finite loss or weights: stopped, never reported as finished */
export class DivergedError extends JaBertError { override readonly code = 'ERR_JA_BERT_DIVERGED'; }
registerError(DivergedError);

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
  /** save a resumable checkpoint into dir every `every` steps and at the end (the newest complete one is kept;
   *  the caller removes it once its final outputs are written: see run/rundir.ts finishRun) */
  checkpoint?: { dir: string; every: number };
  /** continue a run from a checkpoint folder written by an earlier, interrupted call */
  resumeFrom?: string;
  /** micro-batches per optimizer step (gradients summed, loss averaged) */
  gradientAccumulation?: number;
  /** label smoothing and class weights for the training loss (train/loss.ts); plain cross-entropy without */
  loss?: LossSpec;
  /** checked before every step: when aborted, a checkpoint is saved (if checkpointing) and AbortedError is thrown; rerunning resumes */
  signal?: { readonly aborted: boolean };
  /** evaluate during training: every N steps (0 = at each epoch's end) */
  evaluation?: {
    every: number;
    /** extra: more held-out metrics to record beside accuracy and loss (e.g. pretraining's pair accuracy) */
    run: () => { accuracy?: number; loss: number; extra?: Record<string, number> };
    /** stop after this many evaluations without a better value of `metric` (0 = never) */
    patience?: number;
    /** what "better" is: loss (default), accuracy, or a key of run()'s extra (HF's metric_for_best_model) */
    metric?: string;
    /** default: true for every metric but loss */
    greaterIsBetter?: boolean;
    /** keep the best model (lowest eval loss) here and load it back at the end (the caller removes the folder when done) */
    bestDir?: string;
  };
  /** where the run's scalars go as they happen (eval/runlog.ts: metrics.csv, TensorBoard) */
  record?: TrainRecorder;
  /** other models the task trains in the same steps (ELECTRA's generator): one optimizer and one clipping norm over all,
   *  each saved into its checkpoints' subfolder `dir` (the caller loads it back from there on resume) */
  jointly?: Array<{ dir: string; model: Bert }>;
  /** data-parallel over MPI (train/distributed.ts): each micro-batch runs as one shard per rank, gradients summed; rank 0 alone
   *  writes checkpoints, records and logs */
  comm?: Comm | null;
  /** what must be the same on every rank besides the data and the weights (the run's options), for the start-up check */
  identity?: string;
}

/** a live log of the run: the history at the start (a resumed run's, from its checkpoint), then every step and evaluation; flush writes what is buffered */
export interface TrainRecorder {
  begin(curve: CurvePoint[], evals: EvalPoint[]): void;
  step(p: CurvePoint): void;
  eval(p: EvalPoint): void;
  flush(): void;
}

export interface EvalPoint { step: number; eval_accuracy?: number; eval_loss: number; [metric: string]: number | undefined }

interface TrainerState {
  step: number; total: number; curve: CurvePoint[]; seconds: number; tokens: number;
  evals: EvalPoint[]; bestLoss: number | null; bestStep: number | null; sinceBest: number; stoppedEarly?: boolean;
}

/** the newest complete checkpoint-N folder in dir, or null */
export function latestCheckpoint(dir: string): string | null {
  if (!existsSync(dir)) return null;
  const steps = readdirSync(dir).map((f) => /^checkpoint-(\d+)$/.exec(f)).filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1])).filter((n) => existsSync(join(dir, `checkpoint-${n}`, 'trainer_state.json'))).sort((a, b) => b - a);
  return steps.length ? join(dir, `checkpoint-${steps[0]}`) : null;
}

/** write checkpoint-<step> beside the others: into a .tmp folder first, renamed when complete */
function saveCheckpoint(dir: string, model: Bert, opt: AdamW, state: TrainerState, jointly: TrainOptions['jointly'] = []): void {
  const final = join(dir, `checkpoint-${state.step}`), tmp = `${final}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  saveBert(model, tmp);
  for (const j of jointly) saveBert(j.model, join(tmp, j.dir));
  writeSafetensors(join(tmp, 'optimizer.safetensors'), [
    { name: 'adam_m', shape: [opt.m.length], data: opt.m }, { name: 'adam_v', shape: [opt.v.length], data: opt.v },
  ]);
  writeFileAtomic(join(tmp, 'trainer_state.json'), (w) => w(JSON.stringify(state)));
  rmSync(final, { recursive: true, force: true });
  renameSync(tmp, final);
  for (const f of readdirSync(dir)) {
    const m = /^checkpoint-(\d+)(\.tmp)?$/.exec(f);
    if (m && Number(m[1]) !== state.step) rmSync(join(dir, f), { recursive: true, force: true });
  }
}

export interface CurvePoint { step: number; loss: number; lr: number }

export interface TrainResult {
  globalStep: number;
  evals: EvalPoint[];
  bestStep: number | null;
  stoppedEarly: boolean;
  /** mean training loss over the last 10 % of steps */
  finalLoss: number;
  curve: CurvePoint[];
  seconds: number;
  tokensPerSecond: number;
  /** data-parallel runs: the ranks, and per step the bytes each rank sums with MPI_Allreduce and the seconds it spends there (waiting included) */
  distributed?: { ranks: number; allreduceBytesPerStep: number; allreduceSecondsPerStep: number };
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

export function trainingSteps(nTrain: number, o: Pick<TrainOptions, 'batchSize' | 'epochs' | 'maxSteps' | 'gradientAccumulation'>): number {
  return o.maxSteps ?? Math.floor((nTrain / (o.batchSize * (o.gradientAccumulation ?? 1))) * o.epochs);
}


/**
 * What a training step does with one micro-batch of examples: forward, loss,
 * backward (gradients scaled by dLoss). Classification and masked LM are tasks.
 */
export interface TrainTask {
  /** number of examples, and each one's length (for length grouping) */
  lengths: number[];
  /** returns the micro-batch's mean loss and its token count (padded); with `shard` (data-parallel), the loss is this
   *  shard's part of the global micro-batch's mean and the gradients its part of the global gradient */
  step(indices: number[], seed: number, dLoss: number, shard?: Shard): { loss: number; tokens: number };
  /** data-parallel tasks: how many loss terms share() is given (each averaged over its own size: examples, masked tokens) */
  parts?: number;
}

/** one rank's shard of a global micro-batch */
export interface Shard {
  /** each index's position in the global micro-batch (dropout masks and per-example randomness are drawn from it) */
  rows: number[];
  /** this shard's share of each loss term's global size (local sizes in, local / global out): a collective that every
   *  rank calls once per micro-batch, before its backward */
  share(local: number[]): number[];
}

/** the seed of example `row` of a micro-batch drawn with `seed`: its instance and masks do not depend on the shard it is in */
export function exampleSeed(seed: number, row: number): number {
  return (Math.imul((seed ^ 0x5bd1e995) >>> 0, 0x27d4eb2f) + Math.imul(row + 1, 0x165667b1)) >>> 0;
}

/**
 * fine-tuning a classifier (the cross-encoder or a pair head: model/taskmodel.ts) on cross-entropy, with label
 * smoothing and class weights when `lossSpec` asks (train/loss.ts)
 */
export function classificationTask(tm: TaskModel, x: TaskInputs, labels: Int32Array, padId = 0, lossSpec?: LossSpec): TrainTask {
  return {
    lengths: x.a.map((_, i) => inputLength(x, i)),
    parts: 1,
    step(idx, seed, dLoss, shard) {
      const y = Int32Array.from(idx, (i) => labels[i]!);
      // the mean is over the examples, or over their class weights (PyTorch's CrossEntropyLoss(weight=…))
      const w = shard ? shard.share([y.reduce((a, c) => a + (c < 0 ? 0 : lossSpec?.classWeights ? lossSpec.classWeights[c]! : 1), 0)])[0]! : 1;
      const { loss, probs } = tm.loss(tm.logits(x, idx, padId, { train: true, seed, rows: shard?.rows }), y);
      if (isPlainLoss(lossSpec)) {
        tm.backward(y, dLoss * w);
        return { loss: loss * w, tokens: tm.lastTokens };
      }
      const C = tm.C, dLogits = new Float32Array(y.length * C);
      specLossGrad(dLogits, probs, y, y.length, C, dLoss * w, lossSpec!);
      tm.backward(y, dLoss * w, dLogits);
      return { loss: specLoss(probs, y, y.length, C, lossSpec!) * w, tokens: tm.lastTokens };
    },
  };
}

/** fine-tuning with a loss on the logits (regression: mseOn, multi-label: bceOn; train/loss.ts) */
export function logitLossTask(tm: TaskModel, x: TaskInputs, lossOf: LogitLoss, padId = 0): TrainTask {
  return {
    lengths: x.a.map((_, i) => inputLength(x, i)),
    // (mean squared error over the examples, binary cross-entropy over examples × labels: either way in proportion to the examples)
    parts: 1,
    step(idx, seed, dLoss, shard) {
      const w = shard ? shard.share([idx.length])[0]! : 1;
      const z = tm.logits(x, idx, padId, { train: true, seed, rows: shard?.rows });
      const { loss, dLogits } = lossOf(z, idx, dLoss * w);
      tm.backward(new Int32Array(idx.length), dLoss * w, dLogits);
      return { loss: loss * w, tokens: tm.lastTokens };
    },
  };
}

/** fine-tune a cross-encoder on single inputs (features) and their labels */
export function train(model: Bert, K: Kernels, features: Features[], labels: Int32Array, o: TrainOptions): TrainResult {
  return trainTask(model, K, classificationTask(new CrossModel(model), { a: features }, labels, o.padId ?? 0, o.loss), o);
}

export function trainTask(model: Bert, K: Kernels, task: TrainTask, o: TrainOptions): TrainResult {
  const n = task.lengths.length;
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1) throw new RangeError(`batch size must be a positive integer, got ${o.batchSize}`);
  if (!(o.learningRate > 0) || !Number.isFinite(o.learningRate)) throw new RangeError(`learning rate must be a positive number, got ${o.learningRate}`);
  const total = trainingSteps(n, o);
  if (total < 1) throw new Error(`no training steps: ${n} examples, batch size ${o.batchSize}, ${o.epochs} epochs`);
  const warmup = Math.floor(total * o.warmupProportion);
  const models = [model, ...(o.jointly ?? []).map((j) => j.model)];
  const opt = new AdamW(models, K, { lr: o.learningRate, weightDecay: o.weightDecay ?? 0.01, maxGradNorm: o.maxGradNorm ?? 1.0 });
  const lengths = task.lengths;
  let curve: CurvePoint[] = [];
  let evals: EvalPoint[] = [];
  let step = 0, tokens = 0, lastLog = 0, before = 0;
  let bestLoss: number | null = null, bestStep: number | null = null, sinceBest = 0, stoppedEarly = false;
  const accum = o.gradientAccumulation ?? 1;
  if (!Number.isInteger(accum) || accum < 1) throw new Error(`gradient accumulation must be a positive integer, got ${accum}`);
  // data-parallel: rank 0 leads (writes, logs); every rank starts from its weights, optimizer state and progress
  const comm = o.comm ?? null, lead = !comm || comm.rank === 0;
  let resumed: TrainerState | null = null;
  if (comm) {
    if (!task.parts) throw new DistributedError('this training task is not data-parallel (in-batch negatives and ELECTRA read the whole batch in one process): run it without mpirun, or with --distributed off');
    const resuming = comm.bcastJson(lead && o.resumeFrom ? true : false);
    // the same options and data on every rank (the callers also compared their data and starting weights before writing anything);
    // then rank 0's weights everywhere (resuming: its checkpoint's), its optimizer state and progress below
    checkSameEverywhere(comm, [o.identity ?? '', JSON.stringify({ batch: o.batchSize, lr: o.learningRate, epochs: o.epochs, maxSteps: o.maxSteps ?? null, warmup: o.warmupProportion, seed: o.seed,
      wd: o.weightDecay ?? null, clip: o.maxGradNorm ?? null, accum, total, sizes: models.map((x) => x.layout.total) }), Int32Array.from(task.lengths)]);
    for (const x of models) { comm.bcast(x.params); x.paramsChanged(); }
    if (resuming) {
      resumed = comm.bcastJson(lead ? JSON.parse(readFileSync(join(o.resumeFrom!, 'trainer_state.json'), 'utf8')) as TrainerState : null);
      if (lead) loadMoments(opt, o.resumeFrom!);
      comm.bcast(opt.m); comm.bcast(opt.v);
    }
  } else if (o.resumeFrom) resumed = JSON.parse(readFileSync(join(o.resumeFrom, 'trainer_state.json'), 'utf8')) as TrainerState;
  if (resumed) {
    // the caller loaded the weights from the checkpoint; here: optimizer moments and progress
    const st = resumed;
    if (st.total !== total) throw new Error(`${o.resumeFrom ?? 'the checkpoint'}: the checkpoint was made for ${st.total} steps, this run has ${total}`);
    if (!comm) loadMoments(opt, o.resumeFrom!);
    opt.step = st.step;
    ({ step, curve, tokens } = st);
    evals = st.evals ?? [];
    bestLoss = st.bestLoss ?? null;
    bestStep = st.bestStep ?? null;
    sinceBest = st.sinceBest ?? 0;
    stoppedEarly = st.stoppedEarly ?? false;
    before = st.seconds;
    if (lead) o.log?.(`resuming from ${o.resumeFrom} at step ${step}/${total}`);
  }
  const log = lead ? o.log : undefined;
  const t0 = Date.now(), startStep = step;
  let reduceNs = 0, reduceSteps = 0;
  const logEvery = progressInterval();
  const rec = lead ? o.record : undefined;
  const checkpoint = lead ? o.checkpoint : undefined;
  rec?.begin(curve, evals);
  const diverged = (at: number, what: string): DivergedError => {
    const lastGood = o.checkpoint && lead ? latestCheckpoint(o.checkpoint.dir) : null;
    return new DivergedError(`training diverged at step ${at} of ${total}: ${what}; nothing was written as finished${lastGood ? ` (the last good checkpoint, ${lastGood}, is kept)` : ''}: lower --learning-rate, check the labels, or set --max-grad-norm`);
  };
  // an update can overflow the weights with a finite loss (the next step's loss shows it): checked before weights are saved
  const checkWeights = (): void => { if (models.some((x) => firstNonFinite(x.params) >= 0)) throw diverged(step, 'the weights became non-finite (an update overflowed)'); };
  // each epoch's batch order depends only on (seed, epoch), so a resumed run sees the same batches
  const microPerEpoch = Math.ceil(n / o.batchSize);
  const perEpoch = Math.max(1, Math.floor(microPerEpoch / accum));
  const ev = o.evaluation;
  const evalNow = (): void => {
    const r = ev!.run();
    if (!Number.isFinite(r.loss)) throw new DivergedError(`evaluation at step ${step} gave a non-finite loss (${r.loss}); training diverged: lower --learning-rate or check the labels`);
    evals.push({ step, ...(r.accuracy === undefined ? {} : { eval_accuracy: r.accuracy }), eval_loss: r.loss, ...Object.fromEntries(Object.entries(r.extra ?? {}).map(([k, v]) => [`eval_${k}`, v])) });
    rec?.eval(evals[evals.length - 1]!);
    // the selection value (kept in the checkpoint as bestLoss, whatever the metric, so old checkpoints resume)
    const metric = (ev!.metric ?? 'loss').replace(/^eval_/, '');
    const value = metric === 'loss' ? r.loss : metric === 'accuracy' ? r.accuracy : r.extra?.[metric];
    if (value === undefined) throw new Error(`evaluation has no metric "${metric}"`);
    const greater = ev!.greaterIsBetter ?? metric !== 'loss';
    if (bestLoss === null || (greater ? value > bestLoss : value < bestLoss)) {
      bestLoss = value; bestStep = step; sinceBest = 0;
      if (ev!.bestDir && lead) saveBert(model, ev!.bestDir);
    } else sinceBest++;
    log?.(`eval at step ${step}: ${r.accuracy === undefined ? '' : `accuracy ${r.accuracy.toFixed(4)} `}loss ${r.loss.toFixed(4)}${Object.entries(r.extra ?? {}).map(([k, v]) => ` ${k} ${v.toFixed(4)}`).join('')}${bestStep === step ? ' (best)' : ''}`);
    if (ev!.patience && sinceBest >= ev!.patience) stoppedEarly = true;
  };
  try {
    while (step < total && !stoppedEarly) {
      const epoch = Math.floor(step / perEpoch);
      const batches = lengthGroupedBatches(lengths, o.batchSize, new Rng((o.seed * 7919 + epoch * 104729) >>> 0));
      for (let k = (step - epoch * perEpoch) * accum; k + accum <= batches.length; k += accum) {
        if (step >= total || stoppedEarly) break;
        if (o.signal?.aborted) {
          if (checkpoint && step > startStep && step % checkpoint.every !== 0) {
            saveCheckpoint(checkpoint.dir, model, opt, { step, total, curve, seconds: before + (Date.now() - t0) / 1000, tokens, evals, bestLoss, bestStep, sinceBest }, o.jointly);
          }
          throw new AbortedError(`training cancelled at step ${step} of ${total}${o.checkpoint ? ' (the same call resumes it)' : ''}`);
        }
        for (const x of models) x.zeroGrads();
        let loss = 0, shardTokens = 0;
        for (let m = 0; m < accum; m++) {
          const seed = (o.seed * 1000003 + step * accum + m) >>> 0, idx = batches[k + m]!;
          if (!comm) {
            const r = task.step(idx, seed, 1 / accum);
            loss += r.loss / accum;
            tokens += r.tokens;
            continue;
          }
          // this rank's contiguous shard of the global micro-batch; each loss term averaged over the global batch
          const [from, to] = shardRange(idx.length, comm.rank, comm.size);
          const shard: Shard = { rows: Array.from({ length: to - from }, (_, i) => from + i), share: (local) => shareOf(comm, local) };
          if (to > from) {
            const r = task.step(idx.slice(from, to), seed, 1 / accum, shard);
            loss += r.loss / accum;
            shardTokens += r.tokens;
          } else shard.share(new Array<number>(task.parts!).fill(0));
        }
        if (comm) {
          // the gradients summed over the ranks (bucket by bucket), the loss and tokens too: every rank then applies the same update
          const t = process.hrtime.bigint();
          for (const x of models) allreduceBuckets(comm, x.ensureGrads());
          const lt = Float64Array.of(loss, shardTokens);
          comm.allreduceSum(lt);
          reduceNs += Number(process.hrtime.bigint() - t); reduceSteps++;
          loss = lt[0]!; tokens += lt[1]!; shardTokens = 0;
        }
        if (!Number.isFinite(loss)) throw diverged(step + 1, `the loss is ${loss}`);
        const lr = bertLearningRate(o.learningRate, step, total, warmup);
        opt.apply(lr);
        step++;
        // the learning rate the kernels apply and the loss they computed, both float32, kept at that precision (0.000015, not 0.000015000000000000004)
        const point = { step, loss: float32Decimal(loss), lr: float32Decimal(lr) };
        curve.push(point);
        rec?.step(point);
        if (ev && (ev.every > 0 ? step % ev.every === 0 : step % perEpoch === 0 || step === total)) evalNow();
        if (checkpoint && step % checkpoint.every === 0 && step < total && !stoppedEarly) {
          checkWeights();
          saveCheckpoint(checkpoint.dir, model, opt, { step, total, curve, seconds: before + (Date.now() - t0) / 1000, tokens, evals, bestLoss, bestStep, sinceBest }, o.jointly);
        }
        const now = Date.now();
        if (log && (now - lastLog > logEvery || step === total)) {
          lastLog = now;
          const el = (now - t0) / 1000, rate = (step - startStep) / el;
          const recent = curve.slice(-20).reduce((a, c) => a + c.loss, 0) / Math.min(20, curve.length);
          const pct = Math.floor((100 * step) / total);
          const bar = '#'.repeat(Math.floor(pct / 5)).padEnd(20, '.');
          log(`train [${bar}] ${step}/${total} loss ${recent.toFixed(4)} ${rate.toFixed(2)} steps/s elapsed ${formatDuration(el)} ETA ${formatDuration((total - step) / rate)}`);
        }
      }
    }
  } finally {
    rec?.flush();
  }
  const seconds = before + (Date.now() - t0) / 1000;
  if (step > startStep) checkWeights();
  // the end of training is a checkpoint too: a kill while the caller evaluates and writes resumes here, not mid-run
  if (checkpoint && step > startStep) saveCheckpoint(checkpoint.dir, model, opt, { step, total, curve, seconds, tokens, evals, bestLoss, bestStep, sinceBest, stoppedEarly }, o.jointly);
  // (data-parallel: rank 0 reads the best model and every rank gets its weights, for the sharded final evaluation)
  const reload = lead && !!ev?.bestDir && bestStep !== null && bestStep !== step && existsSync(join(ev.bestDir, 'model.safetensors'));
  if (comm ? comm.bcastJson(reload) : reload) {
    // the best evaluation's weights replace the last ones
    if (lead) {
      const best = readSafetensors(join(ev!.bestDir!, 'model.safetensors')).tensors;
      for (const spec of model.layout.specs) model.params.set(toFloat32(best.get(spec.name)!), spec.offset);
    }
    comm?.bcast(model.params);
    model.paramsChanged();
    log?.(`loaded the best model (step ${bestStep}, eval ${(ev!.metric ?? 'loss').replace(/^eval_/, '')} ${bestLoss!.toFixed(4)})`);
  }
  const tail = curve.slice(-Math.max(1, Math.ceil(curve.length / 10)));
  const distributed = comm ? { ranks: comm.size, allreduceBytesPerStep: 4 * models.reduce((a, x) => a + x.layout.total, 0) + 16 + 32 * accum, allreduceSecondsPerStep: reduceSteps ? reduceNs / 1e9 / reduceSteps : 0 } : undefined;
  return { globalStep: step, evals, bestStep, stoppedEarly, finalLoss: tail.reduce((a, c) => a + c.loss, 0) / tail.length, curve, seconds, tokensPerSecond: tokens / seconds, ...(distributed ? { distributed } : {}) };
}
