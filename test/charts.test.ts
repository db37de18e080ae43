// The pictures people read: every chart ja-bert draws (confusion matrix, training curves, compare's
// accuracy-vs-speed plot) rendered by resvg with the fonts of the PNGs; each text's rendered box lies
// inside the canvas and overlaps no other text, the legend covers no data point, ticks are nice
// numbers, and the smoothing is TensorBoard's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Resvg } from '@resvg/resvg-js';
import { confusionSvg, trainingCharts } from '../src/eval/html.js';
import { emaSmooth, RESVG_FONTS } from '../src/eval/chart.js';
import { computeMetrics } from '../src/eval/metrics.js';
import { compareSvg, type CompareRow } from '../src/compare.js';

type Box = { x0: number; y0: number; x1: number; y1: number; text: string };

/** each <text>'s rendered box: the element alone on the same canvas, with the root's font settings */
function textBoxes(svg: string): { W: number; H: number; boxes: Box[]; circles: Array<[number, number, number]> } {
  const root = /^<svg ([^>]*)>/.exec(svg)![1]!;
  const W = Number(/width="([\d.]+)"/.exec(root)![1]), H = Number(/height="([\d.]+)"/.exec(root)![1]);
  const boxes: Box[] = [];
  // charts stacked into one PNG are nested <svg y=...>: offsets are added
  for (const m of svg.matchAll(/<text [^>]*>[^<]*<\/text>/g)) {
    const one = `<svg ${root.replace(/width="[\d.]+"/, `width="${W}"`)}>${m[0]}</svg>`;
    const b = new Resvg(one, { font: RESVG_FONTS }).getBBox();
    const text = /<text [^>]*>([^<]*)<\/text>/.exec(m[0])![1]!;
    if (!b) { assert.equal(text.trim(), '', `a text with no box: ${m[0]}`); continue; }
    boxes.push({ x0: b.x, y0: b.y, x1: b.x + b.width, y1: b.y + b.height, text });
  }
  const circles = [...svg.matchAll(/<circle cx="([\d.-]+)" cy="([\d.-]+)" r="([\d.]+)"/g)].map((m) => [Number(m[1]), Number(m[2]), Number(m[3])] as [number, number, number]);
  return { W, H, boxes, circles };
}

function checkLayout(name: string, svg: string, o: { legendOverData?: boolean } = {}): void {
  const { W, H, boxes, circles } = textBoxes(svg);
  assert.ok(boxes.length > 3, `${name}: texts drawn`);
  for (const b of boxes) {
    assert.ok(b.x0 >= -0.5 && b.y0 >= -0.5 && b.x1 <= W + 0.5 && b.y1 <= H + 0.5,
      `${name}: "${b.text}" leaves the ${W}×${H} canvas at [${b.x0.toFixed(1)}, ${b.y0.toFixed(1)}, ${b.x1.toFixed(1)}, ${b.y1.toFixed(1)}]`);
  }
  for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
    const a = boxes[i]!, b = boxes[j]!;
    const overlap = Math.min(a.x1, b.x1) - Math.max(a.x0, b.x0) > 0.5 && Math.min(a.y1, b.y1) - Math.max(a.y0, b.y0) > 0.5;
    assert.ok(!overlap, `${name}: "${a.text}" and "${b.text}" overlap`);
  }
  if (o.legendOverData === false) {
    for (const [cx, cy, r] of circles) for (const b of boxes) {
      assert.ok(!(cx + r > b.x0 && cx - r < b.x1 && cy + r > b.y0 && cy - r < b.y1), `${name}: "${b.text}" covers the point at (${cx}, ${cy})`);
    }
  }
}

const cm = (labels: string[], n: number) => {
  const y: number[] = [], p: number[] = [];
  for (let i = 0; i < n; i++) { y.push(i % labels.length); p.push((i * 7) % labels.length); }
  return computeMetrics(labels, y, p);
};

test('the confusion matrix: title, class names (short, Japanese, long, many) and axis names inside the canvas, none overlapping', () => {
  for (const [name, labels] of [['binary', ['0', '1']], ['japanese', ['ネガティブ', 'ポジティブ']],
    ['long', ['positive sentiment about the company', 'negative sentiment', 'neutral']],
    ['many', Array.from({ length: 20 }, (_, i) => `カテゴリー${i + 1}`)]] as const) {
    checkLayout(`confusion ${name}`, confusionSvg(cm([...labels], 200)));
  }
  // the title is whole: the canvas is at least as wide as it
  const svg = confusionSvg(cm(['0', '1'], 10));
  assert.match(svg, /confusion matrix \(rows: true, columns: predicted\)/);
});

