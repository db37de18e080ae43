// Is the result real? (issue 29): the statistics against SciPy (tools/make_stats_fixture.py), leakage
// counts against a hand-built fixture whose overlap is known, grouped splits that share no text, k folds
// disjoint and covering, and the runs' report.json keys, split.json, McNemar and cross-validation end to end.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { accuracyDifferenceInterval, binomTestTwoSided, mcnemar, metricIntervals, percentileSorted, wilson } from '../src/eval/stats.js';
import { leakage } from '../src/data/leakage.js';
import { groupFolds, groupSplit, randomFolds, randomSplit, textKeys } from '../src/data/split.js';
import type { Example } from '../src/data/processors.js';
import { loadData } from '../src/data/load.js';
import { baseline } from '../src/baseline/baseline.js';
import { finetune } from '../src/finetune.js';
import { crossValidate } from '../src/crossval.js';
import { nativeKernels } from '../src/core/native.js';
import { DEMO_DATA } from '../src/demo.js';
import { SHARED_DIR, tinySetup, type TinySetup } from './helpers.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const cli = (...args: string[]) => spawnSync(join(ROOT, 'bin/ja-bert'), args, { encoding: 'utf8' });
const fx = JSON.parse(readFileSync(new URL('../../test/fixtures/stats.json', import.meta.url), 'utf8')) as {
  binom: Array<{ k: number; n: number; p: number; p_value: number }>;
  wilson: Array<{ k: number; n: number; low: number; high: number }>;
  bootstrap: Array<{ C: number; y_true: number[]; y_pred: number[]; score: number[] | null; macro_f1: number[]; mcc: number[]; roc_auc?: number[] }>;
  paired: Array<{ a: number[]; b: number[]; ci: number[] }>;
  percentile: Array<{ values: number[]; q: number[]; expected: number[] }>;
};
const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-300);

test('binomial test and McNemar: exact p-values equal scipy.stats.binomtest\'s', () => {
  assert.equal(fx.binom.length, 13);
  for (const c of fx.binom) {
    const p = binomTestTwoSided(c.k, c.n, c.p);
    assert.ok(c.p_value === 0 ? p < 1e-300 : rel(p, c.p_value) < 1e-9, `binomtest(${c.k}, ${c.n}, ${c.p}): ${p} vs SciPy ${c.p_value}`);
  }
  // McNemar is the binomial test on the discordant pairs: b = 3 (A right, B wrong), c = 7
  const a = [1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0], b = [0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 0];
  const m = mcnemar(a, b);
  assert.deepEqual([m.b, m.c], [3, 7]);
  assert.ok(rel(m.p_value, fx.binom.find((x) => x.k === 3 && x.n === 10)!.p_value) < 1e-12);
  assert.equal(mcnemar([1, 0], [1, 0]).p_value, 1);
  assert.throws(() => binomTestTwoSided(3, 2), RangeError);
});

test('Wilson intervals equal SciPy\'s proportion_ci(method="wilson")', () => {
  for (const c of fx.wilson) {
    const [lo, hi] = wilson(c.k, c.n);
    assert.ok(Math.abs(lo - c.low) < 1e-12 && Math.abs(hi - c.high) < 1e-12, `wilson(${c.k}, ${c.n}) = [${lo}, ${hi}] vs [${c.low}, ${c.high}]`);
  }
});

test('numpy.percentile\'s linear rule', () => {
  for (const c of fx.percentile) {
    const sorted = Float64Array.from(c.values).sort();
    c.q.forEach((q, i) => assert.ok(Math.abs(percentileSorted(sorted, q) - c.expected[i]!) < 1e-12, `q ${q} of ${c.values.length}`));
  }
});

