// Metrics beyond accuracy (MCC, ROC-AUC, macro-F1), choosing the best model
// by one of them as HF Trainer's metric_for_best_model does, the optimizer
// knobs, and sentence embeddings from `encode --pooling`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { computeMetrics, matthewsFromConfusion, rocAucBinary } from '../src/eval/metrics.js';
import { closeEngine, Encoder } from '../src/index.js';
import { tinySetup } from './helpers.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const cli = (...args: string[]) => spawnSync(join(ROOT, 'bin/ja-bert'), args, { encoding: 'utf8' });
let dir = '', model = '', texts = '', pairs = '';

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'jabert-sel-'));
  ({ model, texts, pairs } = tinySetup(dir, { seed: 6, from: 300, to: 380 }));
});
after(async () => { await closeEngine(); if (dir) rmSync(dir, { recursive: true, force: true }); });

test('MCC and ROC-AUC: the values scikit-learn documents and hand-counted cases', () => {
  // sklearn.metrics.matthews_corrcoef docstring: [+1, +1, +1, -1] vs [+1, -1, +1, +1] -> -0.33...
  const m = computeMetrics(['-1', '+1'], [1, 1, 1, 0], [1, 0, 1, 1]);
  assert.ok(Math.abs(m.mcc - -1 / 3) < 1e-12, String(m.mcc));
  // three classes: cm [[2,0,0],[1,1,1],[0,1,2]]: (5·8 − 21) / √(42·42) = 19/42
  assert.ok(Math.abs(matthewsFromConfusion([[2, 0, 0], [1, 1, 1], [0, 1, 2]]) - 19 / 42) < 1e-12);
  assert.equal(matthewsFromConfusion([[3, 0], [0, 0]]), 0, 'undefined (one class only) is 0, as sklearn');
  // sklearn.metrics.roc_auc_score docstring example: 0.75
  assert.equal(rocAucBinary([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]), 0.75);
  // ties count half: 7 of 12 positive-negative pairs
  assert.ok(Math.abs(rocAucBinary([0, 1, 1, 0, 1, 0, 1], [0.5, 0.5, 0.9, 0.2, 0.5, 0.5, 0.1])! - 7 / 12) < 1e-12);
  assert.equal(rocAucBinary([1, 1], [0.2, 0.3]), null);
  const withProbs = computeMetrics(['0', '1'], [0, 0, 1, 1], [0, 1, 0, 1], [[0.9, 0.1], [0.6, 0.4], [0.65, 0.35], [0.2, 0.8]]);
  assert.equal(withProbs.rocAuc, 0.75);
});

