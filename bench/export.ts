/**
 * Inference speed of the exported default model (issue 15): onnxruntime-node
 * running onnx/model.onnx (f32) and onnx/model_quantized.onnx (dynamic int8),
 * against ja-bert's own engine (auto dtype: bf16 where native, and f32) and
 * PyTorch in its best mode on this CPU, the same shape, the same thread count,
 * in the same run. Random token ids, sequence 128, batch 1 and 32; the
 * next-sentence classifier on top for the ONNX files (one 256×2 matmul more
 * than the bare encoders the others time).
 * Prints one JSON line per engine and batch, then a one-line summary.
 *   node dist/bench/export.js [--steps-b1 200 --steps-b32 20] [--no-torch]
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { benchDefaults, runBench, runTorchBench } from '../src/bench.js';
import { parseArgs } from '../src/commands/args.js';
import { engineInfo, nativeKernels } from '../src/core/native.js';
import { Rng } from '../src/core/random.js';
import { exportModel } from '../src/export/export.js';
import { DEFAULT_MODEL } from '../src/model/default.js';

const { flags } = parseArgs(process.argv.slice(2), { 'steps-b1': 'number', 'steps-b32': 'number', 'no-torch': 'boolean' });
const info = engineInfo(), threads = info.threads, K = nativeKernels();
const cfg = JSON.parse(readFileSync(join(DEFAULT_MODEL, 'config.json'), 'utf8')) as Record<string, number>;
const dir = mkdtempSync(join(tmpdir(), 'jabert-bench-export-'));
const SEQ = 128;
try {
  const r = exportModel({ model: DEFAULT_MODEL, output: join(dir, 'out'), kernels: K, quantize: 'int8' });
  const sizes = { f32_bytes: statSync(join(r.output, 'onnx/model.onnx')).size, int8_bytes: statSync(join(r.output, 'onnx/model_quantized.onnx')).size };
  const rows: Array<Record<string, unknown>> = [];
  const emit = (row: Record<string, unknown>) => { rows.push(row); console.log(JSON.stringify({ bench: 'export', isa: info.isa, cap: info.cap || null, threads, seq: SEQ, ...row })); };
  for (const batch of [1, 32]) {
    const steps = (batch === 1 ? flags['steps-b1'] : flags['steps-b32']) as number | undefined ?? (batch === 1 ? 200 : 20);
    const rng = new Rng(5), n = batch * SEQ;
    const t = (v: (i: number) => number) => new ort.Tensor('int64', BigInt64Array.from({ length: n }, (_, i) => BigInt(v(i))), [batch, SEQ]);
    const feeds = { input_ids: t(() => 5 + rng.int(cfg.vocab_size! - 5)), attention_mask: t(() => 1), token_type_ids: t((i) => (i % SEQ < SEQ / 2 ? 0 : 1)) };
    for (const file of ['model.onnx', 'model_quantized.onnx']) {
      const s = await ort.InferenceSession.create(join(r.output, 'onnx', file), { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
      for (let w = 0; w < 3; w++) await s.run(feeds);
      const t0 = performance.now();
      for (let k = 0; k < steps; k++) await s.run(feeds);
      const sec = (performance.now() - t0) / 1000;
      emit({ engine: 'onnxruntime-node', version: ort.env.versions.node, dtype: file === 'model.onnx' ? 'f32' : 'int8', batch, steps, seconds: sec, sequences_per_s: (steps * batch) / sec });
      await s.release();
    }
    const o = benchDefaults({ mode: 'infer', layers: cfg.num_hidden_layers, hidden: cfg.hidden_size, heads: cfg.num_attention_heads, intermediate: cfg.intermediate_size, vocab: cfg.vocab_size, seq: SEQ, batch, steps, warmup: 3 });
    for (const dtype of ['auto', 'f32'] as const) {
      const b = runBench({ ...o, dtype });
      if (dtype === 'auto' && b.dtype === 'f32') continue; // the same as the f32 row
      emit({ engine: 'ja-bert', dtype: b.dtype, batch, steps, seconds: b.seconds, sequences_per_s: b.tokens_per_s / SEQ });
    }
    if (!flags['no-torch']) {
      const tb = runTorchBench({ ...o, dtype: 'auto' }, threads, K.autoDtype);
      emit({ engine: 'pytorch', dtype: tb.dtype, batch, steps: tb.steps, seconds: tb.seconds, sequences_per_s: tb.tokens_per_s / SEQ });
    }
  }
  const get = (engine: string, dtype: string, batch: number) => rows.find((x) => x.engine === engine && x.dtype === dtype && x.batch === batch)?.sequences_per_s as number | undefined;
  const best = (engine: string, batch: number) => Math.max(...rows.filter((x) => x.engine === engine && x.batch === batch).map((x) => x.sequences_per_s as number));
  const f = (v: number | undefined) => (v === undefined ? '—' : v.toFixed(0));
  console.log(`export bench (${info.isa}, ${threads} threads, seq ${SEQ}, sequences/s): ` + [1, 32].map((b) =>
    `b${b} ORT f32 ${f(get('onnxruntime-node', 'f32', b))}, ORT int8 ${f(get('onnxruntime-node', 'int8', b))}, ja-bert ${f(best('ja-bert', b))}, PyTorch ${flags['no-torch'] ? '—' : f(best('pytorch', b))}`).join('; ') +
    `; int8 file ${(100 * sizes.int8_bytes / sizes.f32_bytes).toFixed(1)} % of f32 (${(sizes.int8_bytes / 1e6).toFixed(1)} / ${(sizes.f32_bytes / 1e6).toFixed(1)} MB)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
