// Cache builds over a BullMQ queue (issue 16): the test starts its own
// redis-server on a loopback port and stops it. Two workers build a cache equal
// to a single-process build (same ids, same values); a worker killed in the
// middle of a chunk loses nothing (its job goes to another worker); a build with
// no worker gives up in one line and a rerun resumes.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closeCache, entryValues, readCache } from '../src/cache/index.js';
import { buildCacheQueued } from '../src/cache/queue.js';
import { nativeKernels } from '../src/core/native.js';
import { finetune } from '../src/finetune.js';
import { faultEnv, tinySetup, type TinySetup } from './helpers.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const BIN = join(ROOT, 'bin/ja-bert');
const K = nativeKernels();
let dir = '', t: TinySetup, model = '', ref = '', redis: ChildProcess | null = null, url = '';
const children: ChildProcess[] = [];

const freePort = () => new Promise<number>((resolve) => { const s = createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => resolve(p)); }); });

before(async () => {
  const which = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  assert.equal(which.status, 0, 'redis-server is missing: scripts/setup.sh installs Debian\'s redis-server');
  dir = mkdtempSync(join(tmpdir(), 'jabert-queue-'));
  const port = await freePort();
  redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    redis!.stdout!.on('data', (d: Buffer) => { out += d.toString(); if (/Ready to accept connections/.test(out)) resolve(); });
    redis!.on('exit', (c) => reject(new Error(`redis-server exited ${c}: ${out}`)));
  });
  url = `redis://127.0.0.1:${port}`;
  t = tinySetup(dir, { seed: 31, from: 500, to: 620 });
  model = join(dir, 'dot');
  finetune({ model: t.model, output: model, kernels: K, texts: t.texts, pairs: t.pairs, head: 'dot', maxSteps: 2, batchSize: 8, maxSeqLength: 32, dtype: 'f32', saveSteps: 0 });
  // the single-process build with the workers' thread count: oneDNN splits a reduction by threads, and
  // on AVX2 a different count changes the last bit of some values
  ref = join(dir, 'single.jabc');
  const one = spawnSync(BIN, ['cache', 'build', '--model', model, '--texts', t.texts, '--cache', ref, '--dtype', 'f32', '--batch-size', '8'], { env: { ...process.env, JA_BERT_THREADS: '1' }, encoding: 'utf8' });
  assert.equal(one.status, 0, one.stderr);
});
after(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  if (redis) { redis.kill('SIGTERM'); await new Promise((r) => redis!.once('exit', r)); }
  if (dir && !process.env.KEEP) rmSync(dir, { recursive: true, force: true });
});

// a test that fails before stopping its workers must not leave them to take the next test's jobs
afterEach(async () => {
  const live = children.filter((c) => c.exitCode === null && c.signalCode === null);
  for (const c of live) c.kill('SIGKILL');
  await Promise.all(live.map((c) => new Promise((r) => c.once('exit', r))));
});

