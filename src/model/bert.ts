/**
 * BERT as in the paper and Hugging Face's BertModel: embeddings (word +
 * position + token type, LayerNorm, dropout) -> post-LN encoder layers ->
 * pooler tanh(dense(h[CLS])) -> optional classifier (dropout + linear).
 *
 * Parameters live in one flat arena (params.ts) with a gradient arena of the
 * same layout; activations live in a workspace of named buffers that grow to
 * the largest batch seen and are then reused, so steady-state training
 * allocates nothing. Backward is explicit, layer by layer, in reverse order of
 * forward; every parameter gradient accumulates (+=).
 */
import { DTYPE_F32, dtypeCode, MASK_NEG, type DType, type F32, type Kernels } from '../core/kernels.js';
import { Rng } from '../core/random.js';
import { type BertConfig, geluIsTanh } from './config.js';
import { type Layout, makeLayout } from './params.js';

/** one padded batch: row-major [B, S] */
export interface Batch {
  B: number;
  S: number;
  inputIds: Int32Array;
  tokenTypeIds: Int32Array;
  /** 1 = real token, 0 = padding */
  attentionMask: Uint8Array;
}

export interface ForwardResult {
  /** [B, S, D] last hidden states (a view, valid until the next forward) */
  sequenceOutput: F32;
  /** [B, D] */
  pooledOutput: F32;
  /** [B, numLabels] when the model has a classifier */
  logits: F32 | null;
}

/** additive mask value for padded keys (google-research/bert uses -10000) */

class Workspace {
  private f = new Map<string, Float32Array>();
  private u = new Map<string, Uint8Array>();
  private i = new Map<string, Int32Array>();
  f32(name: string, n: number): Float32Array {
    let b = this.f.get(name);
    if (!b || b.length < n) { b = new Float32Array(n); this.f.set(name, b); }
    return b.subarray(0, n);
  }
  u8(name: string, n: number): Uint8Array {
    let b = this.u.get(name);
    if (!b || b.length < n) { b = new Uint8Array(n); this.u.set(name, b); }
    return b.subarray(0, n);
  }
  i32(name: string, n: number): Int32Array {
    let b = this.i.get(name);
    if (!b || b.length < n) { b = new Int32Array(n); this.i.set(name, b); }
    return b.subarray(0, n);
  }
}

export interface BertOptions {
  kernels: Kernels;
  dtype?: DType;
  /** seed for parameter initialisation */
  seed?: number;
  /** include the masked-LM head (cls.predictions) */
  mlmHead?: boolean;
  /** include the sentence-pair head (cls.seq_relationship: NSP or SOP on the pooled output) */
  nspHead?: boolean;
}

export class Bert {
  readonly cfg: BertConfig;
  readonly layout: Layout;
  readonly K: Kernels;
  readonly numLabels: number;
  /** whether the masked-LM head is present */
  readonly mlm: boolean;
  /** whether the sentence-pair head is present */
  readonly nsp: boolean;
  dtype: DType;
  readonly params: Float32Array;
  grads: Float32Array | null = null;
  /** bf16 copy of params, refreshed by syncBf16() after every parameter change */
  private paramsBf16: Uint16Array | null = null;
  private bf16Stale = true;
  private ws = new Workspace();
  private last: { batch: Batch; train: boolean; seeds: number[] } | null = null;
  private lastMlm: { positions: Int32Array; targets: Int32Array } | null = null;
  private lastNsp: Int32Array | null = null;

  constructor(cfg: BertConfig, opts: BertOptions) {
    this.cfg = cfg;
    this.numLabels = cfg.pair_head ? 0 : cfg.labels.length;
    this.mlm = opts.mlmHead ?? false;
    this.nsp = opts.nspHead ?? false;
    this.layout = makeLayout(cfg, this.numLabels, this.mlm, this.nsp);
    this.K = opts.kernels;
    this.dtype = opts.dtype ?? 'f32';
    this.params = new Float32Array(this.layout.total);
    this.initParams(opts.seed ?? 0);
  }

