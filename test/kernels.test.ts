// Native kernels against the TypeScript reference on random and awkward shapes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nativeKernels, engineInfo } from '../src/core/native.js';
import { refKernels, toBf16Bits, fromBf16Bits } from '../src/core/ref.js';
import { Rng } from '../src/core/random.js';
import { randn, assertClose } from './helpers.js';
import { rowSeed } from '../src/model/dropseed.js';

const N = nativeKernels();
const R = refKernels;
const rng = new Rng(1234);

test('engine reports oneDNN and threads', () => {
  const info = engineInfo();
  assert.match(info.onednn, /^2\./);
  assert.ok(info.threads >= 1);
});

test('matmul f32: transposes, bias, batch, accumulate, odd sizes', () => {
  const shapes: Array<[number, number, number, number]> = [[1, 1, 1, 1], [1, 7, 5, 3], [3, 13, 17, 11], [2, 1, 33, 64], [1, 65, 31, 129]];
  for (const [batch, M, Nn, K] of shapes) {
    for (const tA of [false, true]) for (const tB of [false, true]) for (const acc of [false, true]) {
      const A = randn(batch * M * K, rng), B = randn(batch * K * Nn, rng);
      const bias = batch === 1 ? randn(Nn, rng) : null;
      const init = randn(batch * M * Nn, rng);
      const c1 = init.slice(), c2 = init.slice();
      N.matmul(c1, A, B, bias, batch, M, Nn, K, tA, tB, acc, 0);
      R.matmul(c2, A, B, bias, batch, M, Nn, K, tA, tB, acc, 0);
      assertClose(`matmul ${batch}x${M}x${Nn}x${K} tA=${tA} tB=${tB} acc=${acc}`, c1, c2, 1e-4);
    }
  }
});

test('matmul bf16: f32 accumulation over bf16-rounded inputs, pre-converted weights; refused with one line where the CPU has no bf16', () => {
  assert.throws(() => N.matmul(new Float32Array(4), new Uint16Array(4), new Float32Array(4), null, 1, 2, 2, 2, false, false, false, 0), /bf16 operand/);
  if (!N.bf16Supported) {
    // AVX2-class CPUs: oneDNN has no bf16 matmul there; the engine says so instead of oneDNN's primitive-descriptor text
    assert.throws(() => N.matmul(new Float32Array(4), new Float32Array(4), new Float32Array(4), null, 1, 2, 2, 2, false, false, false, 1),
      (e: Error) => /^matmul: bf16 needs a CPU that runs it natively .*this one runs \w+: use dtype f32 \(or auto\)$/.test(e.message) && !/primitive/.test(e.message));
    return;
  }
  for (const [M, Nn, K] of [[5, 9, 7], [64, 48, 96], [1, 3, 300]] as const) {
    const A = randn(M * K, rng), B = randn(Nn * K, rng), bias = randn(Nn, rng);
    const Bh = new Uint16Array(Nn * K);
    N.f32ToBf16(Bh, B, Nn * K);
    const c1 = new Float32Array(M * Nn), c2 = new Float32Array(M * Nn), c3 = new Float32Array(M * Nn);
    N.matmul(c1, A, B, bias, 1, M, Nn, K, false, true, false, 1);
    N.matmul(c3, A, Bh, bias, 1, M, Nn, K, false, true, false, 1);
    R.matmul(c2, A, B, bias, 1, M, Nn, K, false, true, false, 1);
    assertClose('bf16 on-the-fly', c1, c2, 1e-3);
    assertClose('bf16 pre-converted', c3, c2, 1e-3);
  }
});

test('bf16 conversion rounds to nearest even like the reference', () => {
  const x = randn(1001, rng, 100);
  x[0] = 1 + 1 / 256; x[1] = -0; x[2] = Infinity; x[3] = NaN; x[4] = 3.4e38;
  const h = new Uint16Array(x.length), r = new Uint16Array(x.length);
  N.f32ToBf16(h, x, x.length);
  R.f32ToBf16(r, x, x.length);
  assert.deepEqual(Array.from(h), Array.from(r));
  assert.equal(fromBf16Bits(toBf16Bits(1.5)), 1.5);
  const back = new Float32Array(x.length);
  N.bf16ToF32(back, h, x.length);
  for (let i = 5; i < x.length; i++) assert.ok(Math.abs(back[i]! - x[i]!) <= Math.abs(x[i]!) / 128);
});

