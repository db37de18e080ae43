/**
 * Classification metrics and the text the user reads, formatted byte for byte
 * as scikit-learn's classification_report / numpy's print of confusion_matrix,
 * and run_classifier's eval_results.txt.
 */

export interface ClassMetrics { label: string; precision: number; recall: number; f1: number; support: number }

export interface Metrics {
  labels: string[];
  accuracy: number;
  perClass: ClassMetrics[];
  macro: Omit<ClassMetrics, 'label'>;
  weighted: Omit<ClassMetrics, 'label'>;
  /** rows: true label, columns: predicted label */
  confusion: number[][];
  total: number;
  /** Matthews correlation coefficient (multi-class form, as scikit-learn's matthews_corrcoef) */
  mcc: number;
  /** area under the ROC curve of the second label's probability (binary tasks with probabilities; else null) */
  rocAuc: number | null;
}

/** scikit-learn's matthews_corrcoef from a confusion matrix: (c·s − Σ t_k p_k) / √((s² − Σ p_k²)(s² − Σ t_k²)), 0 when undefined */
export function matthewsFromConfusion(cm: number[][]): number {
  const C = cm.length;
  let s = 0, c = 0, tp = 0, pp = 0, tt = 0;
  const t = cm.map((row) => row.reduce((a, b) => a + b, 0));
  const p = Array.from({ length: C }, (_, k) => cm.reduce((a, row) => a + row[k]!, 0));
  for (let k = 0; k < C; k++) { s += t[k]!; c += cm[k]![k]!; tp += t[k]! * p[k]!; pp += p[k]! ** 2; tt += t[k]! ** 2; }
  const den = Math.sqrt((s * s - pp) * (s * s - tt));
  return den === 0 ? 0 : (c * s - tp) / den;
}

/**
 * ROC-AUC of scores for a binary target (1 = positive), as scikit-learn's
 * roc_auc_score: the probability that a positive outranks a negative, ties
 * counting half (Mann–Whitney with average ranks). null when one class is absent.
 */
export function rocAucBinary(positive: ArrayLike<number>, scores: ArrayLike<number>): number | null {
  const n = positive.length;
  let nPos = 0;
  for (let i = 0; i < n; i++) nPos += positive[i] ? 1 : 0;
  const nNeg = n - nPos;
  if (nPos === 0 || nNeg === 0) return null;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  let rankSum = 0;
  for (let i = 0; i < n;) {
    let j = i;
    while (j + 1 < n && scores[order[j + 1]!] === scores[order[i]!]) j++;
    const avg = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) if (positive[order[k]!]) rankSum += avg;
    i = j + 1;
  }
  return (rankSum - (nPos * (nPos + 1)) / 2) / (nPos * nNeg);
}

const div = (a: number, b: number) => (b === 0 ? 0 : a / b); // sklearn's zero_division default warns and gives 0

/** metrics of predictions; `probs` (one row per example) adds ROC-AUC for a binary task */
export function computeMetrics(labels: string[], yTrue: number[], yPred: number[], probs?: ArrayLike<number>[]): Metrics {
  const C = labels.length;
  if (yTrue.length !== yPred.length) throw new Error(`${yTrue.length} labels for ${yPred.length} predictions`);
  const cm = Array.from({ length: C }, () => new Array<number>(C).fill(0));
  yTrue.forEach((t, i) => { cm[t]![yPred[i]!]!++; });
  const perClass: ClassMetrics[] = labels.map((label, c) => {
    const tp = cm[c]![c]!;
    const predicted = cm.reduce((a, row) => a + row[c]!, 0);
    const support = cm[c]!.reduce((a, b) => a + b, 0);
    const precision = div(tp, predicted), recall = div(tp, support);
    return { label, precision, recall, f1: div(2 * precision * recall, precision + recall), support };
  });
  const total = yTrue.length;
  const mean = (k: 'precision' | 'recall' | 'f1') => perClass.reduce((a, m) => a + m[k], 0) / C;
  const wmean = (k: 'precision' | 'recall' | 'f1') => div(perClass.reduce((a, m) => a + m[k] * m.support, 0), total);
  return {
    labels, total, confusion: cm,
    accuracy: div(yTrue.filter((t, i) => t === yPred[i]).length, total),
    perClass,
    macro: { precision: mean('precision'), recall: mean('recall'), f1: mean('f1'), support: total },
    weighted: { precision: wmean('precision'), recall: wmean('recall'), f1: wmean('f1'), support: total },
    mcc: matthewsFromConfusion(cm),
    rocAuc: C === 2 && probs ? rocAucBinary(yTrue, probs.map((p) => p[1]!)) : null,
  };
}

