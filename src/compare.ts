/**
 * compare: every head trained on the same split with the same settings, then
 * measured side by side: accuracy, macro-F1, training time, per-pair scoring
 * time with a warm cache, time to rank 10,000 cached candidates for one A, and
 * cache bytes per text. Writes compare.md, compare.json and compare.svg.
 */
import { maxSequenceLength } from './model/config.js';
import { join } from 'node:path';
import type { Kernels } from './core/kernels.js';
import { resolveDtype, type DTypeOption } from './core/dtype.js';
import { encodeCache, cacheDataBytes, cacheFileSize, cachedReps, encodeQuery, loadScoringModel, readCache, repSlice, scoreAgainst, type Cache, type ScoringModel } from './cache/index.js';
import { DataError, type Example } from './data/processors.js';
import { writeFileAtomic } from './io/atomic.js';
import { loadBert } from './model/load.js';
import { loadTokenizer } from './tokenize/index.js';
import { InputBuilder, padBatch } from './tokenize/inputs.js';
import { finetune } from './finetune.js';
import { loadData } from './data/load.js';
import { intOption } from './core/options.js';
import type { SplitStrategy } from './data/split.js';
import { formatP, readRunPredictions, significanceAgainst } from './eval/reliability.js';
import { wilson } from './eval/stats.js';
import { COMPARE_DEFAULT_HEADS, HEAD_TYPES } from './model/heads/index.js';
import { esc, logTicks, measureText } from './eval/chart.js';
import { scaleLinear } from 'd3-scale';

export const ALL_HEADS = ['cross', ...HEAD_TYPES] as const;
/** what compare trains by default: every head with cross-entropy, and the bi-encoder also trained contrastively (its cosine) */
export const DEFAULT_COMPARE_HEADS = ['cross', ...COMPARE_DEFAULT_HEADS, 'bi+contrastive'];

/** a --heads entry: HEAD, or HEAD+LOSS (bi+contrastive, bi+cosent: finetune's --loss) */
function headEntry(entry: string): { head: string; loss?: 'contrastive' | 'cosent' } {
  const [head, loss, extra] = entry.split('+');
  if (!(ALL_HEADS as readonly string[]).includes(head!) || extra !== undefined || (loss !== undefined && loss !== 'contrastive' && loss !== 'cosent')) {
    throw new DataError(`--heads: unknown head "${entry}" (${ALL_HEADS.join(', ')}, or bi+contrastive, bi+cosent)`);
  }
  return { head: head!, loss: loss as 'contrastive' | 'cosent' | undefined };
}

export interface CompareRow {
  head: string; accuracy: number; macro_f1: number; train_seconds: number; pair_ms: number; rank10k_ms: number;
  cache_bytes_per_text: number; cache_file_bytes: number | null; rank10k_measured_pairs: number; eval_examples: number; global_step: number;
  /** ranking on the eval split (cached heads): each A with a positive B ranks every distinct B of the split; recall@10 and MRR of its positives */
  recall_at_10: number | null; mrr: number | null; ranking_queries: number;
  /** the accuracy's 95 % Wilson interval */
  accuracy_ci95: [number, number];
  /** this head against the cross-encoder on the same eval pairs (McNemar's exact test, paired bootstrap of the difference); null for cross itself or without it */
  vs_cross: { b: number; c: number; p_value: number; accuracy_difference: number; accuracy_difference_ci95: [number, number] | null } | null;
}

export interface CompareOptions {
  model: string; texts: string; pairs: string; output: string; kernels: Kernels; heads?: string[];
  maxSteps?: number; epochs?: number; evalRatio?: number; batchSize?: number; learningRate?: number; maxSeqLength?: number; seed?: number; dtype?: DTypeOption;
  /** random (default) or group: every head on the same grouped split (no eval text seen in training) */
  split?: SplitStrategy;
  /** pairs timed for pair_ms (default 100) and the cross-encoder's rank sample (default 320) */
  timingPairs?: number; crossRankSample?: number;
  /** retrain every head even where a finished run of the same settings is in the folder */
  overwrite?: boolean;
  log?: (l: string) => void;
  /** cancels the head in training between steps; rerunning keeps the finished heads and resumes that one */
  signal?: { readonly aborted: boolean };
}

const ms = (t0: number) => performance.now() - t0;