  /** HF's init: N(0, initializer_range) for weights and embeddings, LayerNorm 1/0, biases 0 */
  initParams(seed: number, only?: (name: string) => boolean): void {
    const rng = new Rng(seed);
    for (const s of this.layout.specs) {
      if (only && !only(s.name)) continue;
      const v = this.params.subarray(s.offset, s.offset + s.size);
      if (s.init === 'normal') for (let i = 0; i < v.length; i++) v[i] = rng.normal() * this.cfg.initializer_range;
      else v.fill(s.init === 'ones' ? 1 : 0);
    }
    this.paramsChanged();
  }

  /** call after writing into params (loading, optimizer step) */
  paramsChanged(): void {
    this.bf16Stale = true;
  }

  param(name: string): Float32Array {
    const s = this.layout.byName.get(name);
    if (!s) throw new Error(`no parameter named ${name}`);
    return this.params.subarray(s.offset, s.offset + s.size);
  }

  grad(name: string): Float32Array {
    const s = this.layout.byName.get(name);
    if (!s) throw new Error(`no parameter named ${name}`);
    return this.ensureGrads().subarray(s.offset, s.offset + s.size);
  }

  ensureGrads(): Float32Array {
    if (!this.grads) this.grads = new Float32Array(this.layout.total);
    return this.grads;
  }

  zeroGrads(): void {
    this.ensureGrads().fill(0);
  }

  private syncBf16(): void {
    if (this.dtype !== 'bf16' || !this.bf16Stale) return;
    if (!this.paramsBf16) this.paramsBf16 = new Uint16Array(this.layout.total);
    this.K.f32ToBf16(this.paramsBf16, this.params, this.layout.total);
    this.bf16Stale = false;
  }

  /** a matmul weight operand: its bf16 copy in bf16 mode, else the f32 params */
  private w(name: string): Float32Array | Uint16Array {
    const s = this.layout.byName.get(name)!;
    if (this.dtype === 'bf16') return this.paramsBf16!.subarray(s.offset, s.offset + s.size);
    return this.params.subarray(s.offset, s.offset + s.size);
  }
  /** the fused query|key|value weight [3D, D] (adjacent in the arena) */
  private wRange(first: string, count: number): Float32Array | Uint16Array {
    const s = this.layout.byName.get(first)!;
    const src = this.dtype === 'bf16' ? this.paramsBf16! : this.params;
    return src.subarray(s.offset, s.offset + s.size * count);
  }
  private pRange(first: string, count: number): Float32Array {
    const s = this.layout.byName.get(first)!;
    return this.params.subarray(s.offset, s.offset + s.size * count);
  }
  private gRange(first: string, count: number): Float32Array {
    const s = this.layout.byName.get(first)!;
    return this.grads!.subarray(s.offset, s.offset + s.size * count);
  }

  private checkBatch(b: Batch): void {
    const n = b.B * b.S;
    if (b.inputIds.length !== n || b.tokenTypeIds.length !== n || b.attentionMask.length !== n) {
      throw new Error(`batch arrays must all have B*S = ${n} elements (input_ids ${b.inputIds.length}, token_type_ids ${b.tokenTypeIds.length}, attention_mask ${b.attentionMask.length})`);
    }
    if (b.S > this.cfg.max_position_embeddings) {
      throw new Error(`sequence length ${b.S} exceeds max_position_embeddings ${this.cfg.max_position_embeddings}`);
    }
    for (let i = 0; i < n; i++) {
      const id = b.inputIds[i]!, tt = b.tokenTypeIds[i]!;
      if (id < 0 || id >= this.cfg.vocab_size) throw new Error(`input id ${id} at row ${Math.floor(i / b.S)}, position ${i % b.S} is outside the vocabulary (size ${this.cfg.vocab_size})`);
      if (tt < 0 || tt >= this.cfg.type_vocab_size) throw new Error(`token type id ${tt} at row ${Math.floor(i / b.S)}, position ${i % b.S} is outside [0, ${this.cfg.type_vocab_size})`);
    }
  }