test('bootstrap intervals land within Monte-Carlo error of scipy.stats.bootstrap(method="percentile")', () => {
  // SciPy drew 20,000 resamples with its generator; ours 10,000 with its own: the percentile estimates of the two agree
  // to a small multiple of the bootstrap's standard error times sqrt(0.025·0.975/R)/φ(1.96) ≈ 0.05·SE
  for (const c of fx.bootstrap) {
    const iv = metricIntervals(c.C, c.y_true, c.y_pred, c.score, { resamples: 10000, seed: 7 });
    for (const k of ['macro_f1', 'mcc', 'roc_auc'] as const) {
      const want = c[k];
      if (!want) { assert.equal(iv[k], null); continue; }
      const got = iv[k]!;
      const tol = 0.25 * want[2]!;
      assert.ok(Math.abs(got[0] - want[0]!) < tol && Math.abs(got[1] - want[1]!) < tol, `${k} (C=${c.C}, n=${c.y_true.length}): [${got}] vs SciPy [${want.slice(0, 2)}] ± ${tol}`);
    }
    // accuracy: Wilson, not the bootstrap
    const k = c.y_true.filter((y, i) => y === c.y_pred[i]).length;
    assert.deepEqual(iv.accuracy, wilson(k, c.y_true.length));
  }
  for (const c of fx.paired) {
    const got = accuracyDifferenceInterval(c.a, c.b, { resamples: 10000, seed: 3 })!;
    const tol = 0.25 * c.ci[2]!;
    assert.ok(Math.abs(got[0] - c.ci[0]!) < tol && Math.abs(got[1] - c.ci[1]!) < tol, `paired difference [${got}] vs SciPy [${c.ci.slice(0, 2)}]`);
  }
  // seeded: the same seed gives the same interval, another seed another one
  const c = fx.bootstrap[0]!;
  assert.deepEqual(metricIntervals(2, c.y_true, c.y_pred, c.score, { seed: 5 }), metricIntervals(2, c.y_true, c.y_pred, c.score, { seed: 5 }));
  assert.notDeepEqual(metricIntervals(2, c.y_true, c.y_pred, c.score, { seed: 5 }).mcc, metricIntervals(2, c.y_true, c.y_pred, c.score, { seed: 6 }).mcc);
});

const ex = (i: number, a: string, b: string, label = '1', ids = true): Example => ({ guid: `g${i}`, textA: `本文 ${a}`, textB: `本文 ${b}`, label, ...(ids ? { idA: a, idB: b } : {}) });

test('leakage counts on a hand-built split whose overlap is known', () => {
  const train = [ex(0, 'a', 'b'), ex(1, 'c', 'd', '0'), ex(2, 'e', 'f'), ex(3, 'x', 'y', '0')];
  const evalSet = [
    ex(10, 'a', 'b'), //        both seen, duplicate of a training pair
    ex(11, 'b', 'a'), //        both seen, the reverse of one
    ex(12, 'c', 'd', '1'), //   both seen, duplicate with another label: a contradiction
    ex(13, 'a', 'q'), //        only A seen
    ex(14, 'q', 'e'), //        only B seen
    ex(15, 'p', 'q'), //        neither
    ex(16, 'r', 'r'), //        neither, the same text on both sides
    ex(17, 'p', 'q', '0'), //   neither, contradicts pair 15 inside the eval set
  ];
  const r = leakage(train, evalSet)!;
  assert.deepEqual({ ...r.report }, { keyed_by: 'id', eval_pairs: 8, a_seen: 4, b_seen: 4, both_seen: 3, neither: 3, duplicates: 2, swapped_duplicates: 1, contradictions: 3, same_text: 1 });
  assert.deepEqual(Array.from(r.subset), [0, 0, 0, 1, 2, 3, 3, 3]);
  // without ids, texts are matched by their normalised form: full-width, case and spacing do not hide a text
  const noIds = (e: Example) => ({ ...e, idA: undefined, idB: undefined });
  const t2 = [{ ...noIds(ex(0, 'a', 'b')), textA: 'ＡＢＣ  テキスト' }];
  const e2 = [{ ...noIds(ex(1, 'z', 'b')), textA: ' abc テキスト ' }];
  assert.deepEqual({ ...leakage(t2, e2)!.report }, { keyed_by: 'text', eval_pairs: 1, a_seen: 1, b_seen: 1, both_seen: 1, neither: 0, duplicates: 1, swapped_duplicates: 0, contradictions: 0, same_text: 0 });
  // single texts are not pairs: no leakage block
  assert.equal(leakage([{ guid: '1', textA: 'x', label: '0' }], [{ guid: '2', textA: 'x', label: '1' }]), null);
});

