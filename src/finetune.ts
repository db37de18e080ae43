/**
 * finetune / predict: the run_classifier workflow on files. Data flows one
 * way: files -> examples -> features -> batches -> model -> metrics -> report.
 */
import { maxSequenceLength } from './model/config.js';
import { readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Kernels } from './core/kernels.js';
import { Progress } from './core/progress.js';
import { resolveDtype, trainingDtype, type DTypeOption } from './core/dtype.js';
import { choiceOption, intOption, MIN_SEQ_LENGTH, OptionError, positiveOption, ratioOption } from './core/options.js';
import { dataInputs, type DataOptions, loadData } from './data/load.js';
import { DataError, isScoreLabel, labelIds, labelList, multiLabelTargets, positiveLabelIndex, scoreTargets } from './data/processors.js';
import { computeMetrics, evalResultsText, extraMetrics, matthewsFromConfusion, MULTI_LABEL_SELECTION_METRICS, multiLabelMetrics, multiLabelResultsText, REGRESSION_SELECTION_METRICS, regressionMetrics, regressionResultsText, SELECTION_METRICS, type Metrics, type MultiLabelMetrics, type RegressionMetrics } from './eval/metrics.js';
import { writeMultiLabelReports, writeRegressionReports, writeReports, writeSplitJson } from './eval/reports.js';
import { RunLog } from './eval/runlog.js';
import { classificationReliability, readRunPredictions, reliability, reliabilityKeys, reliabilityText, type Reliability, type Significance } from './eval/reliability.js';
import { InputFileError, readJsonLines } from './io/text.js';
import { checkOutputFile, outputTarget, writeFileAtomic } from './io/atomic.js';
import { checkOutputPath } from './io/files.js';
import { firstNonFinite } from './io/tensor.js';
import { findModelFiles, loadBert, saveBert } from './model/load.js';
import { copyTokenizerFiles } from './io/checkpoint.js';
import { beginRun, finishRun, inspectRun } from './run/rundir.js';
import { loadTokenizer } from './tokenize/index.js';
import { type Features, InputBuilder } from './tokenize/inputs.js';
import { classificationTask, logitLossTask, train, trainingSteps, trainTask, type TrainResult } from './train/trainer.js';
import { checkSameEverywhere, mpiLaunch, openDistributed } from './train/distributed.js';
import { evaluate, evaluateLogits, evaluateScores, type EvalResult, type ScoreResult } from './infer/evaluate.js';
import { HEAD_TYPES, headConfig } from './model/heads/index.js';
import { PairModel } from './model/pairmodel.js';
import { taskModel } from './model/crossmodel.js';
import type { PairInputs } from './model/taskmodel.js';
import { TextClassifier } from './infer/models.js';
import { calibrate, CONTRASTIVE_LOSSES, cosentTask, mnrlTask } from './train/contrastive.js';
import { balancedClassWeights, bceLoss, bceOn, mseOn, sigmoid, type LossSpec } from './train/loss.js';

export type { DataOptions } from './data/load.js';

export interface FinetuneOptions extends DataOptions {
  model: string;
  output: string;
  kernels: Kernels;
  overwrite?: boolean;
  maxSeqLength?: number;
  batchSize?: number;
  learningRate?: number;
  epochs?: number;
  maxSteps?: number;
  warmupProportion?: number;
  seed?: number;
  /** auto (default): bf16 where the CPU runs it natively, else f32 */
  dtype?: DTypeOption;
  lowercase?: boolean;
  /** save a resumable checkpoint every N steps (default 100; 0: never) */
  saveSteps?: number;
  gradientAccumulation?: number;
  /** evaluate during training every N steps; 0 = at each epoch's end; undefined = only at the end */
  evalSteps?: number;
  /** stop after this many evaluations without a better eval loss; the best model is kept */
  earlyStoppingPatience?: number;
  /** what "best" means for evaluation during training (HF's metric_for_best_model): loss (default), accuracy, macro_f1, mcc, roc_auc */
  metricForBestModel?: string;
  /** default: true for every metric but loss */
  greaterIsBetter?: boolean;
  /** AdamW weight decay (default 0.01) and the global gradient-norm clip (default 1.0; 0: none) */
  weightDecay?: number;
  maxGradNorm?: number;
  /** where else the run's scalars go: tensorboard writes OUT/runs/events.out.tfevents.* (HF's report_to); default none */
  reportTo?: 'none' | 'tensorboard';
  /** HF's problem_type: single_label_classification, or regression (one output, MSE; float labels); default: regression when a label is a decimal number */
  problemType?: 'single_label_classification' | 'regression' | 'multi_label_classification';
  /** HF's label_smoothing_factor: ε in [0, 1) (training loss only) */
  labelSmoothing?: number;
  /** 'balanced' (n / (C · count), as scikit-learn), or one weight per label in the labels' sorted order */
  classWeights?: 'balanced' | number[];
  /** cross (default: text_a and text_b in one input) or a cacheable pair head: bi, cosine, additive, dot, lowrank, poly, late */
  head?: string;
  /**
   * the bi-encoder's training loss, as sentence-transformers': cross-entropy (default; the head's classifier),
   * contrastive (MultipleNegativesRankingLoss, in-batch negatives, positive pairs only) or cosent (every pair's
   * label or score). contrastive and cosent train the bi-encoder's cosine similarity: the model's head is `cosine`.
   */
  loss?: 'cross-entropy' | 'contrastive' | 'cosent';
  /** the cosine's scale in contrastive and cosent (sentence-transformers' default 20) */
  lossScale?: number;
  /** train from scratch: the model folder's config and tokenizer with freshly initialised weights */
  randomInit?: boolean;
  /** the head's projection size (additive, lowrank, late) and poly's code count */
  headDim?: number;
  polyCodes?: number;
  /** when the output folder holds this very run, finished: return its results from report.json instead of refusing (compare's resume) */
  reuseFinished?: boolean;
  /** resamples of the bootstrap behind the macro-F1, MCC and ROC-AUC intervals (default 1000; 0: none) */
  bootstrapSamples?: number;
  /** a finished run (the frozen baseline, another model) on the same eval examples: McNemar's test and the accuracy difference against it */
  baselineRun?: string;
  log?: (line: string) => void;
  /** cancels training between steps (AbortedError; rerunning resumes from the checkpoint) */
  signal?: { readonly aborted: boolean };
  /** under mpirun (train/distributed.ts): auto (default) trains data-parallel over the ranks, off trains in each process alone */
  distributed?: 'auto' | 'off';
}

