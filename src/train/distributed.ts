/**
 * Data-parallel training over Open MPI. `mpirun -np N bin/ja-bert finetune|pretrain …` starts N ranks; each detects the
 * launch from its environment (OMPI_COMM_WORLD_SIZE / _RANK, or PMI_SIZE / PMI_RANK) and opens MPI_COMM_WORLD through
 * the small MPI addon (native/mpi.cc, built only where libopenmpi-dev is present). The trainer (train/trainer.ts) then:
 *
 *   - starts every rank from rank 0's weights (and, resuming, its optimizer state and progress): broadcast;
 *   - runs each global micro-batch as N contiguous shards, one per rank, with dropout masks drawn per example from
 *     (seed, step, the example's position in the global batch: model/dropseed.ts) and each loss term averaged over
 *     the global batch (the shard's share of the term's size: examples, class weights, masked tokens), so the summed
 *     gradients are one process's;
 *   - sums the gradient arenas with MPI_Allreduce in buckets and applies the same update on every rank;
 *   - lets rank 0 alone write checkpoints, reports and the finished marker.
 *
 * A mismatch between ranks (data, model, flags) is refused at the start by comparing a hash of them.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { JaBertError, registerError } from '../core/errors.js';
import { packageRoot } from '../core/native.js';

/** a distributed run cannot go on (a mismatch between ranks, MPI missing or failing) */
export class DistributedError extends JaBertError {
  override readonly code = 'ERR_JA_BERT_DISTRIBUTED';
  override readonly exitCode = 2;
  /** raised the same on every rank (a mismatch found by a collective): rank 0 alone says so */
  everyRank = false;
}
registerError(DistributedError);

interface MpiBinding {
  mpiInit(): { rank: number; size: number; processor: string };
  mpiAllreduceSum(a: Float32Array | Float64Array | Int32Array): void;
  mpiBcast(a: Float32Array | Float64Array | Int32Array | Uint8Array, root: number): void;
  mpiBarrier(): void;
  mpiAbort(code: number): void;
  mpiFinalize(): void;
}

/** the collectives training uses, on MPI_COMM_WORLD */
export interface Comm {
  readonly rank: number;
  readonly size: number;
  /** the host this rank runs on */
  readonly processor: string;
  /** element-wise sum over the ranks, in place */
  allreduceSum(a: Float32Array | Float64Array | Int32Array): void;
  /** rank `root`'s contents on every rank */
  bcast(a: Float32Array | Float64Array | Int32Array | Uint8Array, root?: number): void;
  /** rank 0's value (JSON) on every rank */
  bcastJson<T>(value: T): T;
  barrier(): void;
  /** end every rank of the job (after this rank printed why) */
  abort(code: number): void;
  finalize(): void;
}

/** where the launcher says this process sits: Open MPI's OMPI_COMM_WORLD_*, else the PMI variables of MPICH-style launchers */
export function mpiLaunch(env: NodeJS.ProcessEnv = process.env): { rank: number; size: number } | null {
  const size = Number(env.OMPI_COMM_WORLD_SIZE ?? env.PMI_SIZE ?? NaN), rank = Number(env.OMPI_COMM_WORLD_RANK ?? env.PMI_RANK ?? NaN);
  return Number.isInteger(size) && Number.isInteger(rank) && size >= 1 && rank >= 0 && rank < size ? { rank, size } : null;
}

let opened: Comm | null = null;

/**
 * The communicator of an MPI launch with more than one rank, or null (one process: not launched by mpirun, one rank,
 * or `--distributed off`). Throws a DistributedError when launched with several ranks but this build has no MPI addon.
 */
export function openDistributed(mode: 'auto' | 'off' = 'auto'): Comm | null {
  if (mode === 'off') return null;
  const launch = mpiLaunch();
  if (!launch || launch.size < 2) return null;
  if (opened) return opened;
  const path = join(packageRoot(), 'build', 'Release', 'jabert_mpi.node');
  if (!existsSync(path)) throw new DistributedError(`launched as rank ${launch.rank} of ${launch.size} (mpirun), but this build has no MPI support (${path} is missing): install libopenmpi-dev and run scripts/setup.sh again, or pass --distributed off`);
  const b = createRequire(import.meta.url)(path) as MpiBinding;
  const w = b.mpiInit();
  const bcast = (a: Float32Array | Float64Array | Int32Array | Uint8Array, root = 0) => b.mpiBcast(a, root);
  opened = {
    rank: w.rank, size: w.size, processor: w.processor,
    allreduceSum: (a) => b.mpiAllreduceSum(a),
    bcast,
    bcastJson<T>(value: T): T {
      const bytes = w.rank === 0 ? Buffer.from(JSON.stringify(value ?? null)) : Buffer.alloc(0);
      const n = Float64Array.of(bytes.length);
      bcast(n);
      const buf = w.rank === 0 ? new Uint8Array(bytes) : new Uint8Array(n[0]!);
      bcast(buf);
      return JSON.parse(Buffer.from(buf).toString('utf8')) as T;
    },
    barrier: () => b.mpiBarrier(),
    abort: (code) => b.mpiAbort(code),
    finalize: () => { b.mpiFinalize(); opened = null; },
  };
  return opened;
}

/** the open communicator, if this process is a rank of a distributed run */
export const currentComm = (): Comm | null => opened;

/**
 * Refuse a run whose ranks differ: each rank hashes what must be the same everywhere (the data, the starting weights,
 * the options); every rank learns which ranks differ from rank 0, and all stop with the same one line.
 */
export function checkSameEverywhere(comm: Comm, parts: Array<string | ArrayBufferView>): void {
  const h = createHash('sha256');
  for (const p of parts) h.update(typeof p === 'string' ? p : new Uint8Array(p.buffer, p.byteOffset, p.byteLength));
  const mine = new Uint8Array(h.digest());
  const root = mine.slice();
  comm.bcast(root);
  const differ = new Int32Array(comm.size);
  differ[comm.rank] = root.every((x, i) => x === mine[i]) ? 0 : 1;
  comm.allreduceSum(differ);
  const bad = Array.from(differ.keys()).filter((r) => differ[r]);
  if (!bad.length) return;
  const e = new DistributedError(`rank${bad.length > 1 ? 's' : ''} ${bad.join(', ')} of ${comm.size} ${bad.length > 1 ? 'have' : 'has'} other data, weights or options than rank 0 (their hashes differ): every rank must run the same command on the same files; nothing was written`);
  e.everyRank = true;
  throw e;
}

/** the contiguous shard of a global micro-batch of n examples that `rank` of `size` takes: [from, to) */
export function shardRange(n: number, rank: number, size: number): [number, number] {
  return [Math.floor((rank * n) / size), Math.floor(((rank + 1) * n) / size)];
}

/** floats per MPI_Allreduce call when summing gradients (16 MiB buckets) */
export const BUCKET = 1 << 22;

/** sum a gradient arena over the ranks, one bucket at a time */
export function allreduceBuckets(comm: Comm, g: Float32Array): void {
  for (let at = 0; at < g.length; at += BUCKET) comm.allreduceSum(g.subarray(at, Math.min(g.length, at + BUCKET)));
}
