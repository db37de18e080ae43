// finetune / predict end to end on a tiny random BERT with the real wiki-ja
// SentencePiece model, on slices of test/fixtures/shared/data; and every bad input.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nativeKernels } from '../src/core/native.js';
import { classificationReport, computeMetrics, confusionMatrixText } from '../src/eval/metrics.js';
import { saveBert } from '../src/model/load.js';
import { Bert } from '../src/model/bert.js';
import { makeConfig } from '../src/model/config.js';
import { SHARED_DIR } from './helpers.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const TEXTS = join(SHARED_DIR, 'data/manpages-ja-links/honbun_data.json');
let dir = '', model = '', pairs = '', small = '';
let processors: typeof import('../src/data/processors.js') | null = null;
const cli = (...args: string[]) => spawnSync(join(ROOT, 'bin/ja-bert'), args, { encoding: 'utf8' });

before(async () => {
  processors = await import('../src/data/processors.js');
  dir = mkdtempSync(join(tmpdir(), 'jabert-ft-'));
  model = join(dir, 'model');
  const cfg = makeConfig({ vocab_size: 32000, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4, intermediate_size: 64, max_position_embeddings: 128 });
  saveBert(new Bert(cfg, { kernels: nativeKernels(), seed: 1 }), model);
  copyFileSync(join(SHARED_DIR, 'models/wiki-ja-albert-spm/wiki-ja_albert.model'), join(model, 'spiece.model'));
  pairs = join(dir, 'pairs.json');
  const pairList = (JSON.parse(readFileSync(join(SHARED_DIR, 'data/manpages-ja-links/negaposi.json'), 'utf8')) as Array<[string, string, number]>).slice(0, 240);
  writeFileSync(pairs, JSON.stringify(pairList));
  // the same pairs over bodies cut to 200 characters: quick runs for the many-run fault tests
  const bodies = JSON.parse(readFileSync(TEXTS, 'utf8')) as Record<string, string>;
  small = join(dir, 'small.json');
  writeFileSync(small, JSON.stringify(Object.fromEntries(pairList.flatMap((p) => [p[0], p[1]]).filter((t) => bodies[t] !== undefined).map((t) => [t, bodies[t]!.slice(0, 200)]))));
});
process.on('exit', () => { if (dir) rmSync(dir, { recursive: true, force: true }); });

const run = (out: string, ...extra: string[]) => cli('finetune', '--model', model, '--output', out, '--texts', TEXTS, '--pairs', pairs,
  '--max-seq-length', '48', '--batch-size', '16', '--epochs', '1', '--learning-rate', '5e-4', '--seed', '7', ...extra);

