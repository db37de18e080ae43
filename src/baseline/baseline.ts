/**
 * The frozen-vector baseline the seed started from: encode every text once
 * with the frozen encoder (pooled output, [CLS] vector or mean of token
 * vectors), build pair features (the seed's concatenation [u, v], or
 * [u, v, |u-v|, u*v]), and fit an L2 logistic regression to convergence.
 */
import { maxSequenceLength } from '../model/config.js';
import { join } from 'node:path';
import type { Kernels } from '../core/kernels.js';
import { resolveDtype, type DTypeOption } from '../core/dtype.js';
import { DataError, type Example, labelList } from '../data/processors.js';
import { computeMetrics, evalResultsText, type Metrics } from '../eval/metrics.js';
import { choiceOption, intOption, MIN_SEQ_LENGTH, positiveOption } from '../core/options.js';
import { dataInputs, type DataOptions, loadData } from '../data/load.js';
import { writeReports, writeSplitJson } from '../eval/reports.js';
import { classificationReliability, reliabilityText, type Reliability } from '../eval/reliability.js';
import { readFileSync } from 'node:fs';
import { OUTPUT_FILES } from '../finetune.js';
import { beginRun, inspectRun } from '../run/rundir.js';
import { findModelFiles, loadBert, readConfig } from '../model/load.js';
import { familyOf } from '../model/families/index.js';
import { writeSafetensors } from '../io/safetensors.js';
import { embedTexts, POOLINGS, type Pooling } from '../infer/embed.js';
import { loadTokenizer } from '../tokenize/index.js';
import { InputBuilder } from '../tokenize/inputs.js';
import { fitLogReg, predictProba } from './logreg.js';

export type { Pooling } from '../infer/embed.js';
export type PairFeatureKind = 'concat' | 'full';

export interface BaselineOptions extends DataOptions {
  model: string;
  output: string;
  kernels: Kernels;
  overwrite?: boolean;
  maxSeqLength?: number;
  pooling?: Pooling;
  pairFeatures?: PairFeatureKind;
  C?: number;
  seed?: number;
  lowercase?: boolean;
  /** the frozen encoder's dtype; auto (default): bf16 where the CPU runs it natively, else f32 */
  dtype?: DTypeOption;
  /** resamples of the bootstrap behind the macro-F1, MCC and ROC-AUC intervals (default 1000; 0: none) */
  bootstrapSamples?: number;
  /** when the output folder holds this very run, finished: return its results instead of refusing (compare's and the demo's reruns) */
  reuseFinished?: boolean;
  log?: (line: string) => void;
}

function pairFeatures(u: Float64Array, v: Float64Array | undefined, kind: PairFeatureKind): Float64Array {
  if (!v) return u;
  const D = u.length;
  const f = new Float64Array(kind === 'concat' ? 2 * D : 4 * D);
  f.set(u, 0);
  f.set(v, D);
  if (kind === 'full') for (let d = 0; d < D; d++) { f[2 * D + d] = Math.abs(u[d]! - v[d]!); f[3 * D + d] = u[d]! * v[d]!; }
  return f;
}

export interface BaselineResult { metrics: Metrics; evalText: string; iterations: number; reliability: Reliability; reliabilityText: string }

