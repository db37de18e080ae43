/**
 * DeBERTa benchmark (issue 27's goal: fine-tuning at least 1.2× PyTorch on the same CPU): a ku-nlp/deberta-v2-base-japanese-shaped
 * model (random weights: vocab 32,000, hidden 768, 12 layers, 12 heads, intermediate 3,072; log buckets 256 over 512 positions,
 * shared position keys, the table's LayerNorm, no absolute positions) fine-tuned at sequence lengths 128 and 512, ja-bert against the
 * PyTorch twin (bench/torch_deberta.py: HF's c2p / p2c by gather, bf16 autocast where native) in its best mode. Every measurement
 * in its own child process, the engines interleaved round by round (the first engine alternating), medians with the spread (min–max).
 * Prints one JSON line per length, then a one-line summary.
 *   node dist/bench/deberta.js [--seqs 128,512] [--rounds 3] [--steps 2] [--dtype auto|f32|bf16] [--breakdown]
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { benchDefaults, runBench, runTorchBench, type BenchOptions, type BenchResult } from '../src/bench.js';
import { parseArgs } from '../src/commands/args.js';
import { parseDtype, resolveDtype } from '../src/core/dtype.js';
import { engineInfo, nativeKernels } from '../src/core/native.js';

const SHAPE = { family: 'deberta-v2' as const, vocab: 32_000, hidden: 768, layers: 12, heads: 12, intermediate: 3072 };
/** the batch at each length: 2,048 tokens a step */
const BATCH: Record<number, number> = { 128: 16, 256: 8, 512: 4 };

if (process.argv[2] === '--child') {
  const { engine, threads, ...o } = JSON.parse(process.argv[3]!) as BenchOptions & { engine: 'ja-bert' | 'pytorch'; threads: number };
  console.log(JSON.stringify(engine === 'pytorch' ? runTorchBench(o, threads, o.dtype === 'auto' ? undefined : (o.dtype as 'f32' | 'bf16')) : runBench(o)));
  process.exit(0);
}

const { flags } = parseArgs(process.argv.slice(2), { seqs: 'string', rounds: 'number', steps: 'number', dtype: 'string', breakdown: 'boolean' });
const dtype = resolveDtype(parseDtype(flags.dtype), nativeKernels());
const info = engineInfo();
const rounds = (flags.rounds as number | undefined) ?? 3, steps = (flags.steps as number | undefined) ?? 2;
const seqs = ((flags.seqs as string | undefined) ?? '128,512').split(',').map(Number);
const self = fileURLToPath(import.meta.url);
const median = (v: number[]): number => { const s = [...v].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2; };
const spread = (v: number[]) => `${median(v).toFixed(0)} [${Math.min(...v).toFixed(0)}–${Math.max(...v).toFixed(0)}]`;

function child(o: Partial<BenchOptions>, engine: 'ja-bert' | 'pytorch'): BenchResult {
  const opts = { ...benchDefaults({ ...SHAPE, dtype, ...o }), ...SHAPE, ...o, engine, threads: info.threads };
  const r = spawnSync(process.execPath, [self, '--child', JSON.stringify(opts)], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`${engine} ${JSON.stringify(o)}: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as BenchResult;
}

const summary: string[] = [];
for (const seq of seqs) {
  const batch = BATCH[seq] ?? Math.max(1, Math.round(2048 / seq));
  const o = { mode: 'train' as const, seq, batch, steps, warmup: 1 };
  const ours: number[] = [], torch: number[] = [];
  let breakdown: unknown = null;
  for (let r = 0; r < rounds; r++) {
    for (const e of r % 2 ? (['pytorch', 'ja-bert'] as const) : (['ja-bert', 'pytorch'] as const)) {
      if (e === 'ja-bert') ours.push(child(o, e).tokens_per_s); else torch.push(child(o, e).tokens_per_s);
    }
  }
  if (flags.breakdown) breakdown = (child({ ...o, breakdown: true }, 'ja-bert') as BenchResult & { breakdown_ms_per_step?: unknown }).breakdown_ms_per_step ?? null;
  const line = { part: 'train', ...SHAPE, seq, batch, steps, dtype, rounds, tokens_per_s: median(ours), tokens_per_s_runs: ours,
    torch_tokens_per_s: median(torch), torch_tokens_per_s_runs: torch, speedup_vs_torch: median(ours) / median(torch), ...(breakdown ? { breakdown } : {}) };
  console.log(JSON.stringify(line));
  summary.push(`seq ${seq} × ${batch}: ${spread(ours)} tok/s vs torch ${spread(torch)} (${line.speedup_vs_torch.toFixed(2)}x)`);
}
console.log(`summary: ${info.isa}${info.cap ? ` (cap ${info.cap})` : ''}, deberta-v2-base-japanese shape, ${dtype}, ${rounds} round(s): ${summary.join('; ')}`);
