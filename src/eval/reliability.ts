/**
 * "Is the result real?": what a run's report says beside its accuracy. The
 * leakage of its split (data/leakage.ts) with the metrics on each subset, 95 %
 * intervals (eval/stats.ts), and, against another run on the same eval
 * examples (the frozen baseline, another head), McNemar's exact test and the
 * paired bootstrap of the accuracy difference.
 */
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import type { LoadedData, SplitRecord } from '../data/load.js';
import { type Leakage, leakage, LEAKAGE_SUBSETS, type LeakageSubset } from '../data/leakage.js';
import { DataError, type Example } from '../data/processors.js';
import { readJsonLines, InputFileError } from '../io/text.js';
import { computeMetrics, formatFixed } from './metrics.js';
import { accuracyDifferenceInterval, type Intervals, mcnemar, type McNemar, metricIntervals, wilson } from './stats.js';

export interface SubsetMetrics { n: number; accuracy: number; accuracy_ci95: [number, number]; macro_f1: number; mcc: number; roc_auc: number | null }

export interface LeakageReport extends Leakage {
  /** metrics on the eval pairs neither of whose texts was trained on (null: none, or not a classification run) */
  metrics_unseen: SubsetMetrics | null;
  metrics_by_subset: Record<LeakageSubset, SubsetMetrics | null> | null;
}

export interface Significance extends McNemar {
  /** the run compared against, and its accuracy and this run's on the same examples */
  against: string;
  accuracy_against: number;
  accuracy: number;
  /** this run's accuracy minus the other's, and its paired-bootstrap 95 % interval */
  accuracy_difference: number;
  accuracy_difference_ci95: [number, number] | null;
}

export interface Reliability {
  split: { strategy: SplitRecord['strategy']; train: number; eval: number; dropped: number; fold?: number; folds?: number };
  leakage: LeakageReport | null;
  /** 95 % intervals: accuracy by Wilson, the others by the bootstrap */
  ci95: Intervals | null;
  bootstrap: { resamples: number; seed: number };
}

/** a classification run's eval outcome: class ids and the positive class's probability (binary) */
export interface Outcome { C: number; yTrue: ArrayLike<number>; yPred: ArrayLike<number>; positiveScore: ArrayLike<number> | null }

function subsetMetrics(o: Outcome, labels: string[], idx: number[]): SubsetMetrics | null {
  if (idx.length === 0) return null;
  const m = computeMetrics(labels, idx.map((i) => o.yTrue[i]!), idx.map((i) => o.yPred[i]!), o.positiveScore && o.C === 2 ? idx.map((i) => [1 - o.positiveScore![i]!, o.positiveScore![i]!]) : undefined);
  const correct = idx.reduce((a, i) => a + Number(o.yTrue[i] === o.yPred[i]), 0);
  return { n: idx.length, accuracy: m.accuracy, accuracy_ci95: wilson(correct, idx.length), macro_f1: m.macro.f1, mcc: m.mcc, roc_auc: m.rocAuc };
}

/** the reliability block of a run: leakage (pair data), and for a classification outcome the subset metrics and intervals */
export function reliability(data: LoadedData, labels: string[], outcome: Outcome | null, o: { resamples?: number; seed: number }): Reliability {
  const resamples = o.resamples ?? 1000;
  const lk = leakage(data.train, data.eval);
  let report: LeakageReport | null = null;
  if (lk) {
    const bySubset = outcome ? Object.fromEntries(LEAKAGE_SUBSETS.map((s, k) => [s, subsetMetrics(outcome, labels, Array.from(lk.subset.keys()).filter((i) => lk.subset[i] === k))])) as Record<LeakageSubset, SubsetMetrics | null> : null;
    report = { ...lk.report, metrics_unseen: bySubset?.neither ?? null, metrics_by_subset: bySubset };
  }
  const s = data.split;
  return {
    split: { strategy: s.strategy, train: data.train.length, eval: data.eval.length, dropped: s.dropped.length, ...(s.folds ? { fold: s.fold, folds: s.folds } : {}) },
    leakage: report,
    ci95: outcome ? metricIntervals(outcome.C, outcome.yTrue, outcome.yPred, outcome.positiveScore, { resamples, seed: o.seed }) : null,
    bootstrap: { resamples, seed: o.seed },
  };
}