function worker(env: Record<string, string> = {}, lockSeconds = 2): { child: ChildProcess; log: () => string; exited: Promise<{ code: number | null; signal: string | null }> } {
  const child = spawn(BIN, ['worker', '--queue', url, '--lock-seconds', String(lockSeconds)], { env: { ...process.env, JA_BERT_THREADS: '1', ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  let log = '';
  child.stderr!.on('data', (d: Buffer) => { log += d.toString(); });
  const exited = new Promise<{ code: number | null; signal: string | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  return { child, log: () => log, exited };
}

function coordinator(cache: string, extra: string[] = []): { exited: Promise<{ code: number | null; out: string; err: string }> } {
  const child = spawn(BIN, ['cache', 'build', '--model', model, '--texts', t.texts, '--cache', cache, '--queue', url, '--chunk-size', '8', '--batch-size', '8', '--dtype', 'f32', ...extra],
    { env: { ...process.env, JA_BERT_THREADS: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '', err = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  return { exited: new Promise((r) => child.once('exit', (code) => r({ code, out, err }))) };
}

/** same ids in the same order, bit-identical values */
function assertSameCache(path: string): void {
  const a = readCache(path), b = readCache(ref);
  assert.deepEqual(a.header.entries.map((e) => [e.id, e.hash, e.rows]), b.header.entries.map((e) => [e.id, e.hash, e.rows]));
  for (const e of b.header.entries) assert.deepEqual(entryValues(a, a.byId.get(e.id)!), entryValues(b, e), e.id);
}

test('two workers build the same cache as one process: same ids, same values; SIGTERM stops a worker cleanly', async () => {
  const w1 = worker(), w2 = worker();
  const out = join(dir, 'two.jabc'), ix = join(dir, 'two-ix');
  const r = await coordinator(out, ['--index', `lancedb://${ix}`]).exited;
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /encoded by the queue's workers/);
  assertSameCache(out);
  // --index with --queue: the merged cache names the index, written after it
  assert.match(r.out, /index: \d+ keys for \d+ texts/);
  const c = readCache(out);
  assert.deepEqual(c.header.index, { kind: 'lancedb', path: 'two-ix' }); // relative to the cache's folder, which holds it
  closeCache(c);
  assert.ok(existsSync(join(ix, 'ja_bert_keys.lance')), 'the index table is written');
  const chunks = Math.ceil(Object.keys(t.body).length / 8);
  const done = (w1.log() + w2.log()).split('\n').filter((l) => /^worker: .*texts ->/.test(l)).length;
  assert.equal(done, chunks, `${done} chunk lines for ${chunks} chunks`);
  for (const w of [w1, w2]) { w.child.kill('SIGTERM'); assert.deepEqual(await w.exited, { code: 0, signal: null }); }
});

test('the library build leaves nothing running once it returns: no poll of the closed queue afterwards', async () => {
  // the coordinator's wait ends by the event stream or by its state poll, whichever sees the last chunk
  // first; a poll left running would send a command on the closed connection a second later and take
  // the caller's process down with an unhandled rejection
  const stray: unknown[] = [];
  const onStray = (e: unknown) => { stray.push(e); };
  process.on('unhandledRejection', onStray);
  const w = worker();
  try {
    const r = await buildCacheQueued({ model, texts: t.texts, cache: join(dir, 'lib.jabc'), kernels: K, queue: url, chunkSize: 8, batchSize: 8, dtype: 'f32' });
    assert.ok(r.encoded > 0);
    assertSameCache(join(dir, 'lib.jabc'));
    await new Promise((r) => setTimeout(r, 2500)); // two poll periods
    assert.deepEqual(stray.map(String), []);
  } finally {
    process.off('unhandledRejection', onStray);
    w.child.kill('SIGTERM');
    await w.exited;
  }
});

test('a worker killed in the middle of a chunk loses nothing: its chunk is retried by another worker', async () => {
  const out = join(dir, 'crash.jabc');
  const c = coordinator(out);
  // the doomed worker dies at its first change to the disk: the chunk it took is encoded but never written
  const doomed = worker(faultEnv({ JA_BERT_FAULT: 'kill', JA_BERT_FAULT_AT: '1' }));
  assert.deepEqual(await doomed.exited, { code: null, signal: 'SIGKILL' });
  const healthy = worker();
  const r = await c.exited;
  assert.equal(r.code, 0, r.err);
  assertSameCache(out);
  healthy.child.kill('SIGTERM');
  await healthy.exited;
});

test('with no worker the build gives up in one line and keeps what is done; the rerun with a worker resumes', async () => {
  const out = join(dir, 'resume.jabc');
  const r1 = await coordinator(out, ['--stall-seconds', '2']).exited;
  assert.equal(r1.code, 1);
  assert.match(r1.err, /no chunk finished for 2 s \(0 of \d+ done\): is a worker running/);
  assert.equal(r1.err.trim().split('\n').filter((l) => l.startsWith('ja-bert:')).length, 1);
  const w = worker();
  const r2 = await coordinator(out).exited;
  assert.equal(r2.code, 0, r2.err);
  assertSameCache(out);
  // nothing to do on a third run: every text is in the cache already
  const r3 = await coordinator(out).exited;
  assert.equal(r3.code, 0, r3.err);
  assert.match(r3.out, /0 encoded by the queue's workers, \d+ reused/);
  w.child.kill('SIGTERM');
  await w.exited;
  const bad = spawnSync(BIN, ['cache', 'build', '--model', model, '--texts', t.texts, '--cache', join(dir, 'x.jabc'), '--queue', 'http://localhost:1'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--queue must be redis:\/\/HOST:PORT/);
});