test('layernorm forward/backward', () => {
  // C = 1 and 2 are left out: there dx is exactly 0 in theory and rstd amplifies rounding
  for (const [n, c] of [[1, 3], [3, 7], [17, 768], [2, 33]] as const) {
    const x = randn(n * c, rng, 3), g = randn(c, rng), b = randn(c, rng), dy = randn(n * c, rng);
    const o = [new Float32Array(n * c), new Float32Array(n * c)];
    const mean = [new Float32Array(n), new Float32Array(n)], rstd = [new Float32Array(n), new Float32Array(n)];
    N.layernormForward(o[0]!, mean[0]!, rstd[0]!, x, g, b, n, c, 1e-12);
    R.layernormForward(o[1]!, mean[1]!, rstd[1]!, x, g, b, n, c, 1e-12);
    assertClose('ln out', o[0]!, o[1]!, 1e-4);
    const dx = [new Float32Array(n * c), new Float32Array(n * c)];
    const dg = [randn(c, rng), new Float32Array(c)], db = [randn(c, rng), new Float32Array(c)];
    dg[1]!.set(dg[0]!); db[1]!.set(db[0]!);
    N.layernormBackward(dx[0]!, dg[0]!, db[0]!, dy, x, g, mean[0]!, rstd[0]!, n, c);
    R.layernormBackward(dx[1]!, dg[1]!, db[1]!, dy, x, g, mean[1]!, rstd[1]!, n, c);
    assertClose('ln dx', dx[0]!, dx[1]!, 1e-3);
    assertClose('ln dgamma (accumulated)', dg[0]!, dg[1]!, 1e-4);
    assertClose('ln dbeta (accumulated)', db[0]!, db[1]!, 1e-4);
  }
});

test('gelu (erf and tanh), tanh, elementwise', () => {
  const n = 70001;
  const x = randn(n, rng, 3), dy = randn(n, rng);
  for (const t of [false, true]) {
    const a = new Float32Array(n), b = new Float32Array(n);
    N.geluForward(a, x, n, t); R.geluForward(b, x, n, t);
    assertClose(`gelu tanh=${t}`, a, b, 1e-5);
    N.geluBackward(a, x, dy, n, t); R.geluBackward(b, x, dy, n, t);
    assertClose(`gelu' tanh=${t}`, a, b, 1e-3);
  }
  const a = new Float32Array(n), b = new Float32Array(n), d1 = new Float32Array(n), d2 = new Float32Array(n);
  N.tanhForward(a, x, n); R.tanhForward(b, x, n);
  assertClose('tanh', a, b, 1e-6);
  N.tanhBackward(d1, a, dy, n); R.tanhBackward(d2, b, dy, n);
  assertClose("tanh'", d1, d2, 1e-4);
  N.addForward(a, x, dy, n); R.addForward(b, x, dy, n);
  assertClose('add', a, b, 0);
  N.accumulate(a, x, n); R.accumulate(b, x, n);
  assertClose('accumulate', a, b, 0);
  N.scale(a, 0.5, n); R.scale(b, 0.5, n);
  assertClose('scale', a, b, 0);
  assert.ok(Math.abs(N.sumSquares(x, n) - R.sumSquares(x, n)) / R.sumSquares(x, n) < 1e-9);
});

test('dropout is seeded, thread-count independent and matches the reference', () => {
  const n = 100003, p = 0.1;
  const x = randn(n, rng), out = new Float32Array(n), m = new Uint8Array(n), out2 = new Float32Array(n), m2 = new Uint8Array(n);
  N.dropoutForward(out, m, x, n, p, 42);
  const small = 5000;
  R.dropoutForward(out2, m2, x, small, p, 42);
  assert.deepEqual(Array.from(m.subarray(0, small)), Array.from(m2.subarray(0, small)));
  const kept = m.reduce((a, b) => a + b, 0) / n;
  assert.ok(Math.abs(kept - 0.9) < 0.01, `keep rate ${kept}`);
  const again = new Uint8Array(n);
  N.dropoutForward(out2, again, x, n, p, 42);
  assert.deepEqual(again, m);
  N.dropoutForward(out2, again, x, n, p, 43);
  assert.notDeepEqual(again, m);
  const d1 = new Float32Array(n), d2 = new Float32Array(n);
  N.dropoutBackward(d1, x, m, n, p); R.dropoutBackward(d2, x, m, n, p);
  assertClose('dropout backward', d1, d2, 1e-6);
});

test('per-row dropout: each row\'s mask comes from its own seed wherever the row sits, native equals the reference, keep rate 1 - p', () => {
  const rows = 301, len = 257, p = 0.2, n = rows * len;
  const x = randn(n, rng), seeds = Int32Array.from({ length: rows }, (_, r) => rowSeed(7, r, r * 3));
  const out = new Float32Array(n), m = new Uint8Array(n), out2 = new Float32Array(n), m2 = new Uint8Array(n);
  N.dropoutRowsForward(out, m, x, rows, len, seeds, p);
  R.dropoutRowsForward(out2, m2, x, rows, len, seeds, p);
  assert.deepEqual(m, m2);
  assertClose('per-row dropout', out, out2, 0);
  const kept = m.reduce((a, b) => a + b, 0) / n;
  assert.ok(Math.abs(kept - (1 - p)) < 0.01, `keep rate ${kept}`);
  // the rows in another order (another shard of the batch): the same masks per row
  const order = Array.from({ length: rows }, (_, r) => (r * 7) % rows);
  const xs = new Float32Array(n), ms = new Uint8Array(n);
  order.forEach((r, i) => xs.set(x.subarray(r * len, (r + 1) * len), i * len));
  N.dropoutRowsForward(new Float32Array(n), ms, xs, rows, len, Int32Array.from(order, (r) => seeds[r]!), p);
  order.forEach((r, i) => assert.deepEqual(ms.subarray(i * len, (i + 1) * len), m.subarray(r * len, (r + 1) * len)));
  // seeds differ by site, example and row
  assert.equal(new Set([rowSeed(1, 0, 0), rowSeed(2, 0, 0), rowSeed(1, 1, 0), rowSeed(1, 0, 1)]).size, 4);
  assert.throws(() => N.dropoutRowsForward(out, m, x, rows, len, seeds.subarray(1), p), /dropoutRowsForward: rowSeeds/);
});