test('finetune on seed-format pairs writes every output, consistently, and the same seed gives the same results', () => {
  const out = join(dir, 'run1');
  const r = run(out);
  assert.equal(r.status, 0, r.stderr);
  for (const f of ['eval_results.txt', 'classification_report.txt', 'confusion_matrix.txt', 'report.json', 'eval_predictions.jsonl', 'config.json', 'model.safetensors', 'spiece.model']) {
    assert.ok(existsSync(join(out, f)), f);
  }
  const evalText = readFileSync(join(out, 'eval_results.txt'), 'utf8');
  assert.match(evalText, /^\*\*\*\*\* Eval results \*\*\*\*\*\neval_accuracy = [0-9.e-]+\neval_loss = [0-9.e-]+\nglobal_step = 10\nloss = [0-9.e-]+\n$/);
  assert.ok(r.stdout.startsWith(evalText), 'the same block is printed at the end');
  // 240 pairs, 1/3 held out -> 160 train -> int(160 / 16 * 1) = 10 steps
  const preds = readFileSync(join(out, 'eval_predictions.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { label: string; prediction: string; probabilities: number[] });
  assert.equal(preds.length, 80);
  for (const p of preds) assert.ok(Math.abs(p.probabilities.reduce((a, b) => a + b, 0) - 1) < 1e-4);
  const m = computeMetrics(['0', '1'], preds.map((p) => Number(p.label)), preds.map((p) => Number(p.prediction)));
  assert.equal(readFileSync(join(out, 'classification_report.txt'), 'utf8'), classificationReport(m));
  assert.equal(readFileSync(join(out, 'confusion_matrix.txt'), 'utf8'), confusionMatrixText(m.confusion));
  const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(report.global_step, 10);
  assert.equal((report.learning_curve as unknown[]).length, 10);
  assert.deepEqual(report.labels, ['0', '1']);
  const again = run(join(dir, 'run2'));
  assert.equal(again.status, 0, again.stderr);
  assert.equal(readFileSync(join(dir, 'run2', 'eval_results.txt'), 'utf8'), evalText);
});

test('the fine-tuned model loads in predict and encode; predict reproduces the eval probabilities', () => {
  const out = join(dir, 'run1');
  const pages = JSON.parse(readFileSync(TEXTS, 'utf8')) as Record<string, string>;
  const list = JSON.parse(readFileSync(pairs, 'utf8')) as Array<[string, string, number]>;
  const input = join(dir, 'predict-in.jsonl');
  writeFileSync(input, list.slice(0, 5).map(([a, b]) => JSON.stringify({ text: pages[a], text_b: pages[b] })).join('\n') + '\n');
  mkdirSync(join(dir, 'pred'), { recursive: true });
  const r = cli('predict', '--model', out, '--input', input, '--output', join(dir, 'pred', 'p.jsonl'), '--max-seq-length', '48');
  assert.equal(r.status, 0, r.stderr);
  const got = readFileSync(join(dir, 'pred', 'p.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { label: string; score: number; prediction: string; probabilities: Record<string, number> });
  assert.equal(got.length, 5);
  for (const g of got) {
    assert.ok(Math.abs(g.probabilities['0']! + g.probabilities['1']! - 1) < 1e-5);
    // the library's and the server's keys: label (the most probable) and its score; "prediction" kept as an alias
    assert.equal(g.label, g.probabilities['1']! > g.probabilities['0']! ? '1' : '0');
    assert.equal(g.score, g.probabilities[g.label]);
    assert.equal(g.prediction, g.label);
  }
  const tsv = readFileSync(join(dir, 'pred', 'test_results.tsv'), 'utf8').trim().split('\n');
  assert.equal(tsv.length, 5);
  assert.equal(tsv[0]!.split('\t').length, 2);
  const e = cli('encode', '--model', out, '--input', input, '--output', join(dir, 'pred', 'e.jsonl'), '--max-seq-length', '48');
  assert.equal(e.status, 0, e.stderr);
  const enc = JSON.parse(readFileSync(join(dir, 'pred', 'e.jsonl'), 'utf8').split('\n')[0]!) as { logits: number[] };
  const p1 = Math.exp(enc.logits[1]!) / (Math.exp(enc.logits[0]!) + Math.exp(enc.logits[1]!));
  assert.ok(Math.abs(p1 - got[0]!.probabilities['1']!) < 1e-5, 'encode logits and predict probabilities agree');
});

test('TSV without a header (chABSA) trains with --train/--eval', () => {
  const train = join(dir, 'chabsa-train.tsv'), evalF = join(dir, 'chabsa-eval.tsv');
  // the files are sorted by label: take every 20th row to get both classes
  const every = (f: string, n: number) => readFileSync(join(SHARED_DIR, 'data/chabsa', f), 'utf8').split('\n').filter((l, i) => l && i % 20 === 0).slice(0, n);
  writeFileSync(train, every('train.tsv', 96).join('\n') + '\n');
  writeFileSync(evalF, every('test.tsv', 40).join('\n') + '\n');
  const r = cli('finetune', '--model', model, '--output', join(dir, 'chabsa'), '--train', train, '--eval', evalF, '--max-seq-length', '48', '--batch-size', '16', '--epochs', '1');
  assert.equal(r.status, 0, r.stderr);
  assert.match(readFileSync(join(dir, 'chabsa', 'eval_results.txt'), 'utf8'), /global_step = 6\n/);
});

test('bad input: one clear line, exit code 1, nothing written', () => {
  const bad = (name: string, content: string) => { const p = join(dir, name); writeFileSync(p, content); return p; };
  const expectFail = (args: string[], re: RegExp) => {
    const out = join(dir, `bad-${Math.random().toString(36).slice(2)}`);
    const r = cli('finetune', '--model', model, '--output', out, '--max-seq-length', '32', '--max-steps', '1', ...args);
    assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr.trim(), re);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.ok(!existsSync(out) || readdirSync(out).length === 0, 'nothing written');
  };
  expectFail(['--texts', join(dir, 'missing.json'), '--pairs', pairs], /missing\.json: no such file/);
  expectFail(['--texts', bad('broken.json', '{\n"a(1)": "x",\n"b(1)": \n}'), '--pairs', pairs], /broken\.json:4: not valid JSON/);
  expectFail(['--texts', TEXTS, '--pairs', bad('p1.json', '[["ls(1)", "no-such-page(9)", 1]]')], /p1\.json: entry 0: title "no-such-page\(9\)" is not in/);
  expectFail(['--texts', bad('t-empty.json', '{"a(1)": "  ", "b(1)": "text"}'), '--pairs', bad('p2.json', '[["a(1)", "b(1)", 1], ["b(1)", "a(1)", 0]]')], /the text of "a\(1\)" is empty/);
  expectFail(['--texts', TEXTS, '--pairs', bad('p3.json', '[["ls(1)", "cp(1)", 1], ["cp(1)", "mv(1)", 1], ["mv(1)", "ls(1)", 1]]')], /only one class \("1"\)/);
  // a decimal label is a score now (regression, issue 17); a list of labels is not supported
  expectFail(['--texts', TEXTS, '--pairs', bad('p4.json', '[["ls(1)", "cp(1)", [0, 1]]]')], /a list of labels \(multi-label\) is read from JSONL files/);
  expectFail(['--texts', TEXTS, '--pairs', bad('p5.json', '[["ls(1)", "cp(1)", 0]]')], /leave an empty train set/);
  expectFail(['--train', bad('t.tsv', 'text\tlabel\n良い\t1\n悪い\t\n')], /t\.tsv:3: missing or empty label/);
  expectFail([], /no data/);
  const notEmpty = join(dir, 'occupied');
  mkdirSync(notEmpty, { recursive: true });
  writeFileSync(join(notEmpty, 'eval_results.txt'), 'another run\n');
  const r = cli('finetune', '--model', model, '--output', notEmpty, '--texts', TEXTS, '--pairs', pairs, '--max-steps', '1');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /already holds files .* --overwrite/);
  assert.equal(readFileSync(join(notEmpty, 'eval_results.txt'), 'utf8'), 'another run\n');
  const noWeights = join(dir, 'noweights');
  mkdirSync(noWeights, { recursive: true });
  copyFileSync(join(model, 'config.json'), join(noWeights, 'config.json'));
  const r2 = cli('finetune', '--model', noWeights, '--output', join(dir, 'nw-out'), '--texts', TEXTS, '--pairs', pairs, '--max-steps', '1');
  assert.equal(r2.status, 1);
  assert.match(r2.stderr, /noweights: no weights/);
});

test('baseline: frozen vectors + logistic regression learns a task its features can express, and writes the same reports', () => {
  // "is B the same page as A?": with [u, v, |u-v|, u*v] the |u-v| block is zero exactly for label 1
  const titles = Object.keys(JSON.parse(readFileSync(TEXTS, 'utf8')) as Record<string, string>).slice(0, 150);
  const same = titles.map((t, i) => [t, i % 2 ? t : titles[(i + 7) % titles.length]!, i % 2]);
  const p = join(dir, 'same.json');
  writeFileSync(p, JSON.stringify(same));
  const out = join(dir, 'base');
  const r = cli('baseline', '--model', model, '--output', out, '--texts', TEXTS, '--pairs', p, '--max-seq-length', '48', '--pooling', 'mean', '--pair-features', 'full');
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as { eval_accuracy: number; feature_dim: number; distinct_texts: number };
  assert.ok(report.eval_accuracy >= 0.95, `accuracy ${report.eval_accuracy}`);
  assert.equal(report.feature_dim, 4 * 32);
  assert.ok(report.distinct_texts <= 150, 'each text encoded once');
  for (const f of ['eval_results.txt', 'classification_report.txt', 'confusion_matrix.txt', 'eval_predictions.jsonl', 'logreg.safetensors']) assert.ok(existsSync(join(out, f)), f);
  assert.match(readFileSync(join(out, 'eval_results.txt'), 'utf8'), /^\*\*\*\*\* Eval results \*\*\*\*\*\neval_accuracy = /);
  const bad = cli('baseline', '--model', model, '--output', join(dir, 'base2'), '--texts', TEXTS, '--pairs', p, '--pooling', 'max');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--pooling must be pooled, cls or mean/);
});

const PRELOAD = join(ROOT, 'dist/test/fault-preload.js');
/** the CLI with the fault-injection preload: JA_BERT_FAULT_AT = event number, JA_BERT_FAULT = kill | enospc */
const faulty = (args: string[], env: Record<string, string>) => spawnSync(join(ROOT, 'bin/ja-bert'), args,
  { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: `--import=${PRELOAD}`, ...env } });
