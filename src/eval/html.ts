/**
 * report.html: the eval block, the classification report, a confusion-matrix
 * heat map and the training curves, as one self-contained page (inline SVG, no
 * scripts, nothing fetched).
 */
import type { Metrics } from './metrics.js';

import { emaSmooth, esc, lineChartSvg, measureText, type Series } from './chart.js';

/** white -> blue by count / max */
export function heatColor(v: number, max: number): [number, number, number] {
  const t = max > 0 ? v / max : 0;
  return [Math.round(255 - 225 * t), Math.round(255 - 155 * t), Math.round(255 - 75 * t)];
}

/**
 * The confusion matrix as a heat map: the class names beside the rows and under the columns (turned
 * upright when wider than a cell), the canvas as wide as its title and as tall as its labels, all measured.
 */
export function confusionSvg(m: Metrics): string {
  const n = m.labels.length, cell = Math.max(28, Math.min(70, Math.floor(420 / n)));
  const max = Math.max(1, ...m.confusion.flat());
  const title = 'confusion matrix (rows: true, columns: predicted)';
  const F = 12, labelW = m.labels.map((l) => measureText(l, F).width), widest = Math.max(...labelW);
  const turned = widest > cell - 4;
  // turned labels read upwards, ending under their column: they need the widest one's length in height
  const colLabelH = turned ? widest + 4 : F * 1.2;
  const left = 8 + F * 1.2 + 8 + widest + 8;
  const top = 8 + 13 * 1.2 + 10;
  const grid = n * cell, titleW = measureText(title, 13).width;
  const W = Math.ceil(Math.max(left + grid + 16, titleW + 16));
  const H = Math.ceil(top + grid + 6 + colLabelH + 6 + F * 1.2 + 8);
  const gx = left;
  let s = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="${F}">`;
  s += `<rect width="${W}" height="${H}" fill="#fff"/><text x="${W / 2}" y="${8 + 13}" text-anchor="middle" font-size="13">${esc(title)}</text>`;
  s += `<text x="${gx + grid / 2}" y="${H - 8}" text-anchor="middle">predicted</text>`;
  s += `<text x="${8 + F}" y="${top + grid / 2}" transform="rotate(-90 ${8 + F} ${top + grid / 2})" text-anchor="middle">true</text>`;
  m.labels.forEach((l, i) => {
    s += `<text x="${gx - 6}" y="${top + i * cell + cell / 2 + 4}" text-anchor="end">${esc(l)}</text>`;
    const cx = gx + i * cell + cell / 2, cy = top + grid + 6 + F;
    s += turned
      ? `<text x="${cx + F * 0.35}" y="${top + grid + 6}" text-anchor="end" transform="rotate(-90 ${cx + F * 0.35} ${top + grid + 6})">${esc(l)}</text>`
      : `<text x="${cx}" y="${cy}" text-anchor="middle">${esc(l)}</text>`;
  });
  m.confusion.forEach((row, i) => row.forEach((v, j) => {
    const [r, g, b] = heatColor(v, max);
    s += `<rect x="${gx + j * cell}" y="${top + i * cell}" width="${cell}" height="${cell}" fill="rgb(${r},${g},${b})" stroke="#d8d8d8"/>`;
    s += `<text x="${gx + j * cell + cell / 2}" y="${top + i * cell + cell / 2 + 4}" text-anchor="middle" fill="${v / max > 0.55 ? '#fff' : '#000'}">${v}</text>`;
  }));
  return s + '</svg>';
}

export { lineChartSvg, type Series };

/** the training charts of a run: loss (raw per step, faint, under TensorBoard's smoothing of it, and eval) and eval accuracy */
export function trainingCharts(curve: Array<{ step: number; loss: number }> | undefined, evals: Array<{ step: number; eval_accuracy?: number; eval_loss: number }> | undefined, lossName = 'cross-entropy'): string[] {
  const loss: Series[] = [];
  if (curve?.length) {
    const raw: Array<[number, number]> = curve.map((c) => [c.step, c.loss]);
    loss.push({ name: 'train loss (raw)', color: '#1f77b4', points: raw, faint: true, markers: false });
    loss.push({ name: 'train loss (smoothed, EMA 0.6)', color: '#1f77b4', points: emaSmooth(raw), markers: false });
  }
  if (evals?.length) loss.push({ name: 'eval loss', color: '#d62728', points: evals.map((e) => [e.step, e.eval_loss]), markers: true });
  const withAcc = (evals ?? []).filter((e): e is typeof e & { eval_accuracy: number } => e.eval_accuracy !== undefined);
  const acc: Series[] = withAcc.length ? [{ name: 'eval accuracy', color: '#2ca02c', points: withAcc.map((e) => [e.step, e.eval_accuracy]), markers: true }] : [];
  return [...(loss.length ? [lineChartSvg('loss', loss, 560, 260, { y: lossName })] : []), ...(acc.length ? [lineChartSvg('eval accuracy', acc, 560, 260, { y: 'accuracy' })] : [])];
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
  // a hyperparameter named as a detail (loss: the loss function; loss: the final loss value) is shown as hyperparameters.<name>
  const detailKeys = new Set(Object.keys(o.details));
  const flat = [...Object.entries(hp).map(([k, v]): [string, unknown] => [detailKeys.has(k) ? `hyperparameters.${k}` : k, v]), ...Object.entries(o.details).filter(([k]) => k !== 'hyperparameters')];
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
