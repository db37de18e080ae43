/**
 * Data-parallel training on one machine (issue 31): `mpirun -np 2` ranks of one thread each against one process of two
 * threads, fine-tuning the cross-encoder on the man-page pairs (the same global batch, steps and data), for the default
 * model's shape (L4 H256) and BERT-base's (L12 H768), random weights, the wiki-ja SentencePiece vocabulary (32,000).
 * Each figure from the run's own report.json (train_seconds over the steps; the ranks' MPI_Allreduce bytes and seconds per
 * step, waiting included), the two ways interleaved round by round, medians with the spread (min–max).
 * Prints one JSON line per shape, then a one-line summary.
 *   node dist/bench/distributed.js [--rounds 3] [--steps 12] [--shapes default,base] [--dtype auto]
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from '../src/commands/args.js';
import { engineInfo, nativeKernels } from '../src/core/native.js';
import { cpus } from 'node:os';
import { Bert } from '../src/model/bert.js';
import { makeConfig } from '../src/model/config.js';
import { saveBert } from '../src/model/load.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SHARED = join(ROOT, 'test/fixtures/shared');
const SHAPES = {
  default: { hidden_size: 256, num_hidden_layers: 4, num_attention_heads: 4, intermediate_size: 1024, batch: 32 },
  base: { hidden_size: 768, num_hidden_layers: 12, num_attention_heads: 12, intermediate_size: 3072, batch: 16 },
} as const;

const { flags } = parseArgs(process.argv.slice(2), { rounds: 'number', steps: 'number', shapes: 'string', dtype: 'string' });
const rounds = (flags.rounds as number | undefined) ?? 3, steps = (flags.steps as number | undefined) ?? 12;
const shapes = ((flags.shapes as string | undefined) ?? 'default,base').split(',') as Array<keyof typeof SHAPES>;
const dtype = (flags.dtype as string | undefined) ?? 'auto';
const info = engineInfo();
const median = (v: number[]): number => { const s = [...v].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2; };
const spread = (v: number[], d = 2) => `${median(v).toFixed(d)} [${Math.min(...v).toFixed(d)}–${Math.max(...v).toFixed(d)}]`;
const env = { ...process.env, OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1', OMPI_MCA_btl_vader_single_copy_mechanism: 'none' };

const dir = mkdtempSync(join(tmpdir(), 'jabert-bench-mpi-'));
try {
  // the man-page pairs (manpages-ja-links) as finetune reads them
  const pairs = JSON.parse(readFileSync(join(SHARED, 'data/manpages-ja-links/negaposi.json'), 'utf8')) as Array<[string, string, number]>;
  writeFileSync(join(dir, 'pairs.json'), JSON.stringify(pairs.slice(0, 2000)));
  copyFileSync(join(SHARED, 'data/manpages-ja-links/honbun_data.json'), join(dir, 'texts.json'));
  const summary: string[] = [];
  for (const name of shapes) {
    const { batch, ...shape } = SHAPES[name];
    const model = join(dir, name);
    saveBert(new Bert(makeConfig({ vocab_size: 32_000, max_position_embeddings: 512, ...shape }), { kernels: nativeKernels(), seed: 1 }), model);
    copyFileSync(join(SHARED, 'models/wiki-ja-albert-spm/wiki-ja_albert.model'), join(model, 'spiece.model'));
    const args = (out: string) => ['finetune', '--model', model, '--texts', join(dir, 'texts.json'), '--pairs', join(dir, 'pairs.json'), '--output', out, '--overwrite',
      '--max-steps', String(steps), '--batch-size', String(batch), '--max-seq-length', '128', '--save-steps', '0', '--dtype', dtype, '--seed', '3'];
    const runs: Record<'one' | 'two', Array<{ stepsPerSecond: number; tokensPerSecond: number; bytes?: number; reduce?: number }>> = { one: [], two: [] };
    for (let r = 0; r < rounds; r++) {
      for (const way of (r % 2 ? ['two', 'one'] : ['one', 'two']) as Array<'one' | 'two'>) {
        const out = join(dir, `${name}-${way}`);
        rmSync(out, { recursive: true, force: true });
        const p = way === 'one'
          ? spawnSync(join(ROOT, 'bin/ja-bert'), args(out), { encoding: 'utf8', env: { ...env, OMP_NUM_THREADS: '2' } })
          : spawnSync('mpirun', ['-q', '--oversubscribe', '--bind-to', 'none', '-x', 'OMP_NUM_THREADS', '-np', '2', join(ROOT, 'bin/ja-bert'), ...args(out)], { encoding: 'utf8', env: { ...env, OMP_NUM_THREADS: '1' } });
        if (p.status !== 0) throw new Error(`${name} ${way}: ${(p.stderr || p.stdout).trim().split('\n').slice(-3).join(' | ')}`);
        const rep = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as { global_step: number; train_seconds: number; train_tokens_per_second: number; distributed?: { allreduce_bytes_per_step: number; allreduce_seconds_per_step: number } };
        runs[way].push({ stepsPerSecond: rep.global_step / rep.train_seconds, tokensPerSecond: rep.train_tokens_per_second, bytes: rep.distributed?.allreduce_bytes_per_step, reduce: rep.distributed?.allreduce_seconds_per_step });
      }
    }
    const s1 = runs.one.map((x) => x.stepsPerSecond), s2 = runs.two.map((x) => x.stepsPerSecond), red = runs.two.map((x) => x.reduce!);
    const line = {
      bench: 'distributed', shape: name, ...shape, batch, seq: 128, steps, rounds, dtype, cpu: cpus()[0]?.model ?? 'unknown', isa: info.isa,
      one_process_2_threads: { steps_per_second: median(s1), spread: [Math.min(...s1), Math.max(...s1)], tokens_per_second: median(runs.one.map((x) => x.tokensPerSecond)) },
      two_ranks_1_thread: { steps_per_second: median(s2), spread: [Math.min(...s2), Math.max(...s2)], tokens_per_second: median(runs.two.map((x) => x.tokensPerSecond)),
        allreduce_bytes_per_step: runs.two[0]!.bytes, allreduce_seconds_per_step: median(red), allreduce_spread: [Math.min(...red), Math.max(...red)] },
      ratio: median(s2) / median(s1),
    };
    console.log(JSON.stringify(line));
    summary.push(`${name}: 2 ranks × 1 thread ${spread(s2)} steps/s vs 1 × 2 threads ${spread(s1)} (${line.ratio.toFixed(2)}×), all-reduce ${(runs.two[0]!.bytes! / 2 ** 20).toFixed(1)} MiB in ${spread(red.map((x) => x * 1000), 1)} ms/step`);
  }
  console.log(`distributed (${cpus()[0]?.model ?? 'unknown'}, ${info.isa}, ${rounds} rounds of ${steps} steps): ${summary.join('; ')}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
