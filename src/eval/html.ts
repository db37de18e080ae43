/**
 * report.html: the eval block, the classification report, a confusion-matrix
 * heat map and the training curves, as one self-contained page (inline SVG, no
 * scripts, nothing fetched).
 */
import type { Metrics } from './metrics.js';

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** white -> blue by count / max */
export function heatColor(v: number, max: number): [number, number, number] {
  const t = max > 0 ? v / max : 0;
  return [Math.round(255 - 225 * t), Math.round(255 - 155 * t), Math.round(255 - 75 * t)];
}

export function confusionSvg(m: Metrics): string {
  const n = m.labels.length, cell = Math.max(28, Math.min(70, Math.floor(420 / n))), left = 140, top = 40;
  const max = Math.max(1, ...m.confusion.flat());
  const W = left + n * cell + 20;
  let s = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${top + n * cell + 60}" font-family="sans-serif" font-size="12">`;
  s += `<rect width="${W}" height="${top + n * cell + 60}" fill="#fff"/><text x="${W / 2}" y="20" text-anchor="middle" font-size="13">confusion matrix (rows: true, columns: predicted)</text>`;
  s += `<text x="${left + (n * cell) / 2}" y="${top + n * cell + 45}" text-anchor="middle">predicted</text>`;
  s += `<text x="14" y="${top + (n * cell) / 2}" transform="rotate(-90 14 ${top + (n * cell) / 2})" text-anchor="middle">true</text>`;
  m.labels.forEach((l, i) => {
    s += `<text x="${left - 6}" y="${top + i * cell + cell / 2 + 4}" text-anchor="end">${esc(l)}</text>`;
    s += `<text x="${left + i * cell + cell / 2}" y="${top + n * cell + 16}" text-anchor="middle">${esc(l)}</text>`;
  });
  m.confusion.forEach((row, i) => row.forEach((v, j) => {
    const [r, g, b] = heatColor(v, max);
    s += `<rect x="${left + j * cell}" y="${top + i * cell}" width="${cell}" height="${cell}" fill="rgb(${r},${g},${b})" stroke="#fff"/>`;
    s += `<text x="${left + j * cell + cell / 2}" y="${top + i * cell + cell / 2 + 4}" text-anchor="middle" fill="${v / max > 0.55 ? '#fff' : '#000'}">${v}</text>`;
  }));
  return s + '</svg>';
}

export interface Series { name: string; color: string; points: Array<[number, number]> }

/** a line chart with a title, axis names, ticks with grid lines and a legend */
export function lineChartSvg(title: string, series: Series[], w = 560, h = 260, axes: { x?: string; y?: string } = {}): string {
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) return '';
  const [x0, xm] = extent(all.map((p) => p[0])), [y0, ym] = extent(all.map((p) => p[1]));
  const x1 = Math.max(xm, x0 + 1), y1 = Math.max(ym, y0 + 1e-9);
  const L = 62, R = 15, T = 25, B = 42;
  const px = (x: number) => L + ((x - x0) / (x1 - x0)) * (w - L - R), py = (y: number) => T + (1 - (y - y0) / (y1 - y0)) * (h - T - B);
  let s = `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="sans-serif" font-size="11">`;
  s += `<rect width="${w}" height="${h}" fill="#fff"/>`;
  s += `<text x="${w / 2}" y="15" text-anchor="middle" font-size="13">${esc(title)}</text>`;
  for (let i = 0; i <= 4; i++) {
    const yv = y0 + ((y1 - y0) * i) / 4, yy = py(yv);
    s += `<line x1="${L}" y1="${yy.toFixed(1)}" x2="${w - R}" y2="${yy.toFixed(1)}" stroke="#e4e4e4"/><text x="${L - 4}" y="${(yy + 4).toFixed(1)}" text-anchor="end">${Number(yv.toPrecision(3))}</text>`;
    const xv = x0 + ((x1 - x0) * i) / 4, xx = px(xv);
    s += `<text x="${xx.toFixed(1)}" y="${h - B + 14}" text-anchor="middle">${Math.round(xv)}</text>`;
  }
  s += `<line x1="${L}" y1="${h - B}" x2="${w - R}" y2="${h - B}" stroke="#444"/><line x1="${L}" y1="${T}" x2="${L}" y2="${h - B}" stroke="#444"/>`;
  s += `<text x="${(L + w - R) / 2}" y="${h - 8}" text-anchor="middle">${esc(axes.x ?? 'step')}</text>`;
  if (axes.y) s += `<text x="14" y="${(T + h - B) / 2}" transform="rotate(-90 14 ${(T + h - B) / 2})" text-anchor="middle">${esc(axes.y)}</text>`;
  series.forEach((se, k) => {
    s += `<polyline fill="none" stroke="${se.color}" stroke-width="1.5" points="${se.points.map((p) => `${px(p[0]).toFixed(1)},${py(p[1]).toFixed(1)}`).join(' ')}"/>`;
    if (se.points.length < 60) for (const p of se.points) s += `<circle cx="${px(p[0]).toFixed(1)}" cy="${py(p[1]).toFixed(1)}" r="2.5" fill="${se.color}"/>`;
    const ly = T + 14 * (k + 1);
    s += `<line x1="${w - R - 150}" y1="${ly - 4}" x2="${w - R - 134}" y2="${ly - 4}" stroke="${se.color}" stroke-width="2"/><text x="${w - R - 130}" y="${ly}" fill="#222">${esc(se.name)}</text>`;
  });
  return s + '</svg>';
}

