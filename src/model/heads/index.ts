/**
 * Cacheable pair heads: A and B are encoded separately by the same BERT, and
 * B's side of each head (bRep) depends on B alone, so it can be computed once
 * and cached; scoring A against a cached B runs only A's side + the score.
 *
 *   bi        pooled u, v; classifier on [u, v, |u−v|, u⊙v]; cache: v
 *   cosine    pooled u, v; classifier on cos(u, v) (sentence-transformers' scoring; --loss contrastive/cosent); cache: v
 *   additive  A's tokens attend over B's: e_ij = wᵀ tanh(W a_i + U b_j); cache: b_j and U b_j
 *   dot       A's tokens attend over B's: e_ij = a_i·b_j / √D; cache: b_j
 *   lowrank   both sides projected to k dims first: e_ij = (Q a_i)·(K b_j) / √k; cache: K b_j
 *   poly      m learned codes attend over A's tokens; B's pooled v attends over the m results; cache: v
 *   late      ColBERT MaxSim: Σ_i max_j â_i·b̂_j over L2-normalised k-dim projections; cache: b̂_j
 *
 * One file per head, each implementing `Head` (types.ts); this registry maps
 * a head's name to it. Every head ends in the same linear classifier
 * (head.classifier.*), which PairHead runs both ways. Every forward has its
 * backward; tests check them by finite differences. Parameters live in the
 * model's arena under `head.*` names. Adding a head: a file here, a line in HEADS.
 */
import type { F32, Kernels } from '../../core/kernels.js';
import { DTYPE_F32 } from '../../core/kernels.js';
import { additive } from './additive.js';
import { bi } from './bi.js';
import { cosine } from './cosine.js';
import { HeadContext, ParamViews, type ParamAccess } from './context.js';
import { dot } from './dot.js';
import { late } from './late.js';
import { lowrank } from './lowrank.js';
import { poly } from './poly.js';
import type { BRep, EncoderDims, Head, HeadGrads, HeadShape, Side, Spec } from './types.js';

export type { BRep, HeadGrads, Side };

/** the registry: a head's name (as --head takes it and config.json stores it) to its implementation */
const REGISTRY = { bi, cosine, additive, dot, lowrank, poly, late };

export type HeadType = keyof typeof REGISTRY;

/** a pair head as config.json's pair_head names it: which head, and its shape settings */
export interface PairHeadConfig extends HeadShape { type: HeadType }
// each head's saved state is its own business: the registry sees them all as Head<unknown>
const HEADS = REGISTRY as unknown as Record<HeadType, Head<unknown>>;
export const HEAD_TYPES = Object.keys(REGISTRY) as HeadType[];

export function headConfig(type: string, dim?: number, codes?: number, sideLength?: number): PairHeadConfig {
  if (!(HEAD_TYPES as readonly string[]).includes(type)) throw new Error(`unknown head "${type}" (cross, ${HEAD_TYPES.join(', ')})`);
  const h = HEADS[type as HeadType];
  return { type: type as HeadType, dim: dim ?? h.defaultDim, codes: codes ?? h.defaultCodes, side_length: sideLength ?? 64 };
}

/** the classifier on a head's features [C, F] (C = number of labels), under the one name every head's is saved as */
function classifierSpecs(C: number, F: number): Record<'weight' | 'bias', Spec> {
  return { weight: ['head.classifier.weight', [C, F], 'normal', true], bias: ['head.classifier.bias', [C], 'zeros', false] };
}

/** the head's parameters (C = number of labels): its own, then the classifier on its features */
export function headParamSpecs(cfg: EncoderDims, h: PairHeadConfig, C: number): Spec[] {
  const head = HEADS[h.type];
  return [...Object.values(head.params(cfg, h)), ...Object.values(classifierSpecs(C, head.features(cfg.hidden_size, h)))];
}

/** how much of a cached row is the head's aux part (additive: U b_j), stored after the data rows */
export function auxWidth(h: PairHeadConfig): number { return HEADS[h.type].auxWidth(h); }

/** whether a head's cached scoring runs in bf16 on a bf16 model (its cache then holds a bf16 copy) */
export function bf16Scoring(type: HeadType): boolean { return HEADS[type].bf16Scoring; }

