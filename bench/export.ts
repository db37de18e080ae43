/**
 * Inference speed of exported models (issues 15 and 30): onnxruntime-node running onnx/model.onnx (f32) and
 * onnx/model_quantized.onnx (dynamic int8), against ja-bert's own engine (auto dtype: bf16 where native; f32; int8) and
 * PyTorch in its best mode on this CPU, the same shape, the same thread count, in the same run. Random token ids,
 * sequence 128, batch 1 and 32; the next-sentence classifier on top for the ONNX files (one H×2 matmul more than the bare
 * encoders the others time). --shape default: the embedded default model (L4 H256); --shape base: BERT-base's encoder
 * (L12 H768 A12 I3072) with random weights over the default model's vocabulary (8,000). The engines run interleaved,
 * --rounds times; the summary gives each engine's median and [min–max] over the rounds.
 * Prints one JSON line per engine, batch and round, then a one-line summary.
 *   node dist/bench/export.js [--shape default|base --rounds 3 --steps-b1 200 --steps-b32 20] [--no-torch]
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { benchDefaults, runBench, runTorchBench } from '../src/bench.js';
import { parseArgs } from '../src/commands/args.js';
import { engineInfo, nativeKernels } from '../src/core/native.js';
import { Rng } from '../src/core/random.js';
import { exportModel } from '../src/export/export.js';
import { DEFAULT_MODEL } from '../src/model/default.js';
import { Bert } from '../src/model/bert.js';
import { makeConfig } from '../src/model/config.js';
import { saveBert } from '../src/model/load.js';

const { flags } = parseArgs(process.argv.slice(2), { shape: 'string', rounds: 'number', 'steps-b1': 'number', 'steps-b32': 'number', 'no-torch': 'boolean' });
const shape = (flags.shape as string | undefined) ?? 'default';
if (shape !== 'default' && shape !== 'base') throw new Error(`--shape must be default or base, got ${shape}`);
const rounds = (flags.rounds as number | undefined) ?? 3;
const info = engineInfo(), threads = info.threads, K = nativeKernels();
const dir = mkdtempSync(join(tmpdir(), 'jabert-bench-export-'));
const SEQ = 128;
try {
  let model = DEFAULT_MODEL;
  if (shape === 'base') {
    // BERT-base's encoder over the default model's tokenizer: what the export writes depends on the shape, not on trained weights
    const def = JSON.parse(readFileSync(join(DEFAULT_MODEL, 'config.json'), 'utf8')) as Record<string, unknown>;
    const cfg = makeConfig({ ...def, hidden_size: 768, num_hidden_layers: 12, num_attention_heads: 12, intermediate_size: 3072, max_position_embeddings: 512 }, 'bench');
    model = join(dir, 'base');
    saveBert(new Bert(cfg, { kernels: K, dtype: 'f32', seed: 1 }), model);
    for (const f of ['spiece.model', 'tokenizer_config.json']) copyFileSync(join(DEFAULT_MODEL, f), join(model, f));
  }
  const cfg = JSON.parse(readFileSync(join(model, 'config.json'), 'utf8')) as Record<string, number>;
  const r = exportModel({ model, output: join(dir, 'out'), kernels: K, quantize: 'int8' });
  const sizes = { f32_bytes: statSync(join(r.output, 'onnx/model.onnx')).size, int8_bytes: statSync(join(r.output, 'onnx/model_quantized.onnx')).size };
  const rows: Array<Record<string, unknown>> = [];
  const emit = (row: Record<string, unknown>) => { rows.push(row); console.log(JSON.stringify({ bench: 'export', shape, isa: info.isa, cap: info.cap || null, threads, seq: SEQ, ...row })); };
  const sessions = new Map<string, ort.InferenceSession>();
  for (const file of ['model.onnx', 'model_quantized.onnx']) {
    sessions.set(file, await ort.InferenceSession.create(join(r.output, 'onnx', file), { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' }));
  }
  const jaDtypes = [...new Set([K.autoDtype, 'f32', 'int8'] as const)];
  for (let round = 1; round <= rounds; round++) {
    for (const batch of [1, 32]) {
      const steps = (batch === 1 ? flags['steps-b1'] : flags['steps-b32']) as number | undefined ?? (batch === 1 ? 200 : 20);
      const rng = new Rng(5), n = batch * SEQ;
      const t = (v: (i: number) => number) => new ort.Tensor('int64', BigInt64Array.from({ length: n }, (_, i) => BigInt(v(i))), [batch, SEQ]);
      const feeds = { input_ids: t(() => 5 + rng.int(cfg.vocab_size! - 5)), attention_mask: t(() => 1), token_type_ids: t((i) => (i % SEQ < SEQ / 2 ? 0 : 1)) };
      for (const [file, s] of sessions) {
        for (let w = 0; w < 3; w++) await s.run(feeds);
        const t0 = performance.now();
        for (let k = 0; k < steps; k++) await s.run(feeds);
        const sec = (performance.now() - t0) / 1000;
        emit({ engine: 'onnxruntime-node', version: ort.env.versions.node, dtype: file === 'model.onnx' ? 'f32' : 'int8', batch, round, steps, seconds: sec, sequences_per_s: (steps * batch) / sec });
      }
      const o = benchDefaults({ mode: 'infer', layers: cfg.num_hidden_layers, hidden: cfg.hidden_size, heads: cfg.num_attention_heads, intermediate: cfg.intermediate_size, vocab: cfg.vocab_size, seq: SEQ, batch, steps, warmup: 3 });
      for (const dtype of jaDtypes) {
        const b = runBench({ ...o, dtype });
        emit({ engine: 'ja-bert', dtype: b.dtype, batch, round, steps, seconds: b.seconds, sequences_per_s: b.tokens_per_s / SEQ });
      }
      if (!flags['no-torch']) {
        const tb = runTorchBench({ ...o, dtype: 'auto' }, threads, K.autoDtype === 'bf16' ? 'bf16' : 'f32');
        emit({ engine: 'pytorch', dtype: tb.dtype, batch, round, steps: tb.steps, seconds: tb.seconds, sequences_per_s: tb.tokens_per_s / SEQ });
      }
    }
  }
  for (const s of sessions.values()) await s.release();
  const stat = (engine: string, dtype: string, batch: number) => {
    const v = rows.filter((x) => x.engine === engine && x.dtype === dtype && x.batch === batch).map((x) => x.sequences_per_s as number).sort((a, b) => a - b);
    if (!v.length) return '—';
    const med = v.length % 2 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
    return `${med.toFixed(0)} [${v[0]!.toFixed(0)}–${v.at(-1)!.toFixed(0)}]`;
  };
  const torchDtype = rows.find((x) => x.engine === 'pytorch')?.dtype as string | undefined;
  console.log(`export bench (${shape}, ${info.isa}, ${threads} threads, seq ${SEQ}, sequences/s, median [min–max] of ${rounds}): ` + [1, 32].map((b) =>
    `b${b} ORT f32 ${stat('onnxruntime-node', 'f32', b)}, ORT int8 ${stat('onnxruntime-node', 'int8', b)}, ` +
    jaDtypes.map((d) => `ja-bert ${d} ${stat('ja-bert', d, b)}`).join(', ') + `, PyTorch ${torchDtype ? `${torchDtype} ${stat('pytorch', torchDtype, b)}` : '—'}`).join('; ') +
    `; int8 file ${(100 * sizes.int8_bytes / sizes.f32_bytes).toFixed(1)} % of f32 (${(sizes.int8_bytes / 1e6).toFixed(1)} / ${(sizes.f32_bytes / 1e6).toFixed(1)} MB)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