test('embedding gather and scatter-add with repeated ids; bad ids throw', () => {
  const V = 11, D = 130, n = 37;
  const table = randn(V * D, rng);
  const ids = Int32Array.from({ length: n }, (_, i) => (i * 7) % V);
  ids[5] = ids[6] = ids[7] = 3;
  const a = randn(n * D, rng), b = a.slice();
  N.embeddingForward(a, ids, table, n, D, V, true); R.embeddingForward(b, ids, table, n, D, V, true);
  assertClose('gather', a, b, 1e-7);
  const dt1 = new Float32Array(V * D), dt2 = new Float32Array(V * D);
  N.embeddingBackward(dt1, a, ids, n, D, V); R.embeddingBackward(dt2, b, ids, n, D, V);
  assertClose('scatter-add', dt1, dt2, 1e-6);
  ids[2] = V;
  assert.throws(() => N.embeddingForward(a, ids, table, n, D, V, false), /id 11 at position 2/);
});

test('attention helpers: head split/merge round trip, masked softmax fwd/bwd incl. all-padding rows', () => {
  const B = 3, S = 5, H = 2, dh = 3, D = H * dh;
  const qkv = randn(B * S * 3 * D, rng);
  const qs = [0, 1].map(() => [new Float32Array(B * S * D), new Float32Array(B * S * D), new Float32Array(B * S * D)]);
  N.splitHeads(qs[0]![0]!, qs[0]![1]!, qs[0]![2]!, qkv, B, S, H, dh);
  R.splitHeads(qs[1]![0]!, qs[1]![1]!, qs[1]![2]!, qkv, B, S, H, dh);
  for (let i = 0; i < 3; i++) assert.deepEqual(qs[0]![i], qs[1]![i]);
  const back = new Float32Array(qkv.length);
  N.mergeHeads3(back, qs[0]![0]!, qs[0]![1]!, qs[0]![2]!, B, S, H, dh);
  assert.deepEqual(back, qkv);
  const rows = new Float32Array(B * S * D), heads = new Float32Array(B * S * D), rows2 = new Float32Array(B * S * D);
  N.headsToRows(rows, qs[0]![0]!, B, S, H, dh);
  N.rowsToHeads(heads, rows, B, S, H, dh);
  assert.deepEqual(heads, qs[0]![0]);
  R.headsToRows(rows2, qs[0]![0]!, B, S, H, dh);
  assert.deepEqual(rows, rows2);

  const scores = randn(B * H * S * S, rng, 4);
  const mask = new Float32Array(B * S);
  for (let s = 3; s < S; s++) mask[S + s] = -10000;  // row 1: padding after 3
  for (let s = 0; s < S; s++) mask[2 * S + s] = -10000;  // row 2: all padding
  const P1 = new Float32Array(scores.length), P2 = new Float32Array(scores.length);
  N.attnSoftmaxForward(P1, scores, mask, B, H, S, 0.125); R.attnSoftmaxForward(P2, scores, mask, B, H, S, 0.125);
  // rows with real keys agree tightly; the all-padding row sits near -10000, where
  // f32 spacing is ~1e-3, so it is checked for uniformity instead
  const real = 2 * H * S * S;
  assertClose('attn softmax', P1.subarray(0, real), P2.subarray(0, real), 1e-5);
  assert.ok(P1[(1 * H * S) * S + 4]! < 1e-30, 'padded key gets no weight');
  let rowSum = 0;
  for (let j = 0; j < S; j++) rowSum += P1[real + j]!;
  assert.ok(Math.abs(rowSum - 1) < 1e-5 && P1.subarray(real).every(Number.isFinite), 'all-padding row is a finite distribution');
  const dP = randn(scores.length, rng), d1 = new Float32Array(scores.length), d2 = new Float32Array(scores.length);
  N.attnSoftmaxBackward(d1, dP, P1, B * H * S, S, 0.125); R.attnSoftmaxBackward(d2, dP, P2, B * H * S, S, 0.125);
  assertClose('attn softmax backward', d1.subarray(0, real), d2.subarray(0, real), 1e-4);
});