/** the files and folders finetune and baseline write into an output folder */
export const OUTPUT_FILES = /^(best-model|run\.json|split\.json|eval_results\.txt|eval_results\.json|classification_report\.txt|confusion_matrix\.txt|report\.json|eval_predictions\.jsonl|report\.html|metrics\.csv|runs|confusion_matrix\.png|learning_curve\.png|config\.json|model\.safetensors|logreg\.safetensors|tokenizer\.json|tokenizer_config\.json|special_tokens_map\.json|vocab\.txt|.*\.model|.*\.vocab|checkpoint-\d+(\.tmp)?)$/;

/** the training loss's label smoothing and class weights, checked against the labels */
function makeLossSpec(cw: FinetuneOptions['classWeights'], labelSmoothing: number, labels: string[], y: Int32Array): LossSpec {
  let classWeights: Float32Array | undefined;
  if (cw === 'balanced') classWeights = balancedClassWeights(y, labels.length);
  else if (cw !== undefined) {
    if (!Array.isArray(cw) || cw.length !== labels.length || !cw.every((w) => typeof w === 'number' && Number.isFinite(w) && w >= 0) || !cw.some((w) => w > 0)) {
      throw new OptionError(`--class-weights must be balanced or ${labels.length} numbers ≥ 0 (one per label: ${labels.join(', ')}), not all 0; got ${JSON.stringify(cw)}`);
    }
    classWeights = Float32Array.from(cw);
  }
  return { classWeights, labelSmoothing: labelSmoothing || undefined };
}

/**
 * one of: metrics (single-label classification), regression, multiLabel; the others null. reliability: the split, its
 * leakage and the intervals; significance: McNemar against `baselineRun`; reliabilityText: their printed block
 */
export interface FinetuneResult {
  metrics: Metrics | null; regression: RegressionMetrics | null; multiLabel: MultiLabelMetrics | null; train: TrainResult; evalLoss: number; loss: number; evalText: string;
  reliability: Reliability | null; significance: Significance | null; reliabilityText: string;
}

/** what a data-parallel rank other than 0 returns: it trained, rank 0 evaluated and wrote the outputs */
function workerResult(train: TrainResult | null): FinetuneResult {
  const none: TrainResult = { globalStep: 0, evals: [], bestStep: null, stoppedEarly: false, finalLoss: NaN, curve: [], seconds: 0, tokensPerSecond: 0 };
  return { metrics: null, regression: null, multiLabel: null, train: train ?? none, evalLoss: NaN, loss: NaN, evalText: '', reliability: null, significance: null, reliabilityText: '' };
}

/** the results of a finished run, read back from its report.json and eval_results.txt */
function finishedResult(dir: string, labels: string[], kind: 'single' | 'regression' | 'multi'): FinetuneResult {
  const r = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  const evalText = readFileSync(join(dir, 'eval_results.txt'), 'utf8');
  const reliability: Reliability | null = r.split ? { split: r.split, leakage: r.leakage ?? null, ci95: r.ci95 ?? null, bootstrap: r.bootstrap ?? { resamples: 0, seed: r.hyperparameters?.seed ?? 0 } } : null;
  const significance: Significance | null = r.mcnemar ?? null;
  const rel = { reliability, significance, reliabilityText: reliability ? reliabilityText(reliability, r.eval_accuracy === undefined ? null : { accuracy: r.eval_accuracy, macro_f1: r.eval_macro_f1, mcc: r.eval_mcc, roc_auc: r.eval_roc_auc ?? null }, significance) : '' };
  const trainOf = (): TrainResult => ({ globalStep: r.global_step, evals: r.evaluations ?? [], bestStep: r.best_step ?? null, stoppedEarly: r.stopped_early ?? false,
    finalLoss: r.final_train_loss, curve: r.learning_curve ?? [], seconds: r.train_seconds, tokensPerSecond: r.train_tokens_per_second });
  if (kind === 'regression') {
    return { metrics: null, regression: { mse: r.eval_mse, pearson: r.eval_pearson, spearmanr: r.eval_spearmanr, total: r.eval_examples }, multiLabel: null, train: trainOf(), evalLoss: r.eval_loss, loss: r.loss, evalText, ...rel };
  }
  if (kind === 'multi') {
    const multiLabel: MultiLabelMetrics = { labels, perLabel: r.per_label, micro: r.micro_avg, macro: r.macro_avg, weighted: r.weighted_avg, samples: r.samples_avg, subsetAccuracy: r.eval_subset_accuracy, total: r.eval_examples };
    return { metrics: null, regression: null, multiLabel, train: trainOf(), evalLoss: r.eval_loss, loss: r.loss, evalText, ...rel };
  }
  const metrics: Metrics = { labels, accuracy: r.eval_accuracy, perClass: r.per_class, macro: r.macro_avg, weighted: r.weighted_avg, confusion: r.confusion_matrix,
    total: (r.confusion_matrix as number[][]).flat().reduce((a, b) => a + b, 0), mcc: r.eval_mcc ?? matthewsFromConfusion(r.confusion_matrix), rocAuc: r.eval_roc_auc ?? null };
  return { metrics, regression: null, multiLabel: null, train: trainOf(), evalLoss: r.eval_loss, loss: r.loss, evalText, ...rel };
}

