/**
 * BERT-base benchmark: training and inference, ja-bert against PyTorch
 * (Debian python3-torch on OpenBLAS, same thread count) in the same run.
 * ja-bert runs in --dtype (default auto: bf16 where the CPU runs it natively,
 * else f32); PyTorch in its best mode on this CPU (bf16 autocast where bf16 is
 * native, else f32). Run it under JA_BERT_MAX_ISA=avx2 for the AVX2 class.
 * --rounds N interleaves the engines N times (ja-bert, PyTorch, ja-bert, ...) and
 * reports each engine's median tokens/s with its spread (min–max), so a noisy
 * machine slows both alike. --vocab 250002 is XLM-R-base's shape (the encoder is
 * the same; its 250k-row embedding is the difference measured).
 * --breakdown adds one more ja-bert run per mode with every kernel call timed (core/profile.ts): milliseconds
 * per step by kind of operation (gemm, attention_softmax, gelu, layernorm, head_copies, ...; host = outside the
 * kernels), kept apart from the timed rounds.
 * Prints one JSON line per mode, then a one-line summary.
 *   node dist/bench/bert.js [--steps N] [--rounds 1] [--layers 12 --hidden 768 --seq 128 --batch 8 --vocab 32768]
 *     [--dtype auto|f32|bf16] [--modes train,infer] [--no-torch] [--breakdown]
 */
import { benchDefaults, runBench, runTorchBench, type BenchResult } from '../src/bench.js';
import { parseArgs } from '../src/commands/args.js';
import { parseDtype, resolveDtype } from '../src/core/dtype.js';
import { engineInfo, nativeKernels } from '../src/core/native.js';

const { flags } = parseArgs(process.argv.slice(2), { steps: 'number', warmup: 'number', layers: 'number', hidden: 'number', seq: 'number', batch: 'number', vocab: 'number',
  rounds: 'number', modes: 'string', dtype: 'string', 'no-torch': 'boolean', breakdown: 'boolean' });
const dtype = resolveDtype(parseDtype(flags.dtype), nativeKernels());
const info = engineInfo();
const rounds = (flags.rounds as number | undefined) ?? 1;
const modes = ((flags.modes as string | undefined) ?? 'train,infer').split(',') as Array<'train' | 'infer'>;
const median = (v: number[]): number => { const s = [...v].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2; };
const summary: string[] = [];
for (const mode of modes) {
  const { rounds: _r, modes: _m, breakdown: _b, ...shape } = flags as Record<string, number>;
  const o = benchDefaults({ ...shape, mode, dtype, steps: (flags.steps as number | undefined) ?? (mode === 'train' ? 3 : 4), warmup: (flags.warmup as number | undefined) ?? 1 });
  const ours: BenchResult[] = [], torch: BenchResult[] = [];
  for (let r = 0; r < rounds; r++) {
    ours.push(runBench(o));
    if (!flags['no-torch']) torch.push(runTorchBench(o, ours[0]!.threads));
  }
  const tps = ours.map((x) => x.tokens_per_s), ttps = torch.map((x) => x.tokens_per_s);
  const line: Record<string, unknown> = { ...ours[0]!, vocab: o.vocab, rounds, tokens_per_s: median(tps), tokens_per_s_runs: tps, cap: info.cap || null };
  if (torch.length) {
    const t = torch[0]!;
    Object.assign(line, { torch_dtype: t.dtype, torch_tokens_per_s: median(ttps), torch_tokens_per_s_runs: ttps, torch_peak_rss_mb: Math.max(...torch.map((x) => x.peak_rss_mb)),
      torch_blas: t.blas, torch_openblas_core: t.openblas_core, speedup_vs_torch: median(tps) / median(ttps) });
  }
  if (flags.breakdown) {
    const p = runBench({ ...o, breakdown: true });
    Object.assign(line, { breakdown_ms_per_step: p.breakdown_ms_per_step, breakdown_step_ms: 1000 / p.steps_per_s, kernel_calls_per_step: p.kernel_calls_per_step, kernel_ms_per_step: p.kernel_ms_per_step });
  }
  console.log(JSON.stringify(line));
  const spread = (v: number[]) => (v.length > 1 ? ` [${Math.min(...v).toFixed(0)}–${Math.max(...v).toFixed(0)}]` : '');
  summary.push(`${mode} ${dtype} ${median(tps).toFixed(0)}${spread(tps)} tok/s` + (line.speedup_vs_torch ? ` (${(line.speedup_vs_torch as number).toFixed(2)}x torch ${line.torch_dtype as string} ${median(ttps).toFixed(0)}${spread(ttps)})` : ''));
}
console.log(`summary: ${info.isa}${info.cap ? ` (cap ${info.cap})` : ''}, L${flags.layers ?? 12} H${flags.hidden ?? 768} vocab ${flags.vocab ?? 32768} seq ${flags.seq ?? 128} batch ${flags.batch ?? 8}, ${rounds} round(s), medians: ${summary.join('; ')}`);
