/**
 * Two demos. `runManpageDemo` (ja-bert demo): the seed's job on a shipped
 * sample of Japanese man-page link pairs with the embedded default model: the
 * frozen-vector baseline and fine-tuning, both reports side by side.
 * `runEngineDemo` (ja-bert demo --engine): a small random-weight BERT learning
 * a synthetic pair task with the real optimizer and schedule, in seconds.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { baseline, type BaselineResult } from './baseline/baseline.js';
import { finetune } from './finetune.js';
import { DEFAULT_MODEL } from './model/default.js';
import { formatFixed, type Metrics } from './eval/metrics.js';
import { formatP, type Reliability, type Significance } from './eval/reliability.js';
import type { FinetuneResult } from './finetune.js';
import { positiveOption } from './core/options.js';
import { resolveDtype, trainingDtype, type DTypeOption } from './core/dtype.js';
import { classificationReport } from './eval/metrics.js';
import { nativeKernels, engineInfo } from './core/native.js';
import { Rng } from './core/random.js';
import { Bert, type Batch } from './model/bert.js';
import { makeConfig } from './model/config.js';
import { AdamW, bertLearningRate } from './train/optimizer.js';

export interface DemoResult { firstLoss: number; lastLoss: number; accuracy: number; seconds: number }

/**
 * A polarity pair task: ids 5-14 are "positive" words, 15-24 "negative",
 * 25 and up neutral filler; label 1 when the pair holds more positive than
 * negative words. Learnable, but only by reading both segments.
 */
function makeBatch(rng: Rng, B: number, S: number, vocab: number): { batch: Batch; labels: Int32Array } {
  const batch: Batch = { B, S, inputIds: new Int32Array(B * S), tokenTypeIds: new Int32Array(B * S), attentionMask: new Uint8Array(B * S) };
  const labels = new Int32Array(B);
  for (let b = 0; b < B; b++) {
    const len = 8 + rng.int(S - 8);
    const half = Math.floor((len - 3) / 2);
    const y = rng.int(2);
    const content = len - 3;
    const words: number[] = [];
    let pos = 0, neg = 0;
    for (let i = 0; i < content; i++) {
      const r = rng.next();
      if (r < 0.5) words.push(25 + rng.int(vocab - 25));
      else if (r < (y ? 0.85 : 0.65)) { words.push(5 + rng.int(10)); pos++; }
      else { words.push(15 + rng.int(10)); neg++; }
    }
    labels[b] = pos > neg ? 1 : 0;
    const row = [2, ...words.slice(0, half), 3, ...words.slice(half), 3];
    for (let s = 0; s < len; s++) {
      batch.inputIds[b * S + s] = row[s]!;
      batch.tokenTypeIds[b * S + s] = s > half + 1 ? 1 : 0;
      batch.attentionMask[b * S + s] = 1;
    }
  }
  return { batch, labels };
}