test('attnSoftmaxShared: scores laid out [P, Sb, S] (one GEMM for every candidate) give attnSoftmaxForward\'s [P, S, Sb] result', () => {
  const P = 5, S = 7, Sb = 7;
  const sc = randn(S * P * Sb, rng, 4), mask = new Float32Array(P * Sb);
  for (let j = 2; j < Sb; j++) mask[3 * Sb + j] = -10000; // candidate 3: padding after 2
  const o1 = new Float32Array(P * S * Sb), o2 = new Float32Array(P * S * Sb), o3 = new Float32Array(P * S * Sb), t = new Float32Array(P * S * Sb);
  N.attnSoftmaxShared(o1, sc, mask, P, S, Sb, 0.25);
  R.attnSoftmaxShared(o2, sc, mask, P, S, Sb, 0.25);
  assertClose('shared softmax native vs reference', o1, o2, 1e-5);
  // the same numbers through the per-candidate layout
  for (let p = 0; p < P; p++) for (let i = 0; i < S; i++) for (let j = 0; j < Sb; j++) t[(p * S + i) * Sb + j] = sc[(p * Sb + j) * S + i]!;
  N.attnSoftmaxForward(o3, t, mask, P, 1, S, 0.25);
  assert.deepEqual(o1, o3);
  assert.ok(o1[(3 * S) * Sb + 4]! < 1e-30, 'padded key gets no weight');
  assert.throws(() => N.attnSoftmaxShared(o1, sc, mask, P, S, Sb + 1, 0.25), /attnSoftmaxShared: out has \d+ elements, needs/);
});

test('softmax, cross-entropy (with ignored rows) and its gradient', () => {
  const n = 9, C = 4;
  const logits = randn(n * C, rng, 3);
  const labels = Int32Array.from({ length: n }, (_, i) => (i === 4 ? -1 : i % C));
  const l1 = new Float32Array(n), p1 = new Float32Array(n * C), l2 = new Float32Array(n), p2 = new Float32Array(n * C);
  const m1 = N.crossEntropyForward(l1, p1, logits, labels, n, C), m2 = R.crossEntropyForward(l2, p2, logits, labels, n, C);
  assert.ok(Math.abs(m1 - m2) < 1e-6);
  assertClose('probs', p1, p2, 1e-5);
  const d1 = new Float32Array(n * C), d2 = new Float32Array(n * C);
  N.crossEntropyBackward(d1, p1, labels, n, C, 1); R.crossEntropyBackward(d2, p2, labels, n, C, 1);
  assertClose('dlogits', d1, d2, 1e-5);
  const s1 = new Float32Array(n * C), s2 = new Float32Array(n * C);
  N.softmaxForward(s1, logits, n, C); R.softmaxForward(s2, logits, n, C);
  assertClose('softmax', s1, s2, 1e-6);
  N.softmaxBackward(d1, p1, s1, n, C); R.softmaxBackward(d2, p1, s2, n, C);
  assertClose('softmax backward', d1, d2, 1e-4);
  labels[0] = C;
  assert.throws(() => N.crossEntropyForward(l1, p1, logits, labels, n, C), /label 4 at row 0/);
});

test('column sums and AdamW match the reference', () => {
  const rows = 19, n = 130;
  const d = randn(rows * n, rng);
  const a = randn(n, rng), b = a.slice();
  N.colSumAccumulate(a, d, rows, n); R.colSumAccumulate(b, d, rows, n);
  assertClose('colsum', a, b, 1e-4);
  const size = 70001;
  const p1 = randn(size, rng), g = randn(size, rng), m1 = randn(size, rng, 0.1), v1 = randn(size, rng, 0.1).map(Math.abs);
  const p2 = p1.slice(), m2 = m1.slice(), v2 = v1.slice();
  N.adamwStep(p1, g, m1, v1, size, 1e-3, 0.9, 0.999, 1e-6, 0.01);
  R.adamwStep(p2, g, m2, v2, size, 1e-3, 0.9, 0.999, 1e-6, 0.01);
  assertClose('adam p', p1, p2, 1e-5);
  assertClose('adam m', m1, m2, 1e-4);
  assertClose('adam v', v1, v2, 1e-4);
});

test('bad arguments throw errors that name the op instead of crashing', () => {
  assert.throws(() => N.matmul(new Float32Array(3), new Float32Array(4), new Float32Array(4), null, 1, 2, 2, 2, false, false, false, 0), /matmul: C has 3 elements, needs 4/);
  assert.throws(() => N.layernormForward(new Float32Array(4), new Float32Array(1), new Float32Array(1), new Float64Array(4) as unknown as Float32Array, new Float32Array(4), new Float32Array(4), 1, 4, 1e-5), /layernormForward: inp has the wrong element type/);
  assert.throws(() => N.dropoutForward(new Float32Array(2), new Uint8Array(2), new Float32Array(2), 2, 1, 0), /p must be in/);
});