  /**
   * Forward pass. train=true turns dropout on with masks drawn from `seed`
   * (one sub-seed per dropout site) and keeps what backward needs.
   */
  forward(batch: Batch, opts: { train?: boolean; seed?: number } = {}): ForwardResult {
    this.checkBatch(batch);
    this.syncBf16();
    const K = this.K, ws = this.ws, cfg = this.cfg;
    const train = opts.train ?? false;
    const { B, S } = batch;
    const N = B * S, D = cfg.hidden_size, H = cfg.num_attention_heads, dh = D / H, I = cfg.intermediate_size;
    const dt = dtypeCode(this.dtype);
    const pH = train ? cfg.hidden_dropout_prob : 0;
    const pA = train ? cfg.attention_probs_dropout_prob : 0;
    const rng = new Rng(opts.seed ?? 0);
    const seeds: number[] = [];
    const drop = (name: string, x: F32, p: number): F32 => {
      if (p <= 0) return x;
      const s = rng.seed();
      seeds.push(s);
      const out = ws.f32(name, x.length);
      K.dropoutForward(out, ws.u8(name + '.mask', x.length), x, x.length, p, s);
      return out;
    };

    // embeddings
    const pos = ws.i32('posIds', N);
    for (let b = 0; b < B; b++) for (let s = 0; s < S; s++) pos[b * S + s] = s;
    const emb = ws.f32('emb', N * D);
    K.embeddingForward(emb, batch.inputIds, this.param('bert.embeddings.word_embeddings.weight'), N, D, cfg.vocab_size, false);
    K.embeddingForward(emb, pos, this.param('bert.embeddings.position_embeddings.weight'), N, D, cfg.max_position_embeddings, true);
    K.embeddingForward(emb, batch.tokenTypeIds, this.param('bert.embeddings.token_type_embeddings.weight'), N, D, cfg.type_vocab_size, true);
    const embLn = ws.f32('emb.ln', N * D);
    K.layernormForward(embLn, ws.f32('emb.mean', N), ws.f32('emb.rstd', N), emb,
      this.param('bert.embeddings.LayerNorm.weight'), this.param('bert.embeddings.LayerNorm.bias'), N, D, cfg.layer_norm_eps);
    let x = drop('emb.drop', embLn, pH);

    const maskAdd = ws.f32('maskAdd', N);
    for (let i = 0; i < N; i++) maskAdd[i] = batch.attentionMask[i] ? 0 : MASK_NEG;
    const scale = 1 / Math.sqrt(dh);
    const tanh = geluIsTanh(cfg.hidden_act);

    for (let l = 0; l < cfg.num_hidden_layers; l++) {
      const p = `bert.encoder.layer.${l}.`, a = `l${l}.`;
      const qkv = ws.f32(a + 'qkv', N * 3 * D);
      K.matmul(qkv, x, this.wRange(p + 'attention.self.query.weight', 3), this.pRange(p + 'attention.self.query.bias', 3),
        1, N, 3 * D, D, false, true, false, dt);
      const q = ws.f32(a + 'q', N * D), k = ws.f32(a + 'k', N * D), v = ws.f32(a + 'v', N * D);
      K.splitHeads(q, k, v, qkv, B, S, H, dh);
      const scores = ws.f32('scores', B * H * S * S);
      K.matmul(scores, q, k, null, B * H, S, S, dh, false, true, false, dt);
      const P = ws.f32(a + 'P', B * H * S * S);
      K.attnSoftmaxForward(P, scores, maskAdd, B, H, S, scale);
      const Pd = drop(a + 'Pd', P, pA);
      const ctxh = ws.f32('ctxh', N * D);
      K.matmul(ctxh, Pd, v, null, B * H, S, dh, S, false, false, false, dt);
      const ctx = ws.f32(a + 'ctx', N * D);
      K.headsToRows(ctx, ctxh, B, S, H, dh);
      const ao = ws.f32(a + 'ao', N * D);
      K.matmul(ao, ctx, this.w(p + 'attention.output.dense.weight'), this.param(p + 'attention.output.dense.bias'),
        1, N, D, D, false, true, false, dt);
      const aod = drop(a + 'aod', ao, pH);
      const r1 = ws.f32(a + 'r1', N * D);
      K.addForward(r1, aod, x, N * D);
      const h1 = ws.f32(a + 'h1', N * D);
      K.layernormForward(h1, ws.f32(a + 'mean1', N), ws.f32(a + 'rstd1', N), r1,
        this.param(p + 'attention.output.LayerNorm.weight'), this.param(p + 'attention.output.LayerNorm.bias'), N, D, cfg.layer_norm_eps);
      const inter = ws.f32(a + 'inter', N * I);
      K.matmul(inter, h1, this.w(p + 'intermediate.dense.weight'), this.param(p + 'intermediate.dense.bias'),
        1, N, I, D, false, true, false, dt);
      const g = ws.f32(a + 'gelu', N * I);
      K.geluForward(g, inter, N * I, tanh);
      const o = ws.f32(a + 'o', N * D);
      K.matmul(o, g, this.w(p + 'output.dense.weight'), this.param(p + 'output.dense.bias'), 1, N, D, I, false, true, false, dt);
      const od = drop(a + 'od', o, pH);
      const r2 = ws.f32(a + 'r2', N * D);
      K.addForward(r2, od, h1, N * D);
      const out = ws.f32(a + 'out', N * D);
      K.layernormForward(out, ws.f32(a + 'mean2', N), ws.f32(a + 'rstd2', N), r2,
        this.param(p + 'output.LayerNorm.weight'), this.param(p + 'output.LayerNorm.bias'), N, D, cfg.layer_norm_eps);
      x = out;
    }

    // pooler over the [CLS] rows (tiny: always f32)
    const cls = ws.f32('cls', B * D);
    for (let b = 0; b < B; b++) cls.set(x.subarray(b * S * D, b * S * D + D), b * D);
    const pre = ws.f32('pooler.pre', B * D);
    K.matmul(pre, cls, this.param('bert.pooler.dense.weight'), this.param('bert.pooler.dense.bias'), 1, B, D, D, false, true, false, DTYPE_F32);
    const pooled = ws.f32('pooled', B * D);
    K.tanhForward(pooled, pre, B * D);

    let logits: F32 | null = null;
    if (this.numLabels > 0) {
      const pd = drop('pooled.drop', pooled, pH);
      logits = ws.f32('logits', B * this.numLabels);
      K.matmul(logits, pd, this.param('classifier.weight'), this.param('classifier.bias'), 1, B, this.numLabels, D, false, true, false, DTYPE_F32);
    }
    this.last = { batch, train, seeds };
    this.lastMlm = null;
    this.lastNsp = null;
    return { sequenceOutput: x, pooledOutput: pooled, logits };
  }