/** every point when JA_BERT_FAULT_CASES=all, else `n` spread evenly plus the last few (where a run finishes) */
const faultPoints = (events: number, n: number): number[] => {
  if (process.env.JA_BERT_FAULT_CASES === 'all') return Array.from({ length: events }, (_, i) => i + 1);
  const pts = new Set<number>();
  for (let i = 1; i <= n; i++) pts.add(Math.max(1, Math.round((i * events) / (n + 1))));
  for (let k = Math.max(1, events - 4); k <= events; k++) pts.add(k);
  return [...pts].sort((a, b) => a - b);
};

test('a kill at any phase (SIGKILL at sampled file-system steps): rerunning the same command completes it, exactly as an uninterrupted run', () => {
  const args = (out: string) => ['finetune', '--model', model, '--output', out, '--texts', small, '--pairs', pairs, '--max-seq-length', '48',
    '--batch-size', '16', '--epochs', '1', '--learning-rate', '5e-4', '--seed', '11', '--save-steps', '3'];
  const countFile = join(dir, 'events');
  const whole = faulty(args(join(dir, 'whole')), { JA_BERT_FAULT_COUNT: countFile });
  assert.equal(whole.status, 0, whole.stderr);
  const events = Number(readFileSync(countFile, 'utf8'));
  assert.ok(events > 20, `${events} file-system steps`);
  const refEval = readFileSync(join(dir, 'whole', 'eval_results.txt'), 'utf8'), refModel = readFileSync(join(dir, 'whole', 'model.safetensors'));
  const refCsv = readFileSync(join(dir, 'whole', 'metrics.csv'), 'utf8');
  assert.ok(!readdirSync(join(dir, 'whole')).some((f) => /^checkpoint-|best-model|\.tmp$|\.lock$/.test(f)), 'a finished folder holds no checkpoints, temp files or lock');
  let resumedMidway = 0;
  for (const k of faultPoints(events, Number(process.env.JA_BERT_FAULT_CASES ?? 6))) {
    const out = join(dir, `kill-${k}`);
    const killed = faulty(args(out), { JA_BERT_FAULT_AT: String(k) });
    assert.equal(killed.signal, 'SIGKILL', `event ${k}: ${killed.stderr}`);
    const again = cli(...args(out));
    if (again.status !== 0) {
      // killed after the finished marker, while removing checkpoints: the run is complete
      assert.equal(again.status, 1, `event ${k}: ${again.stderr}`);
      assert.match(again.stderr, /already finished/, `event ${k}`);
    }
    if (/resuming from .*checkpoint-\d+ at step \d+\/10/.test(again.stderr)) resumedMidway++;
    assert.equal(readFileSync(join(out, 'eval_results.txt'), 'utf8'), refEval, `event ${k}: eval results`);
    assert.deepEqual(readFileSync(join(out, 'model.safetensors')), refModel, `event ${k}: model`);
    assert.equal(readFileSync(join(out, 'metrics.csv'), 'utf8'), refCsv, `event ${k}: metrics.csv, each step once`);
    assert.ok(!readdirSync(out).some((f) => /^checkpoint-|\.tmp$|\.lock$/.test(f)), `event ${k}: leftovers ${readdirSync(out).join(' ')}`);
    rmSync(out, { recursive: true, force: true });
  }
  assert.ok(resumedMidway > 0, 'some kills resumed from a checkpoint');
  const again = cli(...args(join(dir, 'whole')));
  assert.equal(again.status, 1);
  assert.match(again.stderr, /already finished; use --overwrite/);
  const other = cli(...args(join(dir, 'whole')).map((a) => (a === '11' ? '12' : a)));
  assert.equal(other.status, 1);
  assert.match(other.stderr, /holds another run/);
});

