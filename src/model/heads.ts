/**
 * Cacheable pair heads: A and B are encoded separately by the same BERT, and
 * B's side of each head (bRep) depends on B alone, so it can be computed once
 * and cached; scoring A against a cached B runs only aRep + score.
 *
 *   bi        pooled u, v; classifier on [u, v, |u−v|, u⊙v]; cache: v
 *   additive  A's tokens attend over B's: e_ij = wᵀ tanh(W a_i + U b_j); cache: b_j and U b_j
 *   dot       A's tokens attend over B's: e_ij = a_i·b_j / √D; cache: b_j
 *   lowrank   both sides projected to k dims first: e_ij = (Q a_i)·(K b_j) / √k; cache: K b_j
 *   poly      m learned codes attend over A's tokens; B's pooled v attends over the m results; cache: v
 *   late      ColBERT MaxSim: Σ_i max_j â_i·b̂_j over L2-normalised k-dim projections; cache: b̂_j
 *
 * The attention heads (additive, dot, lowrank) give each A token a context
 * c_i = Σ_j softmax_j(e_ij) V_j from B and classify
 * [mean_i a'_i ⊙ c_i, mean_i |a'_i − c_i|] (a' = a, or Q a for lowrank).
 * Every forward has its backward here; tests check them by finite differences.
 * Parameters live in the model's arena under `head.*` names.
 */
import type { F32, Kernels } from '../core/kernels.js';
import { DTYPE_BF16, DTYPE_F32, MASK_NEG } from '../core/kernels.js';
import type { BertConfig } from './config.js';

export const HEAD_TYPES = ['bi', 'additive', 'dot', 'lowrank', 'poly', 'late'] as const;
export type HeadType = (typeof HEAD_TYPES)[number];
export interface PairHeadConfig {
  type: HeadType;
  /** projection / attention size (additive, lowrank, late) */
  dim: number;
  /** poly's code count */
  codes: number;
  /** tokens per side ([CLS] text [SEP]), each text encoded alone */
  side_length: number;
}

export function headConfig(type: string, dim?: number, codes?: number, sideLength?: number): PairHeadConfig {
  if (!(HEAD_TYPES as readonly string[]).includes(type)) throw new Error(`unknown head "${type}" (cross, ${HEAD_TYPES.join(', ')})`);
  const t = type as HeadType;
  return { type: t, dim: dim ?? (t === 'late' ? 128 : t === 'lowrank' ? 64 : t === 'additive' ? 16 : 0), codes: codes ?? (t === 'poly' ? 16 : 0), side_length: sideLength ?? 64 };
}

type Spec = [name: string, shape: number[], init: 'normal' | 'zeros', decay: boolean];

/** the head's parameters (C = number of labels) */
export function headParamSpecs(cfg: BertConfig, h: PairHeadConfig, C: number): Spec[] {
  const D = cfg.hidden_size, k = h.dim;
  const cls = (F: number): Spec[] => [['head.classifier.weight', [C, F], 'normal', true], ['head.classifier.bias', [C], 'zeros', false]];
  switch (h.type) {
    case 'bi': return cls(4 * D);
    case 'dot': return cls(2 * D);
    case 'additive': return [['head.additive.query.weight', [k, D], 'normal', true], ['head.additive.key.weight', [k, D], 'normal', true],
      ['head.additive.v', [k], 'normal', true], ...cls(2 * D)];
    case 'lowrank': return [['head.lowrank.query.weight', [k, D], 'normal', true], ['head.lowrank.key.weight', [k, D], 'normal', true], ...cls(2 * k)];
    case 'poly': return [['head.poly.codes', [h.codes, D], 'normal', true], ...cls(4 * D)];
    case 'late': return [['head.late.proj.weight', [k, D], 'normal', true], ...cls(1)];
  }
}

/** one side of a batch of P pairs: token vectors [P, S, D], their mask [P, S], pooled vectors [P, D] */
export interface Side { P: number; S: number; x: F32; mask: Uint8Array; pooled: F32 }

/**
 * B's cacheable representation for P texts: `rows` per token ([P, S, W]) with
 * its mask, or one vector per text ([P, W]) when `perToken` is false.
 */