export function runEngineDemo(log: (s: string) => void = console.log, steps = 300): DemoResult {
  const K = nativeKernels();
  const info = engineInfo();
  log(`ja-bert engine demo — oneDNN ${info.onednn}, ${info.isa}, ${info.threads} threads`);
  const cfg = makeConfig({ vocab_size: 40, hidden_size: 64, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 128,
    max_position_embeddings: 64, hidden_dropout_prob: 0.0, attention_probs_dropout_prob: 0.0, labels: ['0', '1'] }, 'demo');
  const model = new Bert(cfg, { kernels: K, seed: 1 });
  const opt = new AdamW(model, K, { lr: 1e-3 });
  const rng = new Rng(7);
  const t0 = Date.now();
  let first = NaN, recent: number[] = [];
  for (let step = 0; step < steps; step++) {
    const { batch, labels } = makeBatch(rng, 32, 24, cfg.vocab_size);
    model.forward(batch, { train: true, seed: step });
    const { loss } = model.loss(labels);
    if (step === 0) first = loss;
    recent.push(loss);
    if (recent.length > 20) recent.shift();
    model.zeroGrads();
    model.backward({ labels });
    opt.apply(bertLearningRate(1e-3, step, steps, Math.floor(steps * 0.1)));
    if ((step + 1) % 50 === 0) log(`step ${step + 1}/${steps}  loss ${(recent.reduce((a, b) => a + b, 0) / recent.length).toFixed(4)}`);
  }
  let correct = 0, total = 0;
  for (let i = 0; i < 8; i++) {
    const { batch, labels } = makeBatch(rng, 64, 24, cfg.vocab_size);
    const { logits } = model.forward(batch);
    for (let b = 0; b < batch.B; b++) { correct += Number((logits![b * 2 + 1]! > logits![b * 2]! ? 1 : 0) === labels[b]); total++; }
  }
  const res = { firstLoss: first, lastLoss: recent.reduce((a, b) => a + b, 0) / recent.length, accuracy: correct / total, seconds: (Date.now() - t0) / 1000 };
  log(`held-out accuracy ${(res.accuracy * 100).toFixed(1)} % (chance 50 %), loss ${res.firstLoss.toFixed(3)} -> ${res.lastLoss.toFixed(3)}, ${res.seconds.toFixed(1)} s`);
  return res;
}

/** the shipped sample: <repo>/data/demo/manpages-ja-links-sample (made by scripts/make-demo-data.sh) */
export const DEMO_DATA = fileURLToPath(new URL('../../data/demo/manpages-ja-links-sample', import.meta.url));


/** lay text blocks out in columns under their headings */
export function columns(blocks: Array<{ title: string; text: string }>): string {
  const cols = blocks.map((b) => [b.title, '-'.repeat(b.title.length), ...b.text.replace(/\n+$/, '').split('\n')]);
  const widths = cols.map((c) => Math.max(...c.map((x) => x.length)) + 4);
  const n = Math.max(...cols.map((c) => c.length));
  return Array.from({ length: n }, (_, i) => cols.map((c, k) => (k === cols.length - 1 ? (c[i] ?? '') : (c[i] ?? '').padEnd(widths[k]!))).join('').trimEnd()).join('\n');
}

/** two blocks side by side */
export function sideBySide(leftTitle: string, left: string, rightTitle: string, right: string): string {
  return columns([{ title: leftTitle, text: left }, { title: rightTitle, text: right }]);
}

export interface ManpageDemoOptions { model?: string; data?: string; output?: string; epochs?: number; dtype?: DTypeOption; log?: (l: string) => void; print?: (l: string) => void }
export interface ManpageDemoResult {
  baseline: Metrics; finetuned: Metrics; cached: Metrics; seconds: { baseline: number; finetune: number; cached: number; grouped: number }; output: string;
  /** the cross-encoder's and the baseline's reruns on a grouped split (no eval text seen in training) */
  grouped: { baseline: Metrics; finetuned: Metrics };
  /** the random split's and the grouped split's reliability (leakage, intervals) and McNemar of the cross-encoder against the baseline */
  reliability: { random: Reliability; grouped: Reliability };
  significance: { random: Significance; grouped: Significance };
}

/**
 * The seed's job on the shipped sample: the frozen-vector baseline, the
 * cross-encoder fine-tuned with text_a/text_b in one input, and (issue 6) the
 * cacheable dot-attention head, with the default model; reports side by side.
 */