  /** mean cross-entropy of the last forward's logits; keeps probs for backward */
  loss(labels: Int32Array): { loss: number; probs: F32 } {
    if (!this.last) throw new Error('loss() needs a forward() first');
    if (this.numLabels === 0) throw new Error('this model has no classifier head');
    const B = this.last.batch.B, C = this.numLabels;
    if (labels.length !== B) throw new Error(`labels has ${labels.length} entries for a batch of ${B}`);
    const probs = this.ws.f32('probs', B * C);
    const loss = this.K.crossEntropyForward(this.ws.f32('losses', B), probs, this.ws.f32('logits', B * C), labels, B, C);
    return { loss, probs };
  }

  /**
   * Backward of the last forward. Gradients flow from any of: the classifier
   * loss (labels given, after loss()), dPooled [B, D] and dSequence [B, S, D]
   * supplied by another head. Parameter gradients accumulate into grads.
   */
  backward(opts: { labels?: Int32Array; dLoss?: number; dPooled?: F32; dSequence?: F32 } = {}): void {
    if (!this.last) throw new Error('backward() needs a forward() first');
    this.ensureGrads();
    const K = this.K, ws = this.ws, cfg = this.cfg;
    const { batch, train } = this.last;
    const { B, S } = batch;
    const N = B * S, D = cfg.hidden_size, H = cfg.num_attention_heads, dh = D / H, I = cfg.intermediate_size;
    const dt = dtypeCode(this.dtype);
    const pH = train ? cfg.hidden_dropout_prob : 0;
    const pA = train ? cfg.attention_probs_dropout_prob : 0;
    const scale = 1 / Math.sqrt(dh);
    const tanh = geluIsTanh(cfg.hidden_act);
    const dropB = (name: string, d: F32, p: number): F32 => {
      if (p <= 0) return d;
      const out = ws.f32(name + '.d', d.length);
      K.dropoutBackward(out, d, ws.u8(name + '.mask', d.length), d.length, p);
      return out;
    };

    const dPooled = ws.f32('d.pooled', B * D);
    if (opts.dPooled) dPooled.set(opts.dPooled.subarray(0, B * D)); else dPooled.fill(0);
    if (opts.labels) {
      if (this.numLabels === 0) throw new Error('this model has no classifier head');
      const C = this.numLabels;
      const dLogits = ws.f32('d.logits', B * C);
      K.crossEntropyBackward(dLogits, ws.f32('probs', B * C), opts.labels, B, C, opts.dLoss ?? 1);
      const pd = pH > 0 ? ws.f32('pooled.drop', B * D) : ws.f32('pooled', B * D);
      K.matmul(this.grad('classifier.weight'), dLogits, pd, null, 1, C, D, B, true, false, true, DTYPE_F32);
      K.colSumAccumulate(this.grad('classifier.bias'), dLogits, B, C);
      const dpd = ws.f32('d.pd', B * D);
      K.matmul(dpd, dLogits, this.param('classifier.weight'), null, 1, B, D, C, false, false, false, DTYPE_F32);
      K.accumulate(dPooled, dropB('pooled.drop', dpd, pH), B * D);
    }
    // pooler
    const dPre = ws.f32('d.pre', B * D);
    K.tanhBackward(dPre, ws.f32('pooled', B * D), dPooled, B * D);
    K.matmul(this.grad('bert.pooler.dense.weight'), dPre, ws.f32('cls', B * D), null, 1, D, D, B, true, false, true, DTYPE_F32);
    K.colSumAccumulate(this.grad('bert.pooler.dense.bias'), dPre, B, D);
    const dCls = ws.f32('d.cls', B * D);
    K.matmul(dCls, dPre, this.param('bert.pooler.dense.weight'), null, 1, B, D, D, false, false, false, DTYPE_F32);

    // gradients w.r.t. layer outputs ping-pong between two buffers
    let cur = 0;
    let dX = ws.f32('d.x0', N * D);
    if (opts.dSequence) dX.set(opts.dSequence.subarray(0, N * D)); else dX.fill(0);
    for (let b = 0; b < B; b++) {
      const row = dX.subarray(b * S * D, b * S * D + D);
      K.accumulate(row, dCls.subarray(b * D, b * D + D), D);
    }

    for (let l = cfg.num_hidden_layers - 1; l >= 0; l--) {
      const p = `bert.encoder.layer.${l}.`, a = `l${l}.`;
      const inp = l === 0 ? (pH > 0 ? ws.f32('emb.drop', N * D) : ws.f32('emb.ln', N * D)) : ws.f32(`l${l - 1}.out`, N * D);
      // out = LN2(r2), r2 = drop(o) + h1
      const dR2 = ws.f32('d.r2', N * D);
      K.layernormBackward(dR2, this.grad(p + 'output.LayerNorm.weight'), this.grad(p + 'output.LayerNorm.bias'), dX,
        ws.f32(a + 'r2', N * D), this.param(p + 'output.LayerNorm.weight'), ws.f32(a + 'mean2', N), ws.f32(a + 'rstd2', N), N, D);
      const dO = dropB(a + 'od', dR2, pH);
      const g = ws.f32(a + 'gelu', N * I);
      K.matmul(this.grad(p + 'output.dense.weight'), dO, g, null, 1, D, I, N, true, false, true, dt);
      K.colSumAccumulate(this.grad(p + 'output.dense.bias'), dO, N, D);
      const dG = ws.f32('d.gelu', N * I);
      K.matmul(dG, dO, this.w(p + 'output.dense.weight'), null, 1, N, I, D, false, false, false, dt);
      const dInter = ws.f32('d.inter', N * I);
      K.geluBackward(dInter, ws.f32(a + 'inter', N * I), dG, N * I, tanh);
      const h1 = ws.f32(a + 'h1', N * D);
      K.matmul(this.grad(p + 'intermediate.dense.weight'), dInter, h1, null, 1, I, D, N, true, false, true, dt);
      K.colSumAccumulate(this.grad(p + 'intermediate.dense.bias'), dInter, N, I);
      const dH1 = ws.f32('d.h1', N * D);
      K.matmul(dH1, dInter, this.w(p + 'intermediate.dense.weight'), null, 1, N, D, I, false, false, false, dt);
      K.accumulate(dH1, dR2, N * D);
      // h1 = LN1(r1), r1 = drop(ao) + inp
      const dR1 = ws.f32('d.r1', N * D);
      K.layernormBackward(dR1, this.grad(p + 'attention.output.LayerNorm.weight'), this.grad(p + 'attention.output.LayerNorm.bias'), dH1,
        ws.f32(a + 'r1', N * D), this.param(p + 'attention.output.LayerNorm.weight'), ws.f32(a + 'mean1', N), ws.f32(a + 'rstd1', N), N, D);
      const dAo = dropB(a + 'aod', dR1, pH);
      K.matmul(this.grad(p + 'attention.output.dense.weight'), dAo, ws.f32(a + 'ctx', N * D), null, 1, D, D, N, true, false, true, dt);
      K.colSumAccumulate(this.grad(p + 'attention.output.dense.bias'), dAo, N, D);
      const dCtx = ws.f32('d.ctx', N * D);
      K.matmul(dCtx, dAo, this.w(p + 'attention.output.dense.weight'), null, 1, N, D, D, false, false, false, dt);
      const dCtxh = ws.f32('d.ctxh', N * D);
      K.rowsToHeads(dCtxh, dCtx, B, S, H, dh);
      // ctxh = Pd . v
      const P = ws.f32(a + 'P', B * H * S * S);
      const Pd = pA > 0 ? ws.f32(a + 'Pd', B * H * S * S) : P;
      const v = ws.f32(a + 'v', N * D), q = ws.f32(a + 'q', N * D), k = ws.f32(a + 'k', N * D);
      const dPd = ws.f32('d.Pd', B * H * S * S);
      K.matmul(dPd, dCtxh, v, null, B * H, S, S, dh, false, true, false, dt);
      const dV = ws.f32('d.v', N * D);
      K.matmul(dV, Pd, dCtxh, null, B * H, S, dh, S, true, false, false, dt);
      const dP = dropB(a + 'Pd', dPd, pA);
      const dScores = ws.f32('d.scores', B * H * S * S);
      K.attnSoftmaxBackward(dScores, dP, P, B * H * S, S, scale);
      const dQ = ws.f32('d.q', N * D), dK = ws.f32('d.k', N * D);
      K.matmul(dQ, dScores, k, null, B * H, S, dh, S, false, false, false, dt);
      K.matmul(dK, dScores, q, null, B * H, S, dh, S, true, false, false, dt);
      const dQkv = ws.f32('d.qkv', N * 3 * D);
      K.mergeHeads3(dQkv, dQ, dK, dV, B, S, H, dh);
      K.matmul(this.gRange(p + 'attention.self.query.weight', 3), dQkv, inp, null, 1, 3 * D, D, N, true, false, true, dt);
      K.colSumAccumulate(this.gRange(p + 'attention.self.query.bias', 3), dQkv, N, 3 * D);
      cur = 1 - cur;
      const dIn = ws.f32(`d.x${cur}`, N * D);
      K.matmul(dIn, dQkv, this.wRange(p + 'attention.self.query.weight', 3), null, 1, N, D, 3 * D, false, false, false, dt);
      K.accumulate(dIn, dR1, N * D);
      dX = dIn;
    }

    // embeddings
    const dEmbLn = dropB('emb.drop', dX, pH);
    const dEmb = ws.f32('d.emb', N * D);
    K.layernormBackward(dEmb, this.grad('bert.embeddings.LayerNorm.weight'), this.grad('bert.embeddings.LayerNorm.bias'), dEmbLn,
      ws.f32('emb', N * D), this.param('bert.embeddings.LayerNorm.weight'), ws.f32('emb.mean', N), ws.f32('emb.rstd', N), N, D);
    K.embeddingBackward(this.grad('bert.embeddings.word_embeddings.weight'), dEmb, batch.inputIds, N, D, cfg.vocab_size);
    K.embeddingBackward(this.grad('bert.embeddings.position_embeddings.weight'), dEmb, ws.i32('posIds', N), N, D, cfg.max_position_embeddings);
    K.embeddingBackward(this.grad('bert.embeddings.token_type_embeddings.weight'), dEmb, batch.tokenTypeIds, N, D, cfg.type_vocab_size);
  }

