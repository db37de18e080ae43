/**
 * finetune / predict: the run_classifier workflow on files. Data flows one
 * way: files -> examples -> features -> batches -> model -> metrics -> report.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Kernels } from './core/kernels.js';
import { resolveDtype, type DTypeOption } from './core/dtype.js';
import { DataError, type Example, labelIds, labelList, readPairExamples, readTableExamples, splitExamples } from './data/processors.js';
import { classificationReport, computeMetrics, confusionMatrixText, evalResultsText, type Metrics } from './eval/metrics.js';
import { reportHtml } from './eval/html.js';
import { confusionPng, curvesPng } from './eval/png.js';
import { writeFileAtomic } from './io/atomic.js';
import { findModelFiles, loadBert, saveBert } from './io/checkpoint.js';
import { loadTokenizer } from './tokenize/index.js';
import { type Features, InputBuilder } from './tokenize/inputs.js';
import { readLivedoor, splitLivedoor } from './data/livedoor.js';
import { evaluate, latestCheckpoint, train, trainTask, type EvalResult, type TrainResult } from './train/trainer.js';
import { HEAD_TYPES, headConfig } from './model/heads.js';
import { PairModel } from './model/pairmodel.js';
import { evaluatePairs, pairFeatures, pairTask, type PairFeatures } from './train/pairtask.js';

export interface DataOptions {
  /** ldcc-20140209.tar.gz or its text/ folder: train on 3/5, evaluate on the test 1/5 */
  livedoor?: string;
  texts?: string;
  pairs?: string;
  evalRatio?: number;
  trainFile?: string;
  evalFile?: string;
}

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
  /** save a resumable checkpoint every N steps (0: never) */
  saveSteps?: number;
  gradientAccumulation?: number;
  /** evaluate during training every N steps; 0 = at each epoch's end; undefined = only at the end */
  evalSteps?: number;
  /** stop after this many evaluations without a better eval loss; the best model is kept */
  earlyStoppingPatience?: number;
  /** cross (default: text_a and text_b in one input) or a cacheable pair head: bi, additive, dot, lowrank, poly, late */
  head?: string;
  /** train from scratch: the model folder's config and tokenizer with freshly initialised weights */
  randomInit?: boolean;
  /** the head's projection size (additive, lowrank, late) and poly's code count */
  headDim?: number;
  polyCodes?: number;
  log?: (line: string) => void;
}

/** the train/eval examples named by the data flags */
export function loadData(o: DataOptions, seed: number): { train: Example[]; eval: Example[]; source: string } {
  if (o.livedoor) {
    const s = splitLivedoor(readLivedoor(o.livedoor), seed);
    return { train: s.train, eval: s.test, source: o.livedoor };
  }
  if (o.texts || o.pairs) {
    if (!o.texts || !o.pairs) throw new DataError('--texts and --pairs go together');
    const all = readPairExamples(o.texts, o.pairs);
    return { ...splitExamples(all, o.evalRatio ?? 1 / 3, seed, o.pairs), source: o.pairs };
  }
  if (o.trainFile) {
    const trainSet = readTableExamples(o.trainFile);
    if (o.evalFile) {
      const evalSet = readTableExamples(o.evalFile);
      if (evalSet.length === 0) throw new DataError(`${o.evalFile}: no examples`);
      return { train: trainSet, eval: evalSet, source: o.trainFile };
    }
    return { ...splitExamples(trainSet, o.evalRatio ?? 0.1, seed, o.trainFile), source: o.trainFile };
  }
  throw new DataError('no data: give --texts F --pairs F, --train F [--eval F], or --livedoor PATH');
}

/** the files and folders finetune and baseline write into an output folder */
const OUTPUT_FILES = /^(best-model|run\.json|eval_results\.txt|classification_report\.txt|confusion_matrix\.txt|report\.json|eval_predictions\.jsonl|report\.html|confusion_matrix\.png|learning_curve\.png|config\.json|model\.safetensors|logreg\.safetensors|tokenizer\.json|tokenizer_config\.json|special_tokens_map\.json|vocab\.txt|.*\.model|.*\.vocab|checkpoint-\d+(\.tmp)?)$/;

export function checkOutputDir(dir: string, overwrite: boolean): void {
  if (existsSync(dir) && readdirSync(dir).length > 0 && !overwrite) {
    throw new DataError(`${dir}: the output folder already holds files (a different run?); use --overwrite or another folder`);
  }
  mkdirSync(dir, { recursive: true });
}