export interface BRep {
  P: number; S: number; W: number; perToken: boolean; data: F32; mask: Uint8Array;
  /** additive: U b_j [P, S, dim] beside b_j in data */
  aux?: F32;
  /** a bf16 copy of data: when present, scoring runs the attention heads' matmuls in bf16 */
  dataBf16?: Uint16Array;
}

export interface HeadGrads { dxa: F32; dxb: F32; dua: F32; dvb: F32 }

type ParamAccess = { param(name: string): F32; grad(name: string): F32 };


/** the head of a pair model: forward from two sides or from A + a cached BRep; backward after a forward from two sides */
export class PairHead {
  readonly C: number;
  readonly D: number;
  private saved: Record<string, F32 | Uint8Array | Int32Array | number> = {};
  private a: Side | null = null;
  private b: Side | null = null;

  constructor(readonly cfg: PairHeadConfig, D: number, C: number, private K: Kernels, private params: ParamAccess) {
    this.C = C; this.D = D;
  }

  /** width of one cached row (per token or per text) */
  repWidth(): number {
    const { type, dim } = this.cfg;
    return type === 'bi' || type === 'poly' || type === 'dot' ? this.D : type === 'additive' ? this.D + dim : dim;
  }

  perToken(): boolean { return !(this.cfg.type === 'bi' || this.cfg.type === 'poly'); }

  // ---- small dense helpers on the kernels ----
  /** Y[R, k] = X[R, D] Wᵀ */
  private linear(X: F32, W: F32, R: number, k: number, D: number): F32 {
    const Y = new Float32Array(R * k);
    this.K.matmul(Y, X, W, null, 1, R, k, D, false, true, false, DTYPE_F32);
    return Y;
  }
  /** dW += dYᵀ X; returns dX = dY W (or accumulates into dXacc) */
  private linearBack(dY: F32, X: F32, W: F32, dW: F32, R: number, k: number, D: number, dXacc?: F32): F32 {
    this.K.matmul(dW, dY, X, null, 1, k, D, R, true, false, true, DTYPE_F32);
    const dX = dXacc ?? new Float32Array(R * D);
    this.K.matmul(dX, dY, W, null, 1, R, D, k, false, false, dXacc !== undefined, DTYPE_F32);
    return dX;
  }

  /** B's cacheable representation (depends on B only) */
  bRep(b: Side): BRep {
    const { P, S, x, mask, pooled } = b, D = this.D, k = this.cfg.dim;
    switch (this.cfg.type) {
      case 'bi': case 'poly': return { P, S: 1, W: D, perToken: false, data: pooled.slice(0, P * D), mask: new Uint8Array(P).fill(1) };
      case 'dot': return { P, S, W: D, perToken: true, data: x.slice(0, P * S * D), mask };
      case 'additive': {
        const ub = this.linear(x, this.params.param('head.additive.key.weight'), P * S, k, D);
        return { P, S, W: D, perToken: true, data: x.slice(0, P * S * D), mask, aux: ub };
      }
      case 'lowrank': return { P, S, W: k, perToken: true, data: this.linear(x, this.params.param('head.lowrank.key.weight'), P * S, k, D), mask };
      case 'late': {
        const y = this.linear(x, this.params.param('head.late.proj.weight'), P * S, k, D);
        normalizeRows(y, P * S, k);
        return { P, S, W: k, perToken: true, data: y, mask };
      }
    }
  }

  /**
   * logits [P, C] for A (P rows, or 1 row broadcast) against P cached B
   * representations. `query`: an object standing for one A across several
   * calls (chunks of candidates); A-side work is then done once and reused.
   * A's arrays must not change while the same `query` object is passed.
   */
  scoreCached(a: Side, rep: BRep, query?: object): F32 {
    this.a = null; this.b = null;
    if (query !== this.query || !query) { this.query = query ?? null; this.memoVals.clear(); this.bf16Memo.clear(); }
    return this.score(a, rep, false);
  }