/** a finished run's eval predictions (eval_predictions.jsonl) by guid: its true label and predicted label */
export function readRunPredictions(dir: string): Map<string, { label: string; prediction: string }> {
  const path = join(dir, 'eval_predictions.jsonl');
  if (!existsSync(join(dir, 'eval_results.txt')) || !existsSync(path)) throw new DataError(`${dir}: not a finished classification run (it needs eval_results.txt and eval_predictions.jsonl, as baseline and finetune write them)`);
  const out = new Map<string, { label: string; prediction: string }>();
  let lines;
  try { lines = readJsonLines(path); } catch (e) { if (e instanceof InputFileError) throw new DataError(e.message); throw e; }
  for (const { value, line } of lines) {
    const v = value as Record<string, unknown> | null;
    if (!v || typeof v !== 'object' || typeof v.guid !== 'string' || typeof v.label !== 'string' || typeof v.prediction !== 'string') throw new DataError(`${path}:${line}: expected {"guid", "label", "prediction"} (a classification run's predictions)`);
    if (out.has(v.guid)) throw new DataError(`${path}:${line}: guid "${v.guid}" appears twice`);
    out.set(v.guid, { label: v.label, prediction: v.prediction });
  }
  return out;
}

/**
 * This run (its eval examples and predicted labels) against another finished run on the same eval examples:
 * McNemar's exact test (b: the other right and this wrong; c: this right and the other wrong) and the
 * paired bootstrap interval of this run's accuracy minus the other's. Refused when the examples differ.
 */
export function significanceAgainst(otherDir: string, evalSet: Example[], predicted: string[], o: { resamples?: number; seed: number }): Significance {
  const other = readRunPredictions(otherDir);
  if (other.size !== evalSet.length) throw new DataError(`${otherDir}: evaluated ${other.size} examples, this run ${evalSet.length}: McNemar's test needs the same eval examples (the same data, split and seed)`);
  const oc: boolean[] = [], mc: boolean[] = [];
  evalSet.forEach((e, i) => {
    const p = other.get(e.guid);
    if (!p || p.label !== e.label) throw new DataError(`${otherDir}: ${p ? `example ${e.guid} has label "${p.label}" there, "${e.label}" here` : `has no example ${e.guid}`}: McNemar's test needs the same eval examples (the same data, split and seed)`);
    oc.push(p.prediction === p.label);
    mc.push(predicted[i] === e.label);
  });
  const n = evalSet.length, accO = oc.filter(Boolean).length / n, accM = mc.filter(Boolean).length / n;
  return { against: otherDir, ...mcnemar(oc, mc), accuracy_against: accO, accuracy: accM, accuracy_difference: accM - accO,
    accuracy_difference_ci95: accuracyDifferenceInterval(oc, mc, { resamples: o.resamples, seed: o.seed }) };
}

const f4 = (x: number) => formatFixed(x, 4);
const ci = (c: [number, number] | null) => (c ? `[${f4(c[0])}, ${f4(c[1])}]` : '');
const pct = (k: number, n: number) => (n ? `${((100 * k) / n).toFixed(1)} %` : '—');

/** a p-value as people read it: 4 significant digits, or "< 1e-300" when it underflows */
export function formatP(p: number): string {
  return p === 0 ? '< 1e-300' : p >= 0.001 ? p.toPrecision(4).replace(/\.?0+$/, '') : p.toExponential(2);
}

