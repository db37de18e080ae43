// Retrieve, then rerank (issue 16): cache build --index lancedb://PATH writes a
// LanceDB table of one key per text and names it in the cache; rank takes the
// top K from it and reranks with the head. With K ≥ the corpus it equals the
// exhaustive ranking; the keys are the normalised mean of the cached rows; the
// wrong head, a missing index and --retrieve without one are refused.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeCache, closeCache, entryValues, openRanker, rank, readCache } from '../src/cache/index.js';
import { Rng } from '../src/core/random.js';
import { nativeKernels } from '../src/core/native.js';
import { finetune } from '../src/finetune.js';
import { entryKeys, KEY_ROWS, RetrieveRanker, writeIndex } from '../src/cache/retrieve.js';
import { buildCache as apiBuildCache, closeEngine, PairScorer } from '../src/index.js';
import { startServer } from '../src/serve/server.js';
import { tinyPairModel, type TinySetup } from './helpers.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const K = nativeKernels();
const cli = (...a: string[]) => spawnSync(join(ROOT, 'bin/ja-bert'), a, { encoding: 'utf8' });
let dir = '', t: TinySetup, model = '', cache = '', index = '';

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'jabert-retrieve-'));
  ({ t, model } = tinyPairModel(dir, { seed: 41, from: 700, to: 820, maxSteps: 2 }));
  cache = join(dir, 'c.jabc');
  index = join(dir, 'ix');
  const r = cli('cache', 'build', '--model', model, '--texts', t.texts, '--cache', cache, '--index', `lancedb://${index}`, '--cache-dtype', 'int8', '--dtype', 'f32');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /index: \d+ keys for \d+ texts \(searched exhaustively\)/);
});
after(async () => { await closeEngine(); if (dir && !process.env.KEEP) rmSync(dir, { recursive: true, force: true }); });

test('the cache names its index; a text\'s keys are the normalised means of its runs of 8 cached rows', () => {
  const c = readCache(cache);
  assert.deepEqual(c.header.index, { kind: 'lancedb', path: 'ix' }); // named relative to the cache's folder, which holds it
  const e = c.header.entries[3]!, v = entryValues(c, e), W = c.header.width, k = entryKeys(c, 3)[0]!;
  const mean = new Float64Array(W);
  for (let r = 0; r < Math.min(e.rows, KEY_ROWS); r++) for (let d = 0; d < W; d++) mean[d]! += v[r * W + d]!;
  const n = Math.hypot(...mean);
  for (let d = 0; d < W; d++) assert.ok(Math.abs(k[d]! - mean[d]! / n) < 1e-6);
  assert.equal(KEY_ROWS, 8);
  assert.equal(entryKeys(c, 3).length, Math.ceil(e.rows / KEY_ROWS));
  closeCache(c);
});

test('retrieve-then-rerank with K ≥ the corpus equals the exhaustive ranking; a small K reranks only K candidates', async () => {
  const rr = await RetrieveRanker.load({ model, cache, kernels: K, dtype: 'f32' });
  const n = rr.size, ids = Object.keys(t.body).slice(0, 4);
  for (const id of ids) {
    const all = await rr.rank({ id, top: 10, retrieve: n });
    assert.equal(all.retrieved, n - 1);
    const ex = cli('rank', '--model', model, '--cache', cache, '--id', id, '--top', '10', '--retrieve', '0', '--dtype', 'f32');
    assert.equal(ex.status, 0, ex.stderr);
    const exIds = ex.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/).slice(2).join(' '));
    assert.deepEqual(all.results.map((r) => r.id), exIds);
    const few = await rr.rank({ id, top: 3, retrieve: 5 });
    assert.equal(few.retrieved, 5);
    assert.equal(few.results.length, 3);
    assert.ok(!few.results.some((r) => r.id === id), 'the query itself is left out');
  }
  rr.close();
  // the CLI: rank retrieves by default when the cache names an index, and prints the same lines
  const r = cli('rank', '--model', model, '--cache', cache, '--id', ids[0]!, '--retrieve', '20', '--dtype', 'f32');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /retrieved 20 of \d+ cached candidates by the LanceDB index/);
  assert.equal(r.stdout.trim().split('\n').length, 10);
});