/** finetune's options with defaults applied, every number range-checked (nothing read or written yet) */
function finetuneSettings(o: FinetuneOptions) {
  const asked = choiceOption('head', o.head, ['cross', ...HEAD_TYPES] as const, 'cross');
  const loss = choiceOption('loss', o.loss, CONTRASTIVE_LOSSES, 'cross-entropy');
  if (loss !== 'cross-entropy' && asked !== 'bi' && asked !== 'cosine') throw new OptionError(`--loss ${loss} trains a bi-encoder's cosine similarity: use it with --head bi (or cosine), not --head ${asked}`);
  return {
    // --loss contrastive|cosent with --head bi: the bi-encoder scored by cosine similarity, the `cosine` head
    head: loss === 'cross-entropy' ? asked : 'cosine',
    loss,
    lossScale: positiveOption('loss-scale', o.lossScale, 20),
    maxSeqLength: intOption('max-seq-length', o.maxSeqLength, 128, MIN_SEQ_LENGTH, 4096),
    batchSize: intOption('batch-size', o.batchSize, 32),
    learningRate: positiveOption('learning-rate', o.learningRate, 5e-5),
    epochs: positiveOption('epochs', o.epochs, 3),
    maxSteps: o.maxSteps === undefined ? undefined : intOption('max-steps', o.maxSteps, 0),
    warmupProportion: ratioOption('warmup-proportion', o.warmupProportion, 0.1, true),
    seed: intOption('seed', o.seed, 42, 0, 2 ** 32 - 1),
    saveSteps: intOption('save-steps', o.saveSteps, 100, 0),
    gradientAccumulation: intOption('gradient-accumulation-steps', o.gradientAccumulation, 1),
    evalSteps: o.evalSteps === undefined ? undefined : intOption('eval-steps', o.evalSteps, 0, 0),
    patience: o.earlyStoppingPatience === undefined ? undefined : intOption('early-stopping-patience', o.earlyStoppingPatience, 0),
    headDim: o.headDim === undefined ? undefined : intOption('head-dim', o.headDim, 0, 0, 65536),
    polyCodes: o.polyCodes === undefined ? undefined : intOption('poly-codes', o.polyCodes, 0, 0, 65536),
    metric: choiceOption('metric-for-best-model', o.metricForBestModel?.replace(/^eval_/, ''), [...SELECTION_METRICS, 'pearson', 'spearmanr', 'micro_f1', 'subset_accuracy'] as const, 'loss'),
    reportTo: choiceOption('report-to', o.reportTo, ['none', 'tensorboard'] as const, 'none'),
    problemType: o.problemType === undefined ? undefined : choiceOption('problem-type', o.problemType, ['single_label_classification', 'regression', 'multi_label_classification'] as const, 'single_label_classification'),
    greaterIsBetter: o.greaterIsBetter,
    weightDecay: positiveOption('weight-decay', o.weightDecay, 0.01, true),
    maxGradNorm: positiveOption('max-grad-norm', o.maxGradNorm, 1.0, true),
    labelSmoothing: ratioOption('label-smoothing', o.labelSmoothing, 0, true),
    classWeights: o.classWeights,
    bootstrapSamples: intOption('bootstrap-samples', o.bootstrapSamples, 1000, 0, 1_000_000),
  };
}

