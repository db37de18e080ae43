/**
 * Throughput benchmark of the engine on a random BERT: training steps
 * (forward, loss, backward, AdamW) or inference forwards, in tokens/s.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { DType } from './core/kernels.js';
import { resolveDtype, trainingDtype, type DTypeOption } from './core/dtype.js';
import { EngineError, engineInfo, nativeKernels, packageRoot } from './core/native.js';
import { profileKernels } from './core/profile.js';
import { Rng } from './core/random.js';
import { intOption, OptionError } from './core/options.js';
import { Bert, type Batch } from './model/bert.js';
import { makeConfig } from './model/config.js';
import { AdamW } from './train/optimizer.js';

export interface BenchOptions {
  mode: 'train' | 'infer';
  layers: number;
  hidden: number;
  heads: number;
  intermediate: number;
  vocab: number;
  seq: number;
  batch: number;
  /** auto: bf16 where the CPU runs it natively, else f32 */
  dtype: DTypeOption;
  steps: number;
  warmup: number;
  /** time every kernel call of the timed steps and report the milliseconds per step by kind of operation (core/profile.ts) */
  breakdown?: boolean;
  /** the encoder family (default bert); modernbert: a random ModernBERT of this width (no biases, exact GELU, cls pooling);
   *  deberta-v2: a random DeBERTa with ku-nlp/deberta-v2-base-japanese's settings (log buckets 256 over 512 positions, shared keys) */
  family?: 'bert' | 'modernbert' | 'deberta-v2';
  /** ModernBERT: local_attention (the window) and global_attn_every_n_layers */
  window?: number;
  every?: number;
  /** row lengths drawn from [16, seq] (mixedLengths), padded; tokens/s counts the real tokens */
  mixed?: boolean;
  /** ModernBERT: run unpadded (default) or padded */
  unpad?: boolean;
  /** ModernBERT: train sequences longer than this with blocked attention (default BLOCKED_TRAIN_FROM; 0: always, a huge value: never) */
  blockedTrainFrom?: number;
}

/** a length-mixed batch's row lengths, 16 + ⌊u · (seq − 15)⌋ with u from a 32-bit LCG (bench/torch_modernbert.py draws the same) */
export function mixedLengths(batch: number, seq: number, seed = 7): number[] {
  const out: number[] = [];
  let x = seed;
  for (let b = 0; b < batch; b++) {
    x = (x * 1664525 + 1013904223) % 4294967296;
    out.push(16 + Math.floor((x * (seq - 15)) / 4294967296));
  }
  return out;
}

export interface BenchResult {
  engine: 'ja-bert' | 'pytorch';
  mode: string;
  dtype: string;
  layers: number;
  hidden: number;
  seq: number;
  batch: number;
  steps: number;
  seconds: number;
  steps_per_s: number;
  tokens_per_s: number;
  peak_rss_mb: number;
  threads: number;
  [k: string]: unknown;
}

export function benchDefaults(partial: Partial<BenchOptions>): BenchOptions {
  const hidden = partial.hidden ?? 768;
  return {
    mode: partial.mode ?? 'train',
    layers: partial.layers ?? 12,
    hidden,
    heads: partial.heads ?? Math.max(1, Math.round(hidden / 64)),
    intermediate: partial.intermediate ?? hidden * 4,
    vocab: partial.vocab ?? 32768,
    seq: partial.seq ?? 128,
    batch: partial.batch ?? 8,
    dtype: partial.dtype ?? 'auto',
    steps: partial.steps ?? 10,
    warmup: partial.warmup ?? 2,
    breakdown: partial.breakdown ?? false,
  };
}