export function compare(o: CompareOptions): CompareRow[] {
  const dtype = resolveDtype(o.dtype, o.kernels);
  // int8 is an inference dtype: the heads train in this CPU's auto dtype, then the timings and the ranking run in int8
  const trainDtype = dtype === 'int8' ? o.kernels.autoDtype : dtype;
  const heads = o.heads ?? DEFAULT_COMPARE_HEADS;
  const entries = new Map(heads.map((h) => [h, headEntry(h)]));
  const seed = intOption('seed', o.seed, 42, 0, 2 ** 32 - 1);
  intOption('timing-pairs', o.timingPairs, 100);
  if (o.crossRankSample !== undefined) intOption('cross-rank-sample', o.crossRankSample, 1);
  const data = loadData({ texts: o.texts, pairs: o.pairs, evalRatio: o.evalRatio, split: o.split }, seed);
  const evalPairs = data.eval.slice(0, o.timingPairs ?? 100);
  const rows: CompareRow[] = [];
  let reliabilityBlock = '';
  for (const head of heads) {
    const dir = join(o.output, head);
    o.log?.(`== ${head}`);
    const r = finetune({
      model: o.model, output: dir, kernels: o.kernels, texts: o.texts, pairs: o.pairs, evalRatio: o.evalRatio, split: o.split, head: entries.get(head)!.head, loss: entries.get(head)!.loss,
      maxSteps: o.maxSteps, epochs: o.epochs, batchSize: o.batchSize, learningRate: o.learningRate, maxSeqLength: o.maxSeqLength, seed, dtype: trainDtype,
      // a rerun after a kill keeps the heads already trained and resumes the one in progress
      saveSteps: 100, reuseFinished: true, overwrite: o.overwrite, log: o.log, signal: o.signal,
    });
    if (!r.metrics) throw new DataError(`${o.pairs}: compare needs class labels (0/1), not scores`);
    const base = { head, accuracy: r.metrics.accuracy, macro_f1: r.metrics.macro.f1, train_seconds: r.train.seconds, eval_examples: data.eval.length, global_step: r.train.globalStep,
      accuracy_ci95: wilson(Math.round(r.metrics.accuracy * r.metrics.total), r.metrics.total), vs_cross: null };
    if (head === 'cross') reliabilityBlock = r.reliabilityText;
    if (head === 'cross') {
      const { model, files } = loadBert(dir, { kernels: o.kernels, dtype });
      const builder = new InputBuilder(loadTokenizer(files.dir), Math.min(o.maxSeqLength ?? 128, maxSequenceLength(model.cfg)));
      const feats = evalPairs.map((e) => builder.features(e.textA, e.textB));
      model.forward(padBatch(feats.slice(0, 2), builder.pad), { grad: false }); // warm-up
      let t0 = performance.now();
      for (const f of feats) model.forward(padBatch([f], builder.pad), { grad: false });
      const pairMs = ms(t0) / feats.length;
      // ranking without a cache: one full pass per candidate, batched; timed on a sample and scaled to 10,000
      const n = o.crossRankSample ?? 320, q = data.eval[0]!;
      const cands = Array.from({ length: n }, (_, i) => data.eval[i % data.eval.length]!.textB ?? data.eval[i % data.eval.length]!.textA);
      t0 = performance.now();
      for (let s = 0; s < n; s += 32) model.forward(padBatch(cands.slice(s, s + 32).map((b) => builder.features(q.textA, b)), builder.pad), { grad: false });
      rows.push({ ...base, pair_ms: pairMs, rank10k_ms: (ms(t0) / n) * 10000, cache_bytes_per_text: 0, cache_file_bytes: null, rank10k_measured_pairs: n, recall_at_10: null, mrr: null, ranking_queries: 0 });
    } else {
      const cachePath = join(dir, 'cache.jabc');
      encodeCache({ model: dir, texts: o.texts, cache: cachePath, kernels: o.kernels, dtype, log: o.log });
      const m = loadScoringModel(dir, o.kernels, dtype);
      const cache = readCache(cachePath);
      const nTexts = cache.header.entries.length;
      // per pair, warm cache: encode A alone, score it against B's cached representation
      const pairReps = bIds(evalPairs, cache).map((id) => cachedReps(m, cache, [cache.byId.get(id)!]));
      scoreAgainst(m, encodeQuery(m, evalPairs[0]!.textA), pairReps[0]!);
      let t0 = performance.now();
      evalPairs.forEach((e, i) => scoreAgainst(m, encodeQuery(m, e.textA), pairReps[i]!));
      const pairMs = ms(t0) / evalPairs.length;
      // rank 10,000 cached candidates (the corpus's entries repeated to 10,000), warm: laid out for scoring once
      const warm = cachedReps(m, cache, Array.from({ length: 10000 }, (_, i) => cache.header.entries[i % nTexts]!));
      scoreAgainst(m, encodeQuery(m, evalPairs[0]!.textA), repSlice(warm, 0, 512)); // warm-up
      t0 = performance.now();
      scoreAgainst(m, encodeQuery(m, evalPairs[1 % evalPairs.length]!.textA), warm);
      const rankMs = ms(t0);
      const rk = rankingMetrics(m, cache, data.eval);
      rows.push({ ...base, pair_ms: pairMs, rank10k_ms: rankMs, cache_bytes_per_text: cacheDataBytes(cache) / nTexts, cache_file_bytes: cacheFileSize(cachePath), rank10k_measured_pairs: 10000, ...rk });
    }
    o.log?.(`${head}: accuracy ${rows.at(-1)!.accuracy.toFixed(4)}, pair ${rows.at(-1)!.pair_ms.toFixed(2)} ms, rank 10k ${rows.at(-1)!.rank10k_ms.toFixed(0)} ms`);
  }
  // every head against the cross-encoder on the same eval pairs
  if (heads.includes('cross')) {
    for (const row of rows) {
      if (row.head === 'cross') continue;
      const mine = readRunPredictions(join(o.output, row.head));
      const sig = significanceAgainst(join(o.output, 'cross'), data.eval, data.eval.map((e) => mine.get(e.guid)?.prediction ?? ''), { seed });
      row.vs_cross = { b: sig.b, c: sig.c, p_value: sig.p_value, accuracy_difference: sig.accuracy_difference, accuracy_difference_ci95: sig.accuracy_difference_ci95 };
    }
  }
  writeFileAtomic(join(o.output, 'compare.json'), (w) => w(JSON.stringify(rows, null, 1) + '\n'));
  writeFileAtomic(join(o.output, 'compare.md'), (w) => w(compareMarkdown(rows, { ...o, dtype }) + (reliabilityBlock ? `\nThe split (the cross-encoder's run):\n\n\`\`\`\n${reliabilityBlock}\`\`\`\n` : '')));
  writeFileAtomic(join(o.output, 'compare.svg'), (w) => w(compareSvg(rows)));
  return rows;
}

