/**
 * The report's pictures as PNG files: the very SVGs report.html embeds
 * (confusion heat map with class names, training charts with titles, axes,
 * ticks and legends), rendered by resvg (@resvg/resvg-js) with the system's
 * fonts (Debian's DejaVu, and IPA Gothic for Japanese class names).
 */
import { Resvg } from '@resvg/resvg-js';
import type { Metrics } from './metrics.js';
import { confusionSvg, trainingCharts } from './html.js';
import { RESVG_FONTS } from './chart.js';

export function svgToPng(svg: string): Buffer {
  return new Resvg(svg, { font: RESVG_FONTS, background: '#ffffff' }).render().asPng();
}

export function confusionPng(m: Metrics): Buffer {
  return svgToPng(confusionSvg(m));
}

/** the loss chart above the accuracy chart, as in report.html */
export function curvesPng(curve: Array<{ step: number; loss: number }>, evals: Array<{ step: number; eval_accuracy?: number; eval_loss: number }>, lossName?: string): Buffer {
  const charts = trainingCharts(curve, evals, lossName);
  const h = 260 * charts.length;
  const body = charts.map((c, i) => c.replace('<svg ', `<svg y="${i * 260}" `)).join('');
  return svgToPng(`<svg xmlns="http://www.w3.org/2000/svg" width="560" height="${h}">${body}</svg>`);
}