export function finetune(o: FinetuneOptions): FinetuneResult {
  // 1. check everything and read everything; nothing is written until the run begins
  const st = finetuneSettings(o);
  const dtype = trainingDtype(resolveDtype(o.dtype, o.kernels), 'finetune');
  const seed = st.seed;
  const data = loadData(o, seed);
  // regression: float targets (HF's run_glue decides by the labels' type; --problem-type says it outright)
  // multi-label: lists of labels (sigmoid outputs, binary cross-entropy), as HF's problem_type multi_label_classification
  const multiLabel = st.problemType === 'multi_label_classification' || (st.problemType === undefined && data.train.some((e) => e.labels));
  const regression = !multiLabel && (st.problemType === 'regression' || (st.problemType === undefined && data.train.some((e) => isScoreLabel(e.label))));
  const targets = regression ? { train: scoreTargets(data.train, data.source), eval: scoreTargets(data.eval, o.evalFile ?? data.source) } : null;
  if (!multiLabel && data.train.some((e) => e.labels)) throw new DataError(`${data.source}: lists of labels are multi-label data (--problem-type multi_label_classification)`);
  const mlTrain = multiLabel ? multiLabelTargets(data.train, data.source) : null;
  const ml = mlTrain ? { labels: mlTrain.labels, train: mlTrain.Y, eval: multiLabelTargets(data.eval, o.evalFile ?? data.source, mlTrain.labels).Y } : null;
  const labels = regression ? ['LABEL_0'] : ml ? ml.labels : labelList(data.train, data.source);
  const kind = regression ? 'regression' : ml ? 'multi-label classification' : 'classification';
  if ((regression || ml) && (st.classWeights !== undefined || st.labelSmoothing)) throw new OptionError(`--class-weights and --label-smoothing apply to single-label classification, not ${kind}`);
  const allowed: readonly string[] = regression ? REGRESSION_SELECTION_METRICS : ml ? MULTI_LABEL_SELECTION_METRICS : SELECTION_METRICS;
  if (!allowed.includes(st.metric)) throw new OptionError(`--metric-for-best-model ${st.metric} does not apply to ${kind} (use ${allowed.join(', ')})`);
  const contrastive = st.loss !== 'cross-entropy';
  if (contrastive) {
    if (ml) throw new OptionError(`--loss ${st.loss} does not apply to multi-label data`);
    if (regression && st.loss === 'contrastive') throw new OptionError('--loss contrastive needs positive pairs (labels 0/1); for scores use --loss cosent');
    if (!regression && labels.length !== 2) throw new DataError(`${data.source}: --loss ${st.loss} needs two labels (a pair matches or not), found ${labels.length}: ${labels.join(', ')}`);
    if (st.classWeights !== undefined || st.labelSmoothing) throw new OptionError(`--class-weights and --label-smoothing apply to the cross-entropy loss, not --loss ${st.loss}`);
  }
  const lossSpec = regression || ml ? {} : makeLossSpec(st.classWeights, st.labelSmoothing, labels, labelIds(data.train, labels, data.source));
  // what identifies a run: an output folder holding the same run resumes it, another one is refused
  const identity = JSON.stringify({
    model: o.model, livedoor: o.livedoor ?? null, texts: o.texts ?? null, pairs: o.pairs ?? null, train: o.trainFile ?? null, eval: o.evalFile ?? null, eval_ratio: o.evalRatio ?? null,
    max_seq_length: st.maxSeqLength, batch_size: st.batchSize, learning_rate: st.learningRate, epochs: st.epochs,
    max_steps: st.maxSteps ?? null, warmup_proportion: st.warmupProportion, seed, dtype, lowercase: o.lowercase ?? null,
    gradient_accumulation_steps: st.gradientAccumulation, eval_steps: st.evalSteps ?? null, early_stopping_patience: st.patience ?? null,
    train_examples: data.train.length, labels, head: st.head, random_init: o.randomInit ?? false, head_dim: st.headDim ?? null, poly_codes: st.polyCodes ?? null,
    // only when set, so the runs of earlier versions resume
    ...(st.metric !== 'loss' || st.greaterIsBetter !== undefined ? { metric_for_best_model: st.metric, greater_is_better: st.greaterIsBetter ?? null } : {}),
    ...(st.weightDecay !== 0.01 ? { weight_decay: st.weightDecay } : {}), ...(st.maxGradNorm !== 1.0 ? { max_grad_norm: st.maxGradNorm } : {}),
    ...(st.labelSmoothing ? { label_smoothing: st.labelSmoothing } : {}), ...(lossSpec.classWeights ? { class_weights: Array.from(lossSpec.classWeights) } : {}),
    ...(regression ? { problem_type: 'regression' } : ml ? { problem_type: 'multi_label_classification' } : {}),
    ...(contrastive ? { loss: st.loss, loss_scale: st.lossScale } : {}),
    ...(data.split.strategy === 'group' ? { split: 'group' } : {}), ...(data.split.folds ? { folds: data.split.folds, fold: data.split.fold } : {}),
  });
  if (o.baselineRun !== undefined && (regression || ml)) throw new OptionError(`--baseline-run compares classification runs; this is ${kind}`);
  if (o.baselineRun !== undefined) readRunPredictions(o.baselineRun); // a folder that is not a finished run fails before training
  const inputs = [...dataInputs(o), { flag: '--baseline-run', path: o.baselineRun }];
  // data-parallel under mpirun: rank 0 owns the output folder (inspects, locks, writes); the others train beside it and write nothing
  const distributed = choiceOption('distributed', o.distributed, ['auto', 'off'] as const, 'auto');
  if (distributed === 'auto' && (mpiLaunch()?.size ?? 1) > 1 && (st.loss !== 'cross-entropy' || o.folds !== undefined)) throw new OptionError(`${st.loss !== 'cross-entropy' ? `--loss ${st.loss} (in-batch negatives)` : '--folds'} runs in one process: run it without mpirun, or with --distributed off`);
  const comm = openDistributed(distributed), lead = !comm || comm.rank === 0;
  if (!lead) o = { ...o, log: undefined };
  const plan = lead ? inspectRun(o.output, identity, { overwrite: o.overwrite, finished: 'eval_results.txt', reuseFinished: o.reuseFinished, ownFiles: OUTPUT_FILES, inputs, model: o.model }) : null;
  const finished = comm ? comm.bcastJson(plan?.finished ?? false) : plan!.finished;
  if (finished) return lead ? finishedResult(o.output, labels, regression ? 'regression' : ml ? 'multi' : 'single') : workerResult(null);
  const resumeFrom = plan?.resumeFrom ?? null;
  const files = findModelFiles(o.model);
  const headName = st.head;
  const requestedLen = st.maxSeqLength;
  const pairHead = headName === 'cross' ? undefined : headConfig(headName, st.headDim, st.polyCodes, Math.floor(requestedLen / 2));
  const { model } = resumeFrom
    ? loadBert(resumeFrom, { kernels: o.kernels, dtype })
    : loadBert(o.model, { kernels: o.kernels, dtype, labels, seed, pairHead, randomInit: o.randomInit });
  if (regression) model.cfg.problem_type = 'regression';
  if (ml) model.cfg.problem_type = 'multi_label_classification';
  const tokenizer = loadTokenizer(files.dir, { lowercase: o.lowercase });
  const maxLen = Math.min(requestedLen, maxSequenceLength(model.cfg));
  const builder = new InputBuilder(tokenizer, pairHead ? Math.min(pairHead.side_length, maxSequenceLength(model.cfg)) : maxLen);
  model.cfg.pad_token_id = builder.pad; // config.json names the padding id (HF's default 0 is often another token)
  // the cross-encoder reads one [CLS] a [SEP] b [SEP] input; a pair head encodes a and b separately (model/taskmodel.ts)
  const tm = taskModel(model);
  // contrastive losses train a pair head's two sides (train/contrastive.ts)
  const pm = tm instanceof PairModel ? tm : null;
  // regression and multi-label: y unused (the targets are floats, or label lists)
  const none = () => new Int32Array(0);
  const tr = { x: tm.inputs(builder, data.train, data.source), y: regression || ml ? none() : labelIds(data.train, labels, data.source) };
  const ev = { x: tm.inputs(builder, data.eval, o.evalFile ?? data.source), y: regression || ml ? none() : labelIds(data.eval, labels, o.evalFile ?? data.source) };
  const positive = positiveLabelIndex(labels);
  // contrastive trains on the positive pairs alone (in-batch negatives)
  const positives = st.loss === 'contrastive' ? Array.from(tr.y.keys()).filter((i) => tr.y[i] === positive) : null;
  if (positives && positives.length === 0) throw new DataError(`${data.source}: --loss contrastive needs positive pairs (label ${labels[positive]}); there are none`);
  const nTrain = positives ? positives.length : data.train.length;
  const total = trainingSteps(nTrain, { batchSize: st.batchSize, epochs: st.epochs, maxSteps: st.maxSteps, gradientAccumulation: st.gradientAccumulation });
  if (total < 1) throw new OptionError(`no training steps: ${nTrain} ${positives ? 'positive pairs' : 'examples'} with --batch-size ${st.batchSize} × --gradient-accumulation-steps ${st.gradientAccumulation} and --epochs ${st.epochs} make less than one step`);

  // data-parallel: every rank holds the same data, options and (starting fresh) weights, or the run is refused before anything is written
  if (comm) {
    const resuming = comm.bcastJson(resumeFrom !== null);
    const flat = (fs: Features[] | undefined) => Int32Array.from((fs ?? []).flatMap((f) => [f.inputIds.length, ...f.inputIds, ...f.tokenTypeIds]));
    checkSameEverywhere(comm, [identity, flat(tr.x.a), flat(tr.x.b), tr.y, flat(ev.x.a), flat(ev.x.b), ev.y, ...(resuming ? [] : [model.params])]);
  }
  // 2. the run begins: lock, run.json; from here a kill leaves a folder the same command resumes
  const release = plan ? beginRun(plan, identity) : () => {};
  try {
    // (data-parallel: each rank scores its share of the batches, gathered on every rank)
    const shards = comm ?? undefined;
    const runEval = (): EvalResult => evaluate(tm, ev.x, ev.y, 64, builder.pad, shards);
    const runLogits = (): Float32Array => evaluateLogits(tm, ev.x, 64, builder.pad, shards);
    const runScores = (): ScoreResult => evaluateScores(tm, ev.x, targets!.eval, 64, builder.pad, shards);
    // contrastive and cosent train the cosine alone: its classifier is fitted to the training pairs before every evaluation and at the end
    const calibrateHead = (): void => {
      if (!contrastive) return;
      const fit = calibrate(pm!, tr.x as PairInputs, builder.pad, regression ? { scores: targets!.train } : { positive, y: tr.y });
      o.log?.(`classifier fitted to the cosine: ${regression ? 'score' : `logit of P(${labels[positive]})`} = ${fit.w.toFixed(4)} · cos ${fit.c < 0 ? '−' : '+'} ${Math.abs(fit.c).toFixed(4)}`);
    };
    const methodBase = !pm ? 'fine-tuned cross-encoder' : contrastive
      ? `bi-encoder scored by cosine similarity (the cosine pair head), trained with ${st.loss === 'contrastive' ? 'MultipleNegativesRankingLoss (in-batch negatives)' : 'CoSENT'} at scale ${st.lossScale}`
      : `BERT with the cacheable ${headName} pair head`;
    const hp = {
      max_seq_length: maxLen, train_batch_size: st.batchSize, learning_rate: st.learningRate,
      num_train_epochs: st.epochs, max_steps: st.maxSteps ?? null, warmup_proportion: st.warmupProportion, seed, dtype,
    };
    o.log?.(`fine-tuning ${basename(o.model)}${pm ? ` with the ${headName} head` : ''}${contrastive ? ` and --loss ${st.loss}` : ''} on ${positives ? `${positives.length} positive pairs of ${data.train.length} examples` : `${data.train.length} examples`} (eval ${data.eval.length}), labels ${labels.join(', ')}`);
    // metrics.csv (and the TensorBoard event file) as the run goes, the final evaluation last
    const runLog = new RunLog(o.output, st.reportTo === 'tensorboard'); // (written by rank 0 alone: the trainer records only there)
    const trainOpts: Parameters<typeof train>[4] = {
      batchSize: st.batchSize, learningRate: st.learningRate, epochs: st.epochs, maxSteps: st.maxSteps,
      warmupProportion: st.warmupProportion, seed, padId: builder.pad, log: o.log, weightDecay: st.weightDecay, maxGradNorm: st.maxGradNorm, loss: lossSpec,
      checkpoint: st.saveSteps ? { dir: o.output, every: st.saveSteps } : undefined, resumeFrom: resumeFrom ?? undefined,
      gradientAccumulation: st.gradientAccumulation, signal: o.signal, record: runLog, comm, identity,
      evaluation: st.evalSteps === undefined && st.patience === undefined ? undefined : {
        every: st.evalSteps ?? 0,
        patience: st.patience,
        bestDir: join(o.output, 'best-model'),
        metric: st.metric, greaterIsBetter: st.greaterIsBetter,
        run: (): { accuracy?: number; loss: number; extra: Record<string, number> } => {
          calibrateHead();
          if (ml) {
            const z = runLogits(), m = multiLabelMetrics(labels, ml.eval, Float32Array.from(z, sigmoid));
            return { loss: bceLoss(z, ml.eval, z.length), extra: { micro_f1: m.micro.f1, macro_f1: m.macro.f1, subset_accuracy: m.subsetAccuracy } };
          }
          if (regression) {
            const r = runScores(), m = regressionMetrics(targets!.eval, r.scores);
            return { loss: m.mse, extra: { pearson: m.pearson, spearmanr: m.spearmanr } };
          }
          const r = runEval();
          const m = computeMetrics(labels, Array.from(ev.y), r.predictions, r.probs);
          return { accuracy: m.accuracy, loss: r.evalLoss, extra: extraMetrics(m) };
        },
      },
    };
    // multi-label and regression train on a loss of the logits; single-label classification on the kernels' cross-entropy
    const lossOf = ml ? bceOn(ml.train, labels.length) : regression ? mseOn(targets!.train) : null;
    const keys = { a: data.train.map((e) => e.textA), b: data.train.map((e) => e.textB ?? '') };
    const task = st.loss === 'contrastive' ? mnrlTask(pm!, tr.x as PairInputs, positives!, keys, builder.pad, st.lossScale)
      : st.loss === 'cosent' ? cosentTask(pm!, tr.x as PairInputs, regression ? targets!.train : Float64Array.from(tr.y, (y) => (y === positive ? 1 : 0)), builder.pad, st.lossScale)
      : lossOf ? logitLossTask(tm, tr.x, lossOf, builder.pad)
      : classificationTask(tm, tr.x, tr.y, builder.pad, lossSpec);
    const result = trainTask(model, o.kernels, task, trainOpts);
    // the final evaluation, sharded over the ranks; rank 0 alone writes the outputs
    if (!lead) {
      if (ml) runLogits(); else if (regression) runScores(); else runEval();
      return workerResult(result);
    }
    calibrateHead();
    const hyperparameters = { ...hp, gradient_accumulation_steps: st.gradientAccumulation, eval_steps: st.evalSteps ?? null, early_stopping_patience: st.patience ?? null,
      metric_for_best_model: st.metric, greater_is_better: st.greaterIsBetter ?? st.metric !== 'loss', weight_decay: st.weightDecay, max_grad_norm: st.maxGradNorm,
      label_smoothing: st.labelSmoothing, class_weights: lossSpec.classWeights ? Array.from(lossSpec.classWeights) : null, loss: st.loss, loss_scale: contrastive ? st.lossScale : null, problem_type: regression ? 'regression' : ml ? 'multi_label_classification' : 'single_label_classification' };
    const common = {
      global_step: result.globalStep, hyperparameters,
      evaluations: result.evals, best_step: result.bestStep, stopped_early: result.stoppedEarly, train_seconds: result.seconds, train_tokens_per_second: result.tokensPerSecond, final_train_loss: result.finalLoss,
      ...(result.distributed ? { distributed: { ranks: result.distributed.ranks, allreduce_bytes_per_step: result.distributed.allreduceBytesPerStep, allreduce_seconds_per_step: result.distributed.allreduceSecondsPerStep } } : {}),
      learning_curve: result.curve, model: o.model, train_examples: data.train.length, eval_examples: data.eval.length,
      head: headName, random_init: o.randomInit ?? false,
    };
    if (ml) {
      const z = runLogits(), probs = Float32Array.from(z, sigmoid), m = multiLabelMetrics(labels, ml.eval, probs), loss = bceLoss(z, ml.eval, z.length);
      const evalText = multiLabelResultsText({ eval_loss: loss, eval_micro_f1: m.micro.f1, eval_macro_f1: m.macro.f1, eval_subset_accuracy: m.subsetAccuracy, global_step: result.globalStep, loss });
      runLog.eval({ step: result.globalStep, eval_loss: loss, eval_micro_f1: m.micro.f1, eval_macro_f1: m.macro.f1, eval_subset_accuracy: m.subsetAccuracy }, 'final');
      saveBert(model, o.output);
      copyTokenizerFiles(files.dir, o.output);
      const rel = reliability(data, labels, null, { seed, resamples: st.bootstrapSamples });
      writeSplitJson(o.output, data.split);
      writeMultiLabelReports(o.output, data.eval, probs, m, evalText, {
        ...common, eval_loss: loss, loss, method: `${methodBase}, multi-label${o.randomInit ? ', trained from random weights' : ''}`, ...reliabilityKeys(rel, null),
      });
      finishRun(o.output);
      return { metrics: null, regression: null, multiLabel: m, train: result, evalLoss: loss, loss, evalText, reliability: rel, significance: null, reliabilityText: reliabilityText(rel, null) };
    }
    if (regression) {
      const r = runScores(), m = regressionMetrics(targets!.eval, r.scores);
      const evalText = regressionResultsText({ eval_loss: m.mse, eval_pearson: m.pearson, eval_spearmanr: m.spearmanr, global_step: result.globalStep, loss: m.mse });
      runLog.eval({ step: result.globalStep, eval_loss: m.mse, eval_pearson: m.pearson, eval_spearmanr: m.spearmanr }, 'final');
      saveBert(model, o.output);
      copyTokenizerFiles(files.dir, o.output);
      const rel = reliability(data, labels, null, { seed, resamples: st.bootstrapSamples });
      writeSplitJson(o.output, data.split);
      writeRegressionReports(o.output, data.eval, targets!.eval, r.scores, m, evalText, {
        ...common, loss: m.mse, method: `${methodBase}, regression${o.randomInit ? ', trained from random weights' : ''}`, ...reliabilityKeys(rel, null),
      });
      finishRun(o.output);
      return { metrics: null, regression: m, multiLabel: null, train: result, evalLoss: m.mse, loss: m.mse, evalText, reliability: rel, significance: null, reliabilityText: reliabilityText(rel, null) };
    }
    const ev2 = runEval();
    const metrics = computeMetrics(labels, Array.from(ev.y), ev2.predictions, ev2.probs);
    const evalText = evalResultsText({ eval_accuracy: metrics.accuracy, eval_loss: ev2.evalLoss, global_step: result.globalStep, loss: ev2.loss });
    runLog.eval({ step: result.globalStep, eval_accuracy: metrics.accuracy, eval_loss: ev2.evalLoss, ...Object.fromEntries(Object.entries(extraMetrics(metrics)).map(([k, v]) => [`eval_${k}`, v])) }, 'final');
    const rel = classificationReliability(data, labels, ev.y, ev2.predictions, ev2.probs, { accuracy: metrics.accuracy, macro_f1: metrics.macro.f1, mcc: metrics.mcc, roc_auc: metrics.rocAuc },
      { seed, resamples: st.bootstrapSamples, against: o.baselineRun });

    // 3. the model first, then the reports with eval_results.txt (the finished marker) last, then the checkpoints go
    const out = o.output;
    saveBert(model, out);
    copyTokenizerFiles(files.dir, out);
    writeSplitJson(out, data.split);
    writeReports(out, data.eval, labels, ev2.predictions, ev2.probs, metrics, evalText, {
      eval_accuracy: metrics.accuracy, eval_loss: ev2.evalLoss, loss: ev2.loss, ...common,
      method: `${methodBase}${o.randomInit ? ', trained from random weights' : ''}`, ...rel.report,
    }, rel.text);
    finishRun(out);
    return { metrics, regression: null, multiLabel: null, train: result, evalLoss: ev2.evalLoss, loss: ev2.loss, evalText, reliability: rel.reliability, significance: rel.significance, reliabilityText: rel.text };
  } finally {
    release();
  }
}