/**
 * Retrieval on the eval split: every distinct A that has a positive pair is a query, every distinct B
 * of the split a candidate; the head scores the query against all candidates (warm cache). recall@10:
 * the share of a query's positives in its top 10, averaged over queries; MRR: the mean of 1 / the rank of
 * its first positive. `tops`, when given, receives each query's top 10 candidate indices.
 */
export function rankingMetrics(m: ScoringModel, cache: Cache, evalSet: Example[], tops?: Map<string, number[]>): { recall_at_10: number; mrr: number; ranking_queries: number } {
  const positiveLabel = m.pm.bert.cfg.labels[m.positive]!;
  const byText = new Map(cache.header.entries.map((e) => [e.text, e]));
  const cands = [...new Set(evalSet.map((e) => e.textB).filter((t): t is string => t !== undefined && byText.has(t)))];
  const index = new Map(cands.map((t, i) => [t, i]));
  const positives = new Map<string, Set<number>>();
  for (const e of evalSet) if (e.label === positiveLabel && e.textB !== undefined && index.has(e.textB)) {
    if (!positives.has(e.textA)) positives.set(e.textA, new Set());
    positives.get(e.textA)!.add(index.get(e.textB)!);
  }
  if (positives.size === 0) return { recall_at_10: NaN, mrr: NaN, ranking_queries: 0 };
  const reps = cachedReps(m, cache, cands.map((t) => byText.get(t)!));
  let recall = 0, mrr = 0;
  for (const [a, pos] of positives) {
    const scores = scoreAgainst(m, encodeQuery(m, a), reps);
    const order = Array.from(scores.keys()).sort((x, y) => scores[y]! - scores[x]! || x - y);
    tops?.set(a, order.slice(0, 10));
    let hits = 0, first = 0;
    order.forEach((c, r) => { if (pos.has(c)) { if (r < 10) hits++; if (!first) first = r + 1; } });
    recall += hits / pos.size;
    mrr += 1 / first;
  }
  return { recall_at_10: recall / positives.size, mrr: mrr / positives.size, ranking_queries: positives.size };
}

