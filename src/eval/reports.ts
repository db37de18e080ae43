import { join } from 'node:path';
import type { Example } from '../data/processors.js';
import type { SplitRecord } from '../data/load.js';
import { writeFileAtomic } from '../io/atomic.js';
import { classificationReport, confusionMatrixText, multiLabelReport, type Metrics, type MultiLabelMetrics, type RegressionMetrics } from './metrics.js';
import { reportHtml } from './html.js';
import { confusionPng, curvesPng } from './png.js';

/**
 * The report files every classification run writes: classification_report.txt, confusion_matrix.txt, eval_predictions.jsonl,
 * report.json (`extra` plus per-class metrics, averages and the matrix), eval_results.json (every eval metric, as HF
 * Trainer's save_metrics writes it: accuracy, loss, macro-F1, MCC, ROC-AUC for binary tasks), report.html,
 * the PNGs, and run_classifier's eval_results.txt last (the run's finished marker).
 */
export function writeReports(out: string, evalSet: Example[], labels: string[], predictions: number[], probs: ArrayLike<number>[],
  metrics: Metrics, evalText: string, extra: Record<string, unknown>, reliabilityText?: string): void {
  writeFileAtomic(join(out, 'classification_report.txt'), (w) => w(classificationReport(metrics)));
  writeFileAtomic(join(out, 'confusion_matrix.txt'), (w) => w(confusionMatrixText(metrics.confusion)));
  writeFileAtomic(join(out, 'eval_predictions.jsonl'), (w) => evalSet.forEach((e, i) => w(JSON.stringify({
    guid: e.guid, label: e.label, prediction: labels[predictions[i]!], probabilities: Array.from(probs[i]!, (p) => Math.round(p * 1e6) / 1e6),
  }) + '\n')));
  writeFileAtomic(join(out, 'report.json'), (w) => w(JSON.stringify({
    ...extra, eval_macro_f1: metrics.macro.f1, eval_mcc: metrics.mcc, ...(metrics.rocAuc === null ? {} : { eval_roc_auc: metrics.rocAuc }),
    labels, per_class: metrics.perClass, macro_avg: metrics.macro, weighted_avg: metrics.weighted, confusion_matrix: metrics.confusion,
  }, null, 1) + '\n'));
  writeFileAtomic(join(out, 'eval_results.json'), (w) => w(JSON.stringify({
    eval_accuracy: metrics.accuracy, eval_loss: extra.eval_loss, eval_macro_f1: metrics.macro.f1, eval_mcc: metrics.mcc,
    ...(metrics.rocAuc === null ? {} : { eval_roc_auc: metrics.rocAuc }), eval_samples: metrics.total, global_step: extra.global_step,
  }, null, 1) + '\n'));
  const curve = extra.learning_curve as Array<{ step: number; loss: number; lr?: number }> | undefined;
  const evals = extra.evaluations as Array<{ step: number; eval_accuracy: number; eval_loss: number; [k: string]: number }> | undefined;
  writeFileAtomic(join(out, 'report.html'), (w) => w(reportHtml({
    title: `ja-bert: ${String(extra.method ?? 'fine-tuned cross-encoder')}`, evalText, reportText: classificationReport(metrics),
    confusionText: confusionMatrixText(metrics.confusion), metrics, curve, evals, details: extra, reliabilityText,
  })));
  writeFileAtomic(join(out, 'confusion_matrix.png'), (w) => w(confusionPng(metrics)));
  writeCurvesAndFinish(out, curve, evals, evalText);
}

/** every run's last files: learning_curve.png, then eval_results.txt, whose presence means the run finished (run/rundir.ts); metrics.csv was written as the run went (eval/runlog.ts) */
function writeCurvesAndFinish(out: string, curve: Array<{ step: number; loss: number; lr?: number }> | undefined,
  evals: Array<{ step: number; eval_loss: number; [k: string]: number | undefined }> | undefined, evalText: string, lossName?: string): void {
  if (curve?.length) writeFileAtomic(join(out, 'learning_curve.png'), (w) => w(curvesPng(curve, evals ?? [], lossName)));
  writeFileAtomic(join(out, 'eval_results.txt'), (w) => w(evalText));
}

/**
 * The report files of a regression run (one score per example): eval_predictions.jsonl (target and
 * prediction), report.json, eval_results.json (MSE, Pearson, Spearman), report.html with the
 * training charts, learning_curve.png, metrics.csv, and eval_results.txt last.
 */
