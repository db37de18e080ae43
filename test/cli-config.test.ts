// CLI conventions: --config run.json (snake/kebab/camel keys, flags win, bad
// keys and types refused in one line), and --input - / --output - for predict.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tinySetup } from './helpers.js';
import { formatDuration, Progress } from '../src/core/progress.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const cli = (args: string[], input?: string) => spawnSync(join(ROOT, 'bin/ja-bert'), args, { encoding: 'utf8', input });
let dir = '', model = '', texts = '', pairs = '';

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'jabert-conf-'));
  ({ model, texts, pairs } = tinySetup(dir, { seed: 2, from: 200, to: 240 }));
});
after(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

test('finetune --config: options from JSON in any key spelling; flags given too win', () => {
  const conf = join(dir, 'run.json');
  writeFileSync(conf, JSON.stringify({ model, texts, pairs, learning_rate: 2e-3, 'max-steps': 3, batchSize: 8, max_seq_length: 32, seed: 7, dtype: 'f32' }));
  const out = join(dir, 'ft');
  const r = cli(['finetune', '--config', conf, '--output', out, '--batch-size', '4']);
  assert.equal(r.status, 0, r.stderr);
  const rep = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as { hyperparameters: Record<string, unknown>; global_step: number };
  assert.equal(rep.hyperparameters.learning_rate, 2e-3);
  assert.equal(rep.hyperparameters.train_batch_size, 4, 'the flag wins over the file');
  assert.equal(rep.hyperparameters.max_seq_length, 32);
  assert.equal(rep.hyperparameters.seed, 7);
  assert.equal(rep.global_step, 3);
});

test('--config refuses an unknown key, a wrong type, bad JSON and a missing file, in one line, exit 2, nothing written', () => {
  const cases: Array<[unknown | string, RegExp]> = [
    [{ learning_rat: 1e-3 }, /unknown option "learning_rat"/],
    [{ epochs: '3' }, /"epochs" must be a number/],
    [{ overwrite: 'yes' }, /"overwrite" must be a boolean/],
    [[1, 2], /must be a JSON object/],
    ['{"epochs": 3,', /run-\d\.json:1/],
  ];
  cases.forEach(([content, re], i) => {
    const conf = join(dir, `run-${i}.json`);
    writeFileSync(conf, typeof content === 'string' ? content : JSON.stringify(content));
    const out = join(dir, `bad-${i}`);
    const r = cli(['finetune', '--config', conf, '--model', model, '--texts', texts, '--pairs', pairs, '--output', out]);
    assert.equal(r.status, 2, `case ${i}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.ok(!existsSync(out));
  });
  const r = cli(['baseline', '--config', join(dir, 'nope.json'), '--output', join(dir, 'x')]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /nope\.json: no such file/);
});

test('predict --input - reads standard input; --output - writes standard output', () => {
  const out = join(dir, 'ft');
  const body = JSON.parse(readFileSync(texts, 'utf8')) as Record<string, string>;
  const [a, b] = Object.values(body);
  const lines = [JSON.stringify({ text: a, text_b: b }), JSON.stringify({ text: b, text_b: a })].join('\n') + '\n';
  const r = cli(['predict', '--model', out, '--input', '-', '--output', '-', '--dtype', 'f32'], lines);
  assert.equal(r.status, 0, r.stderr);
  const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { prediction: string; probabilities: Record<string, number> });
  assert.equal(rows.length, 2);
  const file = join(dir, 'in.jsonl'), po = join(dir, 'p.jsonl');
  writeFileSync(file, lines);
  assert.equal(cli(['predict', '--model', out, '--input', file, '--output', po, '--dtype', 'f32']).status, 0);
  assert.deepEqual(rows, readFileSync(po, 'utf8').trim().split('\n').map((l) => JSON.parse(l)));
  const bad = cli(['predict', '--model', out, '--input', '-', '--output', '-'], '{"text": 1}\n');
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /<stdin>:1/);
});

test('--config takes Hugging Face TrainingArguments names where ja-bert has the knob, and names the ones it lacks', () => {
  const out = join(dir, 'ft-hf');
  const conf = join(dir, 'training_args.json');
  writeFileSync(conf, JSON.stringify({ model_name_or_path: model, output_dir: out, per_device_train_batch_size: 8, num_train_epochs: 1, warmup_ratio: 0.5, max_steps: 2, bf16: false, seed: 5, learning_rate: 1e-3, max_seq_length: 32 }));
  const r = cli(['finetune', '--config', conf, '--texts', texts, '--pairs', pairs]);
  assert.equal(r.status, 0, r.stderr);
  const rep = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as { hyperparameters: Record<string, unknown>; global_step: number };
  assert.equal(rep.hyperparameters.train_batch_size, 8);
  assert.equal(rep.hyperparameters.seed, 5);
  assert.equal(rep.global_step, 2);
  assert.equal(rep.hyperparameters.dtype, 'f32', 'bf16: false is --dtype f32');
  assert.equal(rep.hyperparameters.warmup_proportion, 0.5);
  assert.equal(rep.hyperparameters.num_train_epochs, 1);
  // options TrainingArguments has and ja-bert does not: all named in one line, nothing written
  writeFileSync(conf, JSON.stringify({ fp16: true, lr_scheduler_type: 'cosine', num_train_epochs: 1 }));
  const bad = cli(['finetune', '--config', conf, '--model', model, '--texts', texts, '--pairs', pairs, '--output', join(dir, 'ft-hf2')]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /^ja-bert: .*training_args\.json: "fp16", "lr_scheduler_type": Hugging Face TrainingArguments options that ja-bert does not have/);
  assert.equal(bad.stderr.trim().split('\n').length, 1);
  assert.ok(!existsSync(join(dir, 'ft-hf2')));
});

test('misspelt commands and flags get a "did you mean"; --help and --version after any command; help CMD', () => {
  const cases: Array<[string[], RegExp]> = [
    [['finetun', '--output', 'x'], /unknown command "finetun" \(did you mean "finetune"\?\)/],
    [['basline', '--help'], /unknown command "basline" \(did you mean "baseline"\?\)/],
    [['finetune', '--learning_rate', '1e-3'], /unknown option --learning_rate \(did you mean --learning-rate\?\)/],
    [['finetune', '--epoch', '3'], /unknown option --epoch \(did you mean --epochs\?\)/],
    [['predict', '--inptu', 'x'], /unknown option --inptu \(did you mean --input\?\)/],
    [['finetune', '--zzzzzz'], /^ja-bert: unknown option --zzzzzz\n$/],
    [['frobnicate'], /^ja-bert: unknown command "frobnicate" \(try: ja-bert help\)\n$/],
  ];
  for (const [args, re] of cases) {
    const r = cli(args);
    assert.equal(r.status, 2, args.join(' '));
    assert.match(r.stderr, re);
  }
  const version = cli(['--version']).stdout;
  for (const args of [['finetune', '--version'], ['serve', '--version'], ['info', '--version']]) assert.equal(cli(args).stdout, version, args.join(' '));
  const help = cli(['help', '--help']);
  assert.equal(help.status, 0);
  assert.equal(help.stdout, cli(['--help']).stdout);
  const one = cli(['help', 'finetune']);
  assert.equal(one.status, 0);
  assert.equal(one.stdout, cli(['finetune', '--help']).stdout);
  assert.match(cli(['help', 'finetun']).stderr, /did you mean "finetune"/);
});

test('one throttled progress line for long work: first and last always, in between at most one per interval; predict and encode use it', () => {
  const lines: string[] = [];
  const bar = new Progress((l) => lines.push(l), 'predict', 10, 'examples', 60_000);
  for (let i = 1; i <= 10; i++) bar.update(i);
  assert.equal(lines.length, 2, lines.join('\n'));
  assert.match(lines[0]!, /^predict \[##\.{18}\] 1\/10 examples, [0-9.?]+ examples\/s, elapsed \d+s, ETA [0-9a-z?]+$/);
  assert.match(lines[1]!, /^predict \[#{20}\] 10\/10 examples, .*ETA 0s$/);
  const every: string[] = [];
  const each = new Progress((l) => every.push(l), 'x', 3, 'lines', 0);
  for (let i = 1; i <= 3; i++) each.update(i, `loss ${i}`);
  assert.equal(every.length, 3);
  assert.match(every[2]!, /, loss 3$/);
  assert.equal(formatDuration(62), '1m02s');
  assert.equal(formatDuration(Infinity), '?');
  // the commands: off a terminal a line per JA_BERT_PROGRESS_SECONDS (0: every update), and the default (10 s) gives a short run its first and last line only
  const input = join(dir, 'progress-in.jsonl');
  const body = JSON.parse(readFileSync(texts, 'utf8')) as Record<string, string>;
  writeFileSync(input, Object.values(body).slice(0, 40).map((t) => JSON.stringify({ text: t.slice(0, 60), text_b: t.slice(60, 120) })).join('\n') + '\n');
  const env = (s?: string) => ({ ...process.env, ...(s === undefined ? {} : { JA_BERT_PROGRESS_SECONDS: s }) });
  const run = (args: string[], s?: string) => spawnSync(join(ROOT, 'bin/ja-bert'), args, { encoding: 'utf8', env: env(s) });
  const enc = run(['encode', '--model', model, '--input', input, '--output', join(dir, 'progress-enc.jsonl'), '--batch-size', '8', '--max-seq-length', '32'], '0');
  assert.equal(enc.status, 0, enc.stderr);
  assert.equal(enc.stderr.match(/^encode \[/gm)?.length, 5, enc.stderr);
  assert.match(enc.stderr, /^encode \[#{20}\] 40\/40 lines/m);
  const quiet = run(['encode', '--model', model, '--input', input, '--output', join(dir, 'progress-enc2.jsonl'), '--batch-size', '8', '--max-seq-length', '32']);
  assert.equal(quiet.stderr.match(/^encode \[/gm)?.length, 2, quiet.stderr);
  const pred = run(['predict', '--model', join(dir, 'ft'), '--input', input, '--output', join(dir, 'progress-pred.jsonl'), '--max-seq-length', '32'], '0');
  assert.equal(pred.status, 0, pred.stderr);
  assert.match(pred.stderr, /^predict \[#{20}\] 40\/40 examples/m);
  assert.match(pred.stderr, /predicted 40 examples/);
});