test('the library\'s PairScorer and the server rank through the index a cache names; retrieve: 0 scores every candidate', async () => {
  const rr = await RetrieveRanker.load({ model, cache, kernels: K, dtype: 'f32' });
  const id = Object.keys(t.body)[1]!, text = t.body[id]!;
  const want = await rr.rank({ text, top: 5, retrieve: 7 });
  const wantAll = await rr.rank({ text, top: 5, retrieve: rr.size });
  rr.close();
  const ps = await PairScorer.load(model, { cache, dtype: 'f32', retrieve: 7 });
  assert.equal(ps.retrieve, 7);
  const got = await ps.rank(text, { top: 5 });
  assert.equal(got.retrieved, 7);
  assert.deepEqual(got.results.map((r) => r.id), want.results.map((r) => r.id));
  await ps.close();
  const ex = await PairScorer.load(model, { cache, dtype: 'f32', retrieve: 0 });
  assert.equal(ex.retrieve, null);
  const all = await ex.rank(text, { top: 5 });
  assert.equal(all.retrieved, undefined);
  assert.deepEqual(all.results.map((r) => r.id), wantAll.results.map((r) => r.id));
  await ex.close();
  const plain = join(dir, 'plain-api.jabc');
  assert.equal(cli('cache', 'build', '--model', model, '--texts', t.texts, '--cache', plain, '--dtype', 'f32').status, 0);
  await assert.rejects(PairScorer.load(model, { cache: plain, retrieve: 5 }), /retrieve: .*plain-api\.jabc names no index/);
  assert.equal((await (await PairScorer.load(model, { cache: plain, dtype: 'f32' })).rank(text, { top: 3 })).results.length, 3, 'without an index the default ranks exhaustively');
  const server = await startServer({ model, cache, retrieve: 7, port: 0, dtype: 'f32' });
  try {
    const res = await fetch(`${server.url}/v1/rank`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text, top: 5 }) });
    assert.equal(res.status, 200);
    const body = await res.json() as { results: Array<{ id: string }>; retrieved: number };
    assert.equal(body.retrieved, 7);
    assert.deepEqual(body.results.map((r) => r.id), want.results.map((r) => r.id));
    const hz = await (await fetch(`${server.url}/healthz`)).json() as { rank: { retrieve: number } };
    assert.equal(hz.rank.retrieve, 7);
  } finally { await server.close(); }
});

test('the library builds what cache build --index builds, and openRanker chooses retrieve or exhaustive from the cache header', async () => {
  const lib = join(dir, 'lib.jabc'), libIx = join(dir, 'libix');
  const r = await apiBuildCache({ model, texts: t.texts, cache: lib, index: `lancedb://${libIx}`, cacheDtype: 'int8', dtype: 'f32' });
  assert.equal(r.queued, false);
  assert.ok(r.index && r.index.keys > 0 && r.index.rows === r.entries && r.index.path === libIx, JSON.stringify(r.index));
  const a = readCache(cache), b = readCache(lib);
  try {
    assert.deepEqual(b.header.index, { kind: 'lancedb', path: 'libix' });
    assert.deepEqual(b.header.entries.map((e) => [e.id, e.hash, e.rows]), a.header.entries.map((e) => [e.id, e.hash, e.rows]));
    for (let i = 0; i < a.header.entries.length; i += 17) assert.deepEqual(entryValues(b, b.header.entries[i]!), entryValues(a, a.header.entries[i]!), `entry ${i}`);
  } finally { closeCache(a); closeCache(b); }
  const text = t.body[Object.keys(t.body)[2]!]!;
  const viaIndex = await openRanker({ model, cache: lib, kernels: K, dtype: 'f32', retrieve: 6 });
  const exhaustive = await openRanker({ model, cache: lib, kernels: K, dtype: 'f32', retrieve: 0 });
  try {
    assert.deepEqual([viaIndex.kind, viaIndex.retrieve, exhaustive.kind, exhaustive.retrieve], ['retrieve', 6, 'exhaustive', null]);
    const got = await viaIndex.rank({ text, top: 4 });
    assert.equal(got.retrieved, 6);
    const rr = await RetrieveRanker.load({ model, cache: lib, kernels: K, dtype: 'f32' });
    try { assert.deepEqual(got.results, (await rr.rank({ text, top: 4, retrieve: 6 })).results); } finally { rr.close(); }
    assert.deepEqual((await exhaustive.rank({ text, top: 4 })).results, rank({ model, cache: lib, text, top: 4, kernels: K, dtype: 'f32' }).results);
  } finally { viaIndex.close(); exhaustive.close(); }
  const plain = join(dir, 'plain-lib.jabc');
  await apiBuildCache({ model, texts: t.texts, cache: plain, dtype: 'f32' });
  await assert.rejects(openRanker({ model, cache: plain, kernels: K, retrieve: 5 }), /--retrieve: .*plain-lib\.jabc names no index/);
  await assert.rejects(openRanker({ model, cache: plain, kernels: K, nprobes: 4 }), /--nprobes: .* is ranked without an index/);
  assert.equal((await openRanker({ model, cache: plain, kernels: K })).kind, 'exhaustive');
  await assert.rejects(apiBuildCache({ model, texts: t.texts, cache: join(dir, 'x.jabc'), indexType: 'ivf_pq' }), /--index-type needs --index/);
  assert.ok(!existsSync(join(dir, 'x.jabc')));
});