export function runManpageDemo(o: ManpageDemoOptions = {}): ManpageDemoResult {
  const K = nativeKernels();
  const dtype = trainingDtype(resolveDtype(o.dtype, K), 'demo'); // once, before anything runs: an unusable --dtype fails here
  if (o.epochs !== undefined) positiveOption('epochs', o.epochs, 3);
  const model = o.model ?? DEFAULT_MODEL, data = o.data ?? DEMO_DATA, out = o.output ?? 'ja-bert-demo';
  const print = o.print ?? console.log, log = o.log ?? ((l: string) => console.error(l));
  const texts = join(data, 'honbun_data.json'), pairs = join(data, 'negaposi.json');
  print(`ja-bert demo: Japanese man-page link pairs (${data})\nmodel: ${model}\n`);
  const ft = { kernels: K, texts, pairs, overwrite: true, epochs: o.epochs ?? 3, learningRate: 1e-4, dtype, saveSteps: 0, log };
  let t0 = Date.now();
  log('1/4 frozen-vector baseline: encode every text once, logistic regression on [u, v]');
  const b = baseline({ model, output: join(out, 'baseline'), kernels: K, texts, pairs, overwrite: true, dtype: ft.dtype, log });
  const tb = (Date.now() - t0) / 1000;
  t0 = Date.now();
  log('2/4 fine-tuning the cross-encoder: text_a / text_b in one input');
  const f = finetune({ ...ft, model, output: join(out, 'finetune'), baselineRun: join(out, 'baseline') });
  const tf = (Date.now() - t0) / 1000;
  t0 = Date.now();
  log('3/4 fine-tuning the cacheable dot-attention head: A and B encoded separately, B cacheable');
  const d = finetune({ ...ft, model, output: join(out, 'finetune-dot'), head: 'dot' });
  const td = (Date.now() - t0) / 1000;
  t0 = Date.now();
  log('4/4 the baseline and the cross-encoder once more on a grouped split: no eval text is ever seen in training');
  const bg = baseline({ model, output: join(out, 'baseline-group'), kernels: K, texts, pairs, overwrite: true, dtype: ft.dtype, split: 'group', log });
  const fg = finetune({ ...ft, model, output: join(out, 'finetune-group'), split: 'group', baselineRun: join(out, 'baseline-group') });
  const tg = (Date.now() - t0) / 1000;
  const titles = [`baseline (${tb.toFixed(0)} s)`, `fine-tuned cross-encoder (${tf.toFixed(0)} s)`, `fine-tuned dot head (${td.toFixed(0)} s)`];
  print(columns([{ title: titles[0]!, text: b.evalText }, { title: titles[1]!, text: f.evalText }, { title: titles[2]!, text: d.evalText }]));
  print('');
  // the demo's pairs have class labels, so both runs have classification metrics
  const fm = f.metrics!, dm = d.metrics!, fgm = fg.metrics!;
  print(columns([{ title: 'baseline', text: classificationReport(b.metrics) }, { title: 'cross-encoder', text: classificationReport(fm) }, { title: 'dot head', text: classificationReport(dm) }]));
  print('');
  print(f.reliabilityText);
  print(realityCheck(f, b, fg, bg, tg));
  print(`full reports: ${['baseline', 'finetune', 'finetune-dot', 'baseline-group', 'finetune-group'].map((d) => `${join(out, d)}/`).join(', ')} (report.html, classification_report.txt, split.json, eval_results.txt)`);
  print(`rank against a cache: bin/ja-bert cache build --model ${join(out, 'finetune-dot')} --texts ${texts} --cache ${join(out, 'dot.jabc')} && bin/ja-bert rank --model ${join(out, 'finetune-dot')} --cache ${join(out, 'dot.jabc')} --id 'close(2)'`);
  return { baseline: b.metrics, finetuned: fm, cached: dm, seconds: { baseline: tb, finetune: tf, cached: td, grouped: tg }, output: out, grouped: { baseline: bg.metrics, finetuned: fgm },
    reliability: { random: f.reliability!, grouped: fg.reliability! }, significance: { random: f.significance!, grouped: fg.significance! } };
}

