/**
 * What every cacheable pair head shares: its configuration, the two sides it
 * reads, B's cacheable representation, and the interface one head implements
 * (one file per head in this folder; index.ts is the registry).
 */
import type { F32 } from '../../core/kernels.js';
import type { HeadContext } from './context.js';

/** what a pair head reads of the encoder's config (EncoderDims has it): heads do not depend on the config module */
export interface EncoderDims { readonly hidden_size: number }

/** a head's shape settings; the registry's PairHeadConfig adds the head's name */
export interface HeadShape {
  /** projection / attention size (additive, lowrank, late) */
  dim: number;
  /** poly's code count */
  codes: number;
  /** tokens per side ([CLS] text [SEP]), each text encoded alone */
  side_length: number;
}

import type { Spec } from '../spec.js';

export type { Spec };

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

/** gradients into the encoder: token vectors and pooled vectors of each side */
export interface HeadGrads { dxa: F32; dxb: F32; dua: F32; dvb: F32 }

/** a score for logits [P, C]: the classifier's features, and what this head's backward needs */
export interface Scored<T> { f: F32; F: number; saved: T }

/**
 * One head. `T` is what its forward keeps for its backward (typed per head); `R` names its parameters: `params`
 * declares each under a role (HF-style name, shape, init, decay), and the head reads them as `c.w[role]` and writes
 * their gradients into `c.dw[role]` (HeadContext resolves each role to its place in the model's arena once).
 * bRep depends on B alone (cacheable); score runs A against a BRep, with
 * `keep` true when training (nothing reused across calls, everything saved);
 * backward gets d(features) and writes the encoder gradients.
 */
export interface Head<T, R extends string = string> {
  /** the projection size (additive, lowrank, late) and code count (poly) when none is given; 0 where unused */
  defaultDim: number;
  defaultCodes: number;
  /** the head's parameters besides head.classifier.* (C = number of labels), by role; and the classifier's input width */
  params(cfg: EncoderDims, h: HeadShape): Record<R, Spec>;
  features(D: number, h: HeadShape): number;
  /** width of one cached row, and whether rows are per token (else one per text) */
  repWidth(D: number, h: HeadShape): number;
  /** of that width, how much is BRep.aux (stored after the entry's data rows in a cache file); 0 for none */
  auxWidth(h: HeadShape): number;
  perToken: boolean;
  /** whether scoring against a cache runs its big matmuls in bf16 when the model does (the cache then keeps a bf16 copy) */
  bf16Scoring: boolean;
  /** whether a LanceDB index can key its B side: retrieve-then-rerank (src/cache/retrieve.ts) works for it */
  retrievable: boolean;
  /** whether `compare` trains it when --heads is not given */
  inCompareByDefault: boolean;
  /** for pair_head.json (export): what it reads of the encoder's outputs, and how it scores */
  reads: string;
  scores: string;
  bRep(c: HeadContext<R>, b: Side): BRep;
  score(c: HeadContext<R>, a: Side, rep: BRep, keep: boolean): Scored<T>;
  backward(c: HeadContext<R>, df: F32, saved: T, a: Side, b: Side, g: HeadGrads): void;
}
