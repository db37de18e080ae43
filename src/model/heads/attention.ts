/**
 * The attention heads' shared core (additive, dot, lowrank): A token i takes
 * a context c_i = Σ_j softmax_j(e_ij) V_j from B's tokens, and the classifier
 * reads [mean_i a'_i ⊙ c_i, mean_i |a'_i − c_i|] (a' = a, or Q a for lowrank).
 * Each head brings its scores e_ij and the backward of them (dot.ts,
 * additive.ts, lowrank.ts); this file does the rest, both ways.
 */
import type { F32 } from '../../core/kernels.js';
import { DTYPE_BF16, DTYPE_F32, MASK_NEG } from '../../core/kernels.js';
import { expand as expandRows, transpose as transposeRows, type HeadContext } from './context.js';
import type { BRep, HeadGrads, Scored, Side } from './types.js';

/** what a head's scores leave for the core: A's compared vectors (per A row, and per pair) and head-specific saved arrays */
export interface ScoreParts<X> { aCmp: F32; Acmp: F32; shared: boolean; extra: X }

export interface AttentionSaved<X> { V: F32; Acmp: F32; alpha: F32; ctx: F32; na: F32; scale: number; dv: number; extra: X }

/** a head's part of attention; R: its parameters' roles (HeadContext's c.w) */
export interface AttentionVariant<X, R extends string = never> {
  /** width of the values and of A's compared vectors */
  dv(c: HeadContext<R>): number;
  scale(c: HeadContext<R>): number;
  /** scores [P, S, Sb] (or [P, Sb, S] when `shared`: one A against every candidate, laid out for one GEMM) */
  scores(c: HeadContext<R>, a: Side, rep: BRep, keep: boolean, scores: F32): ScoreParts<X>;
  /** from d(scores) (scale folded in), d(Acmp) and d(V) so far: the encoder gradients */
  backward(c: HeadContext<R>, dscores: F32, dAcmp: F32, dV: F32, s: AttentionSaved<X>, a: Side, b: Side, g: HeadGrads): void;
}

export function attentionScore<X, R extends string>(v: AttentionVariant<X, R>, c: HeadContext<R>, a: Side, rep: BRep, keep: boolean): Scored<AttentionSaved<X>> {
  const P = rep.P, S = a.S, Sb = rep.S, K = c.K;
  if (S !== Sb) throw new Error(`pair head: A has ${S} positions, B ${Sb}; both sides must be padded alike`);
  const dv = v.dv(c), V = rep.data;
  const scores = c.buf('scores', P * S * Sb, keep);
  const { aCmp, Acmp, shared, extra } = v.scores(c, a, rep, keep, scores);
  const scale = v.scale(c);
  const maskAdd = c.buf('maskAdd', P * Sb, keep);
  for (let r = 0; r < P * Sb; r++) maskAdd[r] = rep.mask[r] ? 0 : MASK_NEG;
  const alpha = c.buf('alpha', P * S * Sb, keep);
  if (shared) K.attnSoftmaxShared(alpha, scores, maskAdd, P, S, Sb, scale);
  else K.attnSoftmaxForward(alpha, scores, maskAdd, P, 1, S, scale);
  const ctx = c.buf('ctx', P * S * dv, keep);
  if (rep.dataBf16 && !keep) {
    const ab = c.bf16buf(P * S * Sb);
    K.f32ToBf16(ab, alpha, P * S * Sb);
    K.matmul(ctx, ab, rep.dataBf16, null, P, S, dv, Sb, false, false, false, DTYPE_BF16);
  } else K.matmul(ctx, alpha, V, null, P, S, dv, Sb, false, false, false, DTYPE_F32);
  const f = new Float32Array(P * 2 * dv), na = new Float32Array(P);
  K.attnPoolFeatures(f, aCmp, ctx, a.mask, P, a.P, S, dv);
  for (let p = 0; p < P; p++) {
    const pa = a.P === 1 ? 0 : p;
    let n = 0;
    for (let i = 0; i < S; i++) n += a.mask[pa * S + i]!;
    na[p] = Math.max(1, n);
  }
  return { f, F: 2 * dv, saved: { V, Acmp, alpha, ctx, na, scale, dv, extra } };
}