test('additive pair-head scores, A broadcast and per pair (multi-threaded sizes)', () => {
  const P = 9, S = 17, Sb = 13, k = 40;
  const ub = randn(P * Sb * k, rng, 1.5), v = randn(k, rng);
  for (const Pa of [1, P]) {
    const wa = randn(Pa * S * k, rng, 1.5);
    const a = new Float32Array(P * S * Sb), b = new Float32Array(P * S * Sb);
    N.additiveScores(a, wa, ub, v, P, Pa, S, Sb, k); R.additiveScores(b, wa, ub, v, P, Pa, S, Sb, k);
    assertClose(`additive scores Pa=${Pa}`, a, b, 1e-4); // fast tanh: ~1e-7 absolute per term, 40 terms
  }
  assert.throws(() => N.additiveScores(new Float32Array(4), new Float32Array(4), new Float32Array(4), new Float32Array(1), 2, 3, 1, 1, 1), /Pa must be 1 or P/);
});

test('attention-pool features with A broadcast and per pair, masked positions skipped', () => {
  const P = 70, S = 19, dv = 33;
  const c = randn(P * S * dv, rng);
  for (const Pa of [1, P]) {
    const a = randn(Pa * S * dv, rng), mask = new Uint8Array(Pa * S);
    for (let p = 0; p < Pa; p++) mask.fill(1, p * S, p * S + 1 + (p * 7) % S);
    const x = new Float32Array(P * 2 * dv), y = new Float32Array(P * 2 * dv);
    N.attnPoolFeatures(x, a, c, mask, P, Pa, S, dv); R.attnPoolFeatures(y, a, c, mask, P, Pa, S, dv);
    assertClose(`attnPoolFeatures Pa=${Pa}`, x, y, 1e-5);
    // a masked position's values do not matter
    const a2 = a.slice();
    for (let i = 0; i < mask.length; i++) if (!mask[i]) a2.fill(99, i * dv, (i + 1) * dv);
    const z = new Float32Array(P * 2 * dv);
    N.attnPoolFeatures(z, a2, c, mask, P, Pa, S, dv);
    assertClose(`attnPoolFeatures masked Pa=${Pa}`, z, x, 0);
  }
});

test('late-interaction MaxSim with masks, A broadcast and per pair', () => {
  const P = 40, S = 11, Sb = 9;
  const sim = randn(P * S * Sb, rng);
  const maskB = new Uint8Array(P * Sb);
  for (let p = 0; p < P; p++) maskB.fill(1, p * Sb, p * Sb + (p % Sb)); // row 0 (and every 9th) has no B tokens
  for (const Pa of [1, P]) {
    const maskA = new Uint8Array(Pa * S);
    for (let p = 0; p < Pa; p++) maskA.fill(1, p * S, p * S + 1 + (p % S));
    const f1 = new Float32Array(P), f2 = new Float32Array(P), a1 = new Int32Array(P * S), a2 = new Int32Array(P * S);
    N.maxSim(f1, a1, sim, maskA, maskB, P, Pa, S, Sb); R.maxSim(f2, a2, sim, maskA, maskB, P, Pa, S, Sb);
    assertClose(`maxSim Pa=${Pa}`, f1, f2, 1e-6);
    assert.deepEqual(a1, a2);
    assert.equal(f1[0], 0);
    assert.ok(a1.subarray(0, S).every((j) => j === -1));
  }
});

test('attnSoftmaxWindow: native equals the reference; keys beyond the half-window get exactly 0; a window covering the row is attnSoftmaxForward', () => {
  const B = 2, H = 2, S = 37;
  const scores = randn(B * H * S * S, rng, 4), mask = new Float32Array(B * S);
  for (let s = 30; s < S; s++) mask[S + s] = -10000; // row 1: padding after 30
  for (const half of [0, 1, 4, 16]) {
    const P1 = new Float32Array(scores.length), P2 = new Float32Array(scores.length);
    N.attnSoftmaxWindow(P1, scores, mask, B, H, S, 0.125, half); R.attnSoftmaxWindow(P2, scores, mask, B, H, S, 0.125, half);
    for (let r = 0; r < B * H * S; r++) {
      const i = r % S;
      // a row whose window holds only padding sits near -10000, where f32 spacing is ~1e-3: checked for being a distribution only
      if (!(Math.floor(r / (H * S)) === 1 && i - half >= 30)) assertClose(`window softmax half=${half} row ${r}`, P1.subarray(r * S, r * S + S), P2.subarray(r * S, r * S + S), 1e-5);
      let sum = 0;
      for (let j = 0; j < S; j++) {
        const p = P1[r * S + j]!;
        if (Math.abs(i - j) > half) assert.equal(p, 0, `half=${half} query ${i} key ${j}`);
        sum += p;
      }
      assert.ok(Math.abs(sum - 1) < 1e-5, `row ${r} sums to 1`);
    }
  }
  const P1 = new Float32Array(scores.length), P2 = new Float32Array(scores.length);
  N.attnSoftmaxWindow(P1, scores, mask, B, H, S, 0.125, S); N.attnSoftmaxForward(P2, scores, mask, B, H, S, 0.125);
  assert.deepEqual(P1, P2);
});