test('--index-type ivf_pq: a product-quantised IVF index beyond 4,096 keys; probing every partition with K ≥ the corpus gives the exhaustive ranking', async () => {
  // 2,100 texts of 16 seeded random token vectors (the encoder's outputs, as an export would give them): 4,200 keys
  const rng = new Rng(5), D = 32, lines: string[] = [];
  const vec = () => Array.from({ length: D }, () => Number(rng.normal().toFixed(4)));
  for (let i = 0; i < 2100; i++) lines.push(JSON.stringify({ id: `e${i}`, text: `text ${i}`, last_hidden_state: Array.from({ length: 16 }, vec), pooler_output: vec() }));
  const emb = join(dir, 'emb.jsonl'), big = join(dir, 'big.jabc'), bigIx = join(dir, 'bigix');
  writeFileSync(emb, lines.join('\n') + '\n');
  encodeCache({ model, fromEmbeddings: emb, cache: big, kernels: K, dtype: 'f32', index: bigIx });
  const c = readCache(big);
  const ix = await writeIndex(c, bigIx, undefined, 'ivf_pq');
  closeCache(c);
  assert.deepEqual([ix.keys, ix.indexed, ix.type], [4200, true, 'ivf_pq']);
  const rr = await RetrieveRanker.load({ model, cache: big, kernels: K, dtype: 'f32' });
  assert.equal(rr.indexType, 'ivf_pq');
  const all = await rr.rank({ id: 'e7', top: 10, retrieve: 2100, nprobes: Math.ceil(Math.sqrt(4200)) });
  const ex = rank({ model, cache: big, id: 'e7', top: 10, kernels: K, dtype: 'f32' });
  assert.deepEqual(all.results.map((r) => r.id), ex.results.map((r) => r.id));
  const few = await rr.rank({ id: 'e7', top: 5, retrieve: 50 });
  assert.equal(few.retrieved, 50);
  assert.equal(few.results.length, 5);
  rr.close();
});

test('refused in one line: --index for a head it cannot key, a missing index, --retrieve on a cache without one, a bad --index URI', () => {
  const low = join(dir, 'low');
  finetune({ model: t.model, output: low, kernels: K, texts: t.texts, pairs: t.pairs, head: 'lowrank', maxSteps: 1, batchSize: 8, maxSeqLength: 32, dtype: 'f32', saveSteps: 0 });
  let r = cli('cache', 'build', '--model', low, '--texts', t.texts, '--cache', join(dir, 'low.jabc'), '--index', `lancedb://${join(dir, 'lowix')}`);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /the lowrank head compares projections/);
  r = cli('cache', 'build', '--model', model, '--texts', t.texts, '--cache', join(dir, 'x.jabc'), '--index', 'http://x');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--index must be lancedb:\/\/PATH/);
  r = cli('cache', 'build', '--model', model, '--texts', t.texts, '--cache', join(dir, 'x.jabc'), '--index', `lancedb://${join(dir, 'xix')}`, '--index-type', 'hnsw');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--index-type must be ivf_flat or ivf_pq, got "hnsw"/);
  r = cli('cache', 'build', '--model', model, '--texts', t.texts, '--cache', join(dir, 'x.jabc'), '--index-type', 'ivf_pq');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--index-type needs --index lancedb:\/\/PATH/);
  assert.ok(!existsSync(join(dir, 'x.jabc')), 'nothing written');
  const plain = join(dir, 'plain.jabc');
  assert.equal(cli('cache', 'build', '--model', model, '--texts', t.texts, '--cache', plain).status, 0);
  r = cli('rank', '--model', model, '--cache', plain, '--id', Object.keys(t.body)[0]!, '--retrieve', '10');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /names no index/);
  r = cli('rank', '--model', model, '--cache', plain, '--id', Object.keys(t.body)[0]!, '--nprobes', '4');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--nprobes: .* is ranked without an index/);
  r = cli('rank', '--model', model, '--cache', cache, '--id', Object.keys(t.body)[0]!, '--nprobes', '0');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--nprobes must be an integer ≥ 1, got 0/);
  rmSync(index, { recursive: true, force: true });
  r = cli('rank', '--model', model, '--cache', cache, '--id', Object.keys(t.body)[0]!);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /index .* is missing; rebuild it/);
});
