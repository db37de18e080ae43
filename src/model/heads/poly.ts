/** poly: m learned codes attend over A's tokens; B's pooled v attends over the m results; cache: v */
import type { F32 } from '../../core/kernels.js';
import { DTYPE_F32 } from '../../core/kernels.js';
import { maskedSoftmaxRows } from './context.js';
import { bi } from './bi.js';
import type { Head } from './types.js';

export interface PolySaved { att: F32; y: F32; w: F32; ctx: F32; v: F32 }

export const poly: Head<PolySaved, 'codes'> = {
  defaultDim: 0,
  defaultCodes: 16,
  params: (cfg, h) => ({ codes: ['head.poly.codes', [h.codes, cfg.hidden_size], 'normal', true] }),
  features: (D) => 4 * D,
  repWidth: (D) => D,
  auxWidth: () => 0,
  perToken: false,
  bf16Scoring: false,
  retrievable: true,
  inCompareByDefault: true,
  reads: 'last_hidden_state of A, pooler_output of B (v)',
  scores: 'codes attend over A\'s tokens, v attends over the codes\' results; logits = head.classifier(...) (src/model/heads/poly.ts)',
  bRep: bi.bRep,
  score(c, a, rep, keep) {
    const P = rep.P, D = c.D, m = c.codes, S = a.S, Pa = a.P, K = c.K, codes = c.w.codes;
    // A side: m codes attend over A's tokens -> y [Pa, m, D]
    const att = new Float32Array(Pa * m * S);
    const y = c.memo('poly.y', keep, () => {
      const yy = new Float32Array(Pa * m * D), logitsA = new Float32Array(Pa * m * S);
      for (let p = 0; p < Pa; p++) K.matmul(logitsA.subarray(p * m * S, (p + 1) * m * S), codes, a.x.subarray(p * S * D, (p + 1) * S * D), null, 1, m, S, D, false, true, false, DTYPE_F32);
      maskedSoftmaxRows(att, logitsA, Pa, m, S, a.mask);
      K.matmul(yy, att, a.x, null, Pa, m, D, S, false, false, false, DTYPE_F32);
      return yy;
    });
    // B's pooled v attends over the m vectors -> ctx (one matmul per step when A is shared)
    const logitsW = c.buf('poly.lw', P * m, keep), w = c.buf('poly.w', P * m, keep), ctx = c.buf('poly.ctx', P * D, keep);
    const f = c.buf('poly.f', P * 4 * D, keep);
    if (Pa === 1) K.matmul(logitsW, rep.data, y, null, 1, P, m, D, false, true, false, DTYPE_F32);
    else K.matmul(logitsW, y, rep.data, null, P, m, 1, D, false, false, false, DTYPE_F32);
    K.softmaxForward(w, logitsW, P, m);
    if (Pa === 1) K.matmul(ctx, w, y, null, 1, P, D, m, false, false, false, DTYPE_F32);
    else K.matmul(ctx, w, y, null, P, 1, D, m, false, false, false, DTYPE_F32);
    for (let p = 0; p < P; p++) {
      const o = p * 4 * D;
      for (let d = 0; d < D; d++) { const cc = ctx[p * D + d]!, vv = rep.data[p * D + d]!; f[o + d] = cc; f[o + D + d] = vv; f[o + 2 * D + d] = cc * vv; f[o + 3 * D + d] = Math.abs(cc - vv); }
    }
    return { f, F: 4 * D, saved: { att, y, w, ctx, v: rep.data } };
  },
  backward(c, df, { att, y, w, ctx, v }, a, b, g) {
    const P = b.P, S = a.S, D = c.D, m = c.codes, K = c.K;
    const dy = new Float32Array(P * m * D);
    for (let p = 0; p < P; p++) {
      const o = p * 4 * D, dctx = new Float32Array(D);
      for (let d = 0; d < D; d++) {
        const cc = ctx[p * D + d]!, vv = v[p * D + d]!, sg = Math.sign(cc - vv);
        dctx[d] = df[o + d]! + df[o + 2 * D + d]! * vv + df[o + 3 * D + d]! * sg;
        g.dvb[p * D + d] = df[o + D + d]! + df[o + 2 * D + d]! * cc - df[o + 3 * D + d]! * sg;
      }
      // ctx = Σ_c w_c y_c, w = softmax(y_c · v)
      const dw = new Float32Array(m);
      let dot = 0;
      for (let k = 0; k < m; k++) { let t = 0; for (let d = 0; d < D; d++) t += dctx[d]! * y[(p * m + k) * D + d]!; dw[k] = t; dot += t * w[p * m + k]!; }
      for (let k = 0; k < m; k++) {
        const wc = w[p * m + k]!, dsc = wc * (dw[k]! - dot);
        for (let d = 0; d < D; d++) {
          dy[(p * m + k) * D + d] = wc * dctx[d]! + dsc * v[p * D + d]!;
          g.dvb[p * D + d] = g.dvb[p * D + d]! + dsc * y[(p * m + k) * D + d]!;
        }
      }
    }
    // y = att x_a (att = masked softmax over A's tokens of codes · x_a)
    const datt = new Float32Array(P * m * S);
    K.matmul(datt, dy, a.x, null, P, m, S, D, false, true, false, DTYPE_F32);
    K.matmul(g.dxa, att, dy, null, P, S, D, m, true, false, true, DTYPE_F32);
    const dl = new Float32Array(P * m * S);
    K.softmaxBackward(dl, datt, att, P * m, S);
    const codes = c.w.codes, dcodes = c.dw.codes;
    for (let p = 0; p < P; p++) {
      const dlp = dl.subarray(p * m * S, (p + 1) * m * S), xp = a.x.subarray(p * S * D, (p + 1) * S * D);
      K.matmul(dcodes, dlp, xp, null, 1, m, D, S, false, false, true, DTYPE_F32);
      K.matmul(g.dxa.subarray(p * S * D, (p + 1) * S * D), dlp, codes, null, 1, S, D, m, true, false, true, DTYPE_F32);
    }
  },
};
