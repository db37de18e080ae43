/**
 * The charts of reports and compare: SVG laid out from measured text. Each label's size is measured by
 * rendering it with resvg (@resvg/resvg-js) and the same fonts the PNGs are drawn with (DejaVu Sans,
 * IPA Gothic for Japanese), so margins, legends and cells are as wide as what they hold; axis ticks are
 * d3-scale's nice ticks (linear and log scales) with its tick formats; a noisy training loss is smoothed
 * by TensorBoard's debiased exponential moving average and drawn over its faint raw curve.
 */
import { Resvg } from '@resvg/resvg-js';
import { scaleLinear, scaleLog } from 'd3-scale';

export const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** resvg's options for every chart: the PNGs and the measurements use the same fonts */
export const RESVG_FONTS = { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans' };

const measured = new Map<string, { width: number; height: number }>();

/** the rendered size of `text` at `size` px in the charts' font (an empty text is 0 × 0) */
export function measureText(text: string, size: number): { width: number; height: number } {
  const key = `${size}\u0000${text}`;
  const hit = measured.get(key);
  if (hit) return hit;
  let m = { width: 0, height: 0 };
  if (text.trim()) {
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><text x="0" y="${size}" font-family="sans-serif" font-size="${size}">${esc(text)}</text></svg>`;
    const b = new Resvg(svg, { font: RESVG_FONTS }).getBBox();
    // the advance of the spaces at either end too, which the ink's box leaves out
    m = b ? { width: Math.ceil(b.width + 1), height: Math.ceil(size * 1.2) } : { width: Math.ceil(text.length * size * 0.62), height: Math.ceil(size * 1.2) };
  }
  if (measured.size > 5000) measured.clear();
  measured.set(key, m);
  return m;
}

/** TensorBoard's smoothing: a debiased exponential moving average (weight 0.6 by default, its slider's default); non-finite values pass through */
export function emaSmooth(points: Array<[number, number]>, weight = 0.6): Array<[number, number]> {
  let last = 0, n = 0;
  const finite = points.filter((p) => Number.isFinite(p[1]));
  // a constant series is left as it is (TensorBoard's rule: debiasing would only add rounding)
  const constant = finite.length > 0 && finite.every((p) => p[1] === finite[0]![1]);
  return points.map(([x, y]) => {
    if (!Number.isFinite(y) || constant) return [x, y];
    last = last * weight + (1 - weight) * y;
    n++;
    return [x, last / (1 - weight ** n)];
  });
}

/** at most `keep` points, evenly spread, the last kept (a long run's thousands of steps drawn as a line) */
export function thin<T>(points: T[], keep = 1000): T[] {
  const every = Math.ceil(points.length / keep);
  return every <= 1 ? points : points.filter((_, i) => i % every === 0 || i === points.length - 1);
}

/** [min, max] without spreading (long runs have more points than a call may take arguments) */
export function extent(values: Iterable<number>): [number, number] {
  let lo = Infinity, hi = -Infinity;
  for (const v of values) { if (v < lo) lo = v; if (v > hi) hi = v; }
  return [lo, hi];
}

export interface Series {
  name: string; color: string; points: Array<[number, number]>;
  /** drawn faint, under the others, without a legend entry of its own (the raw values behind a smoothed line) */
  faint?: boolean;
  /** markers at the points (default: when there are fewer than 60) */
  markers?: boolean;
}

/** a text element; `anchor` start | middle | end, `rotate` degrees about (x, y) */
function text(x: number, y: number, s: string, o: { size?: number; anchor?: string; fill?: string; rotate?: number } = {}): string {
  return `<text x="${r1(x)}" y="${r1(y)}"${o.anchor && o.anchor !== 'start' ? ` text-anchor="${o.anchor}"` : ''}${o.size ? ` font-size="${o.size}"` : ''}${o.fill ? ` fill="${o.fill}"` : ''}${o.rotate ? ` transform="rotate(${o.rotate} ${r1(x)} ${r1(y)})"` : ''}>${esc(s)}</text>`;
}
const r1 = (v: number): string => String(Math.round(v * 10) / 10);

const FONT = 11, TITLE = 13;

/**
 * A line chart: a title, nice ticks on both axes with grid lines, axis names, the series, and a legend in
 * its own row under the title (never over the data). Integer x values (steps) get integer ticks.
 */
export function lineChartSvg(title: string, series: Series[], w = 560, h = 260, axes: { x?: string; y?: string } = {}): string {
  const all = series.flatMap((s) => s.points).filter((p) => Number.isFinite(p[1]));
  if (all.length === 0) return '';
  const [x0, xm] = extent(all.map((p) => p[0])), [y0, ym] = extent(all.map((p) => p[1]));
  const xs = scaleLinear().domain([x0, Math.max(xm, x0 + 1)]);
  const ys = scaleLinear().domain(y0 === ym ? [y0 - Math.abs(y0 || 1) * 0.05, ym + Math.abs(ym || 1) * 0.05] : [y0, ym]).nice(5);
  const integral = all.every((p) => Number.isInteger(p[0]));
  const xTicks = xs.ticks(6).filter((t) => !integral || Number.isInteger(t));
  const xFmt = xs.tickFormat(6, integral ? ',d' : undefined), yTicks = ys.ticks(5), yFmt = ys.tickFormat(5);
  // the margins hold what is drawn in them
  const yLabelW = Math.max(...yTicks.map((t) => measureText(yFmt(t), FONT).width));
  const L = 8 + (axes.y ? FONT * 1.2 + 6 : 0) + yLabelW + 6, R = Math.ceil(measureText(xFmt(xTicks[xTicks.length - 1] ?? x0), FONT).width / 2) + 8;
  const legend = series.filter((s) => !s.faint);
  const items = legend.map((s) => ({ s, w: 22 + measureText(s.name, FONT).width + 14 }));
  // legend rows under the title, wrapped to the width
  const rows: Array<typeof items> = [[]];
  let used = 0;
  for (const it of items) {
    if (used + it.w > w - 16 && rows[rows.length - 1]!.length) { rows.push([]); used = 0; }
    rows[rows.length - 1]!.push(it); used += it.w;
  }
  const titleH = TITLE * 1.2 + 6, legendH = legend.length ? rows.length * (FONT * 1.2 + 4) + 4 : 0;
  const T = 6 + titleH + legendH + 4, B = FONT * 1.2 + 6 + (axes.x === '' ? 0 : FONT * 1.2 + 6) + 4;
  xs.range([L, w - R]);
  ys.range([h - B, T]);
  const titleSize = Math.min(TITLE, TITLE * (w - 16) / Math.max(1, measureText(title, TITLE).width));
  let s = `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="sans-serif" font-size="${FONT}">`;
  s += `<rect width="${w}" height="${h}" fill="#fff"/>`;
  s += text(w / 2, 6 + TITLE, title, { size: Math.floor(titleSize * 10) / 10, anchor: 'middle' });
  let ly = 6 + titleH + FONT;
  for (const row of rows) {
    let lx = (w - row.reduce((a, it) => a + it.w, 0)) / 2;
    for (const it of row) {
      s += `<line x1="${r1(lx)}" y1="${r1(ly - 4)}" x2="${r1(lx + 16)}" y2="${r1(ly - 4)}" stroke="${it.s.color}" stroke-width="2"/>` + text(lx + 22, ly, it.s.name, { fill: '#222' });
      lx += it.w;
    }
    ly += FONT * 1.2 + 4;
  }
  for (const t of yTicks) s += `<line x1="${r1(L)}" y1="${r1(ys(t))}" x2="${r1(w - R)}" y2="${r1(ys(t))}" stroke="#e4e4e4"/>` + text(L - 6, ys(t) + 4, yFmt(t), { anchor: 'end' });
  for (const t of xTicks) s += `<line x1="${r1(xs(t))}" y1="${r1(h - B)}" x2="${r1(xs(t))}" y2="${r1(h - B + 4)}" stroke="#444"/>` + text(xs(t), h - B + 4 + FONT, xFmt(t), { anchor: 'middle' });
  s += `<line x1="${r1(L)}" y1="${r1(h - B)}" x2="${r1(w - R)}" y2="${r1(h - B)}" stroke="#444"/><line x1="${r1(L)}" y1="${r1(T)}" x2="${r1(L)}" y2="${r1(h - B)}" stroke="#444"/>`;
  if (axes.x !== '') s += text((L + w - R) / 2, h - 6, axes.x ?? 'step', { anchor: 'middle' });
  if (axes.y) s += text(8 + FONT, (T + h - B) / 2, axes.y, { anchor: 'middle', rotate: -90 });
  for (const se of [...series.filter((x) => x.faint), ...series.filter((x) => !x.faint)]) {
    const pts = thin(se.points.filter((p) => Number.isFinite(p[1])));
    s += `<polyline fill="none" stroke="${se.color}" stroke-width="${se.faint ? 1 : 1.5}"${se.faint ? ' stroke-opacity="0.3"' : ''} points="${pts.map((p) => `${r1(xs(p[0]))},${r1(ys(p[1]))}`).join(' ')}"/>`;
    if (se.markers ?? (!se.faint && pts.length < 60)) for (const p of pts) s += `<circle cx="${r1(xs(p[0]))}" cy="${r1(ys(p[1]))}" r="2.5" fill="${se.color}"/>`;
  }
  return s + '</svg>';
}

/** a log-scale axis's ticks and their labels (d3-scale's scaleLog: the powers of ten, and 2 and 5 between when there are few) */
export function logTicks(lo: number, hi: number, count = 6): { scale: (v: number) => number; ticks: number[]; domain: [number, number]; range: (a: number, b: number) => void } {
  const sc = scaleLog().domain([lo, hi]).nice();
  const [d0, d1] = sc.domain() as [number, number];
  const decades = Math.log10(d1 / d0);
  const ticks = sc.ticks(count).filter((t) => { const m = t / 10 ** Math.floor(Math.log10(t) + 1e-9); return Math.abs(m - 1) < 1e-9 || (decades <= 2 && (Math.abs(m - 2) < 1e-9 || Math.abs(m - 5) < 1e-9)); });
  return { scale: (v) => sc(v), ticks, domain: [d0, d1], range: (a, b) => { sc.range([a, b]); } };
}