/** a random pair graph over `nTexts` texts with a few hubs, as link data has */
function randomPairs(n: number, nTexts: number, seed: number): Example[] {
  let s = seed;
  const r = () => { s = (s * 1103515245 + 12345) % 2147483648; return s / 2147483648; };
  return Array.from({ length: n }, (_, i) => {
    const a = r() < 0.2 ? Math.floor(r() * 5) : Math.floor(r() * nTexts), b = Math.floor(r() * nTexts);
    return ex(i, `t${a}`, `t${b}`, r() < 0.5 ? '1' : '0');
  });
}

/** link data's shape: positives join neighbouring texts (linked pages cluster), negatives join texts drawn at random */
function linkedPairs(n: number, nTexts: number, seed: number): Example[] {
  let s = seed;
  const r = () => { s = (s * 1103515245 + 12345) % 2147483648; return s / 2147483648; };
  return Array.from({ length: n }, (_, i) => {
    const a = Math.floor(r() * nTexts), pos = r() < 0.5;
    const b = pos ? (a + 1 + Math.floor(r() * 4)) % nTexts : Math.floor(r() * nTexts);
    return ex(i, `t${a}`, `t${b}`, pos ? '1' : '0');
  });
}

const textsOf = (all: Example[], idx: number[]) => new Set(idx.flatMap((i) => textKeys(all[i]!).filter((k): k is string => k !== undefined)));

test('grouped splits share no text, meet the ratio within the tolerance, and account for every pair', () => {
  const demo = JSON.parse(readFileSync(join(DEMO_DATA, 'negaposi.json'), 'utf8')) as Array<[string, string, number]>;
  const demoEx = demo.map(([a, b, l], i) => ex(i, a, b, String(l)));
  for (const [all, ratio, seed] of [[demoEx, 1 / 3, 42], [demoEx, 0.2, 7], [randomPairs(3000, 2500, 1), 0.25, 3], [randomPairs(500, 2000, 2), 0.1, 42]] as const) {
    const s = groupSplit(all as Example[], ratio, seed, 'pairs');
    const tr = textsOf(all as Example[], s.train), ev = textsOf(all as Example[], s.eval);
    assert.equal([...ev].filter((t) => tr.has(t)).length, 0, 'no eval text in training');
    assert.deepEqual([...s.train, ...s.eval, ...s.dropped].sort((a, b) => a - b), Array.from({ length: all.length }, (_, i) => i), 'every pair once');
    const want = ratio * (s.train.length + s.eval.length);
    assert.ok(Math.abs(s.eval.length - want) <= Math.max(1, Math.floor(want * 0.1)), `eval ${s.eval.length} for ${want}`);
    // the leakage report agrees: every eval pair is unseen
    const lk = leakage(s.train.map((i) => all[i]!), s.eval.map((i) => all[i]!))!;
    assert.equal(lk.report.neither, s.eval.length);
    assert.deepEqual(groupSplit(all as Example[], ratio, seed, 'pairs'), s, 'seeded');
  }
  // the cut keeps the labels' shares: on link-shaped data (the positives cluster, the negatives do not), and on
  // the man-page pairs (random negatives), each side holds about the data's share of positives
  const links = (f: string) => (JSON.parse(readFileSync(join(SHARED_DIR, 'data/manpages-ja-links', f), 'utf8')) as Array<[string, string, number]>).map(([a, b, l], i) => ex(i, a, b, String(l)));
  for (const [name, all] of [['linked', linkedPairs(4000, 3000, 5)], ['negaposi.json', links('negaposi.json')]] as const) {
    const s = groupSplit(all, 1 / 3, 42, name);
    const share = (idx: number[]) => idx.filter((i) => all[i]!.label === '1').length / idx.length;
    const whole = share(all.map((_, i) => i));
    for (const side of ['train', 'eval'] as const) assert.ok(Math.abs(share(s[side]) - whole) < 0.05, `${name} ${side}: ${share(s[side]).toFixed(3)} positive against ${whole.toFixed(3)}`);
  }
  // a star (every pair shares one text) cannot be split: one line naming the file
  const star = Array.from({ length: 40 }, (_, i) => ex(i, 'hub', `t${i}`));
  assert.throws(() => groupSplit(star, 1 / 3, 42, 'star.json'), /star\.json: a grouped split cannot hold out .* --split random/);
});

