/** additive (Bahdanau): A's tokens attend over B's, e_ij = wᵀ tanh(W a_i + U b_j); cache: b_j and U b_j */
import type { F32 } from '../../core/kernels.js';
import { DTYPE_F32 } from '../../core/kernels.js';
import { attentionBackward, attentionScore, type AttentionSaved, type AttentionVariant } from './attention.js';
import { expand } from './context.js';
import type { Head } from './types.js';

/** T[p, i, j, :] = tanh(W a_i + U b_j), kept for the backward (training only) */
export type AdditiveExtra = { T: F32 } | null;

type Role = 'query' | 'key' | 'v';

const variant: AttentionVariant<AdditiveExtra, Role> = {
  dv: (c) => c.D,
  scale: () => 1,
  scores(c, a, rep, keep, scores) {
    const P = rep.P, S = a.S, Sb = rep.S, k = c.dim, D = c.D;
    const ub = rep.aux!;
    const wa = c.memo('additive.wa', keep, () => c.linear(a.x, c.w.query, a.P * S, k, D));
    const vv = c.w.v;
    let extra: AdditiveExtra = null;
    if (keep) {
      // e_ij = T[p, i, j, :] · v
      const T = new Float32Array(P * S * Sb * k);
      for (let p = 0; p < P; p++) {
        const pa = a.P === 1 ? 0 : p;
        for (let i = 0; i < S; i++) {
          const wo = (pa * S + i) * k;
          for (let j = 0; j < Sb; j++) {
            const uo = (p * Sb + j) * k, to = ((p * S + i) * Sb + j) * k;
            for (let cc = 0; cc < k; cc++) T[to + cc] = wa[wo + cc]! + ub[uo + cc]!;
          }
        }
      }
      c.K.tanhForward(T, T, T.length);
      c.K.matmul(scores, T, vv, null, 1, P * S * Sb, 1, k, false, false, false, DTYPE_F32);
      extra = { T };
    } else {
      c.K.additiveScores(scores, wa, ub, vv, P, a.P, S, Sb, k); // scoring only: fused, nothing kept
    }
    return { aCmp: a.x, Acmp: keep ? expand(a.x, a.P, P, S * D) : a.x, shared: false, extra };
  },
  backward(c, dscores, dAcmp, dV, s, a, b, g) {
    const P = b.P, S = a.S, Sb = b.S, k = c.dim, D = c.D;
    const T = s.extra!.T, vv = c.w.v, dvv = c.dw.v;
    const dwa = new Float32Array(P * S * k), dub = new Float32Array(P * Sb * k);
    for (let p = 0; p < P; p++) for (let i = 0; i < S; i++) for (let j = 0; j < Sb; j++) {
      const gs = dscores[(p * S + i) * Sb + j]!;
      if (gs === 0) continue;
      const to = ((p * S + i) * Sb + j) * k, wo = (p * S + i) * k, uo = (p * Sb + j) * k;
      for (let cc = 0; cc < k; cc++) {
        const t = T[to + cc]!;
        dvv[cc] = dvv[cc]! + gs * t;
        const dpre = gs * vv[cc]! * (1 - t * t);
        dwa[wo + cc] = dwa[wo + cc]! + dpre;
        dub[uo + cc] = dub[uo + cc]! + dpre;
      }
    }
    g.dxa.set(dAcmp); g.dxb.set(dV);
    c.linearBack(dwa, a.x, c.w.query, c.dw.query, P * S, k, D, g.dxa);
    c.linearBack(dub, b.x, c.w.key, c.dw.key, P * Sb, k, D, g.dxb);
  },
};

export const additive: Head<AttentionSaved<AdditiveExtra>, Role> = {
  defaultDim: 16,
  defaultCodes: 0,
  params: (cfg, h) => ({
    query: ['head.additive.query.weight', [h.dim, cfg.hidden_size], 'normal', true], key: ['head.additive.key.weight', [h.dim, cfg.hidden_size], 'normal', true],
    v: ['head.additive.v', [h.dim], 'normal', true],
  }),
  features: (D) => 2 * D,
  repWidth: (D, h) => D + h.dim,
  auxWidth: (h) => h.dim,
  perToken: true,
  bf16Scoring: true,
  retrievable: true,
  inCompareByDefault: true,
  reads: 'last_hidden_state of A and B (masked)',
  scores: 'e_ij = head.w · tanh(head.W a_i + head.U b_j); c_i and the classifier as dot',
  bRep(c, b) {
    const { P, S, x, mask } = b;
    const ub = c.linear(x, c.w.key, P * S, c.dim, c.D);
    return { P, S, W: c.D, perToken: true, data: x.slice(0, P * S * c.D), mask, aux: ub };
  },
  score: (c, a, rep, keep) => attentionScore(variant, c, a, rep, keep),
  backward: (c, df, s, a, b, g) => attentionBackward(variant, c, df, s, a, b, g),
};