/** the selection metrics a run reports and can select its best model by (HF's metric_for_best_model names) */
export const SELECTION_METRICS = ['loss', 'accuracy', 'macro_f1', 'mcc', 'roc_auc'] as const;
/** a regression run's: loss (MSE), pearson, spearmanr */
export const REGRESSION_SELECTION_METRICS = ['loss', 'pearson', 'spearmanr'] as const;
export type SelectionMetric = (typeof SELECTION_METRICS)[number];

/** macro-F1, MCC and (binary) ROC-AUC of metrics, as eval_* keys */
export function extraMetrics(m: Metrics): Record<string, number> {
  return { macro_f1: m.macro.f1, mcc: m.mcc, ...(m.rocAuc === null ? {} : { roc_auc: m.rocAuc }) };
}

/** x with `digits` decimals, rounded exactly as Python's format() does (ties to even on the exact binary value) */
export function formatFixed(x: number, digits: number): string {
  if (!Number.isFinite(x)) return String(x);
  const neg = x < 0 || Object.is(x, -0);
  const dv = new DataView(new ArrayBuffer(8));
  dv.setFloat64(0, Math.abs(x));
  const hi = dv.getUint32(0), lo = dv.getUint32(4);
  const expBits = (hi >>> 20) & 0x7ff;
  let mant = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let e = expBits - 1075;
  if (expBits) mant |= 1n << 52n; else e = -1074;
  // |x| = mant * 2^e; q = round(|x| * 10^digits)
  let q: bigint;
  const scale = 10n ** BigInt(digits);
  if (e >= 0) q = (mant << BigInt(e)) * scale;
  else {
    const num = mant * scale, den = 1n << BigInt(-e);
    q = num / den;
    const r2 = (num % den) * 2n;
    if (r2 > den || (r2 === den && q % 2n === 1n)) q += 1n;
  }
  let s = q.toString().padStart(digits + 1, '0');
  if (digits > 0) s = s.slice(0, s.length - digits) + '.' + s.slice(s.length - digits);
  return (neg && q !== 0n ? '-' : neg ? '-' : '') + s;
}

const rjust = (s: string, w: number) => (s.length >= w ? s : ' '.repeat(w - s.length) + s);

/** sklearn.metrics.classification_report(y_true, y_pred, target_names=labels, digits=2) */
export function classificationReport(m: Metrics, digits = 2): string {
  const width = m.labels.reduce((a, l) => Math.max(a, l.length), Math.max('weighted avg'.length, digits));
  const headers = ['precision', 'recall', 'f1-score', 'support'];
  let out = rjust('', width) + ' ' + headers.map((h) => ' ' + rjust(h, 9)).join('') + '\n\n';
  const row = (name: string, p: number, r: number, f: number, s: number) =>
    rjust(name, width) + ' ' + [p, r, f].map((v) => ' ' + rjust(formatFixed(v, digits), 9)).join('') + ' ' + rjust(String(s), 9) + '\n';
  for (const c of m.perClass) out += row(c.label, c.precision, c.recall, c.f1, c.support);
  out += '\n';
  out += rjust('accuracy', width) + ' ' + ' ' + rjust('', 9) + ' ' + rjust('', 9) + ' ' + rjust(formatFixed(m.accuracy, digits), 9) + ' ' + rjust(String(m.total), 9) + '\n';
  out += row('macro avg', m.macro.precision, m.macro.recall, m.macro.f1, m.total);
  out += row('weighted avg', m.weighted.precision, m.weighted.recall, m.weighted.f1, m.total);
  return out;
}

/** print(confusion_matrix(...)): numpy's str() of an integer matrix */
export function confusionMatrixText(cm: number[][]): string {
  const w = cm.reduce((a, row) => row.reduce((b, v) => Math.max(b, String(v).length), a), 1);
  const rows = cm.map((r) => '[' + r.map((v) => rjust(String(v), w)).join(' ') + ']');
  return '[' + rows.join('\n ') + ']\n';
}