export interface PredictOptions { model: string; input: string; output: string; kernels: Kernels; maxSeqLength?: number; lowercase?: boolean; dtype?: DTypeOption;
  /** progress lines (core/progress.ts: throttled) */ log?: (line: string) => void }

/** examples per part of a predict run (one progress update each) */
const PREDICT_CHUNK = 1024;

/** probabilities per example: JSONL, plus test_results.tsv as run_classifier writes it */
export function predict(o: PredictOptions): number {
  checkOutputFile(o.output);
  const reads = { inputs: [{ flag: '--input', path: o.input }], model: o.model };
  checkOutputPath('--output', o.output, reads);
  // run_classifier's test_results.tsv: one line of class probabilities per example, beside the JSONL (not when that goes to standard output)
  const tsv = o.output !== '-' && outputTarget(o.output).kind === 'atomic' ? join(dirname(o.output), 'test_results.tsv') : null;
  if (tsv) checkOutputPath('--output (test_results.tsv beside it)', tsv, reads);
  const clf = TextClassifier.load(o.model, { kernels: o.kernels, dtype: o.dtype, maxSeqLength: o.maxSeqLength, lowercase: o.lowercase });
  let lines: Array<{ value: unknown; line: number }>;
  try { lines = readJsonLines(o.input); } catch (e) { if (e instanceof InputFileError) throw new DataError(e.message); throw e; }
  const src = o.input === '-' ? '<stdin>' : o.input;
  const rows = lines.map(({ value, line: n }) => {
    if (!value || typeof value !== 'object' || Array.isArray(value)) throw new DataError(`${src}:${n}: expected a JSON object {"text": ...}`);
    const v = value as Record<string, unknown>;
    const a = v.text ?? v.text_a, b = v.text_b;
    if (typeof a !== 'string' || a.trim() === '') throw new DataError(`${src}:${n}: needs a non-empty "text"`);
    if (b !== undefined && typeof b !== 'string') throw new DataError(`${src}:${n}: "text_b" must be a string`);
    return { guid: String(v.guid ?? v.id ?? n), a, b: b as string | undefined };
  });
  const missing = clf.needsPairs ? rows.find((r) => r.b === undefined) : undefined;
  if (missing) throw new DataError(`${src}: example ${missing.guid} has no "text_b"; the ${clf.head === 'nsp' ? 'next-sentence' : clf.head} head scores text pairs`);
  // a model whose outputs are not finite (a diverged run) gives no answer, not lines of nulls
  const finite = (v: ArrayLike<number>, i: number) => { const k = firstNonFinite(v); if (k >= 0) throw new DataError(`${o.model}: the model's output for example ${rows[i]!.guid} is not finite (${v[k]}); its weights are damaged or training diverged`); };
  // the examples in parts of PREDICT_CHUNK, so a long file shows progress (each part is batched by length as a whole file is)
  const inputs = rows.map((r) => ({ text: r.a, textB: r.b }));
  const bar = new Progress(o.log, 'predict', inputs.length, 'examples');
  const parts = <R>(f: (part: typeof inputs) => R): R[] => {
    const out: R[] = [];
    for (let s = 0; s < inputs.length; s += PREDICT_CHUNK) { out.push(f(inputs.slice(s, s + PREDICT_CHUNK))); bar.update(Math.min(s + PREDICT_CHUNK, inputs.length)); }
    return out;
  };
  const probabilities = () => { const p = parts((x) => clf.probabilities(x)); return { probs: p.flatMap((r) => r.probs), predictions: p.flatMap((r) => r.predictions) }; };
  if (clf.multiLabel) {
    const res = probabilities();
    res.probs.forEach(finite);
    writeFileAtomic(o.output, (w) => rows.forEach((r, i) => w(JSON.stringify({
      guid: r.guid, labels: clf.labels.filter((_, c) => res.probs[i]![c]! >= 0.5), probabilities: Object.fromEntries(clf.labels.map((l, c) => [l, Math.round(res.probs[i]![c]! * 1e6) / 1e6])),
    }) + '\n')));
    if (tsv) writeFileAtomic(tsv, (w) => res.probs.forEach((p) => w(Array.from(p).join('\t') + '\n')));
    return rows.length;
  }
  if (clf.regression) {
    const scores = Float32Array.from(parts((x) => Array.from(clf.scores(x))).flat());
    scores.forEach((s, i) => finite([s], i));
    // as the library and the server answer (label, score); "prediction" repeats the score for one release
    writeFileAtomic(o.output, (w) => rows.forEach((r, i) => { const score = Math.round(scores[i]! * 1e6) / 1e6; w(JSON.stringify({ guid: r.guid, label: clf.labels[0], score, prediction: score }) + '\n'); }));
    if (tsv) writeFileAtomic(tsv, (w) => scores.forEach((v) => w(`${v}\n`)));
    return rows.length;
  }
  const res = probabilities();
  res.probs.forEach(finite);
  const labels = clf.labels;
  // as the library and the server answer (label, score, probabilities); "prediction" repeats the label for one release
  writeFileAtomic(o.output, (w) => rows.forEach((r, i) => {
    const k = res.predictions[i]!, round = (x: number) => Math.round(x * 1e6) / 1e6;
    w(JSON.stringify({ guid: r.guid, label: labels[k], score: round(res.probs[i]![k]!), probabilities: Object.fromEntries(labels.map((l, c) => [l, round(res.probs[i]![c]!)])), prediction: labels[k] }) + '\n');
  }));
  if (tsv) writeFileAtomic(tsv, (w) => res.probs.forEach((p) => w(Array.from(p).join('\t') + '\n')));
  return rows.length;
}