test('finetune reports macro-F1, MCC and ROC-AUC (report.json, eval_results.json), --metric-for-best-model picks the best evaluation by it, --report-to tensorboard logs the scalars', async () => {
  const out = join(dir, 'f1');
  const common = ['--model', model, '--texts', texts, '--pairs', pairs, '--max-steps', '12', '--batch-size', '8', '--max-seq-length', '32',
    '--learning-rate', '2e-3', '--eval-steps', '3', '--dtype', 'f32', '--seed', '5'];
  let r = cli('finetune', ...common, '--output', out, '--metric-for-best-model', 'macro_f1', '--report-to', 'tensorboard');
  assert.equal(r.status, 0, r.stderr);
  // run_classifier's block stays as it is; every metric is in eval_results.json, as HF Trainer writes it
  assert.match(readFileSync(join(out, 'eval_results.txt'), 'utf8'), /^\*\*\*\*\* Eval results \*\*\*\*\*\neval_accuracy = .*\neval_loss = .*\nglobal_step = 12\nloss = .*\n$/);
  const ej = JSON.parse(readFileSync(join(out, 'eval_results.json'), 'utf8')) as Record<string, number>;
  assert.deepEqual(Object.keys(ej), ['eval_accuracy', 'eval_loss', 'eval_macro_f1', 'eval_mcc', 'eval_roc_auc', 'eval_samples', 'global_step']);
  const rep = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as { evaluations: Array<{ step: number; eval_macro_f1: number; eval_loss: number }>; best_step: number;
    eval_mcc: number; eval_roc_auc: number; eval_macro_f1: number; hyperparameters: Record<string, unknown> };
  assert.equal(rep.evaluations.length, 4);
  const best = rep.evaluations.reduce((b, e) => (e.eval_macro_f1 > b.eval_macro_f1 ? e : b));
  assert.equal(rep.best_step, best.step, 'the first evaluation with the highest macro-F1');
  assert.equal(rep.hyperparameters.metric_for_best_model, 'macro_f1');
  assert.equal(rep.hyperparameters.greater_is_better, true);
  for (const k of ['eval_mcc', 'eval_roc_auc', 'eval_macro_f1'] as const) assert.ok(rep[k] >= -1 && rep[k] <= 1, k);
  // the final eval_macro_f1 is that of the best model, which was loaded back
  assert.ok(Math.abs(rep.eval_macro_f1 - best.eval_macro_f1) < 1e-9);
  assert.equal(ej.eval_macro_f1, rep.eval_macro_f1);
  assert.equal(ej.eval_mcc, rep.eval_mcc);
  // metrics.csv: a row per step and per evaluation, in step order, then the final evaluation of the saved (best) model
  const csv = readFileSync(join(out, 'metrics.csv'), 'utf8').trim().split('\n');
  assert.equal(csv[0], 'step,kind,loss,learning_rate,eval_accuracy,eval_loss,eval_macro_f1,eval_mcc,eval_roc_auc');
  assert.equal(csv.filter((l) => l.split(',')[1] === 'train').length, 12);
  assert.deepEqual(csv.filter((l) => l.split(',')[1] === 'eval').map((l) => Number(l.split(',')[0])), [3, 6, 9, 12]);
  const evalRow = csv.find((l) => l.startsWith('6,eval,'))!.split(',');
  assert.equal(Number(evalRow[6]), rep.evaluations[1]!.eval_macro_f1);
  assert.match(csv[csv.length - 1]!, /^12,final,,,/);
  assert.equal(Number(csv[csv.length - 1]!.split(',')[6]), rep.eval_macro_f1);
  // learning rates at float32's precision, as the kernels apply them: step 4's is 2e-3 · (1 − 3/12), printed 0.0015
  assert.equal(csv.find((l) => l.startsWith('4,train,'))!.split(',')[3], '0.0015');
  assert.ok(csv.slice(1).every((l) => l.split(',').slice(2, 4).every((c) => c.replace(/^-?0\.0*|e-?\d+$/g, '').replace('.', '').length <= 9)), 'losses and learning rates with float32\'s digits, no float64 noise');
  // the TensorBoard event file: TensorFlow's record framing with valid masked CRC-32Cs, the version event, then the same scalars as metrics.csv
  const { EventType, maskedCrc } = await import('../src/eval/tfevents.js');
  const runs = readdirSync(join(out, 'runs'));
  assert.equal(runs.length, 1);
  assert.match(runs[0]!, /^events\.out\.tfevents\.\d+\..+\.ja-bert$/);
  const buf = readFileSync(join(out, 'runs', runs[0]!));
  const events: Array<Record<string, unknown>> = [];
  for (let off = 0; off < buf.length;) {
    const len = Number(buf.readBigUInt64LE(off));
    assert.equal(buf.readUInt32LE(off + 8), maskedCrc(buf.subarray(off, off + 8)), 'length CRC');
    const data = buf.subarray(off + 12, off + 12 + len);
    assert.equal(buf.readUInt32LE(off + 12 + len), maskedCrc(data), 'data CRC');
    events.push(EventType.toObject(EventType.decode(data), { longs: Number }) as Record<string, unknown>);
    off += 16 + len;
  }
  assert.equal(events[0]!.fileVersion, 'brain.Event:2');
  const scalar = (tag: string) => events.flatMap((e) => ((e.summary as { value: Array<{ tag: string; simpleValue: number }> } | undefined)?.value ?? [])
    .filter((v) => v.tag === tag).map((v) => [e.step as number, v.simpleValue]));
  assert.equal(scalar('train/loss').length, 12);
  assert.deepEqual(scalar('eval/macro_f1').map((x) => x[0]), [3, 6, 9, 12, 12], 'four evaluations and the final one');
  scalar('eval/macro_f1').forEach(([, v], i) => assert.ok(Math.abs(v! - (rep.evaluations[i]?.eval_macro_f1 ?? rep.eval_macro_f1)) < 1e-6));
  // each event at the time it happened: wall times do not go back, and the first step's is before the final evaluation's
  const walls = events.map((e) => e.wallTime as number);
  assert.ok(walls.every((t, i) => i === 0 || t >= walls[i - 1]!), 'wall times in order');
  // report.html's run table lists the options: learning rate, batch size, seed, selection metric
  const html = readFileSync(join(out, 'report.html'), 'utf8');
  for (const [k, v] of [['learning_rate', '0.002'], ['train_batch_size', '8'], ['seed', '5'], ['metric_for_best_model', 'macro_f1'], ['weight_decay', '0.01']]) {
    assert.ok(html.includes(`<tr><th>${k}</th><td>${v}</td></tr>`), `report.html lists ${k} = ${v}`);
  }
  // accuracy, lower is better: the selection follows --greater-is-better
  const out2 = join(dir, 'acc-low');
  r = cli('finetune', ...common, '--output', out2, '--metric-for-best-model', 'eval_accuracy', '--greater-is-better', 'false');
  assert.equal(r.status, 0, r.stderr);
  const rep2 = JSON.parse(readFileSync(join(out2, 'report.json'), 'utf8')) as { evaluations: Array<{ step: number; eval_accuracy: number }>; best_step: number };
  assert.equal(rep2.best_step, rep2.evaluations.reduce((b, e) => (e.eval_accuracy < b.eval_accuracy ? e : b)).step);
  // bad values are one line, exit 2, nothing written
  for (const [flag, value, re] of [['--metric-for-best-model', 'f2', /--metric-for-best-model must be loss, accuracy, macro_f1, mcc, roc_auc, pearson, spearmanr, micro_f1 or subset_accuracy/],
    ['--greater-is-better', 'yes', /--greater-is-better must be true or false/], ['--weight-decay', '-1', /--weight-decay must be a number ≥ 0/],
    ['--max-grad-norm', 'nan', /--max-grad-norm must be a number/]] as const) {
    const bad = join(dir, `bad-${flag}`);
    r = cli('finetune', ...common, '--output', bad, `${flag}=${value}`);
    assert.equal(r.status, 2, `${flag} ${value}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.ok(!existsSync(bad));
  }
});

test('--weight-decay and --max-grad-norm reach the optimizer: other values, other weights; recorded in the report', () => {
  const common = ['--model', model, '--texts', texts, '--pairs', pairs, '--max-steps', '4', '--batch-size', '8', '--max-seq-length', '32', '--learning-rate', '2e-3', '--dtype', 'f32'];
  const runs = [[], ['--weight-decay', '0'], ['--max-grad-norm', '0.01']].map((extra, i) => {
    const out = join(dir, `opt-${i}`);
    const r = cli('finetune', ...common, '--output', out, ...extra);
    assert.equal(r.status, 0, r.stderr);
    return { w: readFileSync(join(out, 'model.safetensors')), hp: (JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as { hyperparameters: Record<string, number> }).hyperparameters };
  });
  assert.equal(runs[0]!.hp.weight_decay, 0.01);
  assert.equal(runs[1]!.hp.weight_decay, 0);
  assert.equal(runs[2]!.hp.max_grad_norm, 0.01);
  assert.ok(!runs[0]!.w.equals(runs[1]!.w) && !runs[0]!.w.equals(runs[2]!.w) && !runs[1]!.w.equals(runs[2]!.w));
});

test('encode --pooling mean --normalize: unit vectors, equal to the library Encoder\'s; --normalize alone is refused', async () => {
  const body = JSON.parse(readFileSync(texts, 'utf8')) as Record<string, string>;
  const some = Object.values(body).slice(0, 6);
  const inp = join(dir, 'enc.jsonl'), out = join(dir, 'enc-out.jsonl');
  writeFileSync(inp, some.map((t) => JSON.stringify({ text: t })).join('\n') + '\n');
  for (const pooling of ['mean', 'cls', 'pooled'] as const) {
    const r = cli('encode', '--model', model, '--input', inp, '--output', out, '--pooling', pooling, '--normalize', '--dtype', 'f32', '--max-seq-length', '64');
    assert.equal(r.status, 0, r.stderr);
    const got = readFileSync(out, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { embedding: number[] }).embedding);
    for (const v of got) assert.ok(Math.abs(Math.hypot(...v) - 1) < 1e-5, 'unit length');
    const enc = await Encoder.load(model, { dtype: 'f32', maxSeqLength: 64 });
    const want = await enc.encode(some, { pooling, normalize: true });
    await enc.close();
    got.forEach((v, i) => v.forEach((x, d) => assert.ok(Math.abs(x - want[i]![d]!) < 1e-5, `${pooling} text ${i} dim ${d}: ${x} vs ${want[i]![d]}`)));
  }
  const r = cli('encode', '--model', model, '--input', inp, '--output', join(dir, 'x.jsonl'), '--normalize');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--normalize needs --pooling/);
});

test('label smoothing and class weights: the loss and its gradient as HF/PyTorch define them; finetune takes them, balanced as scikit-learn', async () => {
  const { specLoss, specLossGrad, balancedClassWeights } = await import('../src/train/loss.js');
  const probs = Float32Array.from([0.7, 0.2, 0.1, 0.25, 0.5, 0.25]), y = Int32Array.from([0, 1]);
  // HF LabelSmoother: (1 − ε)·NLL + ε·mean_c(−log p_c), averaged over examples
  const eps = 0.1, nll = (-Math.log(0.7) - Math.log(0.5)) / 2, smooth = (-(Math.log(0.7) + Math.log(0.2) + Math.log(0.1)) / 3 - (Math.log(0.25) + Math.log(0.5) + Math.log(0.25)) / 3) / 2;
  assert.ok(Math.abs(specLoss(probs, y, 2, 3, { labelSmoothing: eps }) - ((1 - eps) * nll + eps * smooth)) < 1e-6);
  // PyTorch CrossEntropyLoss(weight=w): Σ w_y·nll / Σ w_y
  const w = Float32Array.from([1, 3, 1]);
  assert.ok(Math.abs(specLoss(probs, y, 2, 3, { classWeights: w }) - (-Math.log(0.7) - 3 * Math.log(0.5)) / 4) < 1e-6);
  // the gradient w.r.t. the logits, against finite differences through the softmax
  const logits = Float64Array.from([0.3, -0.2, 0.5, 1.1, 0.1, -0.4]);
  const soft = (l: Float64Array) => Float32Array.from(l, (_, i) => { const r = Math.floor(i / 3); const e = [0, 1, 2].map((c) => Math.exp(l[r * 3 + c]!)); return e[i % 3]! / (e[0]! + e[1]! + e[2]!); });
  const spec = { labelSmoothing: 0.2, classWeights: Float32Array.from([2, 1, 0.5]) };
  const d = new Float32Array(6);
  specLossGrad(d, soft(logits), y, 2, 3, 1, spec);
  for (let i = 0; i < 6; i++) {
    const h = 1e-3, up = logits.slice(), dn = logits.slice();
    up[i]! += h; dn[i]! -= h;
    const num = (specLoss(soft(up), y, 2, 3, spec) - specLoss(soft(dn), y, 2, 3, spec)) / (2 * h);
    assert.ok(Math.abs(num - d[i]!) < 2e-3, `logit ${i}: ${d[i]} vs ${num}`);
  }
  const bw = balancedClassWeights([0, 0, 0, 1], 2);
  assert.ok(Math.abs(bw[0]! - 4 / 6) < 1e-6 && bw[1] === 2, String(bw));
  // through finetune: recorded, and they change the training
  const common = ['--model', model, '--texts', texts, '--pairs', pairs, '--max-steps', '4', '--batch-size', '8', '--max-seq-length', '32', '--learning-rate', '2e-3', '--dtype', 'f32'];
  const plain = join(dir, 'loss-plain');
  assert.equal(cli('finetune', ...common, '--output', plain).status, 0);
  for (const [name, extra] of [['ls', ['--label-smoothing', '0.1']], ['cw', ['--class-weights', 'balanced']], ['cw2', ['--class-weights', '1,3']]] as const) {
    const out = join(dir, `loss-${name}`);
    const r = cli('finetune', ...common, '--output', out, ...extra);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(!readFileSync(join(out, 'model.safetensors')).equals(readFileSync(join(plain, 'model.safetensors'))), `${name} changes the weights`);
    const hp = (JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as { hyperparameters: Record<string, unknown> }).hyperparameters;
    if (name === 'ls') assert.equal(hp.label_smoothing, 0.1);
    if (name === 'cw2') assert.deepEqual(hp.class_weights, [1, 3]);
  }
  for (const [v, re] of [['1,2,3', /--class-weights must be balanced or 2 numbers/], ['0,0', /not all 0/], ['x', /--class-weights must be/]] as const) {
    const r = cli('finetune', ...common, '--output', join(dir, 'bad-cw'), '--class-weights', v);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, re);
  }
  const r = cli('finetune', ...common, '--output', join(dir, 'bad-ls'), '--label-smoothing', '1');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--label-smoothing must be a number in \[0, 1\)/);
});

test('metrics.csv and the TensorBoard event file grow while training runs; a run stopped and resumed logs every step once, as an uninterrupted run does', async () => {
  const { finetune } = await import('../src/finetune.js');
  const { nativeKernels } = await import('../src/core/native.js');
  const { AbortedError } = await import('../src/core/errors.js');
  const { EventType } = await import('../src/eval/tfevents.js');
  const readEvents = (path: string) => {
    const buf = readFileSync(path), out: Array<Record<string, unknown>> = [];
    for (let off = 0; off < buf.length;) {
      const len = Number(buf.readBigUInt64LE(off));
      out.push(EventType.toObject(EventType.decode(buf.subarray(off + 12, off + 12 + len)), { longs: Number }) as Record<string, unknown>);
      off += 16 + len;
    }
    return out;
  };
  const saved = process.env.JA_BERT_PROGRESS_SECONDS;
  process.env.JA_BERT_PROGRESS_SECONDS = '0'; // a progress line per step
  try {
    const opts = (output: string) => ({ model, texts, pairs, output, kernels: nativeKernels(), maxSteps: 12, batchSize: 8, maxSeqLength: 32, learningRate: 2e-3,
      evalSteps: 4, dtype: 'f32' as const, seed: 5, saveSteps: 3, reportTo: 'tensorboard' as const });
    // while running: at the evaluation of step 8, the files already hold steps 1..8 and the evaluations at 4 and 8
    const whole = join(dir, 'live-whole');
    let seen: { csv: string[]; scalars: number } | null = null;
    finetune({ ...opts(whole), log: (l) => {
      if (!l.startsWith('eval at step 8')) return;
      const csv = readFileSync(join(whole, 'metrics.csv'), 'utf8').trim().split('\n');
      const runs = readdirSync(join(whole, 'runs'));
      seen = { csv, scalars: readEvents(join(whole, 'runs', runs[0]!)).filter((e) => e.summary).length };
    } });
    assert.ok(seen, 'the log reached step 8');
    const mid = seen as unknown as { csv: string[]; scalars: number };
    assert.deepEqual(mid.csv.slice(1).map((l) => l.split(',').slice(0, 2).join(',')),
      ['1,train', '2,train', '3,train', '4,train', '4,eval', '5,train', '6,train', '7,train', '8,train', '8,eval']);
    assert.ok(mid.scalars >= 8 * 2 + 2 * 5, `the event file held ${mid.scalars} scalars at step 8`);
    assert.ok(existsSync(join(whole, 'eval_results.txt')));
    // stopped after step 7 (a checkpoint at 6, and 7 saved on the way out), then resumed by the same call
    const parted = join(dir, 'live-parted');
    const signal = { aborted: false };
    assert.throws(() => finetune({ ...opts(parted), signal, log: (l) => { if (/ 7\/12 /.test(l)) signal.aborted = true; } }), AbortedError);
    assert.ok(!existsSync(join(parted, 'eval_results.txt')));
    assert.equal(readFileSync(join(parted, 'metrics.csv'), 'utf8').trim().split('\n').filter((l) => l.includes(',train,')).length, 7);
    finetune({ ...opts(parted), log: () => {} });
    const csvOf = (d: string) => readFileSync(join(d, 'metrics.csv'), 'utf8');
    assert.equal(csvOf(parted), csvOf(whole), 'the same rows, each step once, the final evaluation last');
    // two event files: the second opens with SessionLog START at step 8, so TensorBoard drops anything the first logged from step 8 on
    const files = readdirSync(join(parted, 'runs')).sort();
    assert.equal(files.length, 2);
    const second = files.map((f) => readEvents(join(parted, 'runs', f))).find((ev) => ev.some((e) => e.sessionLog))!;
    assert.ok(second, 'one file starts a resumed session');
    assert.deepEqual([second[1]!.step, (second[1]!.sessionLog as { status: number }).status], [8, 1]);
    const trainSteps = second.filter((e) => (e.summary as { value: Array<{ tag: string }> } | undefined)?.value[0]?.tag === 'train/loss').map((e) => e.step);
    assert.deepEqual(trainSteps, [8, 9, 10, 11, 12]);
  } finally {
    if (saved === undefined) delete process.env.JA_BERT_PROGRESS_SECONDS; else process.env.JA_BERT_PROGRESS_SECONDS = saved;
  }
});