  /**
   * Masked-LM loss of the last forward over the given flat positions
   * (b * S + s) with their target ids: h = LayerNorm(act(dense(x))),
   * logits = h . word_embeddings^T + bias (the decoder is tied to the
   * embeddings, as in BERT). Keeps what mlmBackward needs.
   */
  mlmLoss(positions: Int32Array, targets: Int32Array): { loss: number; accuracy: number } {
    if (!this.mlm) throw new Error('this model has no masked-LM head (construct it with mlmHead: true)');
    if (!this.last) throw new Error('mlmLoss() needs a forward() first');
    if (positions.length !== targets.length) throw new Error(`${positions.length} positions for ${targets.length} targets`);
    const K = this.K, ws = this.ws, cfg = this.cfg;
    const M = positions.length, D = cfg.hidden_size, V = cfg.vocab_size, N = this.last.batch.B * this.last.batch.S;
    const L = cfg.num_hidden_layers;
    const seq = ws.f32(`l${L - 1}.out`, N * D);
    const x = ws.f32('mlm.x', M * D);
    positions.forEach((p, i) => {
      if (p < 0 || p >= N) throw new Error(`masked position ${p} is outside the batch (${N} tokens)`);
      x.set(seq.subarray(p * D, p * D + D), i * D);
    });
    const pre = ws.f32('mlm.pre', M * D);
    K.matmul(pre, x, this.param('cls.predictions.transform.dense.weight'), this.param('cls.predictions.transform.dense.bias'), 1, M, D, D, false, true, false, DTYPE_F32);
    const act = ws.f32('mlm.act', M * D);
    K.geluForward(act, pre, M * D, geluIsTanh(cfg.hidden_act));
    const h = ws.f32('mlm.h', M * D);
    K.layernormForward(h, ws.f32('mlm.mean', M), ws.f32('mlm.rstd', M), act,
      this.param('cls.predictions.transform.LayerNorm.weight'), this.param('cls.predictions.transform.LayerNorm.bias'), M, D, cfg.layer_norm_eps);
    const logits = ws.f32('mlm.logits', M * V);
    K.matmul(logits, h, this.w('bert.embeddings.word_embeddings.weight'), this.param('cls.predictions.bias'), 1, M, V, D, false, true, false, dtypeCode(this.dtype));
    const probs = ws.f32('mlm.probs', M * V);
    const loss = K.crossEntropyForward(ws.f32('mlm.losses', M), probs, logits, targets, M, V);
    let correct = 0, counted = 0;
    for (let i = 0; i < M; i++) {
      if (targets[i]! < 0) continue;
      counted++;
      let best = 0;
      for (let v = 1; v < V; v++) if (logits[i * V + v]! > logits[i * V + best]!) best = v;
      if (best === targets[i]) correct++;
    }
    this.lastMlm = { positions, targets };
    return { loss, accuracy: counted ? correct / counted : 0 };
  }