/** the heads whose B side a retrieval index can key */
export const RETRIEVABLE_HEADS: HeadType[] = HEAD_TYPES.filter((h) => HEADS[h].retrievable);

/** the heads `compare` trains when --heads is not given */
export const COMPARE_DEFAULT_HEADS: HeadType[] = HEAD_TYPES.filter((h) => HEADS[h].inCompareByDefault);

/** what a head reads of the encoder's outputs and how it scores (pair_head.json) */
export function headDescription(type: HeadType): { reads: string; scores: string } { return { reads: HEADS[type].reads, scores: HEADS[type].scores }; }

/** the head of a pair model: forward from two sides or from A + a cached BRep; backward after a forward from two sides */
export class PairHead {
  readonly C: number;
  readonly D: number;
  private readonly head: Head<unknown>;
  private readonly ctx: HeadContext;
  /** the classifier on the head's features */
  private readonly cls: ParamViews<'weight' | 'bias'>;
  /** what the last training forward keeps for backward */
  private last: { a: Side; b: Side; f: F32; saved: unknown } | null = null;

  constructor(readonly cfg: PairHeadConfig, D: number, C: number, K: Kernels, params: ParamAccess) {
    this.C = C; this.D = D;
    this.head = HEADS[cfg.type];
    this.ctx = new HeadContext(K, params, this.head.params({ hidden_size: D }, cfg), D, cfg.dim, cfg.codes);
    this.cls = new ParamViews(params, classifierSpecs(C, this.head.features(D, cfg)));
  }

  /** the classifier's weight [C, F] and bias [C] (views into the model's arena: writing them changes the model) */
  get classifier(): { weight: F32; bias: F32 } { return this.cls.w; }

  /** width of one cached row (per token or per text) */
  repWidth(): number { return this.head.repWidth(this.D, this.cfg); }

  perToken(): boolean { return this.head.perToken; }

  /** B's cacheable representation (depends on B only) */
  bRep(b: Side): BRep { return this.head.bRep(this.ctx, b); }

  /**
   * logits [P, C] for A (P rows, or 1 row broadcast) against P cached B
   * representations. `query`: an object standing for one A across several
   * calls (chunks of candidates); A-side work is then done once and reused.
   * A's arrays must not change while the same `query` object is passed.
   */
  scoreCached(a: Side, rep: BRep, query?: object): F32 {
    this.last = null;
    this.ctx.setQuery(query);
    const s = this.head.score(this.ctx, a, rep, false);
    return this.classify(s.f, s.F, rep.P);
  }

  /** training / evaluation forward from both sides; keeps what backward needs */
  forward(a: Side, b: Side): F32 {
    this.ctx.clearQuery();
    const rep = this.head.bRep(this.ctx, b);
    const s = this.head.score(this.ctx, a, rep, true);
    this.last = { a, b, f: s.f, saved: s.saved };
    return this.classify(s.f, s.F, rep.P);
  }

  private classify(f: F32, F: number, P: number): F32 {
    const logits = new Float32Array(P * this.C);
    this.ctx.K.matmul(logits, f, this.cls.w.weight, this.cls.w.bias, 1, P, this.C, F, false, true, false, DTYPE_F32);
    return logits;
  }

  /** gradients of the last forward(a, b) given dlogits [P, C]; parameter gradients accumulate */
  backward(dlogits: F32): HeadGrads {
    if (!this.last) throw new Error('PairHead.backward() needs a forward(a, b) first');
    const { a, b, f, saved } = this.last, c = this.ctx, K = c.K;
    const P = b.P, S = a.S, D = this.D, C = this.C, F = f.length / P;
    const g: HeadGrads = { dxa: new Float32Array(a.P * S * D), dxb: new Float32Array(P * b.S * D), dua: new Float32Array(a.P * D), dvb: new Float32Array(P * D) };
    K.matmul(this.cls.dw.weight, dlogits, f, null, 1, C, F, P, true, false, true, DTYPE_F32);
    K.colSumAccumulate(this.cls.dw.bias, dlogits, P, C);
    const df = new Float32Array(P * F);
    K.matmul(df, dlogits, this.cls.w.weight, null, 1, P, F, C, false, false, false, DTYPE_F32);
    this.head.backward(c, df, saved, a, b, g);
    return g;
  }
}
