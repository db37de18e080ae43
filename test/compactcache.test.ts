// Compact caches (issue 16): cache build --cache-dtype f32|bf16|int8 stores the
// B representations in 4, 2 or 1 byte a value (+ one f32 scale per int8 row);
// values decode within the storage's rounding, rank agrees with the f32 cache,
// and the chunked reader (a cache larger than memory) ranks exactly as the
// in-memory one.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeCache, cacheDataBytes, closeCache, entryValues, Ranker, readCache } from '../src/cache/index.js';
import { nativeKernels } from '../src/core/native.js';
import { finetune } from '../src/finetune.js';
import { tinySetup, type TinySetup } from './helpers.js';

const K = nativeKernels();
let dir = '', t: TinySetup, model = '';
const caches: Record<string, string> = {};

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'jabert-compact-'));
  t = tinySetup(dir, { seed: 21, from: 200, to: 320 });
  model = join(dir, 'dot');
  finetune({ model: t.model, output: model, kernels: K, texts: t.texts, pairs: t.pairs, head: 'dot', maxSteps: 4, batchSize: 8, maxSeqLength: 32, learningRate: 1e-3, dtype: 'f32', saveSteps: 0 });
  for (const st of ['f32', 'bf16', 'int8'] as const) {
    caches[st] = join(dir, `${st}.jabc`);
    encodeCache({ model, texts: t.texts, cache: caches[st], kernels: K, dtype: 'f32', cacheDtype: st });
  }
});
after(() => { if (dir && !process.env.KEEP) rmSync(dir, { recursive: true, force: true }); });

test('bf16 stores half, int8 under 30 % of the f32 values; each value decodes within its storage\'s rounding', () => {
  const c = Object.fromEntries(Object.entries(caches).map(([k, p]) => [k, readCache(p)]));
  const f = c.f32!, b = c.bf16!, q = c.int8!;
  assert.deepEqual([f.header.storage, b.header.storage, q.header.storage], ['f32', 'bf16', 'int8']);
  assert.equal(cacheDataBytes(b), cacheDataBytes(f) / 2);
  assert.ok(cacheDataBytes(q) <= 0.3 * cacheDataBytes(f), `int8 ${cacheDataBytes(q)} of f32 ${cacheDataBytes(f)}`);
  const W = f.header.width;
  for (const e of f.header.entries) {
    const v = entryValues(f, e), vb = entryValues(b, b.byId.get(e.id)!), vq = entryValues(q, q.byId.get(e.id)!);
    for (let i = 0; i < v.length; i++) assert.ok(Math.abs(vb[i]! - v[i]!) <= Math.abs(v[i]!) * 2 ** -8, `bf16 ${vb[i]} vs ${v[i]}`);
    for (let r = 0; r < e.rows; r++) {
      let mx = 0;
      for (let j = 0; j < W; j++) mx = Math.max(mx, Math.abs(v[r * W + j]!));
      for (let j = 0; j < W; j++) assert.ok(Math.abs(vq[r * W + j]! - v[r * W + j]!) <= (mx / 127) * 0.5 + 1e-7, `int8 row ${r}`);
    }
  }
});

test('rank: bf16 and int8 give the f32 cache\'s probabilities within 0.02 and nearly its top 10; the chunked reader equals the in-memory one exactly', () => {
  const ids = Object.keys(t.body).slice(0, 5);
  const f32 = Ranker.load({ model, cache: caches.f32!, kernels: K, dtype: 'f32' });
  for (const st of ['f32', 'bf16', 'int8'] as const) {
    const warm = Ranker.load({ model, cache: caches[st]!, kernels: K, dtype: 'f32' });
    const chunked = Ranker.load({ model, cache: caches[st]!, kernels: K, dtype: 'f32', chunked: true });
    assert.ok(!warm.chunked && chunked.chunked);
    for (const id of ids) {
      const all = warm.size - 1;
      const w = warm.rank({ id, top: all }), ch = chunked.rank({ id, top: all }), ref = f32.rank({ id, top: all });
      assert.deepEqual(ch.results, w.results, `${st}: chunked = in memory for ${id}`);
      const refScore = new Map(ref.results.map((r) => [r.id, r.score]));
      for (const r of w.results) assert.ok(Math.abs(r.score - refScore.get(r.id)!) < 0.02, `${st} ${id} ${r.id}: ${r.score} vs ${refScore.get(r.id)}`);
      const top = new Set(ref.results.slice(0, 10).map((r) => r.id));
      assert.ok(w.results.slice(0, 10).filter((r) => top.has(r.id)).length >= 8, `${st}: top 10 overlap for ${id}`);
    }
    warm.close(); chunked.close();
  }
  f32.close();
});

test('a rebuild reuses rows only from a cache of the same storage; a non-finite int8 scale under a valid checksum is refused', () => {
  const logs: string[] = [];
  const same = encodeCache({ model, texts: t.texts, cache: caches.int8!, kernels: K, dtype: 'f32', cacheDtype: 'int8', log: (l) => logs.push(l) });
  assert.equal(same.encoded, 0);
  const other = join(dir, 'switch.jabc');
  writeFileSync(other, readFileSync(caches.int8!));
  const sw = encodeCache({ model, texts: t.texts, cache: other, kernels: K, dtype: 'f32', cacheDtype: 'bf16', log: (l) => logs.push(l) });
  assert.equal(sw.reused, 0);
  assert.ok(logs.some((l) => /stored as int8, building bf16: not reused/.test(l)));
  // a scale of NaN, re-hashed so only the value check can catch it
  const c = readCache(caches.int8!);
  const buf = Buffer.from(readFileSync(caches.int8!));
  buf.writeFloatLE(NaN, c.scaleStart);
  createHash('sha256').update(buf.subarray(0, buf.length - 32)).digest().copy(buf, buf.length - 32);
  const bad = join(dir, 'nan.jabc');
  writeFileSync(bad, buf);
  closeCache(c);
  assert.throws(() => Ranker.load({ model, cache: bad, kernels: K, dtype: 'f32' }), /holds a scale of NaN; rebuild it/);
});
