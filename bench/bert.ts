/**
 * BERT-base benchmark matrix: {train, infer} x {f32, bf16}, ja-bert and
 * PyTorch (Debian python3-torch, same thread count) in the same run.
 * Prints one JSON line per configuration, then a one-line summary.
 *   node dist/bench/bert.js [--steps N] [--layers 12 --hidden 768 --seq 128 --batch 8] [--no-torch]
 */
import { benchDefaults, runBench, runTorchBench } from '../src/bench.js';
import { parseArgs } from '../src/cli/args.js';

const { flags } = parseArgs(process.argv.slice(2), { steps: 'number', warmup: 'number', layers: 'number', hidden: 'number', seq: 'number', batch: 'number', 'no-torch': 'boolean' });
const summary: string[] = [];
for (const mode of ['train', 'infer'] as const) {
  for (const dtype of ['f32', 'bf16'] as const) {
    const o = benchDefaults({ ...(flags as Record<string, number>), mode, dtype, steps: (flags.steps as number | undefined) ?? (mode === 'train' ? 3 : 4), warmup: (flags.warmup as number | undefined) ?? 1 });
    const ours = runBench(o);
    const line: Record<string, unknown> = { ...ours, openblas_coretype: process.env.OPENBLAS_CORETYPE ?? null };
    if (!flags['no-torch']) {
      const t = runTorchBench(o, ours.threads);
      Object.assign(line, { torch_tokens_per_s: t.tokens_per_s, torch_peak_rss_mb: t.peak_rss_mb, speedup_vs_torch: ours.tokens_per_s / t.tokens_per_s });
    }
    console.log(JSON.stringify(line));
    summary.push(`${mode} ${dtype} ${ours.tokens_per_s.toFixed(0)} tok/s` + (line.speedup_vs_torch ? ` (${(line.speedup_vs_torch as number).toFixed(2)}x torch)` : ''));
  }
}
console.log(`summary: L${flags.layers ?? 12} H${flags.hidden ?? 768}: ${summary.join('; ')}`);