  // ---- scoring-only state: A-side results for the current query, reusable work buffers ----
  private query: object | null = null;
  private memoVals = new Map<string, F32>();
  private bufs = new Map<string, F32>();
  /** A-side value for the current query (computed once per query; always fresh when training or without a query) */
  private memo(key: string, keep: boolean, make: () => F32): F32 {
    if (keep || !this.query) return make();
    let v = this.memoVals.get(key);
    if (!v) { v = make(); this.memoVals.set(key, v); }
    return v;
  }
  private bf16Buf = new Uint16Array(0);
  private bf16buf(n: number): Uint16Array {
    if (this.bf16Buf.length < n) this.bf16Buf = new Uint16Array(n);
    return this.bf16Buf.subarray(0, n);
  }
  private bf16Memo = new Map<string, Uint16Array>();
  /** bf16 copy of an A-side array for the current query */
  private memoBf16(key: string, x: F32): Uint16Array {
    let v = this.bf16Memo.get(key);
    if (!v) { v = new Uint16Array(x.length); this.K.f32ToBf16(v, x, x.length); this.bf16Memo.set(key, v); }
    return v;
  }
  private argBuf = new Int32Array(0);
  private i32buf(n: number): Int32Array {
    if (this.argBuf.length < n) this.argBuf = new Int32Array(n);
    return this.argBuf.subarray(0, n);
  }
  /** a work buffer of n floats: fresh when training (backward keeps it), reused when only scoring */
  private buf(name: string, n: number, keep: boolean): F32 {
    if (keep) return new Float32Array(n);
    let b = this.bufs.get(name);
    if (!b || b.length < n) { b = new Float32Array(n); this.bufs.set(name, b); }
    return b.subarray(0, n);
  }

  /** training / evaluation forward from both sides; keeps what backward needs */
  forward(a: Side, b: Side): F32 {
    this.a = a; this.b = b;
    const rep = this.bRep(b);
    this.saved.rep = rep.data;
    return this.score(a, rep, true);
  }