  /**
   * Sentence-pair loss of the last forward (NSP or SOP): logits = pooled ·
   * cls.seq_relationshipᵀ + bias, no dropout on the pooled output (as
   * google-research/bert's get_next_sentence_output); mean cross-entropy.
   */
  nspLoss(labels: Int32Array): { loss: number; accuracy: number } {
    if (!this.nsp) throw new Error('this model has no sentence-pair head (construct it with nspHead: true)');
    if (!this.last) throw new Error('nspLoss() needs a forward() first');
    const B = this.last.batch.B, D = this.cfg.hidden_size, ws = this.ws;
    if (labels.length !== B) throw new Error(`labels has ${labels.length} entries for a batch of ${B}`);
    const logits = ws.f32('nsp.logits', B * 2);
    this.K.matmul(logits, ws.f32('pooled', B * D), this.param('cls.seq_relationship.weight'), this.param('cls.seq_relationship.bias'), 1, B, 2, D, false, true, false, DTYPE_F32);
    const loss = this.K.crossEntropyForward(ws.f32('nsp.losses', B), ws.f32('nsp.probs', B * 2), logits, labels, B, 2);
    let correct = 0;
    for (let b = 0; b < B; b++) if ((logits[2 * b + 1]! > logits[2 * b]! ? 1 : 0) === labels[b]) correct++;
    this.lastNsp = labels;
    return { loss, accuracy: correct / B };
  }