/** the printed block: split, leakage with the unseen subset's accuracy, intervals, and the comparison when there is one */
export function reliabilityText(r: Reliability, metrics: { accuracy: number; macro_f1: number; mcc: number; roc_auc: number | null } | null, sig?: Significance | null): string {
  const s = r.split;
  const lines = ['***** Is the result real? *****',
    `split: ${s.strategy}${s.folds ? ` (fold ${s.fold} of ${s.folds})` : ''}, ${s.train} train / ${s.eval} eval${s.dropped ? `, ${s.dropped} ${s.strategy === 'livedoor' ? 'dev (unused)' : 'dropped (their texts fell on both sides)'}` : ''}`];
  const l = r.leakage;
  if (l) {
    lines.push(`leakage (texts matched by ${l.keyed_by === 'id' ? 'id' : 'normalised text'}): of ${l.eval_pairs} eval pairs, text A seen in training ${l.a_seen} (${pct(l.a_seen, l.eval_pairs)}), B seen ${l.b_seen} (${pct(l.b_seen, l.eval_pairs)}), both ${l.both_seen}, neither ${l.neither} (${pct(l.neither, l.eval_pairs)})`);
    lines.push(`  duplicates of training pairs ${l.duplicates}, reversed ${l.swapped_duplicates}, contradicting labels ${l.contradictions}, same text on both sides ${l.same_text}`);
    if (l.metrics_by_subset) {
      for (const k of LEAKAGE_SUBSETS) {
        const m = l.metrics_by_subset[k];
        if (m) lines.push(`  accuracy on ${k === 'both_seen' ? 'pairs with both texts seen' : k === 'a_only' ? 'pairs with only A seen' : k === 'b_only' ? 'pairs with only B seen' : 'pairs with neither text seen'} (${m.n}): ${f4(m.accuracy)} ${ci(m.accuracy_ci95)}`);
      }
    }
  }
  if (r.ci95 && metrics) {
    lines.push(`accuracy ${f4(metrics.accuracy)} ${ci(r.ci95.accuracy)} (95 %, Wilson)`);
    lines.push(`macro-F1 ${f4(metrics.macro_f1)} ${ci(r.ci95.macro_f1)}, MCC ${f4(metrics.mcc)} ${ci(r.ci95.mcc)}${metrics.roc_auc === null ? '' : `, ROC-AUC ${f4(metrics.roc_auc)} ${ci(r.ci95.roc_auc)}`} (95 %, bootstrap of ${r.bootstrap.resamples} resamples)`);
  }
  if (sig) {
    lines.push(`against ${sig.against} (accuracy ${f4(sig.accuracy_against)}): McNemar's exact test b = ${sig.b} (it right, this wrong), c = ${sig.c} (this right, it wrong), p = ${formatP(sig.p_value)}`);
    lines.push(`  accuracy difference ${sig.accuracy_difference >= 0 ? '+' : ''}${f4(sig.accuracy_difference)} ${ci(sig.accuracy_difference_ci95)} (95 %, paired bootstrap)`);
  }
  return lines.join('\n') + '\n';
}

/** everything a classification run adds for "is it real?": the block, the objects, and report.json's keys */
export function classificationReliability(data: LoadedData, labels: string[], yTrue: ArrayLike<number>, yPred: ArrayLike<number>, probs: ArrayLike<number>[],
  metrics: { accuracy: number; macro_f1: number; mcc: number; roc_auc: number | null }, o: { seed: number; resamples?: number; against?: string }):
  { reliability: Reliability; significance: Significance | null; text: string; report: Record<string, unknown> } {
  const C = labels.length;
  const rel = reliability(data, labels, { C, yTrue, yPred, positiveScore: C === 2 ? probs.map((p) => p[1]!) : null }, o);
  const sig = o.against ? significanceAgainst(o.against, data.eval, Array.from(yPred, (p) => labels[p]!), o) : null;
  return { reliability: rel, significance: sig, text: reliabilityText(rel, metrics, sig), report: reliabilityKeys(rel, sig) };
}

/** report.json's keys for a run's reliability: split, leakage, ci95, bootstrap, and mcnemar against another run */
export function reliabilityKeys(rel: Reliability, sig: Significance | null): Record<string, unknown> {
  return { split: rel.split, ...(rel.leakage ? { leakage: rel.leakage } : {}), ...(rel.ci95 ? { ci95: rel.ci95, bootstrap: rel.bootstrap } : {}), ...(sig ? { mcnemar: sig } : {}) };
}
