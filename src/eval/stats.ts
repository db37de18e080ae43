/**
 * How sure is a number: Wilson intervals for a proportion, seeded bootstrap
 * intervals (percentile method) for macro-F1, MCC and ROC-AUC, McNemar's exact
 * test and the paired bootstrap of an accuracy difference. Each follows SciPy's
 * definition (scipy.stats.binomtest, BinomTestResult.proportion_ci(method='wilson'),
 * scipy.stats.bootstrap(method='percentile'), numpy.percentile's linear rule);
 * tools/make_stats_fixture.py checks them against SciPy.
 */
import { Rng } from '../core/random.js';
import { matthewsFromConfusion } from './metrics.js';

/** the standard normal's 97.5 % quantile (scipy.special.ndtri(0.975)) */
export const Z95 = 1.959963984540054;

/** Wilson's score interval for k successes in n trials (SciPy's proportion_ci(method='wilson'), no continuity correction) */
export function wilson(k: number, n: number, z = Z95): [number, number] {
  if (n === 0) return [0, 1];
  const p = k / n, q = 1 - p;
  const denom = 2 * (n + z * z);
  const center = (2 * n * p + z * z) / denom;
  const d = (z * Math.sqrt(z * z + 4 * n * p * q)) / denom;
  return [Math.max(0, center - d), Math.min(1, center + d)];
}

/** log(k!) for k = 0..n */
function logFactorials(n: number): Float64Array {
  const f = new Float64Array(n + 1);
  for (let k = 2; k <= n; k++) f[k] = f[k - 1]! + Math.log(k);
  return f;
}

/**
 * The exact two-sided binomial test's p-value, as scipy.stats.binomtest(k, n, p).pvalue:
 * the probability of every outcome no more likely than k (relative tolerance 1e-7, as SciPy's).
 */
export function binomTestTwoSided(k: number, n: number, p = 0.5): number {
  if (!Number.isInteger(k) || !Number.isInteger(n) || k < 0 || n < 0 || k > n) throw new RangeError(`binomial test: need integers 0 ≤ k ≤ n, got k=${k}, n=${n}`);
  if (k === p * n) return 1;
  const lf = logFactorials(n);
  const logPmf = (x: number) => lf[n]! - lf[x]! - lf[n - x]! + (x === 0 ? 0 : x * Math.log(p)) + (x === n ? 0 : (n - x) * Math.log1p(-p));
  const d = logPmf(k) + Math.log1p(1e-7);
  let s = 0;
  for (let x = 0; x <= n; x++) { const l = logPmf(x); if (l <= d) s += Math.exp(l); }
  return Math.min(1, s);
}

export interface McNemar {
  /** pairs the first system got right and the second wrong */
  b: number;
  /** pairs the first system got wrong and the second right */
  c: number;
  /** exact two-sided p-value: binomtest(min(b, c), b + c, 0.5); 1 when there is no discordant pair */
  p_value: number;
}

/** McNemar's exact test on two systems' per-example correctness (the same examples in the same order) */
export function mcnemar(correctA: ArrayLike<boolean | number>, correctB: ArrayLike<boolean | number>): McNemar {
  if (correctA.length !== correctB.length) throw new RangeError(`McNemar: ${correctA.length} against ${correctB.length} examples`);
  let b = 0, c = 0;
  for (let i = 0; i < correctA.length; i++) {
    if (correctA[i] && !correctB[i]) b++;
    else if (!correctA[i] && correctB[i]) c++;
  }
  return { b, c, p_value: b + c === 0 ? 1 : binomTestTwoSided(Math.min(b, c), b + c, 0.5) };
}