test('relPosBias: native equals the reference (c2p, p2c, both); the backward is its adjoint; an index outside [0, R) is refused by both', () => {
  const BH = 3, S = 13, Rn = 9;
  // a Toeplitz index as DeBERTa's: a clamped function of i − j
  const idx = Int32Array.from({ length: S * S }, (_, t) => Math.min(Rn - 1, Math.max(0, Math.floor(t / S) - (t % S) + 4)));
  const c2p = randn(BH * S * Rn, rng), p2c = randn(BH * S * Rn, rng), base = randn(BH * S * S, rng);
  for (const [c, p] of [[c2p, null], [null, p2c], [c2p, p2c]] as const) {
    const s1 = base.slice(), s2 = base.slice();
    N.relPosBias(s1, c, p, idx, BH, S, Rn); R.relPosBias(s2, c, p, idx, BH, S, Rn);
    assertClose('relPosBias', s1, s2, 1e-6);
    // by hand at one place: scores[bh, i, j] + c2p[bh, i, idx] + p2c[bh, j, idx]
    const bh = 2, i = 5, j = 11, r = idx[i * S + j]!;
    const want = base[(bh * S + i) * S + j]! + (c ? c[(bh * S + i) * Rn + r]! : 0) + (p ? p[(bh * S + j) * Rn + r]! : 0);
    assert.ok(Math.abs(s1[(bh * S + i) * S + j]! - want) < 1e-5);
  }
  // <bias(c, p), g> = <c, dc> + <p, dp> for the backward's dc, dp
  const g = randn(BH * S * S, rng), dc1 = new Float32Array(BH * S * Rn).fill(7), dp1 = new Float32Array(BH * S * Rn).fill(7), dc2 = dc1.slice(), dp2 = dp1.slice();
  N.relPosBiasBackward(dc1, dp1, g, idx, BH, S, Rn); R.relPosBiasBackward(dc2, dp2, g, idx, BH, S, Rn);
  assertClose('relPosBiasBackward dc2p', dc1, dc2, 1e-5); assertClose('relPosBiasBackward dp2c', dp1, dp2, 1e-5);
  const bias = new Float32Array(BH * S * S);
  N.relPosBias(bias, c2p, p2c, idx, BH, S, Rn);
  let lhs = 0, rhs = 0;
  for (let t = 0; t < bias.length; t++) lhs += bias[t]! * g[t]!;
  for (let t = 0; t < c2p.length; t++) rhs += c2p[t]! * dc1[t]! + p2c[t]! * dp1[t]!;
  assert.ok(Math.abs(lhs - rhs) < 1e-3 * Math.abs(lhs) + 1e-3, `adjoint: ${lhs} vs ${rhs}`);
  const bad = idx.slice(); bad[17] = Rn;
  for (const K of [N, R]) {
    assert.throws(() => K.relPosBias(base.slice(), c2p, p2c, bad, BH, S, Rn), /relPosBias: idx\[17\] = 9 is outside \[0, 9\)/);
    assert.throws(() => K.relPosBiasBackward(dc1, null, g, bad, BH, S, Rn), /relPosBiasBackward: idx\[17\] = 9 is outside/);
  }
});

test('ropeApply: native equals the reference, rotation keeps each pair\'s norm, the conjugate undoes it', () => {
  const rows = 3, S = 11, dh = 8, h2 = dh / 2;
  const cos = new Float32Array(S * h2), sin = new Float32Array(S * h2);
  for (let s = 0; s < S; s++) for (let j = 0; j < h2; j++) { const a = s * 10000 ** (-2 * j / dh); cos[s * h2 + j] = Math.cos(a); sin[s * h2 + j] = Math.sin(a); }
  const x = randn(rows * S * dh, rng), a = x.slice(), b = x.slice();
  N.ropeApply(a, cos, sin, rows, S, dh, false); R.ropeApply(b, cos, sin, rows, S, dh, false);
  assertClose('rope', a, b, 1e-5);
  for (let r = 0; r < rows * S; r++) for (let j = 0; j < h2; j++) {
    const o = r * dh;
    assert.ok(Math.abs(Math.hypot(a[o + j]!, a[o + j + h2]!) - Math.hypot(x[o + j]!, x[o + j + h2]!)) < 1e-5);
  }
  // position 0 does not rotate
  assert.deepEqual(a.subarray(0, dh), x.subarray(0, dh));
  N.ropeApply(a, cos, sin, rows, S, dh, true);
  assertClose('rope then its conjugate', a, x, 1e-5);
  assert.throws(() => N.ropeApply(a, cos, sin, rows, S, 7, false), /ropeApply: dh must be even/);
});