  private score(a: Side, rep: BRep, keep: boolean): F32 {
    const P = rep.P, D = this.D, C = this.C, k = this.cfg.dim;
    const ai = (p: number) => (a.P === 1 ? 0 : p);
    const save = (o: Record<string, F32 | Uint8Array | Int32Array | number>) => { if (keep) Object.assign(this.saved, o); };
    const W = this.params.param('head.classifier.weight'), bias = this.params.param('head.classifier.bias');
    const classify = (f: F32, F: number): F32 => {
      const logits = new Float32Array(P * C);
      this.K.matmul(logits, f, W, bias, 1, P, C, F, false, true, false, DTYPE_F32);
      return logits;
    };
    switch (this.cfg.type) {
      case 'bi': {
        const f = new Float32Array(P * 4 * D);
        for (let p = 0; p < P; p++) {
          const u = a.pooled.subarray(ai(p) * D, ai(p) * D + D), v = rep.data.subarray(p * D, p * D + D), o = p * 4 * D;
          for (let d = 0; d < D; d++) { f[o + d] = u[d]!; f[o + D + d] = v[d]!; f[o + 2 * D + d] = Math.abs(u[d]! - v[d]!); f[o + 3 * D + d] = u[d]! * v[d]!; }
        }
        save({ f });
        return classify(f, 4 * D);
      }
      case 'poly': {
        // A side: m codes attend over A's tokens -> y [Pa, m, D]
        const m = this.cfg.codes, S = a.S, Pa = a.P, codes = this.params.param('head.poly.codes');
        const att = new Float32Array(Pa * m * S);
        const y = this.memo('poly.y', keep, () => {
          const yy = new Float32Array(Pa * m * D), logitsA = new Float32Array(Pa * m * S);
          for (let p = 0; p < Pa; p++) this.K.matmul(logitsA.subarray(p * m * S, (p + 1) * m * S), codes, a.x.subarray(p * S * D, (p + 1) * S * D), null, 1, m, S, D, false, true, false, DTYPE_F32);
          maskedSoftmaxRows(att, logitsA, Pa, m, S, a.mask);
          this.K.matmul(yy, att, a.x, null, Pa, m, D, S, false, false, false, DTYPE_F32);
          return yy;
        });
        // B's pooled v attends over the m vectors -> ctx (one matmul per step when A is shared)
        const logitsW = this.buf('poly.lw', P * m, keep), w = this.buf('poly.w', P * m, keep), ctx = this.buf('poly.ctx', P * D, keep);
        const f = this.buf('poly.f', P * 4 * D, keep);
        if (Pa === 1) this.K.matmul(logitsW, rep.data, y, null, 1, P, m, D, false, true, false, DTYPE_F32);
        else this.K.matmul(logitsW, y, rep.data, null, P, m, 1, D, false, false, false, DTYPE_F32);
        this.K.softmaxForward(w, logitsW, P, m);
        if (Pa === 1) this.K.matmul(ctx, w, y, null, 1, P, D, m, false, false, false, DTYPE_F32);
        else this.K.matmul(ctx, w, y, null, P, 1, D, m, false, false, false, DTYPE_F32);
        for (let p = 0; p < P; p++) {
          const o = p * 4 * D;
          for (let d = 0; d < D; d++) { const c = ctx[p * D + d]!, vv = rep.data[p * D + d]!; f[o + d] = c; f[o + D + d] = vv; f[o + 2 * D + d] = c * vv; f[o + 3 * D + d] = Math.abs(c - vv); }
        }
        save({ att, y, w, ctx, f });
        return classify(f, 4 * D);
      }
      case 'late': {
        const S = a.S, Sb = rep.S;
        const qa = this.memo('late.qa', keep, () => this.linear(a.x, this.params.param('head.late.proj.weight'), a.P * S, k, D));
        const qn = this.memo('late.qn', keep, () => qa.slice());
        const norms = this.memo('late.norms', keep, () => normalizeRows(qn, a.P * S, k));
        const A = this.memo(`late.A.${P}`, keep, () => expand(qn, a.P, P, S * k));
        const sim = this.buf('sim', P * S * Sb, keep);
        this.K.matmul(sim, A, rep.data, null, P, S, Sb, k, false, true, false, DTYPE_F32);
        const f = new Float32Array(P), arg = keep ? new Int32Array(P * S) : this.i32buf(P * S);
        this.K.maxSim(f, arg, sim, a.mask, rep.mask, P, a.P, S, Sb);
        save({ qa, qn, norms, arg, f });
        return classify(f, 1);
      }
      default: return this.attentionScore(a, rep, keep, classify);
    }
  }

