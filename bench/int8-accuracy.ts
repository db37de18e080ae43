/**
 * int8 inference's accuracy (issue 30): a finished fine-tuning run's eval split scored by ja-bert in f32, in bf16 (where the CPU
 * runs it natively) and in int8, with the accuracy (or, for a regressor, Pearson and Spearman), the share of predictions that
 * agree with f32's, and the largest and mean absolute difference from f32 in the logits (a regressor's score).
 * The eval split is the run's own: --texts/--pairs with its --eval-ratio and --seed (the defaults: 0.333, 42), or --eval.
 * Prints one JSON line per dtype, then a one-line summary.
 *   node dist/bench/int8-accuracy.js --run DIR (--texts T --pairs P [--eval-ratio R --seed S] | --train F --eval F) [--batch-size 64]
 */
import { parseArgs } from '../src/commands/args.js';
import { nativeKernels, engineInfo } from '../src/core/native.js';
import type { DType } from '../src/core/kernels.js';
import { loadData } from '../src/data/load.js';
import { regressionMetrics } from '../src/eval/metrics.js';
import { TextClassifier } from '../src/infer/models.js';

const { flags } = parseArgs(process.argv.slice(2), { run: 'string', texts: 'string', pairs: 'string', train: 'string', eval: 'string', 'eval-ratio': 'number', seed: 'number', 'batch-size': 'number' });
const run = flags.run as string | undefined;
if (!run) throw new Error('--run DIR (a finished fine-tuning run) is required');
const K = nativeKernels(), info = engineInfo();
const data = loadData({ texts: flags.texts as string | undefined, pairs: flags.pairs as string | undefined, trainFile: flags.train as string | undefined, evalFile: flags.eval as string | undefined,
  evalRatio: flags['eval-ratio'] as number | undefined }, (flags.seed as number | undefined) ?? 42);
const inputs = data.eval.map((e) => ({ text: e.textA, textB: e.textB }));
const bs = (flags['batch-size'] as number | undefined) ?? 64;
const dtypes: DType[] = K.bf16Supported ? ['f32', 'bf16', 'int8'] : ['f32', 'int8'];
let base: { out: Float32Array[]; pred: number[] } | null = null;
const summary: string[] = [];
for (const dtype of dtypes) {
  const clf = TextClassifier.load(run, { kernels: K, dtype });
  const t0 = performance.now();
  let out: Float32Array[], pred: number[], metric: Record<string, number>;
  if (clf.regression) {
    const s = clf.scores(inputs, bs);
    out = Array.from(s, (v) => Float32Array.of(v));
    pred = Array.from(s);
    const m = regressionMetrics(data.eval.map((e) => Number(e.label)), pred);
    metric = { pearson: m.pearson, spearmanr: m.spearmanr, mse: m.mse };
  } else {
    // the logits: log-probabilities up to a per-row constant; their differences are what the softmax sees
    const r = clf.probabilities(inputs, bs);
    out = r.probs.map((p) => Float32Array.from(p, (v) => Math.log(Math.max(v, 1e-30))));
    pred = r.predictions;
    const right = pred.filter((p, i) => clf.labels[p] === data.eval[i]!.label).length;
    metric = { accuracy: right / pred.length };
  }
  const seconds = (performance.now() - t0) / 1000;
  base ??= { out, pred };
  let maxDiff = 0, sumDiff = 0, n = 0, agree = 0;
  out.forEach((o, i) => {
    const b = base!.out[i]!;
    // compare centred rows (log-softmax outputs differ from the logits by a per-row constant)
    const c = (v: Float32Array) => { const m = v.reduce((a, x) => a + x, 0) / v.length; return Array.from(v, (x) => x - m); };
    const x = clf.regression ? Array.from(o) : c(o), y = clf.regression ? Array.from(b) : c(b);
    x.forEach((v, j) => { const d = Math.abs(v - y[j]!); maxDiff = Math.max(maxDiff, d); sumDiff += d; n++; });
    if (clf.regression || pred[i] === base!.pred[i]) agree++;
  });
  const line = { bench: 'int8-accuracy', run, isa: info.isa, dtype, examples: inputs.length, ...metric, agree_with_f32: clf.regression ? null : agree / inputs.length,
    max_abs_logit_diff: maxDiff, mean_abs_logit_diff: sumDiff / n, seconds };
  console.log(JSON.stringify(line));
  const key = clf.regression ? `Pearson ${metric.pearson!.toFixed(4)}` : `accuracy ${metric.accuracy!.toFixed(4)}`;
  summary.push(`${dtype} ${key}${dtype === 'f32' ? '' : ` (Δlogit max ${maxDiff.toFixed(3)}, mean ${(sumDiff / n).toFixed(4)}${clf.regression ? '' : `, agrees ${(100 * agree / inputs.length).toFixed(1)} %`})`}`);
}
console.log(`int8 accuracy (${run}, ${info.isa}, ${inputs.length} eval examples): ${summary.join('; ')}`);
