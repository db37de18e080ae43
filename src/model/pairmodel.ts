/**
 * A BERT with a cacheable pair head: A and B are encoded separately by the
 * same encoder (one forward over 2P rows: A's P rows, then B's), the head
 * scores them, and backward sends the head's gradients into the encoder.
 */
import type { F32 } from '../core/kernels.js';
import { DataError } from '../data/processors.js';
import type { Features, InputBuilder } from '../tokenize/inputs.js';
import { padBatch } from '../tokenize/inputs.js';
import type { Bert, ForwardOptions } from './bert.js';
import { PairHead, type BRep, type Side } from './heads/index.js';
import type { PairInputs, TaskInputs, TaskModel, TextPair } from './taskmodel.js';

export class PairModel implements TaskModel {
  readonly head: PairHead;
  private lastP = 0;
  private lastS = 0;
  private probs: F32 | null = null;
  private dSeq = new Float32Array(0);
  private dPool = new Float32Array(0);
  private losses: F32 | null = null;

  constructor(readonly bert: Bert) {
    const h = bert.cfg.pair_head;
    if (!h) throw new Error('PairModel needs a model whose config has a pair_head');
    this.head = new PairHead(h, bert.cfg.hidden_size, bert.cfg.labels.length, bert.K, bert);
  }

  get C(): number { return this.bert.cfg.labels.length; }
  /** tokens in the last forward's batch (both sides, padded) */
  get lastTokens(): number { return 2 * this.lastP * this.lastS; }
  get sideLength(): number { return this.bert.cfg.pair_head!.side_length; }

  /** encode texts (features of single texts) padded to S (default: their longest) -> a Side */
  encode(rows: Features[], padId: number, opts: ForwardOptions & { S?: number } = {}): Side {
    const batch = padBatch(rows, padId, opts.S);
    const r = this.bert.forward(batch, { train: opts.train, seed: opts.seed, grad: opts.grad, rows: opts.rows });
    return { P: batch.B, S: batch.S, x: r.sequenceOutput, mask: batch.attentionMask, pooled: r.pooledOutput };
  }

  /** encode P pairs' two sides in one batch (A's rows, then B's) */
  sides(a: Features[], b: Features[], padId: number, opts: ForwardOptions = {}): { a: Side; b: Side } {
    const P = a.length;
    if (b.length !== P) throw new Error(`pair batch: ${P} A rows, ${b.length} B rows`);
    // dropout per example (model/dropseed.ts): pair p's side A is example 2p, its side B 2p + 1, p its place in the global batch
    const at = (i: number) => (opts.rows ? opts.rows[i]! : i);
    const rows = [...a.map((_, i) => 2 * at(i)), ...b.map((_, i) => 2 * at(i) + 1)];
    const both = this.encode([...a, ...b], padId, { ...opts, rows });
    const S = both.S, D = this.bert.cfg.hidden_size;
    const side = (k: number): Side => ({ P, S, x: both.x.subarray(k * P * S * D, (k + 1) * P * S * D), mask: both.mask.subarray(k * P * S, (k + 1) * P * S), pooled: both.pooled.subarray(k * P * D, (k + 1) * P * D) });
    this.lastP = P; this.lastS = S;
    return { a: side(0), b: side(1) };
  }

  /** each example's two sides, encoded alone */
  inputs(builder: InputBuilder, examples: readonly TextPair[], source: string): PairInputs {
    const a: Features[] = [], b: Features[] = [];
    for (const e of examples) {
      if (e.textB === undefined) throw new DataError(`${source}: example ${e.guid} has no second text; a pair head needs text pairs`);
      a.push(builder.features(e.textA));
      b.push(builder.features(e.textB));
    }
    return { a, b };
  }

  logits(x: TaskInputs, idx: readonly number[], padId: number, opts: ForwardOptions = {}): F32 {
    if (!x.b) throw new Error('a pair head reads two sides per example; these inputs have one');
    return this.forward(idx.map((i) => x.a[i]!), idx.map((i) => x.b![i]!), padId, opts);
  }

  /** forward over P pairs; returns logits [P, C] */
  forward(a: Features[], b: Features[], padId: number, opts: ForwardOptions = {}): F32 {
    const s = this.sides(a, b, padId, opts);
    return this.head.forward(s.a, s.b);
  }

  /** backward after sides(): a loss's gradients w.r.t. A's and B's pooled vectors [P, D] each (contrastive losses) */
  backwardPooled(dua: F32, dvb: F32): void {
    this.encoderBackward(null, dua, dvb);
  }

  /** the encoder's backward from the two sides' gradients (token vectors: none = zeros); buffers reused across steps */
  private encoderBackward(dx: { a: F32; b: F32 } | null, dua: F32, dvb: F32): void {
    const P = this.lastP, S = this.lastS, D = this.bert.cfg.hidden_size;
    if (this.dSeq.length < 2 * P * S * D) this.dSeq = new Float32Array(2 * P * S * D);
    if (this.dPool.length < 2 * P * D) this.dPool = new Float32Array(2 * P * D);
    const dSequence = this.dSeq.subarray(0, 2 * P * S * D), dPooled = this.dPool.subarray(0, 2 * P * D);
    if (dx) { dSequence.set(dx.a, 0); dSequence.set(dx.b, P * S * D); } else dSequence.fill(0);
    dPooled.set(dua, 0); dPooled.set(dvb, P * D);
    this.bert.backward({ dSequence, dPooled });
  }

  /** mean cross-entropy of the last forward's logits (labels -1 are ignored by the caller's choice of labels) */
  loss(logits: F32, labels: Int32Array): { loss: number; probs: F32 } {
    const P = labels.length, C = this.C;
    this.probs = new Float32Array(P * C); this.losses = new Float32Array(P);
    const loss = this.bert.K.crossEntropyForward(this.losses, this.probs, logits, labels, P, C);
    return { loss, probs: this.probs };
  }

  /** `given`: the loss's gradient w.r.t. the logits when it is not plain cross-entropy (train/loss.ts) */
  backward(labels: Int32Array, dLoss: number, given?: F32): void {
    const P = this.lastP, C = this.C, K = this.bert.K;
    const dlogits = new Float32Array(P * C);
    if (given) dlogits.set(given.subarray(0, P * C));
    else K.crossEntropyBackward(dlogits, this.probs!, labels, P, C, dLoss);
    const g = this.head.backward(dlogits);
    // A's rows then B's, as the forward batched them; buffers reused across steps
    this.encoderBackward({ a: g.dxa, b: g.dxb }, g.dua, g.dvb);
  }

  /** cacheable B representations of texts, each padded to the side length */
  bReps(rows: Features[], padId: number): BRep {
    return this.head.bRep(this.encode(rows, padId, { S: this.sideLength, grad: false }));
  }
}