  /** additive, dot and lowrank: c_i = Σ_j softmax_j(e_ij) V_j; features [mean a'⊙c, mean |a'−c|] */
  private attentionScore(a: Side, rep: BRep, keep: boolean, classify: (f: F32, F: number) => F32): F32 {
    const P = rep.P, S = a.S, Sb = rep.S, D = this.D, k = this.cfg.dim, type = this.cfg.type;
    if (S !== Sb) throw new Error(`pair head: A has ${S} positions, B ${Sb}; both sides must be padded alike`);
    // values V [P, Sb, dv]; aCmp [a.P, S, dv]: A's vectors compared with the contexts
    const dv = type === 'lowrank' ? k : D;
    const V = rep.data;
    let aCmp: F32, Acmp: F32;
    const scores = this.buf('scores', P * S * Sb, keep);
    let saveExtra: Record<string, F32> = {};
    let sharedScores = false;
    if (type === 'additive') {
      const ub = rep.aux!;
      const wa = this.memo('additive.wa', keep, () => this.linear(a.x, this.params.param('head.additive.query.weight'), a.P * S, k, D));
      const vv = this.params.param('head.additive.v');
      if (keep) {
        // T[p, i, j, :] = tanh(W a_i + U b_j) is kept for backward; e_ij = T[p, i, j, :] · v
        const T = new Float32Array(P * S * Sb * k);
        for (let p = 0; p < P; p++) {
          const pa = a.P === 1 ? 0 : p;
          for (let i = 0; i < S; i++) {
            const wo = (pa * S + i) * k;
            for (let j = 0; j < Sb; j++) {
              const uo = (p * Sb + j) * k, to = ((p * S + i) * Sb + j) * k;
              for (let c = 0; c < k; c++) T[to + c] = wa[wo + c]! + ub[uo + c]!;
            }
          }
        }
        this.K.tanhForward(T, T, T.length);
        this.K.matmul(scores, T, vv, null, 1, P * S * Sb, 1, k, false, false, false, DTYPE_F32);
        saveExtra = { T, wa, ub };
      } else {
        this.K.additiveScores(scores, wa, ub, vv, P, a.P, S, Sb, k); // scoring only: fused, nothing kept
      }
      aCmp = a.x;
      Acmp = keep ? expand(a.x, a.P, P, S * D) : a.x;
    } else {
      const ac = type === 'dot' ? a.x : this.memo('lowrank.qa', keep, () => this.linear(a.x, this.params.param('head.lowrank.query.weight'), a.P * S, k, D));
      aCmp = ac;
      if (!keep && a.P === 1) {
        // scoring one A: one GEMM of every candidate's rows against Aᵀ, scores laid out [P, Sb, S]
        // (no per-candidate copy of A; one tall GEMM instead of P small ones)
        Acmp = ac;
        const aT = this.memo(`${type}.AT`, keep, () => transpose(ac, S, dv));
        if (rep.dataBf16) this.K.matmul(scores, rep.dataBf16, this.memoBf16(`${type}.ATb`, aT), null, 1, P * Sb, S, dv, false, false, false, DTYPE_BF16);
        else this.K.matmul(scores, V, aT, null, 1, P * Sb, S, dv, false, false, false, DTYPE_F32);
        sharedScores = true;
      } else {
        Acmp = this.memo(`${type}.A.${P}`, keep, () => expand(ac, a.P, P, S * dv));
        if (rep.dataBf16 && !keep) {
          const Ab = this.memoBf16(`${type}.Ab.${P}`, Acmp);
          this.K.matmul(scores, Ab, rep.dataBf16, null, P, S, Sb, dv, false, true, false, DTYPE_BF16);
        } else this.K.matmul(scores, Acmp, V, null, P, S, Sb, dv, false, true, false, DTYPE_F32);
      }
    }
    const scale = type === 'additive' ? 1 : 1 / Math.sqrt(type === 'dot' ? D : k);
    const maskAdd = this.buf('maskAdd', P * Sb, keep);
    for (let r = 0; r < P * Sb; r++) maskAdd[r] = rep.mask[r] ? 0 : MASK_NEG;
    const alpha = this.buf('alpha', P * S * Sb, keep);
    if (sharedScores) this.K.attnSoftmaxShared(alpha, scores, maskAdd, P, S, Sb, scale);
    else this.K.attnSoftmaxForward(alpha, scores, maskAdd, P, 1, S, scale);
    const ctx = this.buf('ctx', P * S * dv, keep);
    if (rep.dataBf16 && !keep) {
      const ab = this.bf16buf(P * S * Sb);
      this.K.f32ToBf16(ab, alpha, P * S * Sb);
      this.K.matmul(ctx, ab, rep.dataBf16, null, P, S, dv, Sb, false, false, false, DTYPE_BF16);
    } else this.K.matmul(ctx, alpha, V, null, P, S, dv, Sb, false, false, false, DTYPE_F32);
    const f = new Float32Array(P * 2 * dv), na = new Float32Array(P);
    this.K.attnPoolFeatures(f, aCmp, ctx, a.mask, P, a.P, S, dv);
    for (let p = 0; p < P; p++) {
      const pa = a.P === 1 ? 0 : p;
      let n = 0;
      for (let i = 0; i < S; i++) n += a.mask[pa * S + i]!;
      na[p] = Math.max(1, n);
    }
    if (keep) Object.assign(this.saved, { V, Acmp, alpha, ctx, f, na, scale, dv, ...saveExtra });
    return classify(f, 2 * dv);
  }