test('training charts: nice ticks, every label inside, the legend in its own row over no data point, a short run smoothed too', () => {
  for (const steps of [3, 12, 44, 250, 3000]) {
    const curve = Array.from({ length: steps }, (_, i) => ({ step: i + 1, loss: 0.7 * Math.exp(-i / (steps / 3)) + 0.05 * Math.sin(i * 1.7) + 0.1 }));
    const evals = Array.from({ length: Math.min(8, steps) }, (_, i) => {
      const step = Math.round(((i + 1) * steps) / Math.min(8, steps));
      return { step, eval_loss: 0.6 - i * 0.03, eval_accuracy: 0.5 + i * 0.04 };
    });
    const charts = trainingCharts(curve, evals, 'cross-entropy');
    assert.equal(charts.length, 2);
    charts.forEach((c, k) => checkLayout(`${steps} steps, chart ${k}`, c, { legendOverData: false }));
    // x ticks are integers for steps, each within half a pixel of where its value lies; y ticks are nice numbers (1, 2, 2.5 or 5 × 10^k steps)
    const xt = [...charts[0]!.matchAll(/<line x1="([\d.]+)" y1="[\d.]+" x2="[\d.]+" y2="[\d.]+" stroke="#444"\/><text x="[\d.]+" y="[\d.]+" text-anchor="middle">([^<]+)<\/text>/g)].map((m) => m[2]!).filter((t) => t !== 'step');
    assert.ok(xt.length >= 2, `${steps} steps: x ticks ${xt}`);
    for (const t of xt) assert.match(t, /^\d[\d,]*$/, `${steps} steps: x tick ${t} is a whole step`);
    const yt = [...charts[0]!.matchAll(/stroke="#e4e4e4"\/><text [^>]*>([^<]+)<\/text>/g)].map((m) => Number(m[1]!.replace('−', '-')));
    const d = yt.slice(1).map((v, i) => v - yt[i]!);
    assert.ok(d.every((x) => Math.abs(x - d[0]!) < 1e-9), `${steps} steps: evenly spaced y ticks ${yt}`);
    const mant = Math.abs(d[0]!) / 10 ** Math.floor(Math.log10(Math.abs(d[0]!)));
    assert.ok([1, 2, 2.5, 5].some((n) => Math.abs(mant - n) < 1e-9), `${steps} steps: tick step ${d[0]} is a nice number`);
  }
});

test('smoothing is TensorBoard\'s debiased EMA: its first value is the first point, and a short run is smoothed', () => {
  const pts: Array<[number, number]> = [[1, 1], [2, 0], [3, 1], [4, 0]];
  const s = emaSmooth(pts, 0.6);
  // TensorBoard: last = 0.6·last + 0.4·v; smoothed = last / (1 − 0.6^n)
  let last = 0;
  pts.forEach(([, v], i) => { last = 0.6 * last + 0.4 * v; assert.ok(Math.abs(s[i]![1] - last / (1 - 0.6 ** (i + 1))) < 1e-12); });
  assert.equal(s[0]![1], 1);
  assert.ok(s[1]![1] > 0 && s[1]![1] < 1, 'the second point is pulled toward the first');
  assert.deepEqual(emaSmooth([[1, 3], [2, 3]]), [[1, 3], [2, 3]], 'a constant series stays');
  assert.deepEqual(emaSmooth([[1, 1], [2, NaN], [3, 1]])[1], [2, NaN], 'non-finite values pass through');
});

test('compare.svg: every head\'s name whole, the rightmost ("cross", slowest) included, on a log axis of nice times', () => {
  const row = (head: string, accuracy: number, rank10k_ms: number): CompareRow => ({ head, accuracy, macro_f1: accuracy, train_seconds: 1, pair_ms: 1, rank10k_ms,
    cache_bytes_per_text: 1, cache_file_bytes: null, rank10k_measured_pairs: 0, eval_examples: 100, global_step: 1, recall_at_10: null, mrr: null, ranking_queries: 0,
    accuracy_ci95: [0, 1], vs_cross: null });
  const rows = [row('cross', 0.82, 41_000), row('bi', 0.61, 3.2), row('cosine', 0.6, 3.3), row('late', 0.7, 180), row('poly', 0.66, 9.5), row('attention', 0.72, 250),
    row('additive', 0.71, 260), row('lowrank', 0.69, 90), row('dot', 0.7, 120)];
  const svg = compareSvg(rows);
  checkLayout('compare', svg, { legendOverData: false });
  for (const r of rows) assert.ok(svg.includes(`>${r.head}</text>`), r.head);
  const ticks = [...svg.matchAll(/text-anchor="middle">([\d.]+ m?s)<\/text>/g)].map((m) => m[1]);
  assert.ok(ticks.length >= 3 && ticks.every((t) => /^(1|2|5|10|20|50|100|200|500)(0*) m?s$|^\d+ s$/.test(t!)), `nice log ticks: ${ticks}`);
});