/** numpy.percentile's default (linear) rule on sorted values, q in [0, 100] */
export function percentileSorted(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const h = ((n - 1) * q) / 100, lo = Math.floor(h), hi = Math.min(lo + 1, n - 1);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

/** the 2.5 and 97.5 percentiles of bootstrap statistics (NaN entries, from resamples where the statistic is undefined, left out) */
export function percentileInterval(stats: ArrayLike<number>): [number, number] | null {
  const v = Float64Array.from(Array.from(stats).filter((x) => Number.isFinite(x))).sort();
  if (v.length === 0) return null;
  return [percentileSorted(v, 2.5), percentileSorted(v, 97.5)];
}

/** resample counts: R draws of n indices with replacement, as multiplicities per example (seeded) */
export function* bootstrapCounts(n: number, resamples: number, seed: number): Generator<Int32Array> {
  const rng = new Rng(seed), w = new Int32Array(n);
  for (let r = 0; r < resamples; r++) {
    w.fill(0);
    for (let i = 0; i < n; i++) w[rng.int(n)]!++;
    yield w;
  }
}

/** ROC-AUC with example weights, on examples pre-sorted by score with their tie groups (O(n) per resample) */
class WeightedAuc {
  private order: Int32Array;
  private groupEnd: Int32Array;
  constructor(private positive: ArrayLike<number | boolean>, scores: ArrayLike<number>) {
    const n = scores.length;
    this.order = Int32Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
    this.groupEnd = new Int32Array(n);
    for (let i = 0; i < n;) {
      let j = i;
      while (j + 1 < n && scores[this.order[j + 1]!] === scores[this.order[i]!]) j++;
      for (let k = i; k <= j; k++) this.groupEnd[k] = j;
      i = j + 1;
    }
  }
  /** the probability that a positive outranks a negative (ties half), each example counted w times; NaN when a class is absent */
  auc(w: ArrayLike<number>): number {
    let below = 0, sum = 0, P = 0, N = 0;
    const n = this.order.length;
    for (let i = 0; i < n;) {
      const j = this.groupEnd[i]!;
      let pos = 0, neg = 0;
      for (let k = i; k <= j; k++) { const e = this.order[k]!; if (this.positive[e]) pos += w[e]!; else neg += w[e]!; }
      sum += pos * (below + neg / 2);
      below += neg; P += pos; N += neg;
      i = j + 1;
    }
    return P === 0 || N === 0 ? NaN : sum / (P * N);
  }
}

/** macro-F1 and MCC of a weighted confusion matrix (scikit-learn's definitions; zero_division 0) */
function macroF1(cm: number[][]): number {
  const C = cm.length;
  let s = 0;
  for (let c = 0; c < C; c++) {
    const tp = cm[c]![c]!;
    let pred = 0, sup = 0;
    for (let k = 0; k < C; k++) { pred += cm[k]![c]!; sup += cm[c]![k]!; }
    const p = pred ? tp / pred : 0, r = sup ? tp / sup : 0;
    s += p + r ? (2 * p * r) / (p + r) : 0;
  }
  return s / C;
}

export interface Intervals {
  accuracy: [number, number];
  macro_f1: [number, number] | null;
  mcc: [number, number] | null;
  /** binary tasks with probabilities; null otherwise */
  roc_auc: [number, number] | null;
}

/**
 * 95 % intervals of a classifier's eval metrics: Wilson for accuracy; for macro-F1, MCC and (binary)
 * ROC-AUC the percentile interval of a seeded bootstrap over eval examples (`resamples` draws; a
 * resample where a metric is undefined, such as ROC-AUC with one class drawn, is left out of that
 * metric's interval). The labels are class ids in [0, C).
 */
export function metricIntervals(C: number, yTrue: ArrayLike<number>, yPred: ArrayLike<number>, positiveScore: ArrayLike<number> | null, o: { resamples?: number; seed?: number } = {}): Intervals {
  const n = yTrue.length, R = o.resamples ?? 1000;
  let correct = 0;
  for (let i = 0; i < n; i++) correct += yTrue[i] === yPred[i] ? 1 : 0;
  const out: Intervals = { accuracy: wilson(correct, n), macro_f1: null, mcc: null, roc_auc: null };
  if (R <= 0 || n === 0) return out;
  const auc = C === 2 && positiveScore ? new WeightedAuc(Array.from(yTrue, (y) => y === 1), positiveScore) : null;
  const f1s = new Float64Array(R), mccs = new Float64Array(R), aucs = new Float64Array(R);
  const cm = Array.from({ length: C }, () => new Array<number>(C).fill(0));
  let r = 0;
  for (const w of bootstrapCounts(n, R, o.seed ?? 42)) {
    for (const row of cm) row.fill(0);
    for (let i = 0; i < n; i++) if (w[i]) cm[yTrue[i]!]![yPred[i]!]! += w[i]!;
    f1s[r] = macroF1(cm);
    mccs[r] = matthewsFromConfusion(cm);
    aucs[r] = auc ? auc.auc(w) : NaN;
    r++;
  }
  out.macro_f1 = percentileInterval(f1s);
  out.mcc = percentileInterval(mccs);
  out.roc_auc = auc ? percentileInterval(aucs) : null;
  return out;
}

/** the paired bootstrap's 95 % percentile interval of accuracy(B) − accuracy(A) over the same examples */
export function accuracyDifferenceInterval(correctA: ArrayLike<boolean | number>, correctB: ArrayLike<boolean | number>, o: { resamples?: number; seed?: number } = {}): [number, number] | null {
  const n = correctA.length, R = o.resamples ?? 1000;
  if (R <= 0 || n === 0) return null;
  const d = Int8Array.from({ length: n }, (_, i) => Number(Boolean(correctB[i])) - Number(Boolean(correctA[i])));
  const diffs = new Float64Array(R);
  let r = 0;
  for (const w of bootstrapCounts(n, R, o.seed ?? 42)) {
    let s = 0;
    for (let i = 0; i < n; i++) s += w[i]! * d[i]!;
    diffs[r++] = s / n;
  }
  return percentileInterval(diffs);
}
