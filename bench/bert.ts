/**
 * BERT-base benchmark: training and inference, ja-bert against PyTorch
 * (Debian python3-torch on OpenBLAS, same thread count) in the same run.
 * ja-bert runs in --dtype (default auto: bf16 where the CPU runs it natively,
 * else f32); PyTorch in its best mode on this CPU (bf16 autocast where bf16 is
 * native, else f32). Run it under JA_BERT_MAX_ISA=avx2 for the AVX2 class.
 * Prints one JSON line per mode, then a one-line summary.
 *   node dist/bench/bert.js [--steps N] [--layers 12 --hidden 768 --seq 128 --batch 8] [--dtype auto|f32|bf16] [--no-torch]
 */
import { benchDefaults, runBench, runTorchBench } from '../src/bench.js';
import { parseArgs } from '../src/cli/args.js';
import { parseDtype, resolveDtype } from '../src/core/dtype.js';
import { engineInfo, nativeKernels } from '../src/core/native.js';

const { flags } = parseArgs(process.argv.slice(2), { steps: 'number', warmup: 'number', layers: 'number', hidden: 'number', seq: 'number', batch: 'number', dtype: 'string', 'no-torch': 'boolean' });
const dtype = resolveDtype(parseDtype(flags.dtype), nativeKernels());
const info = engineInfo();
const summary: string[] = [];
for (const mode of ['train', 'infer'] as const) {
  const o = benchDefaults({ ...(flags as Record<string, number>), mode, dtype, steps: (flags.steps as number | undefined) ?? (mode === 'train' ? 3 : 4), warmup: (flags.warmup as number | undefined) ?? 1 });
  const ours = runBench(o);
  const line: Record<string, unknown> = { ...ours, cap: info.cap || null };
  if (!flags['no-torch']) {
    const t = runTorchBench(o, ours.threads);
    Object.assign(line, { torch_dtype: t.dtype, torch_tokens_per_s: t.tokens_per_s, torch_peak_rss_mb: t.peak_rss_mb, torch_blas: t.blas, torch_openblas_core: t.openblas_core, speedup_vs_torch: ours.tokens_per_s / t.tokens_per_s });
  }
  console.log(JSON.stringify(line));
  summary.push(`${mode} ${dtype} ${ours.tokens_per_s.toFixed(0)} tok/s` + (line.speedup_vs_torch ? ` (${(line.speedup_vs_torch as number).toFixed(2)}x torch ${line.torch_dtype as string} ${(line.torch_tokens_per_s as number).toFixed(0)})` : ''));
}
console.log(`summary: ${info.isa}${info.cap ? ` (cap ${info.cap})` : ''}, L${flags.layers ?? 12} H${flags.hidden ?? 768} seq ${flags.seq ?? 128} batch ${flags.batch ?? 8}: ${summary.join('; ')}`);