test('k folds: random and grouped folds are disjoint and cover the data; grouped folds never train on an eval text', () => {
  const rf = randomFolds(103, 5, 42);
  assert.deepEqual(rf.map((f) => f.eval.length), [21, 21, 21, 20, 20]);
  assert.deepEqual(rf.flatMap((f) => f.eval).sort((a, b) => a - b), Array.from({ length: 103 }, (_, i) => i));
  for (const f of rf) assert.deepEqual([...f.train, ...f.eval].sort((a, b) => a - b), Array.from({ length: 103 }, (_, i) => i));
  // the random split is the shuffle the earlier versions used: the first ceil(n·r) held out
  assert.deepEqual(randomSplit(10, 0.3, 42).eval, randomFolds(10, 1, 42)[0]!.eval.slice(0, 3));
  const all = randomPairs(1200, 1500, 9);
  const gf = groupFolds(all, 4, 42, 'pairs');
  const evals = gf.flatMap((f) => f.eval);
  assert.equal(new Set(evals).size, evals.length, 'eval folds disjoint');
  const crossing = new Set(Array.from({ length: all.length }, (_, i) => i).filter((i) => !evals.includes(i)));
  for (const f of gf) {
    const tr = textsOf(all, f.train), ev = textsOf(all, f.eval);
    assert.equal([...ev].filter((t) => tr.has(t)).length, 0);
    assert.deepEqual([...f.train, ...f.eval, ...f.dropped].sort((a, b) => a - b), Array.from({ length: all.length }, (_, i) => i));
    for (const i of f.dropped) assert.ok(crossing.has(i), 'only pairs between folds are dropped');
    assert.ok(Math.abs(f.eval.length - 300) <= 30, `fold of ${f.eval.length}`);
  }
});

let dir = '', t: TinySetup;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'jabert-rel-'));
  t = tinySetup(dir, { seed: 29, from: 0, to: 400 });
});
after(() => { if (dir && !process.env.KEEP) rmSync(dir, { recursive: true, force: true }); });