  /** gradients of the last forward(a, b) given dlogits [P, C]; parameter gradients accumulate */
  backward(dlogits: F32): HeadGrads {
    const a = this.a, b = this.b;
    if (!a || !b) throw new Error('PairHead.backward() needs a forward(a, b) first');
    const P = b.P, S = a.S, D = this.D, C = this.C, k = this.cfg.dim, s = this.saved;
    const dxa = new Float32Array(a.P * S * D), dxb = new Float32Array(P * b.S * D), dua = new Float32Array(a.P * D), dvb = new Float32Array(P * D);
    const f = s.f as F32, F = f.length / P;
    this.K.matmul(this.params.grad('head.classifier.weight'), dlogits, f, null, 1, C, F, P, true, false, true, DTYPE_F32);
    this.K.colSumAccumulate(this.params.grad('head.classifier.bias'), dlogits, P, C);
    const df = new Float32Array(P * F);
    this.K.matmul(df, dlogits, this.params.param('head.classifier.weight'), null, 1, P, F, C, false, false, false, DTYPE_F32);
    switch (this.cfg.type) {
      case 'bi': {
        const v = s.rep as F32;
        for (let p = 0; p < P; p++) for (let d = 0; d < D; d++) {
          const u = a.pooled[p * D + d]!, vv = v[p * D + d]!, o = p * 4 * D, sg = Math.sign(u - vv);
          dua[p * D + d] = df[o + d]! + df[o + 2 * D + d]! * sg + df[o + 3 * D + d]! * vv;
          dvb[p * D + d] = df[o + D + d]! - df[o + 2 * D + d]! * sg + df[o + 3 * D + d]! * u;
        }
        break;
      }
      case 'poly': {
        const m = this.cfg.codes, att = s.att as F32, y = s.y as F32, w = s.w as F32, ctx = s.ctx as F32, v = s.rep as F32;
        const dy = new Float32Array(P * m * D);
        for (let p = 0; p < P; p++) {
          const o = p * 4 * D, dctx = new Float32Array(D);
          for (let d = 0; d < D; d++) {
            const c = ctx[p * D + d]!, vv = v[p * D + d]!, sg = Math.sign(c - vv);
            dctx[d] = df[o + d]! + df[o + 2 * D + d]! * vv + df[o + 3 * D + d]! * sg;
            dvb[p * D + d] = df[o + D + d]! + df[o + 2 * D + d]! * c - df[o + 3 * D + d]! * sg;
          }
          // ctx = Σ_c w_c y_c, w = softmax(y_c · v)
          const dw = new Float32Array(m);
          let dot = 0;
          for (let c = 0; c < m; c++) { let t = 0; for (let d = 0; d < D; d++) t += dctx[d]! * y[(p * m + c) * D + d]!; dw[c] = t; dot += t * w[p * m + c]!; }
          for (let c = 0; c < m; c++) {
            const wc = w[p * m + c]!, dsc = wc * (dw[c]! - dot);
            for (let d = 0; d < D; d++) {
              dy[(p * m + c) * D + d] = wc * dctx[d]! + dsc * v[p * D + d]!;
              dvb[p * D + d] = dvb[p * D + d]! + dsc * y[(p * m + c) * D + d]!;
            }
          }
        }
        // y = att x_a (att = masked softmax over A's tokens of codes · x_a)
        const datt = new Float32Array(P * m * S);
        this.K.matmul(datt, dy, a.x, null, P, m, S, D, false, true, false, DTYPE_F32);
        this.K.matmul(dxa, att, dy, null, P, S, D, m, true, false, true, DTYPE_F32);
        const dl = new Float32Array(P * m * S);
        this.K.softmaxBackward(dl, datt, att, P * m, S);
        const codes = this.params.param('head.poly.codes'), dcodes = this.params.grad('head.poly.codes');
        for (let p = 0; p < P; p++) {
          const dlp = dl.subarray(p * m * S, (p + 1) * m * S), xp = a.x.subarray(p * S * D, (p + 1) * S * D);
          this.K.matmul(dcodes, dlp, xp, null, 1, m, D, S, false, false, true, DTYPE_F32);
          this.K.matmul(dxa.subarray(p * S * D, (p + 1) * S * D), dlp, codes, null, 1, S, D, m, true, false, true, DTYPE_F32);
        }
        break;
      }
      case 'late': {
        const qn = s.qn as F32, norms = s.norms as F32, arg = s.arg as Int32Array, rep = s.rep as F32, Sb = b.S;
        const dqn = new Float32Array(P * S * k), drep = new Float32Array(P * Sb * k);
        for (let p = 0; p < P; p++) {
          const g = df[p]!;
          for (let i = 0; i < S; i++) {
            const j = arg[p * S + i]!;
            if (j < 0) continue;
            const qo = (p * S + i) * k, bo = (p * Sb + j) * k;
            for (let c = 0; c < k; c++) { dqn[qo + c] = dqn[qo + c]! + g * rep[bo + c]!; drep[bo + c] = drep[bo + c]! + g * qn[qo + c]!; }
          }
        }
        const proj = this.params.param('head.late.proj.weight'), dproj = this.params.grad('head.late.proj.weight');
        const dqa = normalizeBackward(dqn, qn, norms, P * S, k);
        this.linearBack(dqa, a.x, proj, dproj, P * S, k, D, dxa);
        // B side: rep = normalize(proj x_b)
        const yb = this.linear(b.x, proj, P * Sb, k, D);
        const ybn = yb.slice();
        const nb = normalizeRows(ybn, P * Sb, k);
        const dyb = normalizeBackward(drep, ybn, nb, P * Sb, k);
        this.linearBack(dyb, b.x, proj, dproj, P * Sb, k, D, dxb);
        break;
      }
      default: this.attentionBackward(df, dxa, dxb);
    }
    return { dxa, dxb, dua, dvb };
  }

