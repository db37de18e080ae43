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
}

const div = (a: number, b: number) => (b === 0 ? 0 : a / b); // sklearn's zero_division default warns and gives 0

export function computeMetrics(labels: string[], yTrue: number[], yPred: number[]): Metrics {
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
  };
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
  const width = Math.max(...m.labels.map((l) => l.length), 'weighted avg'.length, digits);
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
  const w = Math.max(...cm.flat().map((v) => String(v).length));
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
