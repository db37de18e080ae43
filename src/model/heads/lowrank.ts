/** lowrank: both sides projected to k dims first, e_ij = (Q a_i)·(K b_j) / √k; cache: K b_j */
import { attentionBackward, attentionScore, dotScores, dotScoresBackward, type AttentionSaved, type AttentionVariant } from './attention.js';
import type { Head } from './types.js';

type Role = 'query' | 'key';

const variant: AttentionVariant<null, Role> = {
  dv: (c) => c.dim,
  scale: (c) => 1 / Math.sqrt(c.dim),
  scores(c, a, rep, keep, scores) {
    const qa = c.memo('lowrank.qa', keep, () => c.linear(a.x, c.w.query, a.P * a.S, c.dim, c.D));
    return dotScores(c, 'lowrank', qa, a, rep, keep, scores, c.dim);
  },
  backward(c, dscores, dAcmp, dV, s, a, b, g) {
    const P = b.P, S = a.S, Sb = b.S, k = c.dim, D = c.D;
    dotScoresBackward(c, dscores, dAcmp, dV, s.V, s.Acmp, P, S, Sb, k);
    c.linearBack(dAcmp, a.x, c.w.query, c.dw.query, P * S, k, D, g.dxa);
    c.linearBack(dV, b.x, c.w.key, c.dw.key, P * Sb, k, D, g.dxb);
  },
};

export const lowrank: Head<AttentionSaved<null>, Role> = {
  defaultDim: 64,
  defaultCodes: 0,
  params: (cfg, h) => ({ query: ['head.lowrank.query.weight', [h.dim, cfg.hidden_size], 'normal', true], key: ['head.lowrank.key.weight', [h.dim, cfg.hidden_size], 'normal', true] }),
  features: (_D, h) => 2 * h.dim,
  repWidth: (_D, h) => h.dim,
  auxWidth: () => 0,
  perToken: true,
  bf16Scoring: true,
  retrievable: false,
  inCompareByDefault: true,
  reads: 'last_hidden_state of A and B (masked)',
  scores: 'e_ij = (head.Q a_i) · (head.K b_j) / √dim; c_i and the classifier as dot',
  bRep(c, b) {
    const { P, S, x, mask } = b;
    return { P, S, W: c.dim, perToken: true, data: c.linear(x, c.w.key, P * S, c.dim, c.D), mask };
  },
  score: (c, a, rep, keep) => attentionScore(variant, c, a, rep, keep),
  backward: (c, df, s, a, b, g) => attentionBackward(variant, c, df, s, a, b, g),
};