test('gegluForward / gegluBackward: native equals the reference; the gradient matches finite differences', () => {
  for (const t of [false, true]) {
    const Nn = 5, I = 9;
    const x = randn(Nn * 2 * I, rng, 2), dy = randn(Nn * I, rng);
    const a = new Float32Array(Nn * I), b = new Float32Array(Nn * I);
    N.gegluForward(a, x, Nn, I, t); R.gegluForward(b, x, Nn, I, t);
    assertClose(`geglu tanh=${t}`, a, b, 5e-5);
    const g = new Float32Array(Nn * I);
    R.geluForward(g, Float32Array.from({ length: Nn * I }, (_, k) => x[Math.floor(k / I) * 2 * I + (k % I)]!), Nn * I, t);
    // (out is the f32 rounding of gelu · gate: within f32's relative precision of the double product)
    for (let k = 0; k < Nn * I; k++) { const want = g[k]! * x[Math.floor(k / I) * 2 * I + I + (k % I)]!; assert.ok(Math.abs(b[k]! - want) < 1e-6 * (1 + Math.abs(want)), `geglu at ${k}: ${b[k]} vs ${want}`); }
    const d1 = new Float32Array(Nn * 2 * I), d2 = new Float32Array(Nn * 2 * I);
    N.gegluBackward(d1, x, dy, Nn, I, t); R.gegluBackward(d2, x, dy, Nn, I, t);
    assertClose(`geglu' tanh=${t}`, d1, d2, 1e-4);
    // d/dx of Σ dy·out by central differences (float64 through the reference)
    const f = (xx: Float32Array) => { const o = new Float32Array(Nn * I); R.gegluForward(o, xx, Nn, I, t); let s = 0; for (let k = 0; k < o.length; k++) s += o[k]! * dy[k]!; return s; };
    for (const k of [0, 3, I, I + 4, 2 * I + 1, Nn * 2 * I - 1]) {
      const xp = x.slice(), xm = x.slice(), h = 1e-2;
      xp[k] = x[k]! + h; xm[k] = x[k]! - h;
      const fd = (f(xp) - f(xm)) / (xp[k]! - xm[k]!);
      assert.ok(Math.abs(fd - d2[k]!) < 2e-3 * (1 + Math.abs(fd)), `geglu' at ${k}: ${d2[k]} vs ${fd}`);
    }
  }
});

test('attnBlockedBackward (no S×S matrix): native equals the reference and the materialised backward (P from the softmax, Pᵀ·dctx, softmax backward, ds·k, dsᵀ·q), global and windowed, padding masked, across tile edges', () => {
  for (const [B, H, S, dh] of [[2, 3, 37, 8], [1, 2, 300, 16], [1, 1, 1, 4], [1, 2, 70, 64]] as const) {
    const n = B * H * S * dh, q = randn(n, rng), k = randn(n, rng), v = randn(n, rng), g = randn(n, rng), mask = new Float32Array(B * S);
    if (B > 1) for (let s = 25; s < S; s++) mask[S + s] = -10000;
    for (const half of [0, 3, 64, S]) {
      const ctx = new Float32Array(n), lse = new Float32Array(B * H * S), ctxR = new Float32Array(n), lseR = new Float32Array(B * H * S);
      N.attnBlocked(ctx, q, k, v, mask, lse, B, H, S, dh, 0.3, half);
      R.attnBlocked(ctxR, q, k, v, mask, lseR, B, H, S, dh, 0.3, half);
      assertClose(`lse ${B}x${H}x${S}x${dh} half=${half}`, lse, lseR, 1e-4);
      const out = () => [new Float32Array(n), new Float32Array(n), new Float32Array(n)] as const;
      const [nq, nk, nv] = out(), [rq, rk, rv] = out(), [mq, mk, mv] = out();
      N.attnBlockedBackward(nq, nk, nv, g, q, k, v, ctx, lse, mask, B, H, S, dh, 0.3, half);
      R.attnBlockedBackward(rq, rk, rv, g, q, k, v, ctxR, lseR, mask, B, H, S, dh, 0.3, half);
      // materialised, in the model's own kernels
      const P = new Float32Array(B * H * S * S), scores = new Float32Array(B * H * S * S), dP = new Float32Array(B * H * S * S), dS = new Float32Array(B * H * S * S);
      R.matmul(scores, q, k, null, B * H, S, S, dh, false, true, false, 0);
      R.attnSoftmaxWindow(P, scores, mask, B, H, S, 0.3, half);
      R.matmul(dP, g, v, null, B * H, S, S, dh, false, true, false, 0);
      R.matmul(mv, P, g, null, B * H, S, dh, S, true, false, false, 0);
      R.attnSoftmaxBackward(dS, dP, P, B * H * S, S, 0.3);
      R.matmul(mq, dS, k, null, B * H, S, dh, S, false, false, false, 0);
      R.matmul(mk, dS, q, null, B * H, S, dh, S, true, false, false, 0);
      const tag = `${B}x${H}x${S}x${dh} half=${half}`;
      // rows of batch 1 whose window holds only padding sit near -10000, where f32 spacing is ~1e-3: left out of dq, and the padded
      // keys they alone reach left out of dk and dv (no real token's gradient depends on either)
      const keep = (x: Float32Array, keys: boolean) => x.map((val, t) => {
        const r = Math.floor(t / dh), bb = Math.floor(r / (H * S)), i = r % S;
        return bb === 1 && (keys ? i >= 25 && half < S : i - half >= 25) ? 0 : val;
      });
      for (const [what, a, b, c] of [['dq', nq, rq, mq], ['dk', nk, rk, mk], ['dv', nv, rv, mv]] as const) {
        const kk = what !== 'dq';
        assertClose(`${what} native vs reference ${tag}`, keep(a, kk), keep(b, kk), 2e-3);
        assertClose(`${what} native vs materialised ${tag}`, keep(a, kk), keep(c, kk), 2e-3);
      }
    }
  }
});