  /**
   * P(IsNext), P(NotNext) for each row of the last forward, from the
   * sentence-pair head (HF BertForNextSentencePrediction: class 0 means B
   * follows A). Inference only: nothing is kept for a backward.
   */
  nspProbs(): Float32Array {
    if (!this.last) throw new Error('nspProbs() needs a forward() first');
    this.nspLoss(new Int32Array(this.last.batch.B));
    this.lastNsp = null;
    return this.ws.f32('nsp.probs', this.last.batch.B * 2).slice();
  }

  /** backward of mlmLoss (+ nspLoss when it ran after the same forward) through the heads into the encoder */
  pretrainBackward(dLoss = 1): void {
    const dSeq = this.mlmSequenceGrad(dLoss);
    let dPooled: F32 | undefined;
    if (this.lastNsp) {
      const B = this.last!.batch.B, D = this.cfg.hidden_size, ws = this.ws, K = this.K;
      const dLogits = ws.f32('nsp.dlogits', B * 2);
      K.crossEntropyBackward(dLogits, ws.f32('nsp.probs', B * 2), this.lastNsp, B, 2, dLoss);
      K.matmul(this.grad('cls.seq_relationship.weight'), dLogits, ws.f32('pooled', B * D), null, 1, 2, D, B, true, false, true, DTYPE_F32);
      K.colSumAccumulate(this.grad('cls.seq_relationship.bias'), dLogits, B, 2);
      dPooled = ws.f32('nsp.dpooled', B * D);
      K.matmul(dPooled, dLogits, this.param('cls.seq_relationship.weight'), null, 1, B, D, 2, false, false, false, DTYPE_F32);
      this.lastNsp = null;
    }
    this.backward({ dSequence: dSeq, dPooled });
  }

