import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nativeKernels } from '../src/core/native.js';
import { refKernels } from '../src/core/ref.js';
import { Rng } from '../src/core/random.js';
import type { Kernels } from '../src/core/kernels.js';
import { makeConfig } from '../src/model/config.js';
import { HEAD_TYPES, headConfig, headParamSpecs, PairHead, type HeadType, type Side } from '../src/model/heads/index.js';
import { maxRelErr, randn } from './helpers.js';

const D = 8, S = 5, P = 3, C = 2;

/** a head with its own small parameter arena */
function makeHead(type: HeadType, K: Kernels, seed = 1) {
  const cfg = makeConfig({ vocab_size: 10, hidden_size: D, num_hidden_layers: 1, num_attention_heads: 2, intermediate_size: 16, labels: ['0', '1'] });
  const h = headConfig(type, type === 'late' || type === 'lowrank' || type === 'additive' ? 4 : undefined, type === 'poly' ? 3 : undefined, S);
  const specs = headParamSpecs(cfg, h, C);
  const rng = new Rng(seed);
  const params = new Map(specs.map(([n, shape]) => [n, randn(shape.reduce((a, b) => a * b, 1), rng, 0.5)]));
  const grads = new Map(specs.map(([n, shape]) => [n, new Float32Array(shape.reduce((a, b) => a * b, 1))]));
  const head = new PairHead(h, D, C, K, { param: (n) => params.get(n)!, grad: (n) => grads.get(n)! });
  return { head, params, grads };
}

function side(rng: Rng, lens: number[]): Side {
  const mask = new Uint8Array(lens.length * S);
  lens.forEach((l, p) => mask.fill(1, p * S, p * S + l));
  return { P: lens.length, S, x: randn(lens.length * S * D, rng), mask, pooled: randn(lens.length * D, rng) };
}

for (const type of HEAD_TYPES) {
  test(`${type} head: backward matches finite differences for inputs and parameters`, () => {
    const { head, params, grads } = makeHead(type, refKernels);
    const rng = new Rng(7);
    const a = side(rng, [5, 3, 4]), b = side(rng, [4, 5, 2]);
    const R = randn(P * C, rng);
    const lossOf = () => { const l = head.forward(a, b); let s = 0; for (let i = 0; i < l.length; i++) s += l[i]! * R[i]!; return s; };
    lossOf();
    const g = head.backward(R);
    // central differences at two step sizes; where they disagree the step crossed a kink (|x−c|, max) and the point is skipped
    const check = (name: string, x: Float32Array, analytic: Float32Array, mask?: (i: number) => boolean) => {
      const numeric = new Float32Array(x.length), got = new Float32Array(x.length);
      let used = 0, skipped = 0;
      const diff = (i: number, eps: number) => { const o = x[i]!; x[i] = o + eps; const up = lossOf(); x[i] = o - eps; const dn = lossOf(); x[i] = o; return (up - dn) / (2 * eps); };
      for (let i = 0; i < x.length; i++) {
        if (mask && !mask(i)) continue;
        const n1 = diff(i, 1e-2), n2 = diff(i, 5e-3);
        if (Math.abs(n1 - n2) > 1e-3 * (1 + Math.abs(n1))) { skipped++; continue; }
        numeric[i] = n1; got[i] = analytic[i]!; used++;
      }
      assert.ok(skipped <= Math.max(2, 0.1 * (used + skipped)), `${type}: ${skipped} of ${used + skipped} points for ${name} sit on kinks`);
      const err = maxRelErr(got, numeric, 1e-2);
      assert.ok(err < 1e-2, `${type}: d/d${name} relative error ${err}`);
    };
    const valid = (s: Side) => (i: number) => s.mask[Math.floor(i / D)] === 1;
    if (type === 'bi' || type === 'cosine' || type === 'poly') { check('u', a.pooled, g.dua); check('v', b.pooled, g.dvb); }
    if (type !== 'bi' && type !== 'cosine') check('xa', a.x, g.dxa, valid(a));
    if (type !== 'bi' && type !== 'cosine' && type !== 'poly') check('xb', b.x, g.dxb, valid(b));
    for (const [n, p] of params) check(n, p, grads.get(n)!);
    // padded positions get no gradient
    for (let i = 0; i < g.dxa.length; i++) if (!valid(a)(i)) assert.equal(g.dxa[i], 0, `${type}: gradient at a padded A position`);
  });

  test(`${type} head: scoring A against cached B representations equals the two-sided forward; native = reference`, () => {
    const rng = new Rng(3);
    const a1 = side(rng, [4]), b = side(rng, [5, 2, 3]);
    const rep = (K: Kernels) => {
      const { head } = makeHead(type, K);
      const aP: Side = { P, S, x: new Float32Array(P * S * D), mask: new Uint8Array(P * S), pooled: new Float32Array(P * D) };
      for (let p = 0; p < P; p++) { aP.x.set(a1.x, p * S * D); aP.mask.set(a1.mask, p * S); aP.pooled.set(a1.pooled, p * D); }
      const two = head.forward(aP, b);
      const rep = head.bRep(b);
      const cached = head.scoreCached(a1, rep);
      // one query over two chunks (A-side work memoised, buffers reused) gives the same logits, up to
      // f32 rounding: oneDNN's AVX2 kernels block a reduction differently by batch size (1.5e-6 seen)
      const q = {};
      const cut = (s: number, e: number) => ({ ...rep, P: e - s, data: rep.data.subarray(s * rep.data.length / P, e * rep.data.length / P),
        mask: rep.mask.subarray(s * rep.mask.length / P, e * rep.mask.length / P), aux: rep.aux?.subarray(s * rep.aux.length / P, e * rep.aux.length / P) });
      const chunked = Float32Array.from([...head.scoreCached(a1, cut(0, 2), q), ...head.scoreCached(a1, cut(2, 3), q)]);
      assert.ok(maxRelErr(chunked, cached) < 1e-5, `${type}: chunked ${chunked} vs ${cached}`);
      return { two, cached };
    };
    const ref = rep(refKernels), nat = rep(nativeKernels());
    assert.ok(maxRelErr(ref.cached, ref.two) < 1e-5, `${type}: cached ${ref.cached} vs ${ref.two}`);
    assert.ok(maxRelErr(nat.cached, ref.cached) < 1e-4, `${type}: native ${nat.cached} vs ref ${ref.cached}`);
    // scores depend on B: different candidates, different logits
    assert.notEqual(ref.cached[1], ref.cached[3]);
  });
}
