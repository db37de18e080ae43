// Data-parallel training over Open MPI (train/distributed.ts): `mpirun -np 2` with the global batch trains to one process's
// weights (f32, dropout on, 20 steps; only the summation order differs) for the cross-encoder, a pair head and NSP + whole-word
// masking pretraining, with the same evaluation; a killed rank ends the job within seconds, naming the rank; the same command
// resumes from the last checkpoint with another number of ranks; ranks that differ are refused before anything is written.
// mpirun runs every rank on this machine over loopback (Open MPI's shared memory), one thread each.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSafetensors } from '../src/io/safetensors.js';
import { toFloat32 } from '../src/io/tensor.js';
import { mpiLaunch, shardRange } from '../src/train/distributed.js';
import { faultEnv, requireCommand, SHARED_DIR, tinySetup, type TinySetup } from './helpers.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const BIN = join(ROOT, 'bin/ja-bert');
// as root (CI containers) Open MPI wants both variables; one thread per rank; no single-copy shared memory (containers forbid ptrace)
const ENV = { ...process.env, OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1', OMP_NUM_THREADS: '1', OMPI_MCA_btl_vader_single_copy_mechanism: 'none' };
const MPI = ['--oversubscribe', '--bind-to', 'none', '-x', 'OMP_NUM_THREADS'];

let dir = '', t: TinySetup, corpus = '';
before(() => {
  requireCommand('mpirun', 'openmpi-bin');
  assert.ok(existsSync(join(ROOT, 'build/Release/jabert_mpi.node')), 'the MPI addon is built (libopenmpi-dev: scripts/setup.sh installs it)');
  dir = mkdtempSync(join(tmpdir(), 'jabert-mpi-'));
  t = tinySetup(dir, { seed: 3, from: 0, to: 160 });
  // a corpus of man-page paragraphs for pretraining (blank lines between documents)
  const pages = Object.values(JSON.parse(readFileSync(join(SHARED_DIR, 'data/manpages-ja-links/honbun_data.json'), 'utf8')) as Record<string, string>);
  corpus = join(dir, 'corpus.txt');
  writeFileSync(corpus, pages.slice(0, 150).map((b) => b.split('\n').filter((l) => l.trim()).slice(0, 6).join('\n')).join('\n\n') + '\n');
});
process.on('exit', () => { if (dir) rmSync(dir, { recursive: true, force: true }); });

const one = (args: string[], env: Record<string, string> = {}) => spawnSync(BIN, args, { encoding: 'utf8', env: { ...ENV, ...env } });
const ranks = (n: number, args: string[], extra: string[] = []) => spawnSync('mpirun', ['-q', ...MPI, ...extra, '-np', String(n), BIN, ...args], { encoding: 'utf8', env: ENV });
const finetuneArgs = (out: string, more: string[] = []) => ['finetune', '--model', t.model, '--texts', t.texts, '--pairs', t.pairs, '--output', out,
  '--max-steps', '20', '--batch-size', '8', '--max-seq-length', '32', '--dtype', 'f32', '--save-steps', '0', '--seed', '5', ...more];

/** every tensor of two saved models equal up to summation order: |a − b| ≤ 1e-4 of the tensor's scale (floored at 1e-3 of the largest), and both moved from `base` */
function sameWeights(a: string, b: string, base?: string): void {
  const A = readSafetensors(join(a, 'model.safetensors')).tensors, B = readSafetensors(join(b, 'model.safetensors')).tensors;
  const Z = base ? readSafetensors(join(base, 'model.safetensors')).tensors : null;
  assert.deepEqual([...A.keys()].sort(), [...B.keys()].sort());
  const scale = Math.max(...[...B.values()].map((v) => toFloat32(v).reduce((m, x) => Math.max(m, Math.abs(x)), 0)));
  let moved = 0;
  for (const [k, v] of A) {
    const x = toFloat32(v), y = toFloat32(B.get(k)!), z = Z?.get(k) ? toFloat32(Z.get(k)!) : null;
    let d = 0, s = 0;
    for (let i = 0; i < x.length; i++) { d = Math.max(d, Math.abs(x[i]! - y[i]!)); s = Math.max(s, Math.abs(y[i]!)); if (z) moved = Math.max(moved, Math.abs(y[i]! - z[i]!)); }
    assert.ok(d <= 1e-4 * Math.max(s, 1e-3 * scale), `${k}: max |difference| ${d} against a scale of ${s}`);
  }
  if (Z) assert.ok(moved > 1e-4, `training moved the weights (${moved})`);
}

/** run_classifier's eval block of two runs: the same accuracy and step, the losses equal up to summation order (their 7th digit may differ) */
function sameEvalBlock(a: string, b: string): void {
  const read = (d: string) => Object.fromEntries(readFileSync(join(d, 'eval_results.txt'), 'utf8').split('\n').map((l) => /^(\w+) = (\S+)$/.exec(l)).filter((m) => m !== null).map((m) => [m![1]!, Number(m![2])]));
  const [x, y] = [read(a), read(b)];
  assert.deepEqual(Object.keys(x).sort(), Object.keys(y).sort());
  for (const k of Object.keys(x)) {
    if (/loss/.test(k)) assert.ok(Math.abs(x[k]! - y[k]!) <= 1e-5 * Math.abs(y[k]!), `${k}: ${x[k]} against ${y[k]}`);
    else assert.equal(x[k], y[k], k);
  }
}

test('the launch is read from Open MPI\'s environment; shards are contiguous and cover the batch', () => {
  assert.deepEqual(mpiLaunch({ OMPI_COMM_WORLD_SIZE: '4', OMPI_COMM_WORLD_RANK: '2' }), { rank: 2, size: 4 });
  assert.deepEqual(mpiLaunch({ PMI_SIZE: '2', PMI_RANK: '1' }), { rank: 1, size: 2 });
  assert.equal(mpiLaunch({}), null);
  assert.equal(mpiLaunch({ OMPI_COMM_WORLD_SIZE: '2', OMPI_COMM_WORLD_RANK: '2' }), null);
  for (const [n, size] of [[8, 2], [7, 3], [1, 2], [0, 2]] as const) {
    const parts = Array.from({ length: size }, (_, r) => shardRange(n, r, size));
    assert.deepEqual(parts.flatMap(([a, b]) => Array.from({ length: b - a }, (_, i) => a + i)), Array.from({ length: n }, (_, i) => i), `${n} over ${size}`);
  }
});

test('mpirun -np 2 fine-tunes the cross-encoder and a pair head to one process\'s weights (f32, dropout on, 20 steps) and the same evaluations (sharded); rank 0 alone writes', () => {
  for (const head of ['cross', 'dot']) {
    const o1 = join(dir, `one-${head}`), o2 = join(dir, `two-${head}`);
    // the cross-encoder also evaluates every 5 steps and ends on its best model (rank 0 reads it, every rank evaluates with it)
    const more = head === 'cross' ? ['--head', head, '--eval-steps', '5', '--metric-for-best-model', 'accuracy'] : ['--head', head];
    const r1 = one(finetuneArgs(o1, more));
    assert.equal(r1.status, 0, r1.stderr);
    const r2 = ranks(2, finetuneArgs(o2, more));
    assert.equal(r2.status, 0, r2.stderr + r2.stdout);
    sameWeights(o2, o1, t.model);
    sameEvalBlock(o2, o1);
    // every evaluation during training: the same accuracy, the loss up to summation order
    const evals = (d: string) => (JSON.parse(readFileSync(join(d, 'report.json'), 'utf8')) as { evaluations: Array<{ step: number; eval_accuracy: number; eval_loss: number }> }).evaluations;
    const [e1, e2] = [evals(o1), evals(o2)];
    assert.equal(e1.length, head === 'cross' ? 4 : 0);
    e1.forEach((e, i) => {
      assert.deepEqual([e2[i]!.step, e2[i]!.eval_accuracy], [e.step, e.eval_accuracy]);
      assert.ok(Math.abs(e2[i]!.eval_loss - e.eval_loss) <= 1e-6 * e.eval_loss, `eval loss at step ${e.step}: ${e2[i]!.eval_loss} against ${e.eval_loss}`);
    });
    // one report, printed once; the progress lines are rank 0's
    assert.equal(r2.stdout.split('***** Eval results *****').length, 2, r2.stdout);
    assert.equal(r2.stderr.split('fine-tuning ').length, 2, r2.stderr);
    // the other rank wrote nothing: no folder of its own, no second lock
    assert.ok(!existsSync(join(o2, '.ja-bert.lock')));
  }
  const bad = one(finetuneArgs(join(dir, 'bad'), ['--distributed', 'sometimes']));
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--distributed must be auto or off/);
});