/** copy the tokenizer files of a model folder into another */
function copyTokenizerFiles(from: string, to: string): void {
  for (const f of readdirSync(from)) {
    if (/^(tokenizer\.json|tokenizer_config\.json|vocab\.txt|special_tokens_map\.json)$/.test(f) || /\.(model|vocab)$/.test(f)) copyFileSync(join(from, f), join(to, f));
  }
}

/**
 * The report files every classification run writes: eval_results.txt,
 * classification_report.txt, confusion_matrix.txt, eval_predictions.jsonl and
 * report.json (`extra` plus per-class metrics, averages and the matrix).
 */
export function writeReports(out: string, evalSet: Example[], labels: string[], predictions: number[], probs: ArrayLike<number>[],
  metrics: Metrics, evalText: string, extra: Record<string, unknown>): void {
  writeFileAtomic(join(out, 'eval_results.txt'), (w) => w(evalText));
  writeFileAtomic(join(out, 'classification_report.txt'), (w) => w(classificationReport(metrics)));
  writeFileAtomic(join(out, 'confusion_matrix.txt'), (w) => w(confusionMatrixText(metrics.confusion)));
  writeFileAtomic(join(out, 'eval_predictions.jsonl'), (w) => evalSet.forEach((e, i) => w(JSON.stringify({
    guid: e.guid, label: e.label, prediction: labels[predictions[i]!], probabilities: Array.from(probs[i]!, (p) => Math.round(p * 1e6) / 1e6),
  }) + '\n')));
  writeFileAtomic(join(out, 'report.json'), (w) => w(JSON.stringify({
    ...extra, labels, per_class: metrics.perClass, macro_avg: metrics.macro, weighted_avg: metrics.weighted, confusion_matrix: metrics.confusion,
  }, null, 1) + '\n'));
  const curve = extra.learning_curve as Array<{ step: number; loss: number }> | undefined;
  const evals = extra.evaluations as Array<{ step: number; eval_accuracy: number; eval_loss: number }> | undefined;
  writeFileAtomic(join(out, 'report.html'), (w) => w(reportHtml({
    title: `ja-bert: ${String(extra.method ?? 'fine-tuned cross-encoder')}`, evalText, reportText: classificationReport(metrics),
    confusionText: confusionMatrixText(metrics.confusion), metrics, curve, evals, details: extra,
  })));
  writeFileAtomic(join(out, 'confusion_matrix.png'), (w) => w(confusionPng(metrics)));
  if (curve?.length) writeFileAtomic(join(out, 'learning_curve.png'), (w) => w(curvesPng(curve, evals ?? [])));
}

function featurize(builder: InputBuilder, examples: Example[], labels: string[], source: string): { features: Features[]; y: Int32Array } {
  return { features: examples.map((e) => builder.features(e.textA, e.textB)), y: labelIds(examples, labels, source) };
}

export interface FinetuneResult { metrics: Metrics; train: TrainResult; evalLoss: number; loss: number; evalText: string }