  /** backward of mlmLoss through the head into the encoder (then the usual backward) */
  mlmBackward(dLoss = 1): void {
    this.backward({ dSequence: this.mlmSequenceGrad(dLoss) });
  }

  /** the MLM head's backward: parameter gradients accumulate; returns d(sequence output) [B·S, D] */
  private mlmSequenceGrad(dLoss: number): F32 {
    if (!this.lastMlm || !this.last) throw new Error('mlmBackward() needs mlmLoss() first');
    this.ensureGrads();
    const K = this.K, ws = this.ws, cfg = this.cfg;
    const { positions, targets } = this.lastMlm;
    const M = positions.length, D = cfg.hidden_size, V = cfg.vocab_size, N = this.last.batch.B * this.last.batch.S;
    const dLogits = ws.f32('mlm.dlogits', M * V);
    K.crossEntropyBackward(dLogits, ws.f32('mlm.probs', M * V), targets, M, V, dLoss);
    const h = ws.f32('mlm.h', M * D);
    // the tied decoder: its gradient joins the word-embedding gradient
    K.matmul(this.grad('bert.embeddings.word_embeddings.weight'), dLogits, h, null, 1, V, D, M, true, false, true, dtypeCode(this.dtype));
    K.colSumAccumulate(this.grad('cls.predictions.bias'), dLogits, M, V);
    const dH = ws.f32('mlm.dh', M * D);
    K.matmul(dH, dLogits, this.w('bert.embeddings.word_embeddings.weight'), null, 1, M, D, V, false, false, false, dtypeCode(this.dtype));
    const dAct = ws.f32('mlm.dact', M * D);
    K.layernormBackward(dAct, this.grad('cls.predictions.transform.LayerNorm.weight'), this.grad('cls.predictions.transform.LayerNorm.bias'), dH,
      ws.f32('mlm.act', M * D), this.param('cls.predictions.transform.LayerNorm.weight'), ws.f32('mlm.mean', M), ws.f32('mlm.rstd', M), M, D);
    const dPre = ws.f32('mlm.dpre', M * D);
    K.geluBackward(dPre, ws.f32('mlm.pre', M * D), dAct, M * D, geluIsTanh(cfg.hidden_act));
    K.matmul(this.grad('cls.predictions.transform.dense.weight'), dPre, ws.f32('mlm.x', M * D), null, 1, D, D, M, true, false, true, DTYPE_F32);
    K.colSumAccumulate(this.grad('cls.predictions.transform.dense.bias'), dPre, M, D);
    const dX = ws.f32('mlm.dx', M * D);
    K.matmul(dX, dPre, this.param('cls.predictions.transform.dense.weight'), null, 1, M, D, D, false, false, false, DTYPE_F32);
    const dSeq = ws.f32('mlm.dseq', N * D);
    dSeq.fill(0);
    positions.forEach((p, i) => K.accumulate(dSeq.subarray(p * D, p * D + D), dX.subarray(i * D, i * D + D), D));
    return dSeq;
  }
}