test('mpirun -np 2 pretrains NSP + whole-word masking to one process\'s weights and held-out figures', () => {
  const args = (out: string) => ['pretrain', '--corpus', corpus, '--tokenizer', join(t.model, 'spiece.model'), '--output', out, '--objective', 'nsp', '--wwm',
    '--layers', '1', '--hidden', '32', '--heads', '2', '--intermediate', '64', '--max-seq-length', '48', '--batch-size', '8', '--max-steps', '20',
    '--learning-rate', '1e-3', '--save-steps', '0', '--seed', '4', '--dtype', 'f32'];
  const o1 = join(dir, 'pre-one'), o2 = join(dir, 'pre-two');
  const r1 = one(args(o1));
  assert.equal(r1.status, 0, r1.stderr);
  const r2 = ranks(2, args(o2));
  assert.equal(r2.status, 0, r2.stderr + r2.stdout);
  sameWeights(o2, o1);
  const rep = (d: string) => JSON.parse(readFileSync(join(d, 'pretrain_report.json'), 'utf8')) as { eval_mlm_loss: number; eval_pair_accuracy: number; learning_curve: Array<{ loss: number }> };
  const a = rep(o1), b = rep(o2);
  assert.ok(Math.abs(a.eval_mlm_loss - b.eval_mlm_loss) <= 1e-5 * a.eval_mlm_loss, `${a.eval_mlm_loss} ${b.eval_mlm_loss}`);
  assert.equal(a.eval_pair_accuracy, b.eval_pair_accuracy);
  a.learning_curve.forEach((p, i) => assert.ok(Math.abs(p.loss - b.learning_curve[i]!.loss) <= 1e-5 * p.loss, `step ${i + 1}: loss ${p.loss} against ${b.learning_curve[i]!.loss}`));
});

