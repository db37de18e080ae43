/** late: ColBERT MaxSim, Σ_i max_j â_i·b̂_j over L2-normalised k-dim projections; cache: b̂_j */
import type { F32 } from '../../core/kernels.js';
import { DTYPE_F32 } from '../../core/kernels.js';
import { expand, normalizeBackward, normalizeRows } from './context.js';
import type { Head } from './types.js';

export interface LateSaved { qn: F32; norms: F32; arg: Int32Array; rep: F32 }

export const late: Head<LateSaved, 'proj'> = {
  defaultDim: 128,
  defaultCodes: 0,
  params: (cfg, h) => ({ proj: ['head.late.proj.weight', [h.dim, cfg.hidden_size], 'normal', true] }),
  features: () => 1,
  repWidth: (_D, h) => h.dim,
  auxWidth: () => 0,
  perToken: true,
  bf16Scoring: false,
  retrievable: false,
  inCompareByDefault: true,
  reads: 'last_hidden_state of A and B (masked)',
  scores: 'ColBERT MaxSim: s = Σ_i max_j â_i · b̂_j over L2-normalised head.proj a_i, head.proj b_j; logits = head.classifier([s])',
  bRep(c, b) {
    const { P, S, x, mask } = b, k = c.dim;
    const y = c.linear(x, c.w.proj, P * S, k, c.D);
    normalizeRows(y, P * S, k);
    return { P, S, W: k, perToken: true, data: y, mask };
  },
  score(c, a, rep, keep) {
    const P = rep.P, S = a.S, Sb = rep.S, k = c.dim, D = c.D;
    const qa = c.memo('late.qa', keep, () => c.linear(a.x, c.w.proj, a.P * S, k, D));
    const qn = c.memo('late.qn', keep, () => qa.slice());
    const norms = c.memo('late.norms', keep, () => normalizeRows(qn, a.P * S, k));
    const A = c.memo(`late.A.${P}`, keep, () => expand(qn, a.P, P, S * k));
    const sim = c.buf('sim', P * S * Sb, keep);
    c.K.matmul(sim, A, rep.data, null, P, S, Sb, k, false, true, false, DTYPE_F32);
    const f = new Float32Array(P), arg = keep ? new Int32Array(P * S) : c.i32buf(P * S);
    c.K.maxSim(f, arg, sim, a.mask, rep.mask, P, a.P, S, Sb);
    return { f, F: 1, saved: { qn, norms, arg, rep: rep.data } };
  },
  backward(c, df, { qn, norms, arg, rep }, a, b, g) {
    const P = b.P, S = a.S, Sb = b.S, k = c.dim, D = c.D;
    const dqn = new Float32Array(P * S * k), drep = new Float32Array(P * Sb * k);
    for (let p = 0; p < P; p++) {
      const gp = df[p]!;
      for (let i = 0; i < S; i++) {
        const j = arg[p * S + i]!;
        if (j < 0) continue;
        const qo = (p * S + i) * k, bo = (p * Sb + j) * k;
        for (let cc = 0; cc < k; cc++) { dqn[qo + cc] = dqn[qo + cc]! + gp * rep[bo + cc]!; drep[bo + cc] = drep[bo + cc]! + gp * qn[qo + cc]!; }
      }
    }
    const proj = c.w.proj, dproj = c.dw.proj;
    const dqa = normalizeBackward(dqn, qn, norms, P * S, k);
    c.linearBack(dqa, a.x, proj, dproj, P * S, k, D, g.dxa);
    // B side: rep = normalize(proj x_b)
    const yb = c.linear(b.x, proj, P * Sb, k, D);
    const ybn = yb.slice();
    const nb = normalizeRows(ybn, P * Sb, k);
    const dyb = normalizeBackward(drep, ybn, nb, P * Sb, k);
    c.linearBack(dyb, b.x, proj, dproj, P * Sb, k, D, g.dxb);
  },
};
