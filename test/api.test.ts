// The async library API from the package root: the engine thread, errors that
// keep their class across it, progress and cancellation, and answers equal to
// the CLI's (predict, encode, rank) for the same inputs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AbortedError, baseline, buildCache, CheckpointError, Classifier, closeEngine, DataError, Encoder, finetune, info, JaBertError, OptionError, PairScorer,
} from '../src/index.js';
import { tinySetup } from './helpers.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const cli = (...args: string[]) => spawnSync(join(ROOT, 'bin/ja-bert'), args, { encoding: 'utf8' });
let dir = '', model = '', pairs = '', texts = '', cross = '', dot = '';
let body: Record<string, string> = {};
let slice: Array<[string, string, number]> = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'jabert-api-'));
  ({ model, pairs, texts, slice, body } = tinySetup(dir, { seed: 3, from: 0, to: 60 }));
  cross = join(dir, 'cross');
  dot = join(dir, 'dot');
  const common = { model, texts, pairs, maxSteps: 3, batchSize: 8, maxSeqLength: 32, learningRate: 1e-3, dtype: 'f32' as const };
  await finetune({ ...common, output: cross });
  await finetune({ ...common, output: dot, head: 'dot' });
});
after(async () => {
  await closeEngine();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const pairInputs = () => slice.slice(0, 12).map(([a, b]) => ({ text: body[a]!, textB: body[b]! }));

/** predict's probabilities (JSONL, rounded to 1e-6) for the same inputs */
function predictCli(m: string, inputs: Array<{ text: string; textB?: string }>, extra: string[] = []): Array<Record<string, number>> {
  const inp = join(dir, `in-${Math.random()}.jsonl`), out = join(dir, `out-${Math.random()}.jsonl`);
  writeFileSync(inp, inputs.map((x) => JSON.stringify({ text: x.text, text_b: x.textB })).join('\n') + '\n');
  const r = cli('predict', ...(m ? ['--model', m] : []), '--input', inp, '--output', out, '--dtype', 'f32', ...extra);
  assert.equal(r.status, 0, r.stderr);
  return readFileSync(out, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { probabilities: Record<string, number> }).probabilities);
}

function assertSameProbs(got: Array<{ probabilities: Record<string, number> }>, want: Array<Record<string, number>>): void {
  assert.equal(got.length, want.length);
  got.forEach((g, i) => {
    assert.deepEqual(Object.keys(g.probabilities).sort(), Object.keys(want[i]!).sort());
    for (const [k, v] of Object.entries(want[i]!)) assert.ok(Math.abs(g.probabilities[k]! - v) <= 1.5e-6, `input ${i} label ${k}: ${g.probabilities[k]} vs predict ${v}`);
  });
}

test('Classifier (cross-encoder) gives predict\'s probabilities; labels and the best label are consistent', async () => {
  const clf = await Classifier.load(cross, { dtype: 'f32' });
  assert.deepEqual(clf.labels, ['0', '1']);
  assert.equal(clf.head, 'cross');
  const inputs = pairInputs();
  const res = await clf.classify(inputs);
  assertSameProbs(res, predictCli(cross, inputs));
  for (const r of res) {
    const best = Object.entries(r.probabilities).sort((a, b) => b[1] - a[1])[0]!;
    assert.equal(r.label, best[0]);
    assert.equal(r.score, best[1]);
    assert.ok(Math.abs(Object.values(r.probabilities).reduce((a, b) => a + b, 0) - 1) < 1e-5);
  }
  // a single text (no text_b) is a valid input for the cross-encoder
  const [one] = await clf.classify(['ls はファイルを一覧する']);
  assert.ok(one!.label === '0' || one!.label === '1');
  await clf.close();
  await assert.rejects(clf.classify(inputs), /closed/);
});

test('the default model classifies a pair with its next-sentence head, as predict does', async () => {
  const clf = await Classifier.load(undefined, { dtype: 'f32' });
  assert.equal(clf.head, 'nsp');
  assert.deepEqual(clf.labels, ['is_next', 'not_next']);
  const inputs = pairInputs().slice(0, 4);
  assertSameProbs(await clf.classify(inputs), predictCli('', inputs));
  await assert.rejects(clf.classify([{ text: 'テキストだけ' }]), (e: unknown) => e instanceof DataError && /textB/.test(e.message));
  await clf.close();
});

test('a pair-head Classifier and PairScorer agree with predict and rank', async () => {
  const clf = await Classifier.load(dot, { dtype: 'f32' });
  assert.equal(clf.head, 'dot');
  const inputs = pairInputs();
  assertSameProbs(await clf.classify(inputs), predictCli(dot, inputs));
  const cache = join(dir, 'dot.jabc');
  const lines: string[] = [];
  const built = await buildCache({ model: dot, texts, cache, dtype: 'f32' }, { onProgress: (l) => lines.push(l) });
  assert.equal(built.entries, Object.keys(body).length);
  const scorer = await PairScorer.load(dot, { cache, dtype: 'f32' });
  assert.equal(scorer.size, Object.keys(body).length);
  const id = Object.keys(body)[0]!;
  const r = await scorer.rank({ id }, { top: 5 });
  const c = cli('rank', '--model', dot, '--cache', cache, '--id', id, '--top', '5', '--dtype', 'f32');
  assert.equal(c.status, 0, c.stderr);
  const want = c.stdout.trim().split('\n').map((l) => { const [, s, i] = /^\s*\d+\s+(\S+)\s+(.+)$/.exec(l)!; return { id: i!, score: Number(s) }; });
  assert.deepEqual(r.results.map((x) => x.id), want.map((x) => x.id));
  r.results.forEach((x, k) => assert.ok(Math.abs(x.score - want[k]!.score) < 2e-6));
  // rank --json: the library's results exactly, as one JSON object
  const j = cli('rank', '--model', dot, '--cache', cache, '--id', id, '--top', '5', '--dtype', 'f32', '--json');
  assert.equal(j.status, 0, j.stderr);
  const parsed = JSON.parse(j.stdout) as { results: Array<{ id: string; score: number }>; candidates: number };
  assert.deepEqual(parsed.results, r.results);
  assert.equal(parsed.candidates, r.candidates);
  // a new text ranks too, and the same query twice gives the same answer (the cache stays warm)
  const q1 = await scorer.rank('ファイルを一覧表示する', { top: 3 }), q2 = await scorer.rank('ファイルを一覧表示する', { top: 3 });
  assert.deepEqual(q1.results, q2.results);
  await assert.rejects(scorer.rank({ id: 'no such id' }), (e: unknown) => e instanceof DataError && /no text with id/.test(e.message));
  await assert.rejects(scorer.rank('x', { top: 0 }), (e: unknown) => e instanceof OptionError && e.exitCode === 2);
  await scorer.close();
  await clf.close();
});

test('Encoder: pooled vectors equal encode\'s pooled_output; normalize gives unit vectors; mean and cls differ', async () => {
  const enc = await Encoder.load(cross, { dtype: 'f32' });
  assert.equal(enc.dimension, 32);
  const some = Object.values(body).slice(0, 5);
  const pooled = await enc.encode(some, { pooling: 'pooled' });
  const inp = join(dir, 'enc.jsonl'), out = join(dir, 'enc-out.jsonl');
  writeFileSync(inp, some.map((t) => JSON.stringify({ text: t })).join('\n') + '\n');
  const r = cli('encode', '--model', cross, '--input', inp, '--output', out, '--dtype', 'f32', '--max-seq-length', '512');
  assert.equal(r.status, 0, r.stderr);
  const want = readFileSync(out, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { pooled_output: number[] }).pooled_output);
  pooled.forEach((v, i) => v.forEach((x, d) => assert.ok(Math.abs(x - want[i]![d]!) < 1e-5, `text ${i} dim ${d}`)));
  const unit = await enc.encode(some, { normalize: true });
  for (const v of unit) assert.ok(Math.abs(Math.hypot(...v) - 1) < 1e-5);
  const [mean] = await enc.encode(some.slice(0, 1), { pooling: 'mean' }), [cls] = await enc.encode(some.slice(0, 1), { pooling: 'cls' });
  assert.ok(mean!.some((x, d) => Math.abs(x - cls![d]!) > 1e-4));
  await assert.rejects(enc.encode(some, { pooling: 'max' as never }), (e: unknown) => e instanceof OptionError && /pooling/.test(e.message));
  await assert.rejects(enc.encode(['']), (e: unknown) => e instanceof DataError);
  await enc.close();
});