export function finetune(o: FinetuneOptions): FinetuneResult {
  if (o.head !== undefined && o.head !== 'cross' && !(HEAD_TYPES as readonly string[]).includes(o.head)) throw new DataError(`unknown head "${o.head}" (cross, ${HEAD_TYPES.join(', ')})`);
  const dtype = resolveDtype(o.dtype, o.kernels);
  const seed = o.seed ?? 42;
  const data = loadData(o, seed);
  const labels = labelList(data.train, data.source);
  // what identifies a run: an output folder holding the same run resumes it, another one is refused
  const run = {
    model: o.model, livedoor: o.livedoor ?? null, texts: o.texts ?? null, pairs: o.pairs ?? null, train: o.trainFile ?? null, eval: o.evalFile ?? null, eval_ratio: o.evalRatio ?? null,
    max_seq_length: o.maxSeqLength ?? 128, batch_size: o.batchSize ?? 32, learning_rate: o.learningRate ?? 5e-5, epochs: o.epochs ?? 3,
    max_steps: o.maxSteps ?? null, warmup_proportion: o.warmupProportion ?? 0.1, seed, dtype, lowercase: o.lowercase ?? null,
    gradient_accumulation_steps: o.gradientAccumulation ?? 1, eval_steps: o.evalSteps ?? null, early_stopping_patience: o.earlyStoppingPatience ?? null,
    train_examples: data.train.length, labels, head: o.head ?? 'cross', random_init: o.randomInit ?? false, head_dim: o.headDim ?? null, poly_codes: o.polyCodes ?? null,
  };
  const runPath = join(o.output, 'run.json');
  let resumeFrom: string | null = null;
  if (!o.overwrite && existsSync(runPath) && readFileSync(runPath, 'utf8') === JSON.stringify(run) + '\n') {
    resumeFrom = latestCheckpoint(o.output);
    if (!resumeFrom && existsSync(join(o.output, 'eval_results.txt'))) throw new DataError(`${o.output}: this run has already finished; use --overwrite to run it again`);
  } else {
    findModelFiles(o.model); // a bad model folder fails before anything is written
    checkOutputDir(o.output, o.overwrite ?? false);
    // --overwrite removes what an earlier run wrote, nothing else
    for (const f of readdirSync(o.output)) if (OUTPUT_FILES.test(f)) rmSync(join(o.output, f), { recursive: true, force: true });
    writeFileAtomic(runPath, (w) => w(JSON.stringify(run) + '\n'));
  }
  const files = findModelFiles(o.model);
  const headName = o.head ?? 'cross';
  const requestedLen = o.maxSeqLength ?? 128;
  const pairHead = headName === 'cross' ? undefined : headConfig(headName, o.headDim, o.polyCodes, Math.floor(requestedLen / 2));
  const { model } = resumeFrom
    ? loadBert(resumeFrom, { kernels: o.kernels, dtype })
    : loadBert(o.model, { kernels: o.kernels, dtype, labels, seed, pairHead, randomInit: o.randomInit });
  const tokenizer = loadTokenizer(files.dir, { lowercase: o.lowercase });
  const maxLen = Math.min(requestedLen, model.cfg.max_position_embeddings);
  const builder = new InputBuilder(tokenizer, pairHead ? Math.min(pairHead.side_length, model.cfg.max_position_embeddings) : maxLen);
  // the cross-encoder reads one [CLS] a [SEP] b [SEP] input; a pair head encodes a and b separately
  let tr: { features: Features[]; y: Int32Array } | { features: PairFeatures; y: Int32Array };
  let ev: typeof tr;
  const pm = pairHead ? new PairModel(model) : null;
  if (pm) {
    tr = pairFeatures(builder, data.train, labels, data.source);
    ev = pairFeatures(builder, data.eval, labels, o.evalFile ?? data.source);
  } else {
    tr = featurize(builder, data.train, labels, data.source);
    ev = featurize(builder, data.eval, labels, o.evalFile ?? data.source);
  }
  const runEval = (): EvalResult => (pm ? evaluatePairs(pm, ev.features as PairFeatures, ev.y, 64, builder.pad) : evaluate(model, ev.features as Features[], ev.y, 64, builder.pad));
  const hp = {
    max_seq_length: maxLen, train_batch_size: o.batchSize ?? 32, learning_rate: o.learningRate ?? 5e-5,
    num_train_epochs: o.epochs ?? 3, max_steps: o.maxSteps ?? null, warmup_proportion: o.warmupProportion ?? 0.1, seed, dtype,
  };
  o.log?.(`fine-tuning ${basename(o.model)}${pm ? ` with the ${headName} head` : ''} on ${data.train.length} examples (eval ${data.eval.length}), labels ${labels.join(', ')}`);
  const trainOpts: Parameters<typeof train>[4] = {
    batchSize: hp.train_batch_size, learningRate: hp.learning_rate, epochs: hp.num_train_epochs, maxSteps: o.maxSteps,
    warmupProportion: hp.warmup_proportion, seed, padId: builder.pad, log: o.log,
    checkpoint: o.saveSteps ? { dir: o.output, every: o.saveSteps } : undefined, resumeFrom: resumeFrom ?? undefined,
    gradientAccumulation: o.gradientAccumulation,
    evaluation: o.evalSteps === undefined && o.earlyStoppingPatience === undefined ? undefined : {
      every: o.evalSteps ?? 0,
      patience: o.earlyStoppingPatience,
      bestDir: join(o.output, 'best-model'),
      run: () => {
        const r = runEval();
        return { accuracy: r.predictions.filter((p, i) => p === ev.y[i]).length / ev.y.length, loss: r.evalLoss };
      },
    },
  };
  const result = pm
    ? trainTask(model, o.kernels, pairTask(pm, tr.features as PairFeatures, tr.y, builder.pad), trainOpts)
    : train(model, o.kernels, tr.features as Features[], tr.y, trainOpts);
  const ev2 = runEval();
  const metrics = computeMetrics(labels, Array.from(ev.y), ev2.predictions);
  const evalText = evalResultsText({ eval_accuracy: metrics.accuracy, eval_loss: ev2.evalLoss, global_step: result.globalStep, loss: ev2.loss });

  const out = o.output;
  writeReports(out, data.eval, labels, ev2.predictions, ev2.probs, metrics, evalText, {
    eval_accuracy: metrics.accuracy, eval_loss: ev2.evalLoss, loss: ev2.loss, global_step: result.globalStep,
    hyperparameters: { ...hp, gradient_accumulation_steps: o.gradientAccumulation ?? 1, eval_steps: o.evalSteps ?? null, early_stopping_patience: o.earlyStoppingPatience ?? null },
    evaluations: result.evals, best_step: result.bestStep, stopped_early: result.stoppedEarly, train_seconds: result.seconds, train_tokens_per_second: result.tokensPerSecond, final_train_loss: result.finalLoss,
    learning_curve: result.curve, model: o.model, train_examples: data.train.length, eval_examples: data.eval.length,
    head: headName, random_init: o.randomInit ?? false,
    method: `${pm ? `BERT with the cacheable ${headName} pair head` : 'fine-tuned cross-encoder'}${o.randomInit ? ', trained from random weights' : ''}`,
  });
  saveBert(model, out);
  copyTokenizerFiles(files.dir, out);
  return { metrics, train: result, evalLoss: ev2.evalLoss, loss: ev2.loss, evalText };
}

