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
  /** returns the micro-batch's mean loss and its token count (padded) */
  step(indices: number[], seed: number, dLoss: number): { loss: number; tokens: number };
}

/**
 * fine-tuning a classifier (the cross-encoder or a pair head: model/taskmodel.ts) on cross-entropy, with label
 * smoothing and class weights when `lossSpec` asks (train/loss.ts)
 */
export function classificationTask(tm: TaskModel, x: TaskInputs, labels: Int32Array, padId = 0, lossSpec?: LossSpec): TrainTask {
  return {
    lengths: x.a.map((_, i) => inputLength(x, i)),
    step(idx, seed, dLoss) {
      const y = Int32Array.from(idx, (i) => labels[i]!);
      const { loss, probs } = tm.loss(tm.logits(x, idx, padId, { train: true, seed }), y);
      if (isPlainLoss(lossSpec)) {
        tm.backward(y, dLoss);
        return { loss, tokens: tm.lastTokens };
      }
      const C = tm.C, dLogits = new Float32Array(y.length * C);
      specLossGrad(dLogits, probs, y, y.length, C, dLoss, lossSpec!);
      tm.backward(y, dLoss, dLogits);
      return { loss: specLoss(probs, y, y.length, C, lossSpec!), tokens: tm.lastTokens };
    },
  };
}

/** fine-tuning with a loss on the logits (regression: mseOn, multi-label: bceOn; train/loss.ts) */
export function logitLossTask(tm: TaskModel, x: TaskInputs, lossOf: LogitLoss, padId = 0): TrainTask {
  return {
    lengths: x.a.map((_, i) => inputLength(x, i)),
    step(idx, seed, dLoss) {
      const z = tm.logits(x, idx, padId, { train: true, seed });
      const { loss, dLogits } = lossOf(z, idx, dLoss);
      tm.backward(new Int32Array(idx.length), dLoss, dLogits);
      return { loss, tokens: tm.lastTokens };
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
  if (o.resumeFrom) {
    // the caller loaded the weights from the checkpoint; here: optimizer moments and progress
    const st = JSON.parse(readFileSync(join(o.resumeFrom, 'trainer_state.json'), 'utf8')) as TrainerState;
    if (st.total !== total) throw new Error(`${o.resumeFrom}: the checkpoint was made for ${st.total} steps, this run has ${total}`);
    const mv = readSafetensors(join(o.resumeFrom, 'optimizer.safetensors')).tensors;
    opt.m.set(toFloat32(mv.get('adam_m')!));
    opt.v.set(toFloat32(mv.get('adam_v')!));
    opt.step = st.step;
    ({ step, curve, tokens } = st);
    evals = st.evals ?? [];
    bestLoss = st.bestLoss ?? null;
    bestStep = st.bestStep ?? null;
    sinceBest = st.sinceBest ?? 0;
    stoppedEarly = st.stoppedEarly ?? false;
    before = st.seconds;
    o.log?.(`resuming from ${o.resumeFrom} at step ${step}/${total}`);
  }
  const t0 = Date.now(), startStep = step;
  const logEvery = progressInterval();
  const rec = o.record;
  rec?.begin(curve, evals);
  const diverged = (at: number, what: string): DivergedError => {
    const lastGood = o.checkpoint ? latestCheckpoint(o.checkpoint.dir) : null;
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
      if (ev!.bestDir) saveBert(model, ev!.bestDir);
    } else sinceBest++;
    o.log?.(`eval at step ${step}: ${r.accuracy === undefined ? '' : `accuracy ${r.accuracy.toFixed(4)} `}loss ${r.loss.toFixed(4)}${Object.entries(r.extra ?? {}).map(([k, v]) => ` ${k} ${v.toFixed(4)}`).join('')}${bestStep === step ? ' (best)' : ''}`);
    if (ev!.patience && sinceBest >= ev!.patience) stoppedEarly = true;
  };
  try {
    while (step < total && !stoppedEarly) {
      const epoch = Math.floor(step / perEpoch);
      const batches = lengthGroupedBatches(lengths, o.batchSize, new Rng((o.seed * 7919 + epoch * 104729) >>> 0));
      for (let k = (step - epoch * perEpoch) * accum; k + accum <= batches.length; k += accum) {
        if (step >= total || stoppedEarly) break;
        if (o.signal?.aborted) {
          if (o.checkpoint && step > startStep && step % o.checkpoint.every !== 0) {
            saveCheckpoint(o.checkpoint.dir, model, opt, { step, total, curve, seconds: before + (Date.now() - t0) / 1000, tokens, evals, bestLoss, bestStep, sinceBest }, o.jointly);
          }
          throw new AbortedError(`training cancelled at step ${step} of ${total}${o.checkpoint ? ' (the same call resumes it)' : ''}`);
        }
        for (const x of models) x.zeroGrads();
        let loss = 0;
        for (let m = 0; m < accum; m++) {
          const r = task.step(batches[k + m]!, (o.seed * 1000003 + step * accum + m) >>> 0, 1 / accum);
          loss += r.loss / accum;
          tokens += r.tokens;
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
        if (o.checkpoint && step % o.checkpoint.every === 0 && step < total && !stoppedEarly) {
          checkWeights();
          saveCheckpoint(o.checkpoint.dir, model, opt, { step, total, curve, seconds: before + (Date.now() - t0) / 1000, tokens, evals, bestLoss, bestStep, sinceBest }, o.jointly);
        }
        const now = Date.now();
        if (o.log && (now - lastLog > logEvery || step === total)) {
          lastLog = now;
          const el = (now - t0) / 1000, rate = (step - startStep) / el;
          const recent = curve.slice(-20).reduce((a, c) => a + c.loss, 0) / Math.min(20, curve.length);
          const pct = Math.floor((100 * step) / total);
          const bar = '#'.repeat(Math.floor(pct / 5)).padEnd(20, '.');
          o.log(`train [${bar}] ${step}/${total} loss ${recent.toFixed(4)} ${rate.toFixed(2)} steps/s elapsed ${formatDuration(el)} ETA ${formatDuration((total - step) / rate)}`);
        }
      }
    }
  } finally {
    rec?.flush();
  }
  const seconds = before + (Date.now() - t0) / 1000;
  if (step > startStep) checkWeights();
  // the end of training is a checkpoint too: a kill while the caller evaluates and writes resumes here, not mid-run
  if (o.checkpoint && step > startStep) saveCheckpoint(o.checkpoint.dir, model, opt, { step, total, curve, seconds, tokens, evals, bestLoss, bestStep, sinceBest, stoppedEarly }, o.jointly);
  if (ev?.bestDir && bestStep !== null && bestStep !== step && existsSync(join(ev.bestDir, 'model.safetensors'))) {
    // the best evaluation's weights replace the last ones
    const best = readSafetensors(join(ev.bestDir, 'model.safetensors')).tensors;
    for (const spec of model.layout.specs) model.params.set(toFloat32(best.get(spec.name)!), spec.offset);
    model.paramsChanged();
    o.log?.(`loaded the best model (step ${bestStep}, eval ${(ev.metric ?? 'loss').replace(/^eval_/, '')} ${bestLoss!.toFixed(4)})`);
  }
  const tail = curve.slice(-Math.max(1, Math.ceil(curve.length / 10)));
  return { globalStep: step, evals, bestStep, stoppedEarly, finalLoss: tail.reduce((a, c) => a + c.loss, 0) / tail.length, curve, seconds, tokensPerSecond: tokens / seconds };
}