test('a killed rank ends the job within seconds, naming it; the same command resumes from the last checkpoint with another number of ranks', async () => {
  // rank 1 killed (SIGKILL) in the middle of a long run: mpirun ends rank 0 too and says which rank died
  const out = join(dir, 'killed');
  const args = finetuneArgs(out, ['--max-steps', '100000', '--save-steps', '50']);
  const job = spawn('mpirun', [...MPI, '-np', '2', BIN, ...args], { env: ENV });
  let output = '';
  job.stdout.on('data', (d: Buffer) => { output += d.toString(); });
  job.stderr.on('data', (d: Buffer) => { output += d.toString(); });
  const ended = new Promise<number | null>((resolve) => job.on('close', (code) => resolve(code)));
  // wait for training to run (a checkpoint written), then find rank 1 by its environment
  for (let i = 0; i < 300 && !existsSync(join(out, 'checkpoint-50')); i++) await new Promise((r) => setTimeout(r, 100));
  assert.ok(existsSync(join(out, 'checkpoint-50')), output);
  // (from /proc: the node process whose command line names this run's output and whose environment says rank 1)
  const pids = readdirSync('/proc').filter((f) => /^\d+$/.test(f)).map(Number);
  const rank1 = pids.find((p) => { try { const cmd = readFileSync(`/proc/${p}/cmdline`, 'latin1'); return cmd.includes(out) && cmd.includes('node') && readFileSync(`/proc/${p}/environ`, 'latin1').split('\0').includes('OMPI_COMM_WORLD_RANK=1'); } catch { return false; } });
  assert.ok(rank1, `rank 1's process among ${pids.join(', ')}`);
  const killedAt = Date.now();
  process.kill(rank1!, 'SIGKILL');
  const code = await ended;
  assert.ok(Date.now() - killedAt < 15_000, `the job ended ${Date.now() - killedAt} ms after the kill`);
  assert.notEqual(code, 0);
  assert.match(output, /process rank 1 .*exited on signal 9/, output);
  assert.ok(!existsSync(join(out, 'eval_results.txt')), 'not reported as finished');

  // rank 0 (the writer) killed while it starts checkpoint-20: the rerun resumes from checkpoint-10 alone and ends where one uninterrupted process does
  const res = join(dir, 'resumed');
  const killed = spawnSync('mpirun', ['-q', ...MPI, '-x', 'NODE_OPTIONS', '-x', 'JA_BERT_KILL_ON_MKDIR', '-np', '2', BIN, ...finetuneArgs(res, ['--save-steps', '10'])],
    { encoding: 'utf8', env: { ...ENV, ...faultEnv({ JA_BERT_KILL_ON_MKDIR: 'checkpoint-20.tmp' }) } });
  assert.notEqual(killed.status, 0, killed.stderr);
  assert.ok(existsSync(join(res, 'checkpoint-10', 'trainer_state.json')) && !existsSync(join(res, 'eval_results.txt')));
  const again = one(finetuneArgs(res, ['--save-steps', '10']));
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stderr, /resuming from .*checkpoint-10 at step 10\/20/);
  const whole = join(dir, 'whole');
  assert.equal(one(finetuneArgs(whole, ['--save-steps', '10'])).status, 0);
  sameWeights(res, whole, t.model);
  sameEvalBlock(res, whole);
});