export function attentionBackward<X, R extends string>(v: AttentionVariant<X, R>, c: HeadContext<R>, df: F32, s: AttentionSaved<X>, a: Side, b: Side, g: HeadGrads): void {
  const P = b.P, S = a.S, Sb = b.S, K = c.K;
  const { V, Acmp, alpha, ctx, na, scale, dv } = s;
  const dAcmp = new Float32Array(P * S * dv), dctx = new Float32Array(P * S * dv);
  for (let p = 0; p < P; p++) {
    const o = p * 2 * dv;
    for (let i = 0; i < S; i++) {
      if (!a.mask[p * S + i]) continue;
      const r = (p * S + i) * dv;
      for (let d = 0; d < dv; d++) {
        const x = Acmp[r + d]!, cc = ctx[r + d]!, sg = Math.sign(x - cc), g1 = df[o + d]! / na[p]!, g2 = df[o + dv + d]! / na[p]!;
        dAcmp[r + d] = g1 * cc + g2 * sg;
        dctx[r + d] = g1 * x - g2 * sg;
      }
    }
  }
  // ctx = alpha V
  const dalpha = new Float32Array(P * S * Sb), dV = new Float32Array(P * Sb * dv);
  K.matmul(dalpha, dctx, V, null, P, S, Sb, dv, false, true, false, DTYPE_F32);
  K.matmul(dV, alpha, dctx, null, P, Sb, dv, S, true, false, false, DTYPE_F32);
  const dscores = new Float32Array(P * S * Sb);
  K.attnSoftmaxBackward(dscores, dalpha, alpha, P * S, Sb, scale);
  v.backward(c, dscores, dAcmp, dV, s, a, b, g);
}

/**
 * dot-product scores of A's compared vectors `ac` [a.P, S, dv] against B's
 * values (dot and lowrank): one GEMM of every candidate's rows against Aᵀ
 * when scoring one A, else one batched GEMM; bf16 when the cache has a copy.
 */
export function dotScores<R extends string>(c: HeadContext<R>, name: string, ac: F32, a: Side, rep: BRep, keep: boolean, scores: F32, dv: number): ScoreParts<null> {
  const P = rep.P, S = a.S, Sb = rep.S, K = c.K;
  if (!keep && a.P === 1) {
    // no per-candidate copy of A; one tall GEMM instead of P small ones; scores laid out [P, Sb, S]
    const aT = c.memo(`${name}.AT`, keep, () => transposeRows(ac, S, dv));
    if (rep.dataBf16) K.matmul(scores, rep.dataBf16, c.memoBf16(`${name}.ATb`, aT), null, 1, P * Sb, S, dv, false, false, false, DTYPE_BF16);
    else K.matmul(scores, rep.data, aT, null, 1, P * Sb, S, dv, false, false, false, DTYPE_F32);
    return { aCmp: ac, Acmp: ac, shared: true, extra: null };
  }
  const Acmp = c.memo(`${name}.A.${P}`, keep, () => expandRows(ac, a.P, P, S * dv));
  if (rep.dataBf16 && !keep) K.matmul(scores, c.memoBf16(`${name}.Ab.${P}`, Acmp), rep.dataBf16, null, P, S, Sb, dv, false, true, false, DTYPE_BF16);
  else K.matmul(scores, Acmp, rep.data, null, P, S, Sb, dv, false, true, false, DTYPE_F32);
  return { aCmp: ac, Acmp, shared: false, extra: null };
}

/** the backward of dotScores: d(Acmp) += d(scores) V, d(V) += d(scores)ᵀ Acmp */
export function dotScoresBackward<R extends string>(c: HeadContext<R>, dscores: F32, dAcmp: F32, dV: F32, V: F32, Acmp: F32, P: number, S: number, Sb: number, dv: number): void {
  c.K.matmul(dAcmp, dscores, V, null, P, S, dv, Sb, false, false, true, DTYPE_F32);
  c.K.matmul(dV, dscores, Acmp, null, P, Sb, dv, S, true, false, true, DTYPE_F32);
}