test('a full disk at any write: one line naming the file, exit 1, and the same command completes once there is space', () => {
  const args = (out: string) => ['finetune', '--model', model, '--output', out, '--texts', small, '--pairs', pairs, '--max-seq-length', '48',
    '--batch-size', '16', '--epochs', '1', '--learning-rate', '5e-4', '--seed', '3', '--save-steps', '4'];
  const countFile = join(dir, 'writes');
  const whole = faulty(args(join(dir, 'full-ref')), { JA_BERT_FAULT: 'enospc', JA_BERT_FAULT_COUNT: countFile });
  assert.equal(whole.status, 0, whole.stderr);
  const events = Number(readFileSync(countFile, 'utf8'));
  const ref = readFileSync(join(dir, 'full-ref', 'eval_results.txt'), 'utf8');
  for (const k of faultPoints(events, Number(process.env.JA_BERT_FAULT_CASES ?? 3))) {
    const out = join(dir, `full-${k}`);
    const r = faulty(args(out), { JA_BERT_FAULT: 'enospc', JA_BERT_FAULT_AT: String(k) });
    assert.equal(r.status, 1, `write ${k}: ${r.stderr}`);
    const lines = r.stderr.trim().split('\n').filter((l) => l.startsWith('ja-bert:'));
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /^ja-bert: \/.*: (cannot write \(ENOSPC: the disk is full\)|cannot create the output folder \(ENOSPC\))$/, `write ${k}`);
    const again = cli(...args(out));
    assert.equal(again.status, 0, `write ${k}: ${again.stderr}`);
    assert.equal(readFileSync(join(out, 'eval_results.txt'), 'utf8'), ref, `write ${k}`);
    rmSync(out, { recursive: true, force: true });
  }
});