export function writeRegressionReports(out: string, evalSet: Example[], targets: ArrayLike<number>, scores: ArrayLike<number>, m: RegressionMetrics,
  evalText: string, extra: Record<string, unknown>): void {
  writeFileAtomic(join(out, 'eval_predictions.jsonl'), (w) => evalSet.forEach((e, i) => w(JSON.stringify({
    guid: e.guid, label: targets[i], prediction: scores[i],
  }) + '\n')));
  const metrics = { eval_loss: m.mse, eval_mse: m.mse, eval_pearson: m.pearson, eval_spearmanr: m.spearmanr };
  writeFileAtomic(join(out, 'report.json'), (w) => w(JSON.stringify({ ...extra, ...metrics, problem_type: 'regression' }, null, 1) + '\n'));
  writeFileAtomic(join(out, 'eval_results.json'), (w) => w(JSON.stringify({ ...metrics, eval_samples: m.total, global_step: extra.global_step }, null, 1) + '\n'));
  const curve = extra.learning_curve as Array<{ step: number; loss: number; lr?: number }> | undefined;
  const evals = extra.evaluations as Array<{ step: number; eval_loss: number; [k: string]: number }> | undefined;
  writeFileAtomic(join(out, 'report.html'), (w) => w(reportHtml({
    title: `ja-bert: ${String(extra.method ?? 'fine-tuned regressor')}`, evalText, curve, evals, details: extra, lossName: 'squared error',
  })));
  writeCurvesAndFinish(out, curve, evals, evalText, 'squared error');
}

/** the report files of a multi-label run: as a classification run's, with scikit-learn's multi-label report and no confusion matrix */
export function writeMultiLabelReports(out: string, evalSet: Example[], probs: Float32Array, m: MultiLabelMetrics, evalText: string, extra: Record<string, unknown>): void {
  const C = m.labels.length;
  writeFileAtomic(join(out, 'classification_report.txt'), (w) => w(multiLabelReport(m)));
  writeFileAtomic(join(out, 'eval_predictions.jsonl'), (w) => evalSet.forEach((e, i) => w(JSON.stringify({
    guid: e.guid, labels: e.labels, predicted: m.labels.filter((_, c) => probs[i * C + c]! >= 0.5),
    probabilities: Object.fromEntries(m.labels.map((l, c) => [l, Math.round(probs[i * C + c]! * 1e6) / 1e6])),
  }) + '\n')));
  const metrics = { eval_loss: extra.eval_loss, eval_micro_f1: m.micro.f1, eval_macro_f1: m.macro.f1, eval_subset_accuracy: m.subsetAccuracy };
  writeFileAtomic(join(out, 'report.json'), (w) => w(JSON.stringify({ ...extra, ...metrics, problem_type: 'multi_label_classification', labels: m.labels,
    per_label: m.perLabel, micro_avg: m.micro, macro_avg: m.macro, weighted_avg: m.weighted, samples_avg: m.samples }, null, 1) + '\n'));
  writeFileAtomic(join(out, 'eval_results.json'), (w) => w(JSON.stringify({ ...metrics, eval_samples: m.total, global_step: extra.global_step }, null, 1) + '\n'));
  const curve = extra.learning_curve as Array<{ step: number; loss: number; lr?: number }> | undefined;
  const evals = extra.evaluations as Array<{ step: number; eval_loss: number; [k: string]: number }> | undefined;
  writeFileAtomic(join(out, 'report.html'), (w) => w(reportHtml({
    title: `ja-bert: ${String(extra.method ?? 'fine-tuned multi-label classifier')}`, evalText, reportText: multiLabelReport(m), curve, evals, details: extra, lossName: 'binary cross-entropy',
  })));
  writeCurvesAndFinish(out, curve, evals, evalText, 'binary cross-entropy');
}

/** split.json: how the run's examples were split, as 0-based indices into the data file (train, eval, dropped) */
export function writeSplitJson(out: string, split: SplitRecord): void {
  const { train, eval: ev, dropped, ...rest } = split;
  // one line per list: a 7,830-pair file's split stays readable and small
  writeFileAtomic(join(out, 'split.json'), (w) => w(`{\n${Object.entries(rest).map(([k, v]) => ` ${JSON.stringify(k)}: ${JSON.stringify(v)},\n`).join('')} "train": ${JSON.stringify(train)},\n "eval": ${JSON.stringify(ev)},\n "dropped": ${JSON.stringify(dropped)}\n}\n`));
}
