// The CLI as a user runs it: real processes, real files, exit codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readSafetensors } from '../src/io/safetensors.js';
import { toFloat64 } from '../src/io/tensor.js';
import { maxRelErr, tempDir } from './helpers.js';
import { nativeKernels } from '../src/core/native.js';
import { OPERATION_KINDS, profileKernels } from '../src/core/profile.js';
import { refKernels } from '../src/core/ref.js';
import { Bert } from '../src/model/bert.js';
import { makeConfig } from '../src/model/config.js';


const ROOT = new URL('../../', import.meta.url).pathname;
const FIX = join(ROOT, 'test/fixtures');
const SHARED = join(ROOT, 'test/fixtures/shared/models/tf1-checkpoints');
const cli = (...args: string[]) => spawnSync(join(ROOT, 'bin/ja-bert'), args, { encoding: 'utf8' });

test('encode reproduces PyTorch pooled output and logits from safetensors and .bin', (t) => {
  const d = tempDir(t);
  const ref = readSafetensors(join(FIX, 'parity-gelu/reference.safetensors')).tensors;
  const ids = toFloat64(ref.get('input_ids')!), tt = toFloat64(ref.get('token_type_ids')!), mask = toFloat64(ref.get('attention_mask')!);
  const [B, S] = ref.get('input_ids')!.shape as [number, number];
  const lines: string[] = [];
  for (let b = 0; b < B; b++) {
    const len = Array.from(mask.subarray(b * S, b * S + S)).reduce((a, x) => a + x, 0);
    lines.push(JSON.stringify({ input_ids: Array.from(ids.subarray(b * S, b * S + len)), token_type_ids: Array.from(tt.subarray(b * S, b * S + len)) }));
  }
  writeFileSync(join(d, 'in.jsonl'), lines.join('\n') + '\n');
  const pooled = toFloat64(ref.get('pooled_output')!), logits = toFloat64(ref.get('logits')!);
  for (const model of [join(FIX, 'parity-gelu'), join(FIX, 'parity-gelu/pytorch_model.bin')]) {
    const r = cli('encode', '--model', model, '--input', join(d, 'in.jsonl'), '--output', join(d, 'out.jsonl'), '--all-tokens', '--dtype', 'f32');
    assert.equal(r.status, 0, r.stderr);
    const out = readFileSync(join(d, 'out.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { pooled_output: number[]; logits: number[]; sequence_output: number[][] });
    assert.equal(out.length, B);
    assert.ok(maxRelErr(out.flatMap((o) => o.pooled_output), pooled, 1e-2) <= 1e-4);
    assert.ok(maxRelErr(out.flatMap((o) => o.logits), logits, 1e-2) <= 1e-4);
    assert.equal(out[2]!.sequence_output.length, 4, 'per-token output covers the real tokens only');
  }
  assert.deepEqual(readdirSync(d).filter((f) => f.endsWith('.tmp')), [], 'no temp files left');
});

test('encode runs a TF1 checkpoint named by its prefix', (t) => {
  const d = tempDir(t);
  writeFileSync(join(d, 'in.jsonl'), '{"input_ids": [2, 5, 6, 3]}\n');
  const r = cli('encode', '--model', join(SHARED, 'keras-bert-tiny/bert_model.ckpt'), '--input', join(d, 'in.jsonl'), '--output', join(d, 'o.jsonl'));
  assert.equal(r.status, 0, r.stderr);
  const o = JSON.parse(readFileSync(join(d, 'o.jsonl'), 'utf8')) as { pooled_output: number[]; logits?: unknown };
  assert.equal(o.pooled_output.length, 4);
  assert.equal(o.logits, undefined, 'no classifier in a pretraining checkpoint');
});

test('bad input: one clear line, non-zero exit, no output written', (t) => {
  const d = tempDir(t);
  const model = join(FIX, 'parity-gelu');
  writeFileSync(join(d, 'bad.jsonl'), '{"input_ids": [2, 3]}\n{"input_ids": [2, 3\n');
  let r = cli('encode', '--model', model, '--input', join(d, 'bad.jsonl'), '--output', join(d, 'o.jsonl'));
  assert.equal(r.status, 1);
  assert.match(r.stderr, /bad\.jsonl:2: not valid JSON/);
  assert.ok(!existsSync(join(d, 'o.jsonl')));
  writeFileSync(join(d, 'oov.jsonl'), '{"input_ids": [2, 500, 3]}\n');
  r = cli('encode', '--model', model, '--input', join(d, 'oov.jsonl'), '--output', join(d, 'o.jsonl'));
  assert.equal(r.status, 1);
  assert.match(r.stderr, /oov\.jsonl:1: input_ids\[1\] = 500 is outside the vocabulary/);
  r = cli('encode', '--model', join(d, 'nope'), '--input', join(d, 'oov.jsonl'), '--output', join(d, 'o.jsonl'));
  assert.equal(r.status, 1);
  assert.match(r.stderr, /no such model folder/);
  r = cli('encode', '--model', model, '--bogus');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown option --bogus/);
  r = cli('frobnicate');
  assert.equal(r.status, 2);
  assert.equal(r.stderr.trim().split('\n').length, 1);
});

test('bench prints one JSON line with tokens_per_s', () => {
  const r = cli('bench', 'infer', '--layers', '1', '--hidden', '32', '--heads', '2', '--vocab', '100', '--seq', '16', '--batch', '2', '--steps', '2', '--warmup', '1');
  assert.equal(r.status, 0, r.stderr);
  const o = JSON.parse(r.stdout.trim()) as { tokens_per_s: number; mode: string };
  assert.equal(o.mode, 'infer');
  assert.ok(o.tokens_per_s > 0);
  assert.ok(!('breakdown_ms_per_step' in o), 'no breakdown unless asked');
});

test('bench --breakdown: milliseconds per step by kind of operation that add up to the step, and the kinds cover every kernel', () => {
  // every kernel of the interface (the TypeScript reference implements exactly it) is in one kind: no silent gap
  const kinds = Object.values(OPERATION_KINDS).flat() as string[];
  const fns = Object.entries(refKernels).filter(([, v]) => typeof v === 'function').map(([k]) => k);
  assert.deepEqual(fns.filter((f) => !kinds.includes(f)), []);
  assert.equal(new Set(kinds).size, kinds.length, 'a kernel in two kinds');
  const r = cli('bench', 'train', '--layers', '2', '--hidden', '32', '--heads', '2', '--vocab', '100', '--seq', '16', '--batch', '2', '--steps', '3', '--warmup', '1', '--dtype', 'f32', '--breakdown');
  assert.equal(r.status, 0, r.stderr);
  const o = JSON.parse(r.stdout.trim()) as { steps_per_s: number; breakdown_ms_per_step: Record<string, number>; kernel_calls_per_step: number };
  const b = o.breakdown_ms_per_step;
  for (const k of ['gemm', 'attention_softmax', 'gelu', 'layernorm', 'head_copies', 'dropout', 'embedding', 'loss', 'optimizer', 'host']) assert.ok(k in b, k);
  // (host is the step less the kernels: rounding can leave it a hair below 0)
  for (const v of Object.values(b)) assert.ok(v > -0.05, `${JSON.stringify(b)}`);
  // the kinds and the host part are the step, to the rounding of each entry to 0.01 ms
  const sum = Object.values(b).reduce((s, v) => s + v, 0), step = 1000 / o.steps_per_s;
  assert.ok(Math.abs(sum - step) < 0.01 * Object.keys(b).length + 1e-6, `sum ${sum} vs step ${step}`);
  // a training step of 2 layers: per layer forward and backward, several GEMMs each (qkv, scores, context, out, two FFN)
  assert.ok(o.kernel_calls_per_step > 2 * 2 * 6, `${o.kernel_calls_per_step} calls`);
  // per kernel: the parts of the kinds (matmul is all of gemm)
  const byKernel = (o as unknown as { kernel_ms_per_step: Record<string, number> }).kernel_ms_per_step;
  assert.ok(Math.abs(byKernel.matmul! - b.gemm!) <= 0.011, `${byKernel.matmul} vs ${b.gemm}`);
  assert.ok(Math.abs((byKernel.layernormForward! + byKernel.layernormBackward!) - b.layernorm!) <= 0.021);
  // the timed kernels compute what the kernels they wrap do, and count their calls
  const K = nativeKernels(), prof = profileKernels(K);
  const cfg = makeConfig({ vocab_size: 50, hidden_size: 16, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 32, labels: ['a', 'b'] });
  const batch = { B: 2, S: 5, inputIds: Int32Array.from({ length: 10 }, (_, i) => (i * 7) % 50), tokenTypeIds: new Int32Array(10), attentionMask: new Uint8Array(10).fill(1) };
  const plain = new Bert(cfg, { kernels: K, seed: 3 }).forward(batch).logits!, timed = new Bert(cfg, { kernels: prof.kernels, seed: 3 }).forward(batch).logits!;
  assert.deepEqual(Array.from(timed), Array.from(plain));
  assert.ok(prof.totals().gemm.calls >= 4 && prof.totals().layernorm.calls >= 3, JSON.stringify(prof.totals()));
});

test('tokenize: SentencePiece ids equal spm_encode, WordPiece via a model folder, --special, bad paths', (t) => {
  const d = tempDir(t);
  const wiki = join(ROOT, 'test/fixtures/shared/models/wiki-ja-albert-spm/wiki-ja_albert.model');
  const texts = ['日本語の文章を分割する', 'ＡＢＣ　全角と半角 ABC', ''];
  writeFileSync(join(d, 'in.txt'), texts.join('\n') + '\n');
  writeFileSync(join(d, 'in.jsonl'), texts.map((x) => JSON.stringify(x)).join('\n') + '\n');
  const want = spawnSync('spm_encode', [`--model=${wiki}`, '--output_format=id', `--input=${join(d, 'in.txt')}`], { encoding: 'utf8' }).stdout.split('\n');
  for (const input of ['in.txt', 'in.jsonl']) {
    const r = cli('tokenize', '--tokenizer', wiki, '--input', join(d, input), '--output', join(d, 'o.jsonl'));
    assert.equal(r.status, 0, r.stderr);
    const got = readFileSync(join(d, 'o.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { ids: number[]; tokens: string[] });
    assert.equal(got.length, 3);
    got.forEach((g, i) => assert.equal(g.ids.join(' '), want[i]!.trim()));
    assert.equal(got[0]!.tokens.length, got[0]!.ids.length);
  }
  const tohoku = join(ROOT, 'test/fixtures/shared/models/tohoku-v1-vocab');
  let r = cli('tokenize', '--tokenizer', tohoku, '--input', join(d, 'in.txt'), '--output', join(d, 'w.jsonl'), '--special', '--mecab-dic', '/var/lib/mecab/dic/ipadic-utf8');
  assert.equal(r.status, 0, r.stderr);
  const w = JSON.parse(readFileSync(join(d, 'w.jsonl'), 'utf8').split('\n')[0]!) as { tokens: string[] };
  assert.deepEqual(w.tokens.slice(0, 3), ['[CLS]', '日本語', 'の']);
  assert.equal(w.tokens[w.tokens.length - 1], '[SEP]');
  r = cli('tokenize', '--tokenizer', join(d, 'nothing.model'), '--input', join(d, 'in.txt'), '--output', join(d, 'x.jsonl'));
  assert.equal(r.status, 1);
  assert.match(r.stderr, /nothing\.model: no such file/);
  assert.ok(!existsSync(join(d, 'x.jsonl')));
});

test('info shows the ISA and what --dtype auto picks; JA_BERT_MAX_ISA caps oneDNN and the addon\'s loops together; a bad cap is one line', () => {
  // each case sets its own cap (the suite itself may run under one)
  const { JA_BERT_MAX_ISA: _a, ONEDNN_MAX_CPU_ISA: _b, ...clean } = process.env;
  const run = (env: Record<string, string>) => spawnSync(join(ROOT, 'bin/ja-bert'), ['info'], { encoding: 'utf8', env: { ...clean, ...env } });
  const plain = spawnSync(join(ROOT, 'bin/ja-bert'), ['info'], { encoding: 'utf8' });
  assert.equal(plain.status, 0, plain.stderr);
  const i = JSON.parse(plain.stdout) as { isa: string; bf16Native: boolean; autoDtype: string; kernels: string; cap: string };
  assert.equal(i.autoDtype, i.bf16Native ? 'bf16' : 'f32');
  assert.equal(i.bf16Native, /^avx512_core_(bf16|amx)$/.test(i.isa));
  assert.match(i.kernels, /^x86-64(-v[34])?$/);
  const capped = run({ JA_BERT_MAX_ISA: 'avx2' });
  assert.equal(capped.status, 0, capped.stderr);
  const c = JSON.parse(capped.stdout) as typeof i;
  assert.equal(c.cap, 'avx2');
  assert.ok(['avx2', 'avx', 'sse41'].includes(c.isa), c.isa);
  assert.equal(c.bf16Native, false);
  assert.equal(c.autoDtype, 'f32');
  assert.notEqual(c.kernels, 'x86-64-v4');
  const base = JSON.parse(run({ JA_BERT_MAX_ISA: 'sse41' }).stdout) as typeof i;
  assert.deepEqual([base.isa, base.kernels, base.autoDtype], ['sse41', 'x86-64', 'f32']);
  // oneDNN's own variable caps the loops too
  const onednn = JSON.parse(run({ ONEDNN_MAX_CPU_ISA: 'SSE41' }).stdout) as typeof i;
  assert.deepEqual([onednn.isa, onednn.kernels], ['sse41', 'x86-64']);
  const bad = run({ JA_BERT_MAX_ISA: 'avx9000' });
  assert.equal(bad.status, 1);
  assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
  assert.match(bad.stderr, /^ja-bert: JA_BERT_MAX_ISA must be one of .*got "avx9000"$/m);
});

test('output targets: - is standard output; a FIFO or /dev/stdout is written directly; a link to a file keeps the link; a folder is refused first', (t) => {
  const d = tempDir(t);
  const spm = join(ROOT, 'test/fixtures/shared/models/wiki-ja-albert-spm/wiki-ja_albert.model');
  writeFileSync(join(d, 'in.txt'), '日本語の文\nもう一つ\n');
  const tok = (out: string) => cli('tokenize', '--tokenizer', spm, '--input', join(d, 'in.txt'), '--output', out);
  const ref = tok(join(d, 'ref.jsonl'));
  assert.equal(ref.status, 0, ref.stderr);
  const want = readFileSync(join(d, 'ref.jsonl'), 'utf8');
  for (const target of ['-', '/dev/stdout']) {
    const r = tok(target);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, want, target);
  }
  assert.ok(lstatSync('/dev/stdout').isSymbolicLink(), '/dev/stdout is still a link');
  writeFileSync(join(d, 'real.jsonl'), 'old\n');
  symlinkSync(join(d, 'real.jsonl'), join(d, 'link.jsonl'));
  assert.equal(tok(join(d, 'link.jsonl')).status, 0);
  assert.ok(lstatSync(join(d, 'link.jsonl')).isSymbolicLink());
  assert.equal(readFileSync(join(d, 'real.jsonl'), 'utf8'), want);
  spawnSync('mkfifo', [join(d, 'fifo')]);
  const reader = spawnSync('bash', ['-c', `cat '${join(d, 'fifo')}' > '${join(d, 'from-fifo')}' & ${join(ROOT, 'bin/ja-bert')} tokenize --tokenizer '${spm}' --input '${join(d, 'in.txt')}' --output '${join(d, 'fifo')}'; wait`], { encoding: 'utf8' });
  assert.equal(reader.status, 0, reader.stderr);
  assert.equal(readFileSync(join(d, 'from-fifo'), 'utf8'), want);
  const r = tok(d);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /is a folder; give a file path to write/);
});

test('--help on every command prints its usage and exits 0; --version', () => {
  for (const cmd of ['encode', 'finetune', 'baseline', 'predict', 'tokenize', 'bench', 'pretrain', 'corpus', 'cache', 'rank', 'compare', 'demo', 'info', 'manpage-pairs']) {
    for (const flag of ['--help', '-h']) {
      const r = cli(cmd, flag);
      assert.equal(r.status, 0, `${cmd} ${flag}: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^Usage:\\n  ja-bert ${cmd}`), cmd);
    }
  }
  const v = cli('--version');
  assert.equal(v.status, 0);
  assert.match(v.stdout, /^ja-bert \d+\.\d+\.\d+\n$/);
  const u = cli('finetune', '--no-such-flag');
  assert.equal(u.status, 2);
  assert.match(u.stderr, /^ja-bert: unknown option --no-such-flag\n$/);
});