test('runs report leakage, intervals and split.json; --baseline-run adds McNemar; a grouped run has no eval text in training', () => {
  const K = nativeKernels();
  const common = { model: t.model, kernels: K, texts: t.texts, pairs: t.pairs, maxSeqLength: 32, dtype: 'f32' as const, seed: 3 };
  for (const split of ['random', 'group'] as const) {
    const b = baseline({ ...common, output: join(dir, `b-${split}`), split });
    const f = finetune({ ...common, output: join(dir, `f-${split}`), split, maxSteps: 3, batchSize: 8, saveSteps: 0, baselineRun: join(dir, `b-${split}`), bootstrapSamples: 200 });
    const r = JSON.parse(readFileSync(join(dir, `f-${split}`, 'report.json'), 'utf8'));
    const s = JSON.parse(readFileSync(join(dir, `f-${split}`, 'split.json'), 'utf8'));
    assert.equal(s.strategy, split);
    assert.equal(s.file, t.pairs);
    assert.equal(s.eval.length, r.eval_examples);
    assert.deepEqual([...s.train, ...s.eval, ...s.dropped].sort((x: number, y: number) => x - y), Array.from({ length: 400 }, (_, i) => i));
    // the split.json indices name the very pairs the run evaluated (eval_predictions.jsonl's guids are pair-<index>)
    const guids = readFileSync(join(dir, `f-${split}`, 'eval_predictions.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).guid);
    assert.deepEqual(guids, s.eval.map((i: number) => `pair-${i}`));
    for (const k of ['a_seen', 'b_seen', 'both_seen', 'neither', 'duplicates', 'contradictions', 'same_text']) assert.equal(typeof r.leakage[k], 'number', k);
    assert.equal(r.leakage.keyed_by, 'id');
    // independent count: titles of the eval pairs that are in the training pairs
    const pairs = JSON.parse(readFileSync(t.pairs, 'utf8')) as Array<[string, string, number]>;
    const seen = new Set(s.train.flatMap((i: number) => [pairs[i]![0], pairs[i]![1]]));
    assert.equal(r.leakage.neither, s.eval.filter((i: number) => !seen.has(pairs[i]![0]) && !seen.has(pairs[i]![1])).length);
    assert.equal(r.leakage.both_seen, s.eval.filter((i: number) => seen.has(pairs[i]![0]) && seen.has(pairs[i]![1])).length);
    if (split === 'group') {
      assert.equal(r.leakage.neither, r.eval_examples);
      // a dropped pair is one that joins a held-out text to a training text
      const evalTexts = new Set(s.eval.flatMap((i: number) => [pairs[i]![0], pairs[i]![1]]));
      for (const i of s.dropped) {
        const [a, b] = pairs[i]!;
        assert.ok(!(evalTexts.has(a) && evalTexts.has(b)) && !(seen.has(a) && seen.has(b)), `dropped pair ${i} crosses the sides`);
      }
    } else { assert.ok(r.leakage.both_seen > 0); assert.equal(s.dropped.length, 0); }
    for (const k of ['accuracy', 'macro_f1', 'mcc', 'roc_auc']) {
      const [lo, hi] = r.ci95[k];
      assert.ok(lo <= hi && lo >= -1 && hi <= 1, `${k} [${lo}, ${hi}]`);
    }
    assert.ok(r.ci95.accuracy[0] <= r.eval_accuracy && r.eval_accuracy <= r.ci95.accuracy[1]);
    assert.equal(r.bootstrap.resamples, 200);
    if (r.leakage.metrics_unseen) assert.equal(r.leakage.metrics_unseen.n, r.leakage.neither);
    // McNemar against the baseline, from both runs' predictions
    const bp = readFileSync(join(dir, `b-${split}`, 'eval_predictions.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const fp = readFileSync(join(dir, `f-${split}`, 'eval_predictions.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const m = mcnemar(bp.map((p) => p.prediction === p.label), fp.map((p) => p.prediction === p.label));
    assert.deepEqual([r.mcnemar.b, r.mcnemar.c, r.mcnemar.p_value], [m.b, m.c, m.p_value]);
    assert.deepEqual([f.significance!.b, f.significance!.c], [m.b, m.c]);
    assert.match(f.reliabilityText, /Is the result real\?[\s\S]*leakage[\s\S]*McNemar/);
    assert.match(readFileSync(join(dir, `f-${split}`, 'report.html'), 'utf8'), /Is the result real\?/);
    assert.equal(b.reliability.split.strategy, split);
  }
  // --baseline-run on other eval pairs is refused before training, and nothing is written
  assert.throws(() => finetune({ ...common, output: join(dir, 'f-mismatch'), split: 'random', seed: 4, maxSteps: 1, batchSize: 8, saveSteps: 0, baselineRun: join(dir, 'b-group') }), /b-group: .*same eval examples/);
  assert.throws(() => finetune({ ...common, output: join(dir, 'f-nobase'), maxSteps: 1, batchSize: 8, saveSteps: 0, baselineRun: dir }), /not a finished classification run/);
  assert.ok(!existsSync(join(dir, 'f-nobase')));
  // --train/--eval: the user's own split is checked (its overlap reported)
  const rows = JSON.parse(readFileSync(t.pairs, 'utf8')) as Array<[string, string, number]>;
  const tsv = (r: typeof rows) => 'text_a\ttext_b\tlabel\n' + r.map(([a, b, l]) => `${t.body[a]!.slice(0, 80).replace(/[\s"]+/g, ' ')}\t${t.body[b]!.slice(0, 80).replace(/[\s"]+/g, ' ')}\t${l}`).join('\n') + '\n';
  writeFileSync(join(dir, 'tr.tsv'), tsv(rows.slice(0, 300)));
  writeFileSync(join(dir, 'ev.tsv'), tsv(rows.slice(250, 400)));
  const d = loadData({ trainFile: join(dir, 'tr.tsv'), evalFile: join(dir, 'ev.tsv') }, 1);
  assert.equal(d.split.strategy, 'given');
  const lk = leakage(d.train, d.eval)!.report;
  assert.equal(lk.keyed_by, 'text');
  assert.ok(lk.duplicates >= 50, `the 50 shared rows are duplicates (${lk.duplicates})`);
});

test('--folds K: K complete runs, mean ± std of each metric; rerun resumes; grouped folds; bad --folds in one line before anything is written', () => {
  const out = join(dir, 'cv');
  const o = { method: 'baseline' as const, model: t.model, kernels: nativeKernels(), texts: t.texts, pairs: t.pairs, maxSeqLength: 32, dtype: 'f32' as const, folds: 3, split: 'group' as const, output: out, bootstrapSamples: 100 };
  const r = crossValidate(o);
  assert.equal(r.folds.length, 3);
  const rep = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
  assert.equal(rep.folds.length, 3);
  const accs = rep.folds.map((f: { metrics: { accuracy: number } }) => f.metrics.accuracy);
  const mean = accs.reduce((a: number, b: number) => a + b, 0) / 3;
  assert.ok(Math.abs(rep.folds_mean.accuracy - mean) < 1e-12);
  assert.ok(Math.abs(rep.folds_std.accuracy - Math.sqrt(accs.reduce((a: number, x: number) => a + (x - mean) ** 2, 0) / 3)) < 1e-12);
  assert.match(readFileSync(join(out, 'cv_results.txt'), 'utf8'), /accuracy = [0-9.]+ ± [0-9.]+/);
  // the folds' eval sets are disjoint, and no fold trains on a text it evaluates
  const splits = [1, 2, 3].map((k) => JSON.parse(readFileSync(join(out, `fold-${k}`, 'split.json'), 'utf8')));
  const evals = splits.flatMap((s) => s.eval);
  assert.equal(new Set(evals).size, evals.length);
  for (const k of [1, 2, 3]) assert.equal(JSON.parse(readFileSync(join(out, `fold-${k}`, 'report.json'), 'utf8')).leakage.neither, splits[k - 1].eval.length);
  // a rerun after the finish is refused like any finished run; one fold removed is redone alone
  assert.throws(() => crossValidate(o), /already finished/);
  rmSync(join(out, 'cv_results.txt'));
  const before = readFileSync(join(out, 'fold-2', 'report.json'), 'utf8');
  rmSync(join(out, 'fold-3'), { recursive: true });
  crossValidate(o);
  assert.equal(readFileSync(join(out, 'fold-2', 'report.json'), 'utf8'), before, 'a finished fold is kept');
  assert.ok(existsSync(join(out, 'fold-3', 'eval_results.txt')));
  // bad input: one line, exit ≠ 0, nothing written
  const data = ['--model', t.model, '--texts', t.texts, '--pairs', t.pairs, '--max-seq-length', '32'];
  // a star: every pair shares one text, so no grouped split exists
  const leaves = Object.keys(t.body).slice(1, 41);
  writeFileSync(join(dir, 'star.json'), JSON.stringify(leaves.map((l, i) => [Object.keys(t.body)[0], l, i % 2])));
  for (const [args, msg] of [
    [['--folds', '1'], /--folds must be an integer ≥ 2, got 1/],
    [['--folds', '401'], /--folds 401 is more than the 400 examples/],
    [['--folds', '3', '--eval-ratio', '0.2'], /--folds and --eval-ratio were both given/],
    [['--split', 'group', '--pairs', join(dir, 'star.json')], /star\.json: a grouped split cannot hold out/],
    [['--split', 'groups'], /--split must be random or group/],
  ] as const) {
    for (const cmd of ['baseline', 'finetune']) {
      const x = cli(cmd, '--output', join(dir, 'bad'), ...data, ...args);
      assert.notEqual(x.status, 0, `${cmd} ${args.join(' ')}`);
      assert.match(x.stderr, msg);
      assert.equal(x.stderr.trim().split('\n').length, 1, x.stderr);
      assert.ok(!existsSync(join(dir, 'bad')), `${cmd} ${args.join(' ')} wrote nothing`);
    }
  }
  assert.ok(readdirSync(dir).every((f) => f !== 'bad'));
});