test('attnBlocked (no S×S matrix): native equals the reference and the materialised softmax · v, global and windowed, padding masked, odd sizes across tile edges', () => {
  for (const [B, H, S, dh] of [[2, 3, 37, 8], [1, 2, 300, 16], [1, 1, 1, 4]] as const) {
    const n = B * H * S * dh, q = randn(n, rng), k = randn(n, rng), v = randn(n, rng), mask = new Float32Array(B * S);
    if (B > 1) for (let s = 25; s < S; s++) mask[S + s] = -10000; // row 1: padding after 25
    for (const half of [0, 3, 64, S]) {
      const a = new Float32Array(n), b = new Float32Array(n), c = new Float32Array(n);
      N.attnBlocked(a, q, k, v, mask, null, B, H, S, dh, 0.3, half);
      R.attnBlocked(b, q, k, v, mask, null, B, H, S, dh, 0.3, half);
      // materialised: scores, the windowed softmax, P · v
      const scores = new Float32Array(B * H * S * S), P = new Float32Array(B * H * S * S);
      R.matmul(scores, q, k, null, B * H, S, S, dh, false, true, false, 0);
      R.attnSoftmaxWindow(P, scores, mask, B, H, S, 0.3, half);
      R.matmul(c, P, v, null, B * H, S, dh, S, false, false, false, 0);
      // rows whose window holds only padding sit near -10000 (f32 spacing ~1e-3 there): compared as distributions elsewhere
      const rowsOk = (x: Float32Array, y: Float32Array, tol: number, what: string) => {
        for (let r = 0; r < B * H * S; r++) {
          const bb = Math.floor(r / (H * S)), i = r % S;
          if (bb === 1 && i - half >= 25) continue;
          assertClose(`${what} ${B}x${H}x${S}x${dh} half=${half} row ${r}`, x.subarray(r * dh, r * dh + dh), y.subarray(r * dh, r * dh + dh), tol);
        }
      };
      rowsOk(a, b, 3e-4, 'native vs reference');
      rowsOk(a, c, 5e-4, 'native vs materialised (both f32, other order)');
    }
  }
});

test('linearPacked: packed weights (oneDNN\'s blocked layout) give the plain matmul\'s result, f32 and bf16; wrong packed bytes fall back to the plain weights', () => {
  const dts = N.bf16Supported ? [0, 1] : [0];
  for (const dt of dts) {
    for (const [Rn, O, In] of [[1, 5, 3], [13, 17, 11], [128, 96, 64], [200, 33, 257]] as const) {
      for (const withBias of [true, false]) {
        const x = randn(Rn * In, rng), W = randn(O * In, rng, 0.1), b = withBias ? randn(O, rng) : null;
        const Wd = dt === 1 ? new Uint16Array(O * In) : W;
        if (dt === 1) N.f32ToBf16(Wd as Uint16Array, W, O * In);
        const want = new Float32Array(Rn * O), got = new Float32Array(Rn * O), plain = new Float32Array(Rn * O);
        N.matmul(want, x, Wd, b, 1, Rn, O, In, false, true, false, dt);
        const packed = N.packDenseWeights(Wd, O, In, dt);
        N.linearPacked(got, x, Wd, packed, b, Rn, O, In, dt);
        assertClose(`linearPacked dt=${dt} ${Rn}x${O}x${In} packed ${packed.length} bytes`, got, want, dt ? 1e-3 : 1e-5);
        N.linearPacked(plain, x, Wd, packed.length ? packed.subarray(1) : null, b, Rn, O, In, dt);
        assertClose(`linearPacked dt=${dt} ${Rn}x${O}x${In} plain`, plain, want, dt ? 1e-3 : 1e-5);
        const ref = new Float32Array(Rn * O);
        R.linearPacked(ref, x, Wd, null, b, Rn, O, In, dt);
        assertClose(`linearPacked dt=${dt} ${Rn}x${O}x${In} vs reference`, got, ref, dt ? 1e-3 : 3e-4); // the reference sums in double
      }
    }
  }
  assert.throws(() => N.linearPacked(new Float32Array(4), new Float32Array(4), new Uint16Array(4), null, null, 2, 2, 2, 0), /linearPacked: W must be a Float32Array for dtype 0/);
  assert.throws(() => N.packDenseWeights(new Float32Array(3), 2, 2, 0), /packDenseWeights: W has 3 elements, needs 4/);
  assert.throws(() => N.linearPacked(new Float32Array(4), new Float32Array(4), new Float32Array(4), new Int8Array(4) as unknown as Uint8Array, null, 2, 2, 2, 0), /packed has the wrong element type/);
});
