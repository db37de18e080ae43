/** bi: pooled u (A) and v (B); classifier on [u, v, |u−v|, u⊙v]; cache: v (one vector per text) */
import type { F32 } from '../../core/kernels.js';
import type { Head } from './types.js';

export const bi: Head<{ v: F32 }> = {
  defaultDim: 0,
  defaultCodes: 0,
  params: () => ({}),
  features: (D) => 4 * D,
  repWidth: (D) => D,
  auxWidth: () => 0,
  perToken: false,
  bf16Scoring: false,
  retrievable: true,
  inCompareByDefault: true,
  reads: 'pooler_output of A (u) and B (v)',
  scores: 'logits = head.classifier([u, v, |u − v|, u ⊙ v])',
  bRep(c, b) {
    const { P, pooled } = b, D = c.D;
    return { P, S: 1, W: D, perToken: false, data: pooled.slice(0, P * D), mask: new Uint8Array(P).fill(1) };
  },
  score(c, a, rep) {
    const P = rep.P, D = c.D;
    const f = new Float32Array(P * 4 * D);
    for (let p = 0; p < P; p++) {
      const pa = a.P === 1 ? 0 : p;
      const u = a.pooled.subarray(pa * D, pa * D + D), v = rep.data.subarray(p * D, p * D + D), o = p * 4 * D;
      for (let d = 0; d < D; d++) { f[o + d] = u[d]!; f[o + D + d] = v[d]!; f[o + 2 * D + d] = Math.abs(u[d]! - v[d]!); f[o + 3 * D + d] = u[d]! * v[d]!; }
    }
    return { f, F: 4 * D, saved: { v: rep.data } };
  },
  backward(c, df, { v }, a, b, g) {
    const P = b.P, D = c.D;
    for (let p = 0; p < P; p++) for (let d = 0; d < D; d++) {
      const u = a.pooled[p * D + d]!, vv = v[p * D + d]!, o = p * 4 * D, sg = Math.sign(u - vv);
      g.dua[p * D + d] = df[o + d]! + df[o + 2 * D + d]! * sg + df[o + 3 * D + d]! * vv;
      g.dvb[p * D + d] = df[o + D + d]! - df[o + 2 * D + d]! * sg + df[o + 3 * D + d]! * u;
    }
  },
};