/** str(np.float32(x)): the shortest digits that read back to the same float32 */
export function float32Repr(x: number): string {
  const f = Math.fround(x);
  if (f === 0) return Object.is(f, -0) ? '-0.0' : '0.0';
  if (!Number.isFinite(f)) return Number.isNaN(f) ? 'nan' : f > 0 ? 'inf' : '-inf';
  let digits = '';
  for (let p = 1; p <= 9; p++) {
    const s = f.toPrecision(p);
    if (Math.fround(Number(s)) === f) { digits = s; break; }
  }
  const v = Number(digits);
  const exp = Math.floor(Math.log10(Math.abs(v)));
  if (exp < -4 || exp >= 16) {
    // numpy: scientific with at least two exponent digits, e.g. 1.5e-05
    const [m, e] = v.toExponential().split('e') as [string, string];
    const en = Number(e);
    return `${m}e${en < 0 ? '-' : '+'}${String(Math.abs(en)).padStart(2, '0')}`;
  }
  // positional, shortest, always with a decimal point
  let s = String(v);
  if (!s.includes('.') && !s.includes('e')) s += '.0';
  return s;
}

/** run_classifier's eval_results.txt: keys sorted, "key = value" */
export function evalResultsText(r: { eval_accuracy: number; eval_loss: number; global_step: number; loss: number }): string {
  return '***** Eval results *****\n' +
    `eval_accuracy = ${float32Repr(r.eval_accuracy)}\n` +
    `eval_loss = ${float32Repr(r.eval_loss)}\n` +
    `global_step = ${r.global_step}\n` +
    `loss = ${float32Repr(r.loss)}\n`;
}

/** regression metrics, as HF's run_glue reports them for STS-B: MSE, Pearson's r and Spearman's ρ (scipy.stats) */
export interface RegressionMetrics { mse: number; pearson: number; spearmanr: number; total: number }

function pearsonOf(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  let mx = 0, my = 0;
  for (let i = 0; i < n; i++) { mx += x[i]!; my += y[i]!; }
  mx /= n; my /= n;
  let sxy = 0, sxx = 0, syy = 0;
  for (let i = 0; i < n; i++) { const dx = x[i]! - mx, dy = y[i]! - my; sxy += dx * dy; sxx += dx * dx; syy += dy * dy; }
  return sxx === 0 || syy === 0 ? NaN : sxy / Math.sqrt(sxx * syy);
}

/** 1-based ranks with ties given their average rank (scipy.stats.rankdata's default) */
export function averageRanks(x: ArrayLike<number>): Float64Array {
  const n = x.length, order = Array.from({ length: n }, (_, i) => i).sort((a, b) => x[a]! - x[b]!);
  const r = new Float64Array(n);
  for (let i = 0; i < n;) {
    let j = i;
    while (j + 1 < n && x[order[j + 1]!] === x[order[i]!]) j++;
    for (let k = i; k <= j; k++) r[order[k]!] = (i + j) / 2 + 1;
    i = j + 1;
  }
  return r;
}

export function regressionMetrics(yTrue: ArrayLike<number>, yPred: ArrayLike<number>): RegressionMetrics {
  if (yTrue.length !== yPred.length) throw new Error(`${yTrue.length} targets for ${yPred.length} predictions`);
  let se = 0;
  for (let i = 0; i < yTrue.length; i++) se += (yPred[i]! - yTrue[i]!) ** 2;
  return { mse: se / yTrue.length, pearson: pearsonOf(yTrue, yPred), spearmanr: pearsonOf(averageRanks(yTrue), averageRanks(yPred)), total: yTrue.length };
}

/** eval_results.txt of a regression run: the same block, eval_loss being the MSE, with Pearson and Spearman among the keys */
export function regressionResultsText(r: { eval_loss: number; eval_pearson: number; eval_spearmanr: number; global_step: number; loss: number }): string {
  return '***** Eval results *****\n' +
    `eval_loss = ${float32Repr(r.eval_loss)}\n` +
    `eval_pearson = ${float32Repr(r.eval_pearson)}\n` +
    `eval_spearmanr = ${float32Repr(r.eval_spearmanr)}\n` +
    `global_step = ${r.global_step}\n` +
    `loss = ${float32Repr(r.loss)}\n`;
}

/** multi-label metrics at a 0.5 threshold, as scikit-learn's precision_recall_fscore_support on indicator matrices */
export interface MultiLabelMetrics {
  labels: string[];
  perLabel: ClassMetrics[];
  micro: Omit<ClassMetrics, 'label'>; macro: Omit<ClassMetrics, 'label'>; weighted: Omit<ClassMetrics, 'label'>; samples: Omit<ClassMetrics, 'label'>;
  /** exact-match ratio (scikit-learn's accuracy_score on indicator matrices) */
  subsetAccuracy: number;
  total: number;
}