test('ranks that differ (options, data) are refused at the start in one line naming the rank; nothing is written', () => {
  const out = join(dir, 'mismatch');
  const r = spawnSync('mpirun', ['-q', ...MPI, '-np', '1', BIN, ...finetuneArgs(out), ':', '-np', '1', BIN, ...finetuneArgs(out, ['--learning-rate', '1e-4'])], { encoding: 'utf8', env: ENV });
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /^ja-bert: rank 0 of 2 \([^)]*\): rank 1 of 2 has other data, weights or options than rank 0 \(their hashes differ\)/);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.ok(!existsSync(out), 'nothing written');
  // another training file on rank 1
  const other = join(dir, 'pairs-other.json');
  writeFileSync(other, JSON.stringify((JSON.parse(readFileSync(t.pairs, 'utf8')) as unknown[]).reverse()));
  const d = spawnSync('mpirun', ['-q', ...MPI, '-np', '1', BIN, ...finetuneArgs(out), ':', '-np', '1', BIN, ...finetuneArgs(out).map((a) => (a === t.pairs ? other : a))], { encoding: 'utf8', env: ENV });
  assert.equal(d.status, 2, d.stderr);
  assert.match(d.stderr, /rank 1 of 2 has other data/);
  // in-batch negatives and ELECTRA need the whole batch in one process
  const c = ranks(2, finetuneArgs(join(dir, 'mnrl'), ['--head', 'bi', '--loss', 'contrastive']));
  assert.equal(c.status, 2, c.stderr);
  assert.match(c.stderr, /--loss contrastive \(in-batch negatives\) runs in one process: run it without mpirun, or with --distributed off/);
});