export function runBench(o: BenchOptions): BenchResult {
  const native = nativeKernels();
  const resolved = resolveDtype(o.dtype, native);
  const dtype = o.mode === 'train' ? trainingDtype(resolved, 'bench train') : resolved;
  const profile = o.breakdown ? profileKernels(native) : null;
  const K = profile?.kernels ?? native;
  const shape = { vocab_size: o.vocab, hidden_size: o.hidden, num_hidden_layers: o.layers, num_attention_heads: o.heads, intermediate_size: o.intermediate, labels: ['0', '1'] };
  const cfg = makeConfig(o.family === 'modernbert'
    ? { ...shape, model_type: 'modernbert', max_position_embeddings: Math.max(8192, o.seq), local_attention: o.window ?? 128, global_attn_every_n_layers: o.every ?? 3 }
    : o.family === 'deberta-v2'
      ? { ...shape, model_type: 'deberta-v2', max_position_embeddings: Math.max(512, o.seq), relative_attention: true, pos_att_type: ['p2c', 'c2p'],
        position_buckets: 256, share_att_key: true, norm_rel_ebd: 'layer_norm', position_biased_input: false, type_vocab_size: 0 }
      : { ...shape, max_position_embeddings: Math.max(512, o.seq) }, 'bench');
  const model = new Bert(cfg, { kernels: K, dtype, seed: 1 });
  if (o.unpad !== undefined) model.unpad = o.unpad;
  if (o.blockedTrainFrom !== undefined) model.blockedTrainFrom = o.blockedTrainFrom;
  const rng = new Rng(2);
  const lens = o.mixed ? mixedLengths(o.batch, o.seq) : new Array<number>(o.batch).fill(o.seq);
  const n = o.batch * o.seq, real = lens.reduce((x, y) => x + y, 0);
  const batch: Batch = {
    B: o.batch, S: o.seq,
    inputIds: Int32Array.from({ length: n }, () => rng.int(o.vocab)),
    tokenTypeIds: Int32Array.from({ length: n }, (_, i) => (i % o.seq < o.seq / 2 ? 0 : 1)),
    attentionMask: Uint8Array.from({ length: n }, (_, i) => (i % o.seq < lens[Math.floor(i / o.seq)]! ? 1 : 0)),
  };
  const labels = Int32Array.from({ length: o.batch }, () => rng.int(2));
  const opt = new AdamW(model, K, { lr: 1e-5 });
  const step = (i: number) => {
    if (o.mode === 'infer') { model.forward(batch, { train: false, grad: false }); return; }
    model.forward(batch, { train: true, seed: i });
    model.loss(labels);
    model.zeroGrads();
    model.backward({ labels });
    opt.apply(1e-5);
  };
  for (let i = 0; i < o.warmup; i++) step(i);
  profile?.reset();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < o.steps; i++) step(o.warmup + i);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const info = engineInfo();
  const result: BenchResult = {
    engine: 'ja-bert', mode: o.mode, dtype, layers: o.layers, hidden: o.hidden, seq: o.seq, batch: o.batch,
    steps: o.steps, seconds, steps_per_s: o.steps / seconds, tokens_per_s: (o.steps * real) / seconds, real_tokens: real,
    peak_rss_mb: process.resourceUsage().maxRSS / 1024, threads: info.threads, isa: info.isa, kernels: info.kernels, onednn: info.onednn,
  };
  if (profile) {
    // per step, by kind; host: the step's time outside every kernel call
    const per: Array<[string, number]> = Object.entries(profile.totals()).filter(([, v]) => v.calls > 0).map(([k, v]) => [k, v.ms / o.steps]);
    const inKernels = per.reduce((s, [, v]) => s + v, 0);
    per.push(['host', (seconds * 1000) / o.steps - inKernels]);
    result.breakdown_ms_per_step = Object.fromEntries(per.map(([k, v]) => [k, Math.round(v * 100) / 100]));
    result.kernel_calls_per_step = Object.values(profile.totals()).reduce((s, v) => s + v.calls, 0) / o.steps;
    result.kernel_ms_per_step = Object.fromEntries(Object.entries(profile.byKernel()).sort((a, b) => b[1].ms - a[1].ms).map(([fn, v]) => [fn, Math.round((v.ms / o.steps) * 100) / 100]));
  }
  return result;
}