export function multiLabelMetrics(labels: string[], Y: ArrayLike<number>, P: ArrayLike<number>, threshold = 0.5): MultiLabelMetrics {
  const C = labels.length, n = Y.length / C;
  const pred = (i: number, c: number) => (P[i * C + c]! >= threshold ? 1 : 0);
  const prf = (tp: number, fp: number, fn: number) => {
    const precision = div(tp, tp + fp), recall = div(tp, tp + fn);
    return { precision, recall, f1: div(2 * precision * recall, precision + recall) };
  };
  let TP = 0, FP = 0, FN = 0, exact = 0;
  const perLabel: ClassMetrics[] = labels.map((label, c) => {
    let tp = 0, fp = 0, fn = 0;
    for (let i = 0; i < n; i++) { const y = Y[i * C + c]!, p = pred(i, c); if (y && p) tp++; else if (p) fp++; else if (y) fn++; }
    TP += tp; FP += fp; FN += fn;
    return { label, ...prf(tp, fp, fn), support: tp + fn };
  });
  const samples = { precision: 0, recall: 0, f1: 0 };
  for (let i = 0; i < n; i++) {
    let tp = 0, fp = 0, fn = 0, same = true;
    for (let c = 0; c < C; c++) { const y = Y[i * C + c]!, p = pred(i, c); if (y && p) tp++; else if (p) fp++; else if (y) fn++; if (y !== p) same = false; }
    const r = prf(tp, fp, fn);
    samples.precision += r.precision / n; samples.recall += r.recall / n; samples.f1 += r.f1 / n;
    if (same) exact++;
  }
  const support = perLabel.reduce((a, m) => a + m.support, 0);
  const mean = (k: 'precision' | 'recall' | 'f1') => perLabel.reduce((a, m) => a + m[k], 0) / C;
  const wmean = (k: 'precision' | 'recall' | 'f1') => div(perLabel.reduce((a, m) => a + m[k] * m.support, 0), support);
  return {
    labels, perLabel, total: n, subsetAccuracy: div(exact, n),
    micro: { ...prf(TP, FP, FN), support }, macro: { precision: mean('precision'), recall: mean('recall'), f1: mean('f1'), support },
    weighted: { precision: wmean('precision'), recall: wmean('recall'), f1: wmean('f1'), support }, samples: { ...samples, support },
  };
}

/** scikit-learn's classification_report for indicator matrices: a row per label, then micro, macro, weighted and samples averages */
export function multiLabelReport(m: MultiLabelMetrics, digits = 2): string {
  const width = m.labels.reduce((a, l) => Math.max(a, l.length), Math.max('weighted avg'.length, digits));
  const headers = ['precision', 'recall', 'f1-score', 'support'];
  let out = rjust('', width) + ' ' + headers.map((h) => ' ' + rjust(h, 9)).join('') + '\n\n';
  const row = (name: string, r: Omit<ClassMetrics, 'label'>) =>
    rjust(name, width) + ' ' + [r.precision, r.recall, r.f1].map((v) => ' ' + rjust(formatFixed(v, digits), 9)).join('') + ' ' + rjust(String(r.support), 9) + '\n';
  for (const c of m.perLabel) out += row(c.label, c);
  out += '\n' + row('micro avg', m.micro) + row('macro avg', m.macro) + row('weighted avg', m.weighted) + row('samples avg', m.samples);
  return out;
}

/** eval_results.txt of a multi-label run */
export function multiLabelResultsText(r: { eval_loss: number; eval_micro_f1: number; eval_macro_f1: number; eval_subset_accuracy: number; global_step: number; loss: number }): string {
  return '***** Eval results *****\n' +
    `eval_loss = ${float32Repr(r.eval_loss)}\n` +
    `eval_macro_f1 = ${float32Repr(r.eval_macro_f1)}\n` +
    `eval_micro_f1 = ${float32Repr(r.eval_micro_f1)}\n` +
    `eval_subset_accuracy = ${float32Repr(r.eval_subset_accuracy)}\n` +
    `global_step = ${r.global_step}\n` +
    `loss = ${float32Repr(r.loss)}\n`;
}

/** a multi-label run's selection metrics */
export const MULTI_LABEL_SELECTION_METRICS = ['loss', 'micro_f1', 'macro_f1', 'subset_accuracy'] as const;