test('errors keep their class and code across the engine thread; the library validates as the CLI does', async () => {
  await assert.rejects(Classifier.load(join(dir, 'nope')), (e: unknown) => e instanceof JaBertError && e instanceof CheckpointError && e.code === 'ERR_JA_BERT_CHECKPOINT');
  await assert.rejects(baseline({ model, texts, pairs, output: join(dir, 'bl'), pooling: 'foo' as never }), (e: unknown) => e instanceof OptionError && /pooling/.test(e.message));
  await assert.rejects(finetune({ model, texts, pairs, output: join(dir, 'bad'), batchSize: 0 }), (e: unknown) => e instanceof OptionError && /batch-size/.test(e.message));
  assert.ok(!existsSync(join(dir, 'bl')) && !existsSync(join(dir, 'bad')), 'nothing written');
  const i = await info();
  assert.equal(typeof i.isa, 'string');
});

test('finetune reports progress, is cancelled by its signal between steps, and the same call resumes to the end', async () => {
  const out = join(dir, 'cancel');
  const ac = new AbortController();
  const lines: string[] = [];
  const o = { model, texts, pairs, output: out, maxSteps: 12, batchSize: 4, maxSeqLength: 32, dtype: 'f32' as const, saveSteps: 100 };
  await assert.rejects(finetune(o, { signal: ac.signal, onProgress: (l) => { lines.push(l); if (/^train \[/.test(l)) ac.abort(); } }),
    (e: unknown) => e instanceof AbortedError && /cancelled at step/.test(e.message));
  assert.ok(lines.some((l) => /ETA/.test(l)), 'progress lines with an ETA');
  assert.ok(!existsSync(join(out, 'eval_results.txt')), 'not finished');
  const r = await finetune(o);
  assert.equal(r.train.globalStep, 12);
  assert.ok(existsSync(join(out, 'eval_results.txt')));
  // an already aborted signal refuses to start
  const done = new AbortController();
  done.abort();
  await assert.rejects(finetune({ ...o, output: join(dir, 'never') }, { signal: done.signal }));
});

test('the caller\'s event loop keeps running while the engine computes', async () => {
  const clf = await Classifier.load(cross, { dtype: 'f32' });
  const many = Array.from({ length: 400 }, (_, i) => pairInputs()[i % 12]!);
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  const t0 = performance.now();
  await clf.classify(many);
  const ms = performance.now() - t0;
  clearInterval(timer);
  // a blocked loop would tick at most once after the call; a free one ticks through it
  assert.ok(ticks >= Math.min(5, ms / 10), `${ticks} timer ticks during ${ms.toFixed(0)} ms of compute`);
  await clf.close();
});

test('a script using the API exits cleanly, with or without closeEngine(), on every thread count (the engine thread\'s OpenMP team outlives no library)', () => {
  const index = join(ROOT, 'dist/src/index.js');
  const script = (close: boolean) => `import { Classifier, closeEngine } from ${JSON.stringify(index)};
const clf = await Classifier.load(${JSON.stringify(cross)}, { dtype: 'f32' });
const [r] = await clf.classify([{ text: 'ファイルを一覧する', textB: 'ファイルを表示する' }]);
console.log(r.label);
${close ? 'await closeEngine();' : ''}`;
  for (const close of [false, true]) {
    const f = join(dir, `exit-${close}.mjs`);
    writeFileSync(f, script(close));
    for (let i = 0; i < 4; i++) {
      const r = spawnSync(process.execPath, [f], { encoding: 'utf8', env: { ...process.env, JA_BERT_THREADS: '2' } });
      assert.equal(r.status, 0, `run ${i} (closeEngine ${close}): status ${r.status}, signal ${r.signal}, ${r.stderr}`);
      assert.match(r.stdout, /^[01]\n$/);
    }
  }
});
