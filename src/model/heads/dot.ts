/** dot: A's tokens attend over B's, e_ij = a_i·b_j / √D; cache: b_j */
import { attentionBackward, attentionScore, dotScores, dotScoresBackward, type AttentionSaved, type AttentionVariant } from './attention.js';
import type { Head } from './types.js';

const variant: AttentionVariant<null> = {
  dv: (c) => c.D,
  scale: (c) => 1 / Math.sqrt(c.D),
  scores: (c, a, rep, keep, scores) => dotScores(c, 'dot', a.x, a, rep, keep, scores, c.D),
  backward(c, dscores, dAcmp, dV, s, a, b, g) {
    dotScoresBackward(c, dscores, dAcmp, dV, s.V, s.Acmp, b.P, a.S, b.S, c.D);
    g.dxa.set(dAcmp); g.dxb.set(dV);
  },
};

export const dot: Head<AttentionSaved<null>> = {
  defaultDim: 0,
  defaultCodes: 0,
  params: () => ({}),
  features: (D) => 2 * D,
  repWidth: (D) => D,
  auxWidth: () => 0,
  perToken: true,
  bf16Scoring: true,
  retrievable: true,
  inCompareByDefault: true,
  reads: 'last_hidden_state of A and B (masked)',
  scores: 'e_ij = a_i · b_j / √D over B\'s real tokens, c_i = Σ_j softmax_j(e_ij) b_j; logits = head.classifier([mean_i a_i ⊙ c_i, mean_i |a_i − c_i|]) over A\'s real tokens',
  bRep(c, b) {
    const { P, S, x, mask } = b;
    return { P, S, W: c.D, perToken: true, data: x.slice(0, P * S * c.D), mask };
  },
  score: (c, a, rep, keep) => attentionScore(variant, c, a, rep, keep),
  backward: (c, df, s, a, b, g) => attentionBackward(variant, c, df, s, a, b, g),
};