  private attentionBackward(df: F32, dxa: F32, dxb: F32): void {
    const a = this.a!, b = this.b!, s = this.saved, type = this.cfg.type;
    const P = b.P, S = a.S, Sb = b.S, D = this.D, k = this.cfg.dim;
    const V = s.V as F32, Acmp = s.Acmp as F32, alpha = s.alpha as F32, ctx = s.ctx as F32, na = s.na as F32, scale = s.scale as number, dv = s.dv as number;
    const dAcmp = new Float32Array(P * S * dv), dctx = new Float32Array(P * S * dv);
    for (let p = 0; p < P; p++) {
      const o = p * 2 * dv;
      for (let i = 0; i < S; i++) {
        if (!a.mask[p * S + i]) continue;
        const r = (p * S + i) * dv;
        for (let d = 0; d < dv; d++) {
          const x = Acmp[r + d]!, c = ctx[r + d]!, sg = Math.sign(x - c), g1 = df[o + d]! / na[p]!, g2 = df[o + dv + d]! / na[p]!;
          dAcmp[r + d] = g1 * c + g2 * sg;
          dctx[r + d] = g1 * x - g2 * sg;
        }
      }
    }
    // ctx = alpha V
    const dalpha = new Float32Array(P * S * Sb), dV = new Float32Array(P * Sb * dv);
    this.K.matmul(dalpha, dctx, V, null, P, S, Sb, dv, false, true, false, DTYPE_F32);
    this.K.matmul(dV, alpha, dctx, null, P, Sb, dv, S, true, false, false, DTYPE_F32);
    const dscores = new Float32Array(P * S * Sb);
    this.K.attnSoftmaxBackward(dscores, dalpha, alpha, P * S, Sb, scale);
    if (type === 'dot') {
      // scores = Acmp Vᵀ (scale folded into dscores)
      this.K.matmul(dAcmp, dscores, V, null, P, S, D, Sb, false, false, true, DTYPE_F32);
      this.K.matmul(dV, dscores, Acmp, null, P, Sb, D, S, true, false, true, DTYPE_F32);
      dxa.set(dAcmp); dxb.set(dV);
    } else if (type === 'lowrank') {
      this.K.matmul(dAcmp, dscores, V, null, P, S, k, Sb, false, false, true, DTYPE_F32);
      this.K.matmul(dV, dscores, Acmp, null, P, Sb, k, S, true, false, true, DTYPE_F32);
      this.linearBack(dAcmp, a.x, this.params.param('head.lowrank.query.weight'), this.params.grad('head.lowrank.query.weight'), P * S, k, D, dxa);
      this.linearBack(dV, b.x, this.params.param('head.lowrank.key.weight'), this.params.grad('head.lowrank.key.weight'), P * Sb, k, D, dxb);
    } else {
      const T = s.T as F32, vv = this.params.param('head.additive.v'), dvv = this.params.grad('head.additive.v');
      const dwa = new Float32Array(P * S * k), dub = new Float32Array(P * Sb * k);
      for (let p = 0; p < P; p++) for (let i = 0; i < S; i++) for (let j = 0; j < Sb; j++) {
        const g = dscores[(p * S + i) * Sb + j]!;
        if (g === 0) continue;
        const to = ((p * S + i) * Sb + j) * k, wo = (p * S + i) * k, uo = (p * Sb + j) * k;
        for (let c = 0; c < k; c++) {
          const t = T[to + c]!;
          dvv[c] = dvv[c]! + g * t;
          const dpre = g * vv[c]! * (1 - t * t);
          dwa[wo + c] = dwa[wo + c]! + dpre;
          dub[uo + c] = dub[uo + c]! + dpre;
        }
      }
      dxa.set(dAcmp); dxb.set(dV);
      this.linearBack(dwa, a.x, this.params.param('head.additive.query.weight'), this.params.grad('head.additive.query.weight'), P * S, k, D, dxa);
      this.linearBack(dub, b.x, this.params.param('head.additive.key.weight'), this.params.grad('head.additive.key.weight'), P * Sb, k, D, dxb);
    }
  }
}