/** the cache id of each eval pair's B text (the cache is keyed by title; examples carry the texts) */
function bIds(pairs: Array<{ guid: string; textB?: string }>, cache: { header: { entries: Array<{ id: string; text: string }> } }): string[] {
  const byText = new Map(cache.header.entries.map((e) => [e.text, e.id]));
  return pairs.map((p) => {
    const id = p.textB === undefined ? undefined : byText.get(p.textB);
    if (id === undefined) throw new DataError(`compare: example ${p.guid}'s second text is not in the cache`);
    return id;
  });
}

export function compareMarkdown(rows: CompareRow[], o: Pick<CompareOptions, 'model' | 'pairs' | 'maxSteps' | 'epochs' | 'dtype'>): string {
  const cross = rows.find((r) => r.head === 'cross');
  const f = (x: number, d: number) => x.toFixed(d);
  const lines = [
    `| head | accuracy | macro-F1 | recall@10 | MRR | train s | pair ms | rank 10k ms | rank speed vs cross | accuracy vs cross (pts) | McNemar p vs cross | cache bytes/text |`,
    `|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|`,
    ...rows.map((r) => `| ${r.head} | ${f(r.accuracy, 4)} | ${f(r.macro_f1, 4)} | ${r.recall_at_10 === null ? '—' : f(r.recall_at_10, 4)} | ${r.mrr === null ? '—' : f(r.mrr, 4)} | ${f(r.train_seconds, 0)} | ${f(r.pair_ms, 2)} | ${r.head === 'cross' ? `${f(r.rank10k_ms, 0)}*` : f(r.rank10k_ms, 0)} | ${cross && r.head !== 'cross' ? `${f(cross.rank10k_ms / r.rank10k_ms, 0)}× faster` : ''} | ${cross && r.head !== 'cross' ? `${r.accuracy >= cross.accuracy ? '+' : '−'}${f(Math.abs(r.accuracy - cross.accuracy) * 100, 1)}` : ''} | ${r.vs_cross ? formatP(r.vs_cross.p_value) : ''} | ${r.cache_bytes_per_text ? f(r.cache_bytes_per_text, 0) : '—'} |`),
  ];
  return `# ja-bert compare\n\nmodel ${o.model}, pairs ${o.pairs}, ${o.maxSteps ? `${o.maxSteps} steps` : `${o.epochs ?? 3} epochs`} per head, ${rows[0]?.eval_examples ?? 0} eval pairs.\n\n${lines.join('\n')}\n\n` +
    (o.dtype === 'int8' ? 'The heads trained in this CPU\'s auto dtype and the accuracies are from that training\'s evaluation; the timings and the ranking metrics ran in int8 (dense layers in int8, the rest f32).\n'
      : `Timings use the training dtype (${o.dtype ?? 'f32'}) for the BERT passes${o.dtype === 'bf16' ? ' and for the attention heads\' two matmuls (scores and contexts); the rest of the heads\' arithmetic is f32' : ''}.\n`) +
    `pair ms: one pair, batch 1, warm cache (encode A alone + score against B's cached representation; the cross-encoder runs the joined pair).\n` +
    `rank 10k ms: one A against 10,000 cached candidates (the corpus's texts repeated), including encoding A.\n` +
    `* the cross-encoder has no cache: ${rows.find((r) => r.head === 'cross')?.rank10k_measured_pairs ?? 0} pairs timed in batches of 32, scaled to 10,000.\n` +
    `cache bytes/text: the stored representation (float32), without the text kept beside it.\n` +
    `McNemar p vs cross: the exact test on the eval pairs one of the two got right and the other wrong (compare.json's vs_cross has the counts and the paired-bootstrap interval of the difference).\n` +
    `recall@10, MRR: retrieval on the eval split for the cached heads: each A with a positive pair ranks every distinct B of the split (${rows.find((r) => r.ranking_queries)?.ranking_queries ?? 0} queries).\n`;
}

