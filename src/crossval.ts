/**
 * k-fold cross-validation (`finetune --folds K`, `baseline --folds K`): the same run
 * K times, fold k held out (OUT/fold-k/, each a complete run folder with its split.json),
 * then the per-fold metrics with their mean and standard deviation in OUT/report.json
 * (`folds`, `folds_mean`, `folds_std`) and OUT/cv_results.txt, written last. Folds are
 * grouped with --split group (no eval text of a fold is trained on in that fold). A
 * rerun resumes: finished folds are read back, the fold in progress resumes from its
 * checkpoint.
 */
import { join } from 'node:path';
import { baseline, type BaselineOptions } from './baseline/baseline.js';
import { finetune, type FinetuneOptions } from './finetune.js';
import { dataInputs, loadData, splitSettings } from './data/load.js';
import { intOption, OptionError } from './core/options.js';
import { writeFileAtomic } from './io/atomic.js';
import { beginRun, inspectRun } from './run/rundir.js';
import { formatFixed } from './eval/metrics.js';

export type CrossValidateOptions = ({ method: 'finetune' } & FinetuneOptions) | ({ method: 'baseline' } & BaselineOptions);

export interface FoldRow { fold: number; train: number; eval: number; dropped: number; metrics: Record<string, number>; unseen_pairs: number | null }

export interface CrossValidateResult { folds: FoldRow[]; mean: Record<string, number>; std: Record<string, number>; text: string }

/** the files a cross-validation folder holds besides its run records */
export const CV_FILES = /^(fold-\d+|report\.json|cv_results\.txt|run\.json)$/;

/** mean and (population, numpy's default) standard deviation of each metric over the folds */
export function foldStats(rows: FoldRow[]): { mean: Record<string, number>; std: Record<string, number> } {
  const keys = [...new Set(rows.flatMap((r) => Object.keys(r.metrics)))].filter((k) => rows.every((r) => Number.isFinite(r.metrics[k])));
  const mean: Record<string, number> = {}, std: Record<string, number> = {};
  for (const k of keys) {
    const v = rows.map((r) => r.metrics[k]!), m = v.reduce((a, b) => a + b, 0) / v.length;
    mean[k] = m;
    std[k] = Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / v.length);
  }
  return { mean, std };
}

export function crossValidate(o: CrossValidateOptions): CrossValidateResult {
  const { strategy, folds } = splitSettings(o);
  if (folds === undefined) throw new OptionError('cross-validation needs --folds K (K ≥ 2)');
  if (o.fold !== undefined) throw new OptionError('cross-validation runs every fold; give --folds alone');
  const seed = intOption('seed', o.seed, 42, 0, 2 ** 32 - 1);
  // every fold checked (sizes, a grouped split's feasibility) before anything is written
  loadData({ ...o, fold: 1 }, seed);
  const { kernels: _k, log: _l, output, overwrite, ...settings } = o as CrossValidateOptions & { signal?: unknown };
  delete (settings as { signal?: unknown }).signal;
  const identity = JSON.stringify({ cross_validation: settings });
  const plan = inspectRun(output, identity, { overwrite, finished: 'cv_results.txt', ownFiles: CV_FILES, inputs: dataInputs(o), model: o.model });
  const release = beginRun(plan, identity);
  try {
    const rows: FoldRow[] = [];
    for (let k = 1; k <= folds; k++) {
      o.log?.(`== fold ${k} of ${folds}${strategy === 'group' ? ' (grouped)' : ''}`);
      const dir = join(output, `fold-${k}`);
      const common = { fold: k, folds, output: dir, reuseFinished: true, overwrite: false };
      let metrics: Record<string, number>, rel;
      if (o.method === 'finetune') {
        const r = finetune({ ...o, ...common });
        rel = r.reliability;
        metrics = r.metrics ? { accuracy: r.metrics.accuracy, macro_f1: r.metrics.macro.f1, mcc: r.metrics.mcc, ...(r.metrics.rocAuc === null ? {} : { roc_auc: r.metrics.rocAuc }), eval_loss: r.evalLoss }
          : r.regression ? { mse: r.regression.mse, pearson: r.regression.pearson, spearmanr: r.regression.spearmanr }
          : { micro_f1: r.multiLabel!.micro.f1, macro_f1: r.multiLabel!.macro.f1, subset_accuracy: r.multiLabel!.subsetAccuracy, eval_loss: r.evalLoss };
      } else {
        const r = baseline({ ...o, ...common });
        rel = r.reliability;
        metrics = { accuracy: r.metrics.accuracy, macro_f1: r.metrics.macro.f1, mcc: r.metrics.mcc, ...(r.metrics.rocAuc === null ? {} : { roc_auc: r.metrics.rocAuc }) };
      }
      rows.push({ fold: k, train: rel?.split.train ?? 0, eval: rel?.split.eval ?? 0, dropped: rel?.split.dropped ?? 0, metrics, unseen_pairs: rel?.leakage?.neither ?? null });
      o.log?.(`fold ${k}: ${Object.entries(metrics).map(([m, v]) => `${m} ${formatFixed(v, 4)}`).join(', ')}`);
    }
    const { mean, std } = foldStats(rows);
    const text = cvText(rows, mean, std, strategy);
    writeFileAtomic(join(output, 'report.json'), (w) => w(JSON.stringify({ method: `${folds}-fold cross-validation of ${o.method}`, split: strategy, seed, folds: rows, folds_mean: mean, folds_std: std }, null, 1) + '\n'));
    writeFileAtomic(join(output, 'cv_results.txt'), (w) => w(text)); // the finished marker, last
    return { folds: rows, mean, std, text };
  } finally {
    release();
  }
}

/** the printed summary: one line per fold, then mean ± standard deviation per metric */
export function cvText(rows: FoldRow[], mean: Record<string, number>, std: Record<string, number>, strategy: string): string {
  const keys = Object.keys(mean);
  const lines = [`***** ${rows.length}-fold cross-validation (${strategy} folds) *****`,
    ...rows.map((r) => `fold ${r.fold}: ${r.train} train / ${r.eval} eval${r.dropped ? ` / ${r.dropped} dropped` : ''}${r.unseen_pairs === null ? '' : ` (${r.unseen_pairs} eval pairs with neither text seen)`}  ${keys.map((k) => `${k} ${formatFixed(r.metrics[k]!, 4)}`).join('  ')}`),
    ...keys.map((k) => `${k} = ${formatFixed(mean[k]!, 4)} ± ${formatFixed(std[k]!, 4)}`)];
  return lines.join('\n') + '\n';
}