/** the training charts of a run: loss (train, smoothed, and eval) and eval accuracy */
export function trainingCharts(curve: Array<{ step: number; loss: number }> | undefined, evals: Array<{ step: number; eval_accuracy?: number; eval_loss: number }> | undefined, lossName = 'cross-entropy'): string[] {
  const loss: Series[] = [];
  if (curve?.length) loss.push({ name: 'train loss (smoothed)', color: '#1f77b4', points: smooth(curve.map((c) => [c.step, c.loss]), Math.max(1, Math.round(curve.length / 30))) });
  if (evals?.length) loss.push({ name: 'eval loss', color: '#d62728', points: evals.map((e) => [e.step, e.eval_loss]) });
  const withAcc = (evals ?? []).filter((e): e is typeof e & { eval_accuracy: number } => e.eval_accuracy !== undefined);
  const acc: Series[] = withAcc.length ? [{ name: 'eval accuracy', color: '#2ca02c', points: withAcc.map((e) => [e.step, e.eval_accuracy]) }] : [];
  return [...(loss.length ? [lineChartSvg('loss', loss, 560, 260, { y: lossName })] : []), ...(acc.length ? [lineChartSvg('eval accuracy', acc, 560, 260, { y: 'accuracy' })] : [])];
}

/** moving average so a noisy per-step loss reads as a curve, thinned to at most `keep` points */
export function smooth(points: Array<[number, number]>, window: number, keep = 1000): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let sum = 0;
  points.forEach((p, i) => {
    sum += p[1];
    if (i >= window) sum -= points[i - window]![1];
    out.push([p[0], sum / Math.min(i + 1, window)]);
  });
  const every = Math.ceil(out.length / keep);
  return every <= 1 ? out : out.filter((_, i) => i % every === 0 || i === out.length - 1);
}

/** [min, max] without spreading (long runs have more points than a call may take arguments) */
export function extent(values: Iterable<number>): [number, number] {
  let lo = Infinity, hi = -Infinity;
  for (const v of values) { if (v < lo) lo = v; if (v > hi) hi = v; }
  return [lo, hi];
}

export function reportHtml(o: {
  title: string; evalText: string; reportText?: string; confusionText?: string; metrics?: Metrics;
  curve?: Array<{ step: number; loss: number }>; evals?: Array<{ step: number; eval_accuracy?: number; eval_loss: number }>; details: Record<string, unknown>; lossName?: string;
  /** the "is the result real?" block: split, leakage, intervals, McNemar */
  reliabilityText?: string;
}): string {
  const charts = trainingCharts(o.curve, o.evals, o.lossName);
  // every option of the run: the flat details, and each hyperparameter (learning rate, batch size, seed, ...) on its own row
  const hp = (o.details.hyperparameters ?? {}) as Record<string, unknown>;
  const flat = [...Object.entries(hp), ...Object.entries(o.details).filter(([k]) => k !== 'hyperparameters')];
  const rows = flat.filter(([, v]) => v !== null && typeof v !== 'object').map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(String(v))}</td></tr>`).join('');
  return `<!doctype html>
<html lang="ja"><head><meta charset="utf-8"><title>${esc(o.title)}</title>
<style>body{font-family:sans-serif;margin:2em;max-width:70em}pre{background:#f6f6f6;padding:1em}table{border-collapse:collapse}th,td{text-align:left;padding:2px 10px;border-bottom:1px solid #ddd}section{margin-bottom:2em}</style>
</head><body>
<h1>${esc(o.title)}</h1>
<section><h2>Eval results</h2><pre>${esc(o.evalText)}</pre></section>
${o.reliabilityText ? `<section><h2>Is the result real?</h2><pre>${esc(o.reliabilityText)}</pre></section>` : ''}
${o.reportText !== undefined ? `<section><h2>Classification report</h2><pre>${esc(o.reportText)}</pre></section>` : ''}
${o.metrics ? `<section><h2>Confusion matrix</h2>${confusionSvg(o.metrics)}<pre>${esc(o.confusionText ?? '')}</pre></section>` : ''}
${charts.length ? `<section><h2>Training</h2>${charts.join('')}</section>` : ''}
<section><h2>Run</h2><table>${rows}</table></section>
</body></html>
`;
}
