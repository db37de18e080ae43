/**
 * cosine: the bi-encoder scored as sentence-transformers scores it: pooled u (A)
 * and v (B), one feature cos(u, v), then the linear classifier (for two labels
 * that is a logistic curve of the cosine, fitted after contrastive training;
 * train/contrastive.ts). Trained with --loss contrastive (in-batch negatives)
 * or --loss cosent, or with cross-entropy on that one feature. Cache: v.
 */
import type { F32 } from '../../core/kernels.js';
import { bi } from './bi.js';
import type { Head } from './types.js';

/** ‖x‖, never 0 (a zero vector has cosine 0 with everything) */
export const norm = (x: F32, o: number, D: number): number => {
  let s = 0;
  for (let d = 0; d < D; d++) s += x[o + d]! * x[o + d]!;
  return Math.max(Math.sqrt(s), 1e-12);
};

/** cos(x[xo..xo+D], y[yo..yo+D]) */
export function cosineAt(x: F32, xo: number, y: F32, yo: number, D: number): number {
  let dot = 0;
  for (let d = 0; d < D; d++) dot += x[xo + d]! * y[yo + d]!;
  return dot / (norm(x, xo, D) * norm(y, yo, D));
}

export const cosine: Head<{ v: F32 }> = {
  defaultDim: 0,
  defaultCodes: 0,
  params: () => ({}),
  features: () => 1,
  repWidth: (D) => D,
  auxWidth: () => 0,
  perToken: false,
  bf16Scoring: false,
  retrievable: true,
  inCompareByDefault: false,
  reads: 'pooler_output of A (u) and B (v)',
  scores: 'logits = head.classifier([cos(u, v)])',
  // B's side is the bi head's: the pooled vector
  bRep: (c, b) => bi.bRep(c, b),
  score(c, a, rep) {
    const P = rep.P, D = c.D, f = new Float32Array(P), v = rep.data;
    const na1 = a.P === 1 ? norm(a.pooled, 0, D) : 0;
    for (let p = 0; p < P; p++) {
      const ao = a.P === 1 ? 0 : p * D, bo = p * D;
      let dot = 0;
      for (let d = 0; d < D; d++) dot += a.pooled[ao + d]! * v[bo + d]!;
      f[p] = dot / ((a.P === 1 ? na1 : norm(a.pooled, ao, D)) * norm(v, bo, D));
    }
    return { f, F: 1, saved: { v } };
  },
  backward(c, df, { v }, a, b, g) {
    // d cos / du = v / (|u||v|) − cos · u / |u|², and the same with u and v exchanged
    const P = b.P, D = c.D;
    for (let p = 0; p < P; p++) {
      const o = p * D, nu = norm(a.pooled, o, D), nv = norm(v, o, D);
      let dot = 0;
      for (let d = 0; d < D; d++) dot += a.pooled[o + d]! * v[o + d]!;
      const cs = dot / (nu * nv), k = df[p]!;
      for (let d = 0; d < D; d++) {
        const u = a.pooled[o + d]!, w = v[o + d]!;
        g.dua[o + d] = k * (w / (nu * nv) - (cs * u) / (nu * nu));
        g.dvb[o + d] = k * (u / (nu * nv) - (cs * w) / (nv * nv));
      }
    }
  },
};