test('one writer per output folder: a second run is refused naming the pid; a dead owner\'s lock is taken over', () => {
  const out = join(dir, 'locked');
  mkdirSync(out, { recursive: true });
  // a live process holds the lock (this test's own pid)
  writeFileSync(join(out, '.ja-bert.lock'), `${process.pid}\n`);
  const r = run(out);
  assert.equal(r.status, 1);
  assert.match(r.stderr, new RegExp(`^ja-bert: ${out}: another ja-bert run \\(pid ${process.pid}\\) is writing to this folder\n$`));
  assert.ok(!existsSync(join(out, 'run.json')));
  // a dead one's lock (and temp files) are taken over and cleaned
  const dead = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
  writeFileSync(join(out, '.ja-bert.lock'), dead.stdout);
  writeFileSync(join(out, 'report.json.99999.tmp'), 'half');
  const ok = run(out);
  assert.equal(ok.status, 0, ok.stderr);
  assert.deepEqual(readdirSync(out).filter((f) => /lock|\.tmp$/.test(f)), []);
});

test('inputs are decoded strictly: Shift_JIS, NUL and duplicate keys are errors with their line; a BOM and RFC 4180 quotes are read', () => {
  const w = (name: string, content: string | Buffer) => { const p = join(dir, name); writeFileSync(p, content); return p; };
  const fail = (args: string[], re: RegExp) => {
    const r = cli('finetune', '--model', model, '--output', join(dir, 'strict-out'), '--max-seq-length', '32', '--max-steps', '1', ...args);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.ok(!existsSync(join(dir, 'strict-out')));
  };
  // 「良い」 in Shift_JIS on line 3
  fail(['--train', w('sjis.tsv', Buffer.concat([Buffer.from('text\tlabel\nok text\t1\n'), Buffer.from([0x97, 0xc7, 0x82, 0xa2]), Buffer.from('\t0\n')]))],
    /sjis\.tsv:3: not valid UTF-8 \(byte offset 21, 0x97\); the file looks like Shift_JIS/);
  fail(['--train', w('nul.jsonl', '{"text": "良い", "label": 1}\n{"text": "悪\u0000い", "label": 0}\n')], /nul\.jsonl:2: contains a NUL character/);
  fail(['--texts', w('dup.json', '{\n"ls(1)": "a",\n"ls(1)": "b"\n}'), '--pairs', pairs], /dup\.json:3: duplicate key "ls\(1\)" in one object/);
  fail(['--train', w('cols.tsv', 'text\tlabel\n良い文\t1\n悪い\t文\t0\n')], /cols\.tsv:3: 3 fields where the header has 2 \(a tab inside a text must be in "quotes"\)/);
  // a BOM, a quoted field holding a tab, a newline and a doubled quote: read as one text
  const rows = ['良い「文」です', '悪い\tタブ入り', '改行\nを含む', '引用符""入り'];
  const tsv = w('quoted.tsv', '\ufefftext\tlabel\n' + rows.map((t, i) => `"${t}"\t${i % 2}`).join('\n') + '\n' + rows.map((t, i) => `"${t}"\t${(i + 1) % 2}`).join('\n') + '\n');
  const { readTableExamples } = processors!;
  const ex = readTableExamples(tsv);
  assert.equal(ex.length, 8);
  assert.deepEqual(ex.slice(0, 4).map((e) => e.textA), ['良い「文」です', '悪い\tタブ入り', '改行\nを含む', '引用符"入り']);
  assert.deepEqual(ex.slice(0, 4).map((e) => e.label), ['0', '1', '0', '1']);
  assert.deepEqual(ex.map((e) => e.guid).slice(0, 4), ['1', '2', '3', '5'], 'guids follow the line each row starts on');
});