/** x [Pa, n] -> [P, n]; Pa must be 1 (broadcast) or P */
function expand(x: F32, Pa: number, P: number, n: number): F32 {
  if (Pa === P) return x.subarray(0, P * n);
  if (Pa !== 1) throw new Error(`pair head: A has ${Pa} rows for ${P} B rows`);
  const out = new Float32Array(P * n);
  for (let p = 0; p < P; p++) out.set(x.subarray(0, n), p * n);
  return out;
}

/** x [R, C] -> [C, R] */
function transpose(x: F32, R: number, C: number): F32 {
  const out = new Float32Array(R * C);
  for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) out[c * R + r] = x[r * C + c]!;
  return out;
}

/** in-place L2 normalisation of R rows of width k; returns the norms */
function normalizeRows(x: F32, R: number, k: number): F32 {
  const norms = new Float32Array(R);
  for (let r = 0; r < R; r++) {
    let s = 0;
    for (let c = 0; c < k; c++) s += x[r * k + c]! ** 2;
    const n = Math.sqrt(s) + 1e-12;
    norms[r] = n;
    for (let c = 0; c < k; c++) x[r * k + c] = x[r * k + c]! / n;
  }
  return norms;
}

/** d/dx of x/|x| given dy, y = x/|x| and |x| */
function normalizeBackward(dy: F32, y: F32, norms: F32, R: number, k: number): F32 {
  const dx = new Float32Array(R * k);
  for (let r = 0; r < R; r++) {
    let dot = 0;
    for (let c = 0; c < k; c++) dot += dy[r * k + c]! * y[r * k + c]!;
    for (let c = 0; c < k; c++) dx[r * k + c] = (dy[r * k + c]! - dot * y[r * k + c]!) / norms[r]!;
  }
  return dx;
}

/** softmax over the last axis (length S) of [P, m, S] logits, positions with mask[p, j] = 0 excluded */
function maskedSoftmaxRows(out: F32, logits: F32, P: number, m: number, S: number, mask: Uint8Array): void {
  for (let p = 0; p < P; p++) for (let c = 0; c < m; c++) {
    const o = (p * m + c) * S;
    let mx = -Infinity;
    for (let j = 0; j < S; j++) if (mask[p * S + j] && logits[o + j]! > mx) mx = logits[o + j]!;
    let sum = 0;
    for (let j = 0; j < S; j++) { const e = mask[p * S + j] ? Math.exp(logits[o + j]! - mx) : 0; out[o + j] = e; sum += e; }
    for (let j = 0; j < S; j++) out[o + j] = out[o + j]! / sum;
  }
}