export function compareSvg(rows: CompareRow[]): string {
  const W = 640, H = 360, F = 12;
  const ms = rows.map((r) => Math.max(r.rank10k_ms, 0.01)), ys = rows.map((r) => r.accuracy);
  const lo = Math.min(...ms), hi = Math.max(...ms);
  const x = logTicks(lo, hi === lo ? lo * 10 : hi);
  const yl = scaleLinear().domain([Math.max(0, Math.min(...ys) - 0.05), Math.min(1, Math.max(...ys) + 0.05)]).nice(6);
  const yTicks = yl.ticks(6), yFmt = yl.tickFormat(6);
  const msLabel = (v: number): string => (v >= 1000 ? `${Number((v / 1000).toPrecision(3))} s` : `${Number(v.toPrecision(3))} ms`);
  const L = 8 + F * 1.2 + 6 + Math.max(...yTicks.map((t) => measureText(yFmt(t), F).width)) + 6, R = 8 + measureText(msLabel(x.domain[1]), F).width / 2;
  const T = 8 + 14 * 1.2 + 8, B = 6 + F * 1.2 + 6 + F * 1.2 + 8;
  x.range(L, W - R);
  yl.range([H - B, T]);
  const title = 'accuracy vs time to rank 10,000 candidates';
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="${F}">`,
    `<rect width="${W}" height="${H}" fill="white"/>`, `<text x="${W / 2}" y="${8 + 14}" text-anchor="middle" font-size="14">${esc(title)}</text>`];
  for (const t of x.ticks) parts.push(`<line x1="${x.scale(t)}" y1="${T}" x2="${x.scale(t)}" y2="${H - B}" stroke="#ddd"/><text x="${x.scale(t)}" y="${H - B + 6 + F}" text-anchor="middle">${msLabel(t)}</text>`);
  for (const t of yTicks) parts.push(`<line x1="${L}" y1="${yl(t)}" x2="${W - R}" y2="${yl(t)}" stroke="#eee"/><text x="${L - 6}" y="${yl(t) + 4}" text-anchor="end">${yFmt(t)}</text>`);
  parts.push(`<line x1="${L}" y1="${H - B}" x2="${W - R}" y2="${H - B}" stroke="#444"/><line x1="${L}" y1="${T}" x2="${L}" y2="${H - B}" stroke="#444"/>`);
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - 8}" text-anchor="middle">time to rank 10,000 candidates (log scale)</text>`,
    `<text x="${8 + F}" y="${(T + H - B) / 2}" transform="rotate(-90 ${8 + F} ${(T + H - B) / 2})" text-anchor="middle">accuracy</text>`);
  // each point's name beside it: the first of eight places around the point whose box stays in the plot and covers no
  // point and no name placed before; failing all, further out (names of points close together fan out)
  const pts = rows.map((_, i) => [x.scale(ms[i]!), yl(ys[i]!)] as const);
  const placed: Array<[number, number, number, number]> = [];
  const free = (b: [number, number, number, number]): boolean => b[0] >= L + 2 && b[2] <= W - 4 && b[1] >= T && b[3] <= H - B - 2
    && !placed.some((p) => b[0] < p[2] && b[2] > p[0] && b[1] < p[3] && b[3] > p[1])
    && !pts.some(([px, py]) => px + 6 > b[0] && px - 6 < b[2] && py + 6 > b[1] && py - 6 < b[3]);
  rows.forEach((r, i) => {
    const [cx, cy] = pts[i]!, m = measureText(r.head, F), h = F * 1.2;
    let box: [number, number, number, number] | null = null, far = false;
    for (let d = 8; d <= 80 && !box; d += 8) {
      far = d > 8;
      for (const [dx, dy] of [[1, -1], [1, 1], [-1, -1], [-1, 1], [0, -1], [0, 1], [1, 0], [-1, 0]] as const) {
        const x0 = dx > 0 ? cx + d : dx < 0 ? cx - d - m.width : cx - m.width / 2;
        const y0 = dy < 0 ? cy - d / 2 - h : dy > 0 ? cy + d / 2 : cy - h / 2;
        const cand: [number, number, number, number] = [x0, y0, x0 + m.width, y0 + h];
        if (free(cand)) { box = cand; break; }
      }
    }
    box ??= [Math.min(cx + 8, W - 4 - m.width), cy - 6 - h, Math.min(cx + 8, W - 4 - m.width) + m.width, cy - 6];
    placed.push(box);
    // a name set further out is tied to its point by a thin line to the nearest point of its box
    if (far) parts.push(`<line x1="${cx}" y1="${cy}" x2="${Math.min(Math.max(cx, box[0]), box[2])}" y2="${Math.min(Math.max(cy, box[1]), box[3])}" stroke="#999" stroke-width="0.8"/>`);
    parts.push(`<circle cx="${cx}" cy="${cy}" r="5" fill="${r.head === 'cross' ? '#c0392b' : '#2c7fb8'}"/><text x="${box[0]}" y="${box[3] - h * 0.22}">${esc(r.head)}</text>`);
  });
  parts.push('</svg>\n');
  return parts.join('\n');
}