/**
 * The same model in PyTorch (Debian python3-torch), run by bench/torch_bert.py,
 * in its best mode on this CPU unless told otherwise: bf16 autocast where bf16
 * is native, f32 (OpenBLAS) elsewhere. Under an ISA cap (JA_BERT_MAX_ISA or
 * ONEDNN_MAX_CPU_ISA) PyTorch is capped the same way: its oneDNN by
 * ONEDNN_MAX_CPU_ISA, OpenBLAS by OPENBLAS_CORETYPE (Haswell for AVX2)
 * below AVX-512. Without a cap the machine's OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE are
 * unset for PyTorch alone, so OpenBLAS picks its kernel for this CPU (the
 * result names the kernel it ran).
 */
export function runTorchBench(o: BenchOptions, threads: number, dtype: DType = nativeKernels().autoDtype): BenchResult {
  const script = join(packageRoot(), 'bench', o.family === 'modernbert' ? 'torch_modernbert.py' : o.family === 'deberta-v2' ? 'torch_deberta.py' : 'torch_bert.py');
  const py = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  const info = engineInfo();
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (info.cap) {
    env.ONEDNN_MAX_CPU_ISA = info.isa.toUpperCase();
    const core = info.isa.startsWith('avx512') ? undefined : info.isa.startsWith('avx2') ? 'Haswell' : info.isa === 'avx' ? 'Sandybridge' : 'Nehalem';
    if (core) { env.OPENBLAS_CORETYPE = core; delete env.OPENBLAS_L2_SIZE; }
  } else {
    delete env.OPENBLAS_CORETYPE;
    delete env.OPENBLAS_L2_SIZE;
  }
  const args = [script, '--mode', o.mode, '--dtype', dtype, '--layers', String(o.layers), '--hidden', String(o.hidden),
    '--heads', String(o.heads), '--intermediate', String(o.intermediate), '--vocab', String(o.vocab), '--seq', String(o.seq),
    '--batch', String(o.batch), '--steps', String(o.steps), '--warmup', String(o.warmup), '--threads', String(threads),
    ...(o.family === 'modernbert' ? ['--every', String(o.every ?? 3), '--window', String(o.window ?? 128)] : []), ...(o.mixed ? ['--mixed'] : [])];
  const r = spawnSync(py, args, { encoding: 'utf8', maxBuffer: 1 << 24, env });
  if (r.status === 3) throw new EngineError(r.stderr.trim());
  if (r.status !== 0) {
    throw new EngineError(`PyTorch benchmark failed (${py} ${script}): ${(r.stderr || r.stdout || '').trim().split('\n').slice(-3).join(' | ')}. It needs Debian's python3-torch.`);
  }
  const line = r.stdout.trim().split('\n').pop()!;
  return JSON.parse(line) as BenchResult;
}

/**
 * `ja-bert bench`: one benchmark line, ja-bert's numbers and, with vsTorch, the PyTorch twin's in the same run
 * (torch_dtype, torch_tokens_per_s, torch_peak_rss_mb, speedup_vs_torch)
 */
export function bench(o: Partial<BenchOptions> & { vsTorch?: boolean }): Record<string, unknown> {
  if (o.mode !== undefined && o.mode !== 'train' && o.mode !== 'infer') throw new OptionError(`bench mode must be train or infer, got "${String(o.mode)}"`);
  for (const k of ['layers', 'hidden', 'heads', 'intermediate', 'vocab', 'seq', 'batch', 'steps'] as const) if (o[k] !== undefined) intOption(k, o[k], 1);
  if (o.warmup !== undefined) intOption('warmup', o.warmup, 0, 0);
  const opts = benchDefaults(o);
  const ours = runBench(opts); // resolves the dtype first: an unusable one is refused before anything runs
  const line: Record<string, unknown> = { ...ours };
  if (o.vsTorch) {
    const torch = runTorchBench(opts, ours.threads);
    line.torch_dtype = torch.dtype;
    line.torch_tokens_per_s = torch.tokens_per_s;
    line.torch_peak_rss_mb = torch.peak_rss_mb;
    line.speedup_vs_torch = ours.tokens_per_s / torch.tokens_per_s;
  }
  return line;
}