export function baseline(o: BaselineOptions): BaselineResult {
  // the default: BERT's pooler output; for a family whose pooler is its classification head's first layer (RoBERTa, DistilBERT,
  // ELECTRA: untrained in a base checkpoint), the first token's vector that head reads (a model that cannot be read fails below)
  let poolerTrained = true;
  try { poolerTrained = familyOf(readConfig(findModelFiles(o.model))).poolerInEncoder; } catch { /* reported when the model is loaded */ }
  const pooling = choiceOption('pooling', o.pooling, POOLINGS, poolerTrained ? 'pooled' : 'cls');
  const kind = choiceOption('pair-features', o.pairFeatures, ['concat', 'full'] as const, 'concat');
  const Creg = positiveOption('C', o.C, 1.0);
  const maxSeqLength = intOption('max-seq-length', o.maxSeqLength, 128, MIN_SEQ_LENGTH, 4096);
  const dtype = resolveDtype(o.dtype, o.kernels);
  const seed = intOption('seed', o.seed, 42, 0, 2 ** 32 - 1);
  const bootstrapSamples = intOption('bootstrap-samples', o.bootstrapSamples, 1000, 0, 1_000_000);
  const data = loadData(o, seed);
  const labels = labelList(data.train, data.source);
  const identity = JSON.stringify({ method: 'baseline', model: o.model, livedoor: o.livedoor ?? null, texts: o.texts ?? null, pairs: o.pairs ?? null, train: o.trainFile ?? null,
    eval: o.evalFile ?? null, eval_ratio: o.evalRatio ?? null, max_seq_length: maxSeqLength, pooling, pair_features: kind, C: Creg, seed, dtype, lowercase: o.lowercase ?? null,
    ...(data.split.strategy === 'group' ? { split: 'group' } : {}), ...(data.split.folds ? { folds: data.split.folds, fold: data.split.fold } : {}) });
  const plan = inspectRun(o.output, identity, { overwrite: o.overwrite, finished: 'eval_results.txt', reuseFinished: o.reuseFinished, ownFiles: OUTPUT_FILES, inputs: dataInputs(o), model: o.model });
  if (plan.finished) return finishedBaseline(o.output, labels);
  const index = new Map(labels.map((l, i) => [l, i]));
  const files = findModelFiles(o.model);
  const { model } = loadBert(o.model, { kernels: o.kernels, dtype });
  const builder = new InputBuilder(loadTokenizer(files.dir, { lowercase: o.lowercase }), Math.min(maxSeqLength, maxSequenceLength(model.cfg)));
  // every distinct text once
  const all = [...data.train, ...data.eval];
  const textIds = new Map<string, number>();
  for (const e of all) for (const t of [e.textA, e.textB]) if (t !== undefined && !textIds.has(t)) textIds.set(t, textIds.size);
  o.log?.(`encoding ${textIds.size} distinct texts (${pooling}) with the frozen encoder`);
  const t0 = Date.now();
  const vecs = embedTexts(model, builder, [...textIds.keys()], pooling, o.log);
  const encodeSeconds = (Date.now() - t0) / 1000;
  const build = (set: Example[], source: string) => {
    const rows = set.map((e) => pairFeatures(vecs[textIds.get(e.textA)!]!, e.textB === undefined ? undefined : vecs[textIds.get(e.textB)!]!, kind));
    const D = rows[0]!.length;
    const X = new Float64Array(rows.length * D);
    rows.forEach((r, i) => X.set(r, i * D));
    const y = Int32Array.from(set, (e) => {
      const id = index.get(e.label);
      if (id === undefined) throw new DataError(`${source}: example ${e.guid} has label "${e.label}", which the training data does not have`);
      return id;
    });
    return { X, y, D };
  };
  const tr = build(data.train, data.source), ev = build(data.eval, o.evalFile ?? data.source);
  const release = beginRun(plan, identity);
  try {
    o.log?.(`fitting logistic regression on ${data.train.length} x ${tr.D} features`);
    const t1 = Date.now();
    const lr = fitLogReg(tr.X, tr.y, data.train.length, tr.D, labels.length, { C: Creg });
    const fitSeconds = (Date.now() - t1) / 1000;
    const C = labels.length;
    const logloss = (P: Float64Array, y: Int32Array) => y.reduce((a, t, n) => a - Math.log(Math.max(P[n * C + t]!, 1e-300)), 0) / y.length;
    const Ptr = predictProba(lr, tr.X, data.train.length), Pev = predictProba(lr, ev.X, data.eval.length);
    const preds = Array.from(ev.y, (_, n) => { let b = 0; for (let c = 1; c < C; c++) if (Pev[n * C + c]! > Pev[n * C + b]!) b = c; return b; });
    const probs = Array.from(ev.y, (_, n) => Pev.subarray(n * C, n * C + C));
    const metrics = computeMetrics(labels, Array.from(ev.y), preds, probs);
    const evalLoss = logloss(Pev, ev.y);
    const evalText = evalResultsText({ eval_accuracy: metrics.accuracy, eval_loss: evalLoss, global_step: lr.iterations, loss: logloss(Ptr, tr.y) });
    const rel = classificationReliability(data, labels, ev.y, preds, probs, { accuracy: metrics.accuracy, macro_f1: metrics.macro.f1, mcc: metrics.mcc, roc_auc: metrics.rocAuc }, { seed, resamples: bootstrapSamples });
    writeSafetensors(join(o.output, 'logreg.safetensors'), [
      { name: 'weight', shape: [lr.K, lr.D], data: Float64Array.from(lr.W) }, { name: 'bias', shape: [lr.K], data: Float64Array.from(lr.b) },
    ], { pooling, pair_features: kind, labels: JSON.stringify(labels) });
    writeSplitJson(o.output, data.split);
    writeReports(o.output, data.eval, labels, preds, probs, metrics, evalText, {
      eval_accuracy: metrics.accuracy, eval_loss: evalLoss, loss: logloss(Ptr, tr.y), global_step: lr.iterations,
      method: 'frozen-vector logistic regression', pooling, pair_features: kind, C: Creg, feature_dim: tr.D, dtype,
      encode_seconds: encodeSeconds, fit_seconds: fitSeconds, distinct_texts: textIds.size, model: o.model,
      train_examples: data.train.length, eval_examples: data.eval.length, ...rel.report,
    }, rel.text);
    return { metrics, evalText, iterations: lr.iterations, reliability: rel.reliability, reliabilityText: rel.text };
  } finally {
    release();
  }
}

/** a finished baseline's results, read back from its report.json and eval_results.txt */
function finishedBaseline(dir: string, labels: string[]): BaselineResult {
  const r = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  const metrics: Metrics = { labels, accuracy: r.eval_accuracy, perClass: r.per_class, macro: r.macro_avg, weighted: r.weighted_avg, confusion: r.confusion_matrix,
    total: (r.confusion_matrix as number[][]).flat().reduce((a, b) => a + b, 0), mcc: r.eval_mcc, rocAuc: r.eval_roc_auc ?? null };
  const reliability: Reliability = { split: r.split, leakage: r.leakage ?? null, ci95: r.ci95 ?? null, bootstrap: r.bootstrap ?? { resamples: 0, seed: 0 } };
  return { metrics, evalText: readFileSync(join(dir, 'eval_results.txt'), 'utf8'), iterations: r.global_step, reliability,
    reliabilityText: r.split ? reliabilityText(reliability, { accuracy: metrics.accuracy, macro_f1: metrics.macro.f1, mcc: metrics.mcc, roc_auc: metrics.rocAuc }) : '' };
}