test('the README is true to the CLI: every command its synopsis and recipes name exists, and every flag they show is in that command\'s --help; --head lists every head', async () => {
  const md = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const lines = [...md.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) => m[1]!.replace(/\\\n\s*/g, ' ').split('\n')).filter((l) => l.startsWith('bin/ja-bert '));
  assert.ok(lines.length >= 15, `${lines.length} command lines`);
  const helps = new Map<string, string>();
  for (const line of lines) {
    const words = line.replace(/#.*$/, '').split(/\s+/).slice(1);
    const cmd = words[0] === 'cache' ? ['cache', words[1]!] : [words[0]!];
    const key = cmd.join(' ');
    if (!helps.has(key)) {
      const r = cli(...cmd, '--help');
      assert.equal(r.status, 0, `${key} --help: ${r.stderr}`);
      helps.set(key, r.stdout);
    }
    for (const f of line.replace(/#.*$/, '').match(/--[a-z][a-z0-9-]*/g) ?? []) {
      if (f === '--help') continue;
      assert.ok(new RegExp(`${f}(?![a-z-])`).test(helps.get(key)!), `README: "${key} ${f}" is not in ${key} --help`);
    }
  }
  const { HEAD_TYPES } = await import('../src/model/heads/index.js');
  const heads = /--head ((?:[a-z]+\|)+[a-z]+)/.exec(md)![1]!.split('|');
  assert.deepEqual(heads, ['cross', ...HEAD_TYPES], 'README\'s --head values are the registry\'s');
});
