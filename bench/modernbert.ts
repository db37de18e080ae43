/**
 * ModernBERT benchmark (issue 27's goals), every measurement in its own child process (so each peak memory is its
 * own), the engines interleaved round by round, medians with the spread (min–max):
 *   train  fine-tuning a modernbert-ja-130m-shaped model (random weights: vocab 102,400, hidden 512, 19 layers, 8 heads,
 *          intermediate 2,048, window 128, every third layer global) at sequence length 512: ja-bert against the PyTorch
 *          twin (bench/torch_modernbert.py, eager attention, bf16 autocast where native) in its best mode
 *   unpad  the same fine-tuning on a length-mixed batch (lengths 16 … 512, src/bench.ts mixedLengths): ja-bert unpadded
 *          against ja-bert padded (and the padded PyTorch twin); tokens/s counts real tokens
 *   long   encoding one 4,096- and one 8,192-token input (inference: blocked attention, no S×S matrix): seconds and
 *          peak RSS above a 128-token run's; and one local layer's time against one global layer's at 8,192, from
 *          runs of one global layer, two global layers and a global + a local layer
 *   longtrain  fine-tuning one long sequence (batch 1) at 512, 1,024 and 2,048 tokens with the attention blocked both ways (attnBlocked
 *          keeping each row's log-sum-exp, attnBlockedBackward) against materialised (heads · S² probabilities kept per layer):
 *          tokens/s and peak RSS; and at 4,096 tokens blocked only
 * Prints one JSON line per part, then a one-line summary.
 *   node dist/bench/modernbert.js [--parts train,unpad,long,longtrain] [--rounds 3] [--batch 4] [--steps 2] [--dtype auto|f32|bf16] [--no-torch]
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { benchDefaults, runBench, runTorchBench, type BenchOptions, type BenchResult } from '../src/bench.js';
import { parseArgs } from '../src/commands/args.js';
import { parseDtype, resolveDtype } from '../src/core/dtype.js';
import { engineInfo, nativeKernels } from '../src/core/native.js';

const SHAPE = { family: 'modernbert' as const, vocab: 102_400, hidden: 512, layers: 19, heads: 8, intermediate: 2048, window: 128, every: 3 };

if (process.argv[2] === '--child') {
  const { engine, threads, ...o } = JSON.parse(process.argv[3]!) as BenchOptions & { engine: 'ja-bert' | 'pytorch'; threads: number };
  console.log(JSON.stringify(engine === 'pytorch' ? runTorchBench(o, threads, o.dtype === 'auto' ? undefined : (o.dtype as 'f32' | 'bf16')) : runBench(o)));
  process.exit(0);
}

const { flags } = parseArgs(process.argv.slice(2), { parts: 'string', rounds: 'number', batch: 'number', steps: 'number', dtype: 'string', 'no-torch': 'boolean' });
const dtype = resolveDtype(parseDtype(flags.dtype), nativeKernels());
const info = engineInfo();
const rounds = (flags.rounds as number | undefined) ?? 3;
const parts = ((flags.parts as string | undefined) ?? 'train,unpad,long,longtrain').split(',');
const batch = (flags.batch as number | undefined) ?? 4, steps = (flags.steps as number | undefined) ?? 2;
const self = fileURLToPath(import.meta.url);
const median = (v: number[]): number => { const s = [...v].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2; };
const spread = (v: number[]) => `${median(v).toFixed(0)} [${Math.min(...v).toFixed(0)}–${Math.max(...v).toFixed(0)}]`;

/** one measurement in a fresh process */
function child(o: Partial<BenchOptions>, engine: 'ja-bert' | 'pytorch' = 'ja-bert'): BenchResult {
  const opts = { ...benchDefaults({ ...SHAPE, dtype, ...o }), ...SHAPE, ...o, engine, threads: info.threads };
  const r = spawnSync(process.execPath, [self, '--child', JSON.stringify(opts)], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`${engine} ${JSON.stringify(o)}: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as BenchResult;
}

const summary: string[] = [];
if (parts.includes('train')) {
  const o = { mode: 'train' as const, seq: 512, batch, steps, warmup: 1 };
  const ours: number[] = [], torch: number[] = [];
  for (let r = 0; r < rounds; r++) {
    ours.push(child(o).tokens_per_s);
    if (!flags['no-torch']) torch.push(child(o, 'pytorch').tokens_per_s);
  }
  const line = { part: 'train', ...SHAPE, seq: 512, batch, steps, dtype, rounds, tokens_per_s: median(ours), tokens_per_s_runs: ours,
    torch_tokens_per_s: torch.length ? median(torch) : null, torch_tokens_per_s_runs: torch, speedup_vs_torch: torch.length ? median(ours) / median(torch) : null };
  console.log(JSON.stringify(line));
  summary.push(`train seq 512: ${spread(ours)} tok/s` + (torch.length ? ` vs torch ${spread(torch)} (${line.speedup_vs_torch!.toFixed(2)}x)` : ''));
}
if (parts.includes('unpad')) {
  const o = { mode: 'train' as const, seq: 512, batch: 4 * batch, steps, warmup: 1, mixed: true };
  const un: number[] = [], pad: number[] = [], torch: number[] = [];
  for (let r = 0; r < rounds; r++) {
    // alternate which goes first (a pair's second run tends to be slower on this machine)
    const order = r % 2 ? [false, true] : [true, false];
    for (const u of order) (u ? un : pad).push(child({ ...o, unpad: u }).tokens_per_s);
    if (!flags['no-torch'] && r === 0) torch.push(child(o, 'pytorch').tokens_per_s);
  }
  const line = { part: 'unpad', ...SHAPE, seq: 512, batch: 4 * batch, steps, dtype, rounds, unpadded_tokens_per_s: median(un), unpadded_runs: un,
    padded_tokens_per_s: median(pad), padded_runs: pad, speedup_unpadded: median(un) / median(pad), torch_padded_tokens_per_s: torch[0] ?? null };
  console.log(JSON.stringify(line));
  summary.push(`mixed lengths 16…512: unpadded ${spread(un)} vs padded ${spread(pad)} real tok/s (${line.speedup_unpadded.toFixed(2)}x)` + (torch.length ? `, torch padded ${torch[0]!.toFixed(0)}` : ''));
}
if (parts.includes('long')) {
  const inf = (seq: number, extra: Partial<BenchOptions> = {}) => child({ mode: 'infer', seq, batch: 1, steps: 1, warmup: 1, ...extra });
  const base = inf(128), s4 = inf(4096), s8 = inf(8192);
  const mem = (r: BenchResult) => r.peak_rss_mb - base.peak_rss_mb;
  const t1: number[] = [], t2: number[] = [], tl: number[] = [];
  for (let r = 0; r < rounds; r++) {
    t1.push(inf(8192, { layers: 1, steps: 2 }).seconds / 2);
    t2.push(inf(8192, { layers: 2, every: 1, steps: 2 }).seconds / 2);
    tl.push(inf(8192, { layers: 2, every: 2, steps: 2 }).seconds / 2);
  }
  const global = median(t2) - median(t1), local = median(tl) - median(t1);
  const line = { part: 'long', ...SHAPE, dtype, seconds_4096: s4.seconds, seconds_8192: s8.seconds, peak_rss_mb_128: base.peak_rss_mb, peak_rss_mb_4096: s4.peak_rss_mb,
    peak_rss_mb_8192: s8.peak_rss_mb, memory_above_128_mb_4096: mem(s4), memory_above_128_mb_8192: mem(s8), memory_ratio_8192_to_4096: mem(s8) / mem(s4),
    // what the attention itself holds: blocked, k transposed (S·D floats) and per-thread tiles; materialised, scores and probabilities (2·H·S² floats)
    attention_mb_blocked_8192: (8192 * SHAPE.hidden * 4) / 2 ** 20, attention_mb_materialised_8192: (2 * SHAPE.heads * 8192 * 8192 * 4) / 2 ** 20,
    one_global_layer_s: median(t1), two_global_layers_s: median(t2), global_then_local_s: median(tl), global_layer_s: global, local_layer_s: local, local_to_global: local / global, rounds };
  console.log(JSON.stringify(line));
  summary.push(`8,192 tokens: ${s8.seconds.toFixed(1)} s, ${mem(s8).toFixed(0)} MB above a 128-token run (4,096: ${mem(s4).toFixed(0)} MB, ratio ${line.memory_ratio_8192_to_4096.toFixed(2)}); local layer ${local.toFixed(2)} s vs global ${global.toFixed(2)} s (${line.local_to_global.toFixed(2)})`);
}
if (parts.includes('longtrain')) {
  const tr = (seq: number, blocked: boolean) => child({ mode: 'train', seq, batch: 1, steps: 1, warmup: 1, blockedTrainFrom: blocked ? 0 : 1e9 });
  const rows: Record<string, unknown>[] = [];
  for (const seq of [512, 1024, 2048]) {
    const bt: number[] = [], mt: number[] = [];
    let bm = 0, mm = 0;
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 ? [false, true] : [true, false];
      for (const b of order) { const x = tr(seq, b); (b ? bt : mt).push(x.tokens_per_s); if (b) bm = Math.max(bm, x.peak_rss_mb); else mm = Math.max(mm, x.peak_rss_mb); }
    }
    rows.push({ seq, blocked_tokens_per_s: median(bt), blocked_runs: bt, materialised_tokens_per_s: median(mt), materialised_runs: mt, blocked_to_materialised: median(bt) / median(mt),
      peak_rss_mb_blocked: bm, peak_rss_mb_materialised: mm });
    summary.push(`train ${seq} tokens: blocked ${spread(bt)} vs materialised ${spread(mt)} tok/s, peak RSS ${bm.toFixed(0)} vs ${mm.toFixed(0)} MB`);
  }
  const b4 = tr(4096, true);
  rows.push({ seq: 4096, blocked_tokens_per_s: b4.tokens_per_s, peak_rss_mb_blocked: b4.peak_rss_mb,
    // what materialised training would keep for the attention alone: P (and its dropout copy) and the scores, heads · S² floats each, per layer
    materialised_probabilities_mb: (SHAPE.layers * SHAPE.heads * 4096 * 4096 * 4) / 2 ** 20 });
  summary.push(`train 4,096 tokens blocked: ${b4.tokens_per_s.toFixed(0)} tok/s, peak RSS ${b4.peak_rss_mb.toFixed(0)} MB`);
  console.log(JSON.stringify({ part: 'longtrain', ...SHAPE, dtype, rounds, rows }));
}
console.log(`summary: ${info.isa}${info.cap ? ` (cap ${info.cap})` : ''}, modernbert-ja-130m shape, ${dtype}, ${rounds} round(s): ${summary.join('; ')}`);