/** the random split beside the grouped one: leakage, accuracies with intervals, McNemar, and what the difference means */
function realityCheck(f: FinetuneResult, b: BaselineResult, fg: FinetuneResult, bg: BaselineResult, seconds: number): string {
  const r = f.reliability!, g = fg.reliability!, sr = f.significance!, sg = fg.significance!;
  const acc = (m: number, c: [number, number] | undefined) => `${formatFixed(m, 4)} [${c ? formatFixed(c[0], 3) : '?'}, ${c ? formatFixed(c[1], 3) : '?'}]`;
  const bothSeen = (x: typeof r) => (x.leakage ? `${x.leakage.both_seen} of ${x.leakage.eval_pairs} (${((100 * x.leakage.both_seen) / x.leakage.eval_pairs).toFixed(0)} %)` : '—');
  const rows: Array<[string, string, string]> = [
    ['pairs: train / eval / dropped', `${r.split.train} / ${r.split.eval} / ${r.split.dropped}`, `${g.split.train} / ${g.split.eval} / ${g.split.dropped}`],
    ['eval pairs with both texts trained on', bothSeen(r), bothSeen(g)],
    ['baseline accuracy (95 %)', acc(b.metrics.accuracy, b.reliability.ci95?.accuracy), acc(bg.metrics.accuracy, bg.reliability.ci95?.accuracy)],
    ['cross-encoder accuracy (95 %)', acc(f.metrics!.accuracy, r.ci95?.accuracy), acc(fg.metrics!.accuracy, g.ci95?.accuracy)],
    ['McNemar vs baseline (b / c, p)', `${sr.b} / ${sr.c}, p = ${formatP(sr.p_value)}`, `${sg.b} / ${sg.c}, p = ${formatP(sg.p_value)}`],
  ];
  const w0 = Math.max(...rows.map((x) => x[0].length)) + 2, w1 = Math.max('random split'.length, ...rows.map((x) => x[1].length)) + 2;
  const table = [['', 'random split', `grouped split (${seconds.toFixed(0)} s)`], ...rows].map((x) => `${x[0].padEnd(w0)}${x[1].padEnd(w1)}${x[2]}`.trimEnd()).join('\n');
  const ra = r.ci95!.accuracy, ga = g.ci95!.accuracy, fa = f.metrics!.accuracy, ea = fg.metrics!.accuracy;
  const pts = `${formatFixed(Math.abs(fa - ea) * 100, 1)} points`;
  const fewer = g.split.train < r.split.train ? ` (The grouped split also trains on fewer pairs, ${g.split.train} against ${r.split.train}, which accounts for part of any drop.)` : '';
  const verdict = `On the random split ${r.leakage ? `${((100 * r.leakage.both_seen) / r.leakage.eval_pairs).toFixed(0)} %` : 'most'} of the eval pairs have both texts among the training pairs; on the grouped split none do. ` + (
    ga[1] < ra[0] ? `The cross-encoder's accuracy falls from ${formatFixed(fa, 3)} to ${formatFixed(ea, 3)} and the intervals do not overlap: part of the random split's number is memorised texts. Expect the grouped number on new texts.`
    : ea < ra[0] ? `The cross-encoder's accuracy is ${pts} lower (${formatFixed(ea, 3)} against ${formatFixed(fa, 3)}), below the random split's interval though the two intervals overlap: expect about the grouped number on new texts.`
    : `The cross-encoder's accuracy (${formatFixed(ea, 3)} against ${formatFixed(fa, 3)}) stays within the random split's interval: the number holds on texts the model never saw.`) + fewer;
  const beats = sg.p_value < 0.05 && sg.c > sg.b ? 'On unseen texts too the cross-encoder beats the frozen baseline (McNemar p < 0.05).' : 'On unseen texts the cross-encoder is not shown to beat the frozen baseline (McNemar p ≥ 0.05).';
  return `***** Random split or grouped split? *****\n${table}\n\n${wrap(`${verdict} ${beats}`, 100)}\n`;
}

/** greedy word wrap at `width` columns (the demo's prose lines) */
export function wrap(text: string, width: number): string {
  const lines: string[] = [];
  let line = '';
  for (const w of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + w.length > width) { lines.push(line); line = w; } else line = line ? `${line} ${w}` : w;
  }
  if (line) lines.push(line);
  return lines.join('\n');
}