test('two runs started into one folder at once: one completes, the other is refused in one line; never both, never a raw error', async () => {
  const out = join(dir, 'race');
  const args = ['finetune', '--model', model, '--output', out, '--texts', small, '--pairs', pairs, '--max-seq-length', '48', '--batch-size', '16', '--epochs', '1', '--seed', '5'];
  const start = () => new Promise<{ status: number | null; stderr: string }>((resolve) => {
    const p = spawn(join(ROOT, 'bin/ja-bert'), args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    p.on('close', (status) => resolve({ status, stderr: err }));
  });
  const [a, b] = await Promise.all([start(), start()]);
  const ok = [a, b].filter((r) => r.status === 0), refused = [a, b].filter((r) => r.status !== 0);
  assert.equal(ok.length, 1, `${a.stderr}\n---\n${b.stderr}`);
  assert.equal(refused[0]!.status, 1);
  const line = refused[0]!.stderr.split('\n').filter((l) => l.startsWith('ja-bert:'));
  assert.equal(line.length, 1, refused[0]!.stderr);
  assert.match(line[0]!, /another ja-bert run \(pid \d+\) is writing|changed while this run was starting|already finished/);
  assert.ok(existsSync(join(out, 'eval_results.txt')) && !existsSync(join(out, '.ja-bert.lock')));
});

test('bad options and data are refused before anything is written; the corrected command then runs without --overwrite', () => {
  const out = join(dir, 'validate');
  const cases: Array<[string[], RegExp, number]> = [
    [['--epochs', '0'], /--epochs must be a number > 0, got 0/, 2],
    [['--batch-size', '0'], /--batch-size must be an integer ≥ 1, got 0/, 2],
    [['--batch-size=-1'], /--batch-size must be an integer ≥ 1, got -1/, 2],
    [['--batch-size', '1.5'], /--batch-size must be an integer ≥ 1, got 1\.5/, 2],
    [['--learning-rate=-1'], /--learning-rate must be a number > 0/, 2],
    [['--max-seq-length', '2'], /--max-seq-length must be an integer from 8 to 4096, got 2/, 2],
    [['--gradient-accumulation-steps', '0'], /--gradient-accumulation-steps must be an integer ≥ 1/, 2],
    [['--warmup-proportion', '1.5'], /--warmup-proportion must be a number in \[0, 1\)/, 2],
    [['--eval-ratio', '0'], /--eval-ratio must be a number in \(0, 1\)/, 2],
    [['--head', 'bogus'], /--head must be cross, bi, .* or late, got "bogus"/, 2],
    [['--epochs', 'x'], /--epochs must be a number, got "x"/, 2],
    [['--batch-size', '1000'], /no training steps/, 2],
  ];
  for (const [extra, re, code] of cases) {
    const r = run(out, ...extra);
    assert.equal(r.status, code, `${extra.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re, extra.join(' '));
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.ok(!existsSync(out), `${extra.join(' ')}: nothing written`);
  }
  // an eval label the training data does not have
  const tr = join(dir, 'tr.tsv'), ev = join(dir, 'ev.tsv');
  writeFileSync(tr, 'label\ttext\n0\t一つ目の文です\n1\t二つ目の文です\n0\t三つ目の文です\n1\t四つ目の文です\n');
  writeFileSync(ev, 'label\ttext\n2\t知らないラベルの文です\n');
  const bad = cli('finetune', '--model', model, '--output', out, '--train', tr, '--eval', ev, '--batch-size', '2', '--epochs', '1');
  assert.equal(bad.status, 1, bad.stderr);
  assert.match(bad.stderr, /ev\.tsv: .*label "2"/);
  assert.ok(!existsSync(out), 'nothing written');
  const good = run(out);
  assert.equal(good.status, 0, good.stderr);
});

test('gradient accumulation: k micro-batches of b equal one batch of k*b (same gradients, same step count)', async () => {
  const { train } = await import('../src/train/trainer.js');
  const cfg = makeConfig({ vocab_size: 50, hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 32, max_position_embeddings: 32,
    hidden_dropout_prob: 0, attention_probs_dropout_prob: 0, labels: ['0', '1'] });
  // 16 examples, one optimizer step: both runs put all of them into that step
  const feats = Array.from({ length: 16 }, (_, i) => ({ inputIds: [2, 5 + (i % 40), 6 + ((i * 7) % 40), 3], tokenTypeIds: [0, 0, 0, 0] }));
  const y = Int32Array.from(feats, (_, i) => i % 2);
  const run = (batchSize: number, accum: number) => {
    const m = new Bert(cfg, { kernels: nativeKernels(), seed: 5 });
    const r = train(m, nativeKernels(), feats, y, { batchSize, learningRate: 1e-3, epochs: 1, warmupProportion: 0, seed: 3, gradientAccumulation: accum });
    return { steps: r.globalStep, params: m.params };
  };
  const a = run(16, 1), b = run(8, 2);
  assert.equal(a.steps, 1);
  assert.equal(b.steps, 1);
  let worst = 0;
  a.params.forEach((v, i) => { worst = Math.max(worst, Math.abs(v - b.params[i]!)); });
  assert.ok(worst < 1e-6, `max parameter difference ${worst}`);
  const c = run(16, 1);
  assert.deepEqual(c.params, a.params, 'deterministic');
});

test('evaluation during training, best model kept, early stopping', () => {
  const out = join(dir, 'evalrun');
  const r = cli('finetune', '--model', model, '--output', out, '--texts', TEXTS, '--pairs', pairs, '--max-seq-length', '48', '--batch-size', '16',
    '--epochs', '3', '--learning-rate', '3e-3', '--seed', '4', '--eval-steps', '2', '--early-stopping-patience', '2');
  assert.equal(r.status, 0, r.stderr);
  const rep = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as { evaluations: Array<{ step: number; eval_loss: number }>; best_step: number; stopped_early: boolean; eval_loss: number; global_step: number };
  assert.ok(rep.evaluations.length >= 2);
  assert.deepEqual(rep.evaluations.map((e) => e.step).slice(0, 2), [2, 4]);
  const best = rep.evaluations.reduce((a, e) => (e.eval_loss < a.eval_loss ? e : a));
  assert.equal(rep.best_step, best.step);
  assert.ok(Math.abs(rep.eval_loss - best.eval_loss) < 1e-6, 'the final evaluation is of the best model');
  if (rep.stopped_early) assert.ok(rep.global_step < 30);
  assert.ok(!existsSync(join(out, 'best-model')), 'the best-model folder is cleaned up');
  const html = readFileSync(join(out, 'report.html'), 'utf8');
  assert.ok(html.includes(readFileSync(join(out, 'eval_results.txt'), 'utf8').replace(/&/g, '&amp;')), 'the eval block is in the page');
  assert.equal((html.match(/<svg /g) ?? []).length, 3, 'heat map, loss and accuracy charts');
  assert.ok(!/<script|https?:\/\//.test(html.replaceAll('http://www.w3.org/2000/svg', '')), 'self-contained: no scripts, nothing fetched');
  // the same SVGs as report.html, rendered: the heat map as wide as its page SVG (laid out from measured text); two 560-wide charts
  const heatW = Number(/<svg xmlns="http:\/\/www.w3.org\/2000\/svg" width="(\d+)"/.exec(html)![1]);
  assert.ok(heatW >= 300, `the heat map holds its title (${heatW} px)`);
  for (const [f, w] of [['confusion_matrix.png', heatW], ['learning_curve.png', 560]] as const) {
    const png = readFileSync(join(out, f));
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], f);
    assert.equal(png.readUInt32BE(16), w, `${f} width`);
  }
});

test('an eval label the training data lacks is a clear error; bf16 fine-tuning runs where the CPU has bf16 and is refused before anything is written where not; auto follows the CPU', () => {
  const train = join(dir, 'lab-train.jsonl'), evalF = join(dir, 'lab-eval.jsonl');
  const rows = (labels: string[]) => labels.map((l, i) => JSON.stringify({ text: `テキスト ${i} です`, label: l })).join('\n') + '\n';
  writeFileSync(train, rows(['pos', 'neg', 'pos', 'neg', 'pos', 'neg', 'pos', 'neg']));
  writeFileSync(evalF, rows(['pos', 'neu']));
  const r = cli('finetune', '--model', model, '--output', join(dir, 'lab-out'), '--train', train, '--eval', evalF, '--max-steps', '1');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /lab-eval\.jsonl: example 1 has label "neu", which the training data does not have \(neg, pos\)/);
  writeFileSync(evalF, rows(['pos', 'neg']));
  const K = nativeKernels();
  const b = cli('finetune', '--model', model, '--output', join(dir, 'bf16-out'), '--train', train, '--eval', evalF, '--max-steps', '2', '--batch-size', '4', '--dtype', 'bf16');
  if (!K.bf16Supported) {
    assert.equal(b.status, 2, b.stderr);
    assert.equal(b.stderr.trim().split('\n').length, 1, b.stderr);
    assert.match(b.stderr, /^ja-bert: --dtype bf16: this CPU does not run bf16 natively \(oneDNN ISA \w+; .*use --dtype auto or f32$/m);
    assert.ok(!existsSync(join(dir, 'bf16-out')), 'nothing written');
  } else {
    assert.equal(b.status, 0, b.stderr);
    const rep = JSON.parse(readFileSync(join(dir, 'bf16-out', 'report.json'), 'utf8')) as { hyperparameters: { dtype: string }; labels: string[]; global_step: number };
    assert.equal(rep.hyperparameters.dtype, 'bf16');
    assert.deepEqual(rep.labels, ['neg', 'pos']);
    assert.equal(rep.global_step, 2);
  }
  // no --dtype: auto, bf16 where native and f32 elsewhere; the model then predicts in either dtype
  const a = cli('finetune', '--model', model, '--output', join(dir, 'auto-out'), '--train', train, '--eval', evalF, '--max-steps', '2', '--batch-size', '4');
  assert.equal(a.status, 0, a.stderr);
  const rep = JSON.parse(readFileSync(join(dir, 'auto-out', 'report.json'), 'utf8')) as { hyperparameters: { dtype: string } };
  assert.equal(rep.hyperparameters.dtype, K.bf16Supported ? 'bf16' : 'f32');
  const input = join(dir, 'auto-in.jsonl');
  writeFileSync(input, JSON.stringify({ text: 'テキスト 1 です' }) + '\n');
  const probs = (['f32', ...(K.bf16Supported ? ['bf16'] : [])]).map((dt) => {
    const p = cli('predict', '--model', join(dir, 'auto-out'), '--input', input, '--output', join(dir, `auto-${dt}.jsonl`), '--dtype', dt);
    assert.equal(p.status, 0, p.stderr);
    return (JSON.parse(readFileSync(join(dir, `auto-${dt}.jsonl`), 'utf8')) as { probabilities: Record<string, number> }).probabilities.pos!;
  });
  for (const p of probs) assert.ok(Math.abs(p - probs[0]!) < 0.02, `predict f32 vs bf16: ${probs.join(' vs ')}`);
});