export interface PredictOptions { model: string; input: string; output: string; kernels: Kernels; maxSeqLength?: number; lowercase?: boolean; dtype?: DTypeOption }

/** probabilities per example: JSONL, plus test_results.tsv as run_classifier writes it */
export function predict(o: PredictOptions): number {
  const dtype = resolveDtype(o.dtype, o.kernels);
  const { model, files } = loadBert(o.model, { kernels: o.kernels, dtype });
  if (model.numLabels === 0 && !model.cfg.pair_head) throw new DataError(`${o.model}: the model has no classifier (fine-tune it first)`);
  const pm = model.cfg.pair_head ? new PairModel(model) : null;
  const maxLen = pm ? pm.sideLength : Math.min(o.maxSeqLength ?? 128, model.cfg.max_position_embeddings);
  const builder = new InputBuilder(loadTokenizer(files.dir, { lowercase: o.lowercase }), maxLen);
  if (!existsSync(o.input)) throw new DataError(`${o.input}: no such file`);
  const rows = readFileSync(o.input, 'utf8').split('\n').map((l, i) => [l, i + 1] as const).filter(([l]) => l.trim() !== '').map(([l, n]) => {
    let v: Record<string, unknown>;
    try {
      v = JSON.parse(l) as Record<string, unknown>;
    } catch (e) {
      throw new DataError(`${o.input}:${n}: not valid JSON (${(e as Error).message})`);
    }
    const a = v.text ?? v.text_a, b = v.text_b;
    if (typeof a !== 'string' || a.trim() === '') throw new DataError(`${o.input}:${n}: needs a non-empty "text"`);
    if (b !== undefined && typeof b !== 'string') throw new DataError(`${o.input}:${n}: "text_b" must be a string`);
    return { guid: String(v.guid ?? v.id ?? n), a, b: b as string | undefined };
  });
  let res: EvalResult;
  if (pm) {
    const missing = rows.find((r) => r.b === undefined);
    if (missing) throw new DataError(`${o.input}: example ${missing.guid} has no "text_b"; the ${model.cfg.pair_head!.type} head scores text pairs`);
    res = evaluatePairs(pm, { a: rows.map((r) => builder.features(r.a)), b: rows.map((r) => builder.features(r.b!)) }, null, 64, builder.pad);
  } else {
    res = evaluate(model, rows.map((r) => builder.features(r.a, r.b)), null, 64, builder.pad);
  }
  const labels = model.cfg.labels;
  writeFileAtomic(o.output, (w) => rows.forEach((r, i) => w(JSON.stringify({
    guid: r.guid, prediction: labels[res.predictions[i]!], probabilities: Object.fromEntries(labels.map((l, c) => [l, Math.round(res.probs[i]![c]! * 1e6) / 1e6])),
  }) + '\n')));
  // run_classifier's test_results.tsv: one line of class probabilities per example, beside the JSONL
  writeFileAtomic(join(dirname(o.output), 'test_results.tsv'), (w) => res.probs.forEach((p) => w(Array.from(p).join('\t') + '\n')));
  return rows.length;
}
