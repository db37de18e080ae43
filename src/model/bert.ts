/**
 * BERT as in the paper and Hugging Face's BertModel: embeddings (word +
 * position + token type, LayerNorm, dropout) -> post-LN encoder layers ->
 * pooler tanh(dense(h[CLS])) -> optional classifier (dropout + linear).
 * Its relatives run through the same code from their declarations
 * (families/): RoBERTa's positions after padding_idx and its head's dropout,
 * dense and tanh on <s>; DistilBERT without token types, with ReLU in its head;
 * ELECTRA's narrower embeddings projected to hidden_size and GELU in its head.
 *
 * Parameters live in one flat arena (params.ts) with a gradient arena of the
 * same layout; activations live in a workspace of named buffers that grow to
 * the largest batch seen and are then reused, so steady-state training
 * allocates nothing. Backward is explicit, layer by layer, in reverse order of
 * forward; every parameter gradient accumulates (+=).
 */
import { DTYPE_BF16, DTYPE_F32, DTYPE_INT8, dtypeCode, MASK_NEG, type DType, type F32, type Kernels } from '../core/kernels.js';
import { Rng } from '../core/random.js';
import { JaBertError, registerError } from '../core/errors.js';
import { totalmem } from 'node:os';
import { type BertConfig, geluIsTanh, maxSequenceLength } from './config.js';
import { familyOf, type FamilyDecl } from './families/index.js';
import { relativeIndex } from './families/deberta.js';
import { modernLayerKind, ropeInvFreq } from './families/modernbert.js';
import { type Layout, makeLayout } from './params.js';
import { linear, linearBackward } from './linear.js';
import { classifierHead, mlmHead, nspHead, rtdHead, type MlmSaved, type PooledIn, type RtdSaved, type TaskContext } from './heads/task.js';
import type { Batch } from '../tokenize/inputs.js';
import { type DropSite, type LayerAct, Workspace } from './workspace.js';
import { type DropRows, eachDropRun } from './dropseed.js';

export type { Batch } from '../tokenize/inputs.js';

export interface ForwardResult {
  /** [B, S, D] last hidden states (a view, valid until the next forward) */
  sequenceOutput: F32;
  /** [B, D] */
  pooledOutput: F32;
  /** [B, numLabels] when the model has a classifier */
  logits: F32 | null;
}

/** what one encoder layer's forward keeps for its backward */
type LayerActs = Record<Exclude<LayerAct, 'aod' | 'od'>, F32>;
/** the activations of the last forward, typed: backward reads these, never a buffer by name */
interface Acts {
  emb: F32; embLn: F32; embMean: F32; embRstd: F32;
  /** the embeddings after LayerNorm and dropout (the projection's input where the family projects them) */
  embOut: F32;
  /** the encoder's input (embOut, or its projection to hidden_size) */
  x0: F32;
  layers: LayerActs[];
  /** the first token's rows; clsIn: after the head's dropout where the family has one; pre: the pooler's dense output */
  cls: F32; clsIn: F32; pre: F32; pooled: F32;
  /** the classifier's input (pooled after dropout) and output */
  pd: F32; logits: F32 | null;
  /** ModernBERT: final_norm's output and statistics; the head's activation (its norm's input) and the norm's statistics */
  final: F32; finalMean: F32; finalRstd: F32; headAct: F32; headMean: F32; headRstd: F32;
  /** ModernBERT: the sequence output [B·S, D] (final_norm's rows, re-padded where the forward ran unpadded): what the masked-LM head reads */
  seqOut: F32;
  /** DeBERTa's relative positions in this forward */
  rel: RelActs | null;
}

/** a LayerNorm's weight and (where the config has one) bias */
interface NormRef { w: Ref; b: Ref | null }
/** ModernBERT's parameters (families/modernbert.ts), by role; `local`: a sliding-window layer; `theta`: its rotary base */
interface ModernLayerRefs {
  an: NormRef | null; qkvW: Ref; qkvB: Ref | null; woW: Ref; woB: Ref | null; mn: NormRef; wiW: Ref; wiB: Ref | null; mwW: Ref; mwB: Ref | null;
  local: boolean; theta: number;
}
interface ModernRefs { word: Ref; emb: NormRef; layers: ModernLayerRefs[]; final: NormRef; headW: Ref; headB: Ref | null; headN: NormRef }

/** a parameter's place in the arenas (a run of `count` adjacent parameters for the fused q|k|v) */
interface Ref { offset: number; size: number }
interface LayerRefs {
  qkvW: Ref; qkvB: Ref; aoW: Ref; aoB: Ref; ln1W: Ref; ln1B: Ref; interW: Ref; interB: Ref; outW: Ref; outB: Ref; ln2W: Ref; ln2B: Ref;
  /** DeBERTa's own position key and query projections (share_att_key false) */
  posK: { w: Ref; b: Ref } | null; posQ: { w: Ref; b: Ref } | null;
}
/** DeBERTa's relative positions (families/deberta.ts): the table, its LayerNorm, which terms, whether the layers' key_proj and query_proj project it */
interface RelRefs { emb: Ref; lnW: Ref | null; lnB: Ref | null; c2p: boolean; p2c: boolean; share: boolean }
/** what a DeBERTa forward keeps of its relative positions: the index table [S, S] into rows lo … lo + R − 1 of the table, those rows after the LayerNorm */
interface RelActs { idx: Int32Array; lo: number; R: number; x: F32 }
/** every parameter bert.ts uses, looked up by name once, at construction */
interface Refs {
  word: Ref; pos: Ref | null; type: Ref | null; embLnW: Ref; embLnB: Ref; projW: Ref | null; projB: Ref | null; poolW: Ref; poolB: Ref; layers: LayerRefs[];
  rel: RelRefs | null;
}

/** inference on sequences longer than this runs ModernBERT's attention blocked (attnBlocked); shorter ones are faster materialised
 *  (measured on AVX-512 bf16: at 2,048 tokens the materialised softmax · v runs at about 230 GFLOP/s, the f32 tiles at about 38) */
export const BLOCKED_FROM = 1024;
/** training on sequences longer than this (without attention dropout) runs ModernBERT's attention blocked both ways (attnBlocked saving
 *  each row's log-sum-exp, attnBlockedBackward recomputing the probabilities), so that no layer keeps heads · S² probabilities. Below
 *  it the materialised attention is faster (docs/PERF.md: blocked 0.63× at 2,048 tokens) and its memory moderate */
export const BLOCKED_TRAIN_FROM = 2048;
/** ...unless the probabilities every layer would keep for the batch exceed this many bytes: then every sequence past 128 tokens trains blocked */
export const ATTN_MEMORY_BUDGET = 4 * 2 ** 30;

export interface ForwardOptions {
  /** dropout on, with masks drawn from `seed` */
  train?: boolean;
  seed?: number;
  /** each batch row's position in the global batch (a data-parallel shard's rows; default 0 … B−1): dropout masks are drawn per example from it */
  rows?: ArrayLike<number>;
  /** keep what backward reads (default true); false (inference only): ModernBERT's attention then runs blocked, never holding an S×S matrix */
  grad?: boolean;
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
  /** include ELECTRA's replaced-token detection head (discriminator_predictions) */
  rtdHead?: boolean;
}

/** an input the model cannot take (an id outside its vocabulary, a token type outside its type vocabulary) */
export class ModelInputError extends JaBertError { override readonly code = 'ERR_JA_BERT_MODEL_INPUT'; }
registerError(ModelInputError);

/** the largest dense weight (elements) inference packs: a second copy of a masked-LM decoder tied to a 250,002-row embedding
 *  (XLM-R: 192 M values, 768 MB in f32) would cost more memory than its speed is worth; BERT-base's largest layer is 2.4 M */
export const PACK_MAX_WEIGHTS = 2 ** 25;

/** the one line for training asked of an int8 model */
export const INT8_TRAINING = 'dtype int8 is for inference (predict, encode, serve, rank, cache build, the baseline, bench infer); train in auto, f32 or bf16';

export class Bert {
  readonly cfg: BertConfig;
  /** the family's declaration (names, positions, head) */
  readonly family: FamilyDecl;
  readonly layout: Layout;
  readonly K: Kernels;
  readonly numLabels: number;
  /** whether the masked-LM head is present */
  readonly mlm: boolean;
  /** whether the sentence-pair head is present */
  readonly nsp: boolean;
  /** whether the replaced-token detection head is present */
  readonly rtd: boolean;
  dtype: DType;
  readonly params: Float32Array;
  grads: Float32Array | null = null;
  /** bf16 copy of params, refreshed by syncBf16() after every parameter change */
  private paramsBf16: Uint16Array | null = null;
  private bf16Stale = true;
  /** int8 inference: each dense weight quantised per output channel on its first use, by its offset in the arena (paramsChanged clears them) */
  private readonly int8 = new Map<number, { q: Int8Array; scale: F32; packed: Int8Array }>();
  /** inference forwards (grad: false): each dense weight packed once per dtype in the engine's blocked layout (empty where that does
   *  not pay), by its offset in the arena and the dtype; paramsChanged clears them */
  private readonly dense = new Map<number, Uint8Array>();
  private ws = new Workspace();
  private last: { batch: Batch; train: boolean; seeds: number[]; acts: Acts } | null = null;
  /** one Acts object for the model's life, its fields pointed at this forward's buffers */
  private readonly acts: Acts;
  private lastMlm: { targets: Int32Array; probs: F32; saved: MlmSaved } | null = null;
  private lastNsp: { labels: Int32Array; probs: F32; saved: PooledIn & { C: number } } | null = null;
  private lastCls: (PooledIn & { C: number }) | null = null;
  private lastRtd: RtdSaved | null = null;
  /** what the task heads compute with: this model's kernels, parameters, workspace */
  private readonly tc: TaskContext;
  /** BERT's post-LN encoder (and its relatives'): null for ModernBERT */
  private readonly R: Refs | null;
  /** ModernBERT's pre-norm encoder: null for the others */
  private readonly MR: ModernRefs | null;
  /** the attention scores' divisor is sqrt(head_dim · scaleFactor): 1, or DeBERTa's 1 + its relative terms */
  private readonly scaleFactor: number;
  /** DeBERTa's relative index tables by length (the last few lengths seen) */
  private readonly relTables = new Map<number, { idx: Int32Array; lo: number; R: number }>();
  /** rotary cos/sin tables [S, dh/2] by theta and length, made once per length seen */
  private readonly ropeTables = new Map<string, { cos: F32; sin: F32 }>();

  constructor(cfg: BertConfig, opts: BertOptions) {
    this.cfg = cfg;
    this.numLabels = cfg.pair_head ? 0 : cfg.labels.length;
    this.mlm = opts.mlmHead ?? false;
    this.nsp = opts.nspHead ?? false;
    this.rtd = opts.rtdHead ?? false;
    this.family = familyOf(cfg);
    this.scaleFactor = 1 + (cfg.deberta?.pos_att_type.length ?? 0);
    const type = cfg.model_type ?? 'bert';
    if (this.mlm && !this.family.mlm) throw new ModelInputError(`ja-bert has no masked-LM head for ${type} (BERT, ELECTRA, DeBERTa-v2 and ModernBERT have one)`);
    if (this.nsp && !this.family.nsp) throw new ModelInputError(`the next-sentence head is BERT's; this model is ${type}`);
    if (this.rtd && !this.family.rtd) throw new ModelInputError(`replaced-token detection is ELECTRA's; this model is ${type}`);
    this.layout = makeLayout(cfg, this.numLabels, this.mlm, this.nsp, this.rtd);
    this.K = opts.kernels;
    this.dtype = opts.dtype ?? 'f32';
    // sized before anything is allocated: a config or --head-dim asking for more than memory holds is one line
    // (weights, gradients and two Adam moments are 16 bytes a parameter when training)
    const most = Math.floor(totalmem() / 16);
    if (!(this.layout.total <= Math.min(most, 2 ** 32 - 1))) throw new ModelInputError(`the model would have ${this.layout.total} parameters, more than this machine can hold (${most} at 16 bytes each for training); check the config (hidden_size, vocab_size, layers) and --head-dim / --poly-codes`);
    this.params = new Float32Array(this.layout.total);
    this.MR = this.family.modern ? this.makeModernRefs() : null;
    this.R = this.family.modern ? null : this.makeRefs();
    const model = this;
    this.tc = {
      K: this.K, cfg,
      get dt() { return dtypeCode(model.dtype); },
      param: (n) => this.param(n), grad: (n) => this.grad(n), buf: (n, size) => this.ws.f32(n, size),
      linear: (out, x, W, b, R, O, In, dt) => this.linear(out, x, this.refOf(W), b ? this.refOf(b) : null, R, O, In, dt),
      linearBack: (dY, X, W, b, R, O, In, dt, dX) => this.linearBack(dY, X, this.refOf(W), b ? this.refOf(b) : null, R, O, In, dt, dX),
    };
    const none = new Float32Array(0);
    this.acts = { emb: none, embLn: none, embMean: none, embRstd: none, embOut: none, x0: none, cls: none, clsIn: none, pre: none, pooled: none, pd: none, logits: null,
      final: none, finalMean: none, finalRstd: none, headAct: none, headMean: none, headRstd: none, seqOut: none, rel: null,
      layers: Array.from({ length: cfg.num_hidden_layers }, () => ({}) as LayerActs) };
    this.initParams(opts.seed ?? 0);
  }

  private makeRefs(): Refs {
    const ref = (name: string, count = 1): Ref => {
      const s = this.layout.byName.get(name);
      if (!s) throw new Error(`no parameter named ${name}`);
      return { offset: s.offset, size: s.size * count };
    };
    /** the fused q|k|v: query, key and value must lie next to each other in the arena */
    const qkv = (n: ReturnType<FamilyDecl['layer']>, kind: 'w' | 'b'): Ref => {
      const q = ref(n.q[kind]), k = ref(n.k[kind]), v = ref(n.v[kind]);
      if (k.offset !== q.offset + q.size || v.offset !== k.offset + k.size) throw new Error(`${n.q[kind]}: query, key and value are not adjacent`);
      return { offset: q.offset, size: 3 * q.size };
    };
    const F = this.family, d = F.disentangled && this.cfg.deberta?.relative_attention ? this.cfg.deberta : null;
    const own = (has: boolean, n: { w: string; b: string }) => (has && d && !d.share_att_key ? { w: ref(n.w), b: ref(n.b) } : null);
    const layers: LayerRefs[] = [];
    for (let l = 0; l < this.cfg.num_hidden_layers; l++) {
      const n = F.layer(l);
      layers.push({
        qkvW: qkv(n, 'w'), qkvB: qkv(n, 'b'), aoW: ref(n.ao.w), aoB: ref(n.ao.b), ln1W: ref(n.ln1.w), ln1B: ref(n.ln1.b),
        interW: ref(n.inter.w), interB: ref(n.inter.b), outW: ref(n.out.w), outB: ref(n.out.b), ln2W: ref(n.ln2.w), ln2B: ref(n.ln2.b),
        posK: own(d?.pos_att_type.includes('c2p') ?? false, F.disentangled?.posKey(l) ?? { w: '', b: '' }),
        posQ: own(d?.pos_att_type.includes('p2c') ?? false, F.disentangled?.posQuery(l) ?? { w: '', b: '' }),
      });
    }
    const rel: RelRefs | null = d && F.disentangled ? {
      emb: ref(F.disentangled.relEmb), lnW: d.norm_rel_ebd ? ref(F.disentangled.relNorm.w) : null, lnB: d.norm_rel_ebd ? ref(F.disentangled.relNorm.b) : null,
      c2p: d.pos_att_type.includes('c2p'), p2c: d.pos_att_type.includes('p2c'), share: d.share_att_key,
    } : null;
    return {
      word: ref(F.word), pos: F.pos ? ref(F.pos) : null, type: F.type ? ref(F.type) : null, embLnW: ref(F.embLn.w), embLnB: ref(F.embLn.b),
      projW: F.proj ? ref(F.proj.w) : null, projB: F.proj ? ref(F.proj.b) : null, poolW: ref(F.pooler.w), poolB: ref(F.pooler.b), layers, rel,
    };
  }

  private makeModernRefs(): ModernRefs {
    const cfg = this.cfg, m = cfg.modernbert!, M = this.family.modern!;
    const ref = (name: string): Ref => {
      const s = this.layout.byName.get(name);
      if (!s) throw new Error(`no parameter named ${name}`);
      return { offset: s.offset, size: s.size };
    };
    const opt = (name: string, has: boolean): Ref | null => (has ? ref(name) : null);
    const norm = (p: string): NormRef => ({ w: ref(`${p}.weight`), b: opt(`${p}.bias`, m.norm_bias) });
    const layers = Array.from({ length: cfg.num_hidden_layers }, (_, l): ModernLayerRefs => {
      const n = M.layer(l);
      return {
        an: n.attnNorm ? norm(n.attnNorm) : null, qkvW: ref(`${n.wqkv}.weight`), qkvB: opt(`${n.wqkv}.bias`, m.attention_bias),
        woW: ref(`${n.wo}.weight`), woB: opt(`${n.wo}.bias`, m.attention_bias), mn: norm(n.mlpNorm),
        wiW: ref(`${n.wi}.weight`), wiB: opt(`${n.wi}.bias`, m.mlp_bias), mwW: ref(`${n.mlpWo}.weight`), mwB: opt(`${n.mlpWo}.bias`, m.mlp_bias),
        ...modernLayerKind(m, l),
      };
    });
    const F = this.family;
    return { word: ref(F.word), emb: norm(F.embLn.w.replace(/\.weight$/, '')), layers, final: norm(M.finalNorm),
      headW: ref(F.pooler.w), headB: opt(F.pooler.b, m.classifier_bias), headN: norm(M.headNorm) };
  }

  /** HF's init: N(0, initializer_range) for weights and embeddings (or the family's truncated normals), LayerNorm 1/0, biases 0 */
  initParams(seed: number, only?: (name: string) => boolean): void {
    const rng = new Rng(seed);
    for (const s of this.layout.specs) {
      if (only && !only(s.name)) continue;
      const v = this.params.subarray(s.offset, s.offset + s.size);
      const t = s.init === 'normal' ? this.family.initStd?.(this.cfg, s.name) : undefined;
      if (t) {
        // a truncated normal (the family's own init): redraw what falls beyond the cutoff
        for (let i = 0; i < v.length; i++) { let z = rng.normal(); while (Math.abs(z) > t.cutoff) z = rng.normal(); v[i] = z * t.std; }
      } else if (s.init === 'normal') for (let i = 0; i < v.length; i++) v[i] = rng.normal() * this.cfg.initializer_range;
      else v.fill(s.init === 'ones' ? 1 : 0);
    }
    this.paramsChanged();
  }

  /** call after writing into params (loading, optimizer step) */
  paramsChanged(): void {
    this.bf16Stale = true;
    this.int8.clear();
    this.dense.clear();
  }

  /** a dense weight [O, In] quantised per output channel (row), made once per parameter and kept until the parameters change */
  private quantized(r: Ref, O: number, In: number): { q: Int8Array; scale: F32; packed: Int8Array } {
    let w = this.int8.get(r.offset);
    if (!w || w.scale.length !== O) {
      const q = new Int8Array(O * In), scale = new Float32Array(O);
      this.K.quantizeRowsS8(q, scale, this.p(r), O, In, this.K.int8WeightMax);
      w = { q, scale, packed: this.K.packInt8Weights(q, O, In) };
      this.int8.set(r.offset, w);
    }
    return w;
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

  /** a parameter's place, by name (the task heads address theirs by name) */
  private refOf(name: string): Ref {
    const s = this.layout.byName.get(name);
    if (!s) throw new Error(`no parameter named ${name}`);
    return { offset: s.offset, size: s.size };
  }
  /** a parameter (f32) */
  private p(r: Ref): F32 { return this.params.subarray(r.offset, r.offset + r.size); }
  /** its gradient */
  private g(r: Ref): F32 { return this.grads!.subarray(r.offset, r.offset + r.size); }
  /** a matmul weight operand for dtype dt: the bf16 copy for a bf16 matmul, else the f32 params */
  private wt(r: Ref, dt: number): F32 | Uint16Array {
    return dt === DTYPE_BF16 ? this.paramsBf16!.subarray(r.offset, r.offset + r.size) : this.p(r);
  }

  /** out[R, O] = x[R, In] · Wᵀ (+ b) (linear.ts) with this model's parameters */
  private linear(out: F32, x: F32, W: Ref, b: Ref | null, R: number, O: number, In: number, dt: number): F32 {
    if (dt === DTYPE_INT8) {
      const w = this.quantized(W, O, In);
      this.K.linearInt8(out, x, w.q, w.scale, b ? this.p(b) : null, R, O, In, w.packed.length ? w.packed : null);
      return out;
    }
    if (!this.gradKept && O * In <= PACK_MAX_WEIGHTS) {
      // inference: the weights packed once (a blocked layout: 10-30 % faster GEMMs at 128-4,096 rows, docs/PERF.md)
      const key = W.offset * 2 + (dt === DTYPE_BF16 ? 1 : 0);
      let packed = this.dense.get(key);
      if (!packed) { packed = this.K.packDenseWeights(this.wt(W, dt), O, In, dt); this.dense.set(key, packed); }
      if (packed.length) {
        this.K.linearPacked(out, x, this.wt(W, dt), packed, b ? this.p(b) : null, R, O, In, dt);
        return out;
      }
    }
    return linear(this.K, out, x, this.wt(W, dt), b ? this.p(b) : null, R, O, In, dt);
  }
  /** its backward into this model's gradients (linear.ts) */
  private linearBack(dY: F32, X: F32, W: Ref, b: Ref | null, R: number, O: number, In: number, dt: number, dX: F32 | null, accumulate = false): void {
    linearBackward(this.K, dY, X, this.wt(W, dt), this.g(W), b ? this.g(b) : null, R, O, In, dt, dX, accumulate);
  }

  private checkBatch(b: Batch): void {
    const n = b.B * b.S;
    if (b.inputIds.length !== n || b.tokenTypeIds.length !== n || b.attentionMask.length !== n) {
      throw new Error(`batch arrays must all have B*S = ${n} elements (input_ids ${b.inputIds.length}, token_type_ids ${b.tokenTypeIds.length}, attention_mask ${b.attentionMask.length})`);
    }
    const maxLen = maxSequenceLength(this.cfg);
    if (b.S > maxLen) {
      throw new Error(`sequence length ${b.S} exceeds the model's ${maxLen} positions (max_position_embeddings ${this.cfg.max_position_embeddings})`);
    }
    // a family with one token type (RoBERTa) or none (DistilBERT) reads no token type ids: a pair's second segment is type 0 there
    const types = this.family.type !== null && this.cfg.type_vocab_size > 1;
    for (let i = 0; i < n; i++) {
      const id = b.inputIds[i]!, tt = b.tokenTypeIds[i]!;
      if (id < 0 || id >= this.cfg.vocab_size) throw new ModelInputError(`input id ${id} at row ${Math.floor(i / b.S)}, position ${i % b.S} is outside the vocabulary (size ${this.cfg.vocab_size})`);
      if (types && (tt < 0 || tt >= this.cfg.type_vocab_size)) throw new ModelInputError(`token type id ${tt} at row ${Math.floor(i / b.S)}, position ${i % b.S} is outside [0, ${this.cfg.type_vocab_size})`);
    }
  }

  /**
   * Forward pass. train=true turns dropout on with masks drawn from `seed`
   * (one sub-seed per dropout site) and keeps what backward needs.
   */
  forward(batch: Batch, opts: ForwardOptions = {}): ForwardResult {
    this.checkBatch(batch);
    this.syncBf16();
    const train = opts.train ?? false;
    if (train && opts.grad === false) throw new Error('forward: train needs the activations a backward reads (grad: false is for inference)');
    if (train && this.dtype === 'int8') throw new ModelInputError(INT8_TRAINING);
    this.gradKept = opts.grad ?? true;
    const rng = new Rng(opts.seed ?? 0);
    const seeds: number[] = [];
    // masks per example (model/dropseed.ts): a row's mask depends on the site, the example's position in the global batch and the row
    // within the example, never on the rest of the micro-batch, so a data-parallel shard draws what the whole batch would
    const examples = opts.rows;
    if (examples && examples.length !== batch.B) throw new Error(`forward: rows has ${examples.length} entries for a batch of ${batch.B}`);
    const key = (b: number) => (examples ? examples[b]! : b);
    const drop = (name: DropSite, x: F32, p: number, rows: DropRows): F32 => {
      if (p <= 0) return x;
      const s = rng.seed();
      seeds.push(s);
      const out = this.ws.f32(name, x.length), mask = this.ws.u8(`${name}.mask`, x.length);
      if (rows.kind === 'shared') { this.K.dropoutForward(out, mask, x, x.length, p, s); return out; }
      const n = rows.kind === 'examples' ? rows.B : rows.kind === 'tokens' ? (rows.len ? Array.from(rows.len).slice(0, rows.B).reduce((a, c) => a + c, 0) : rows.B * rows.S) : 0;
      eachDropRun(rows, n > 0 ? x.length / n : 0, s, key, (k) => this.ws.i32('dropSeeds', k), (e, count, len, sd) =>
        this.K.dropoutRowsForward(out.subarray(e, e + count * len), mask.subarray(e, e + count * len), x.subarray(e, e + count * len), count, len, sd, p));
      return out;
    };
    if (this.MR) return this.forwardModern(batch, train, drop, seeds, !this.gradKept);
    const K = this.K, ws = this.ws, cfg = this.cfg, R = this.R!;
    const { B, S } = batch;
    const N = B * S, D = cfg.hidden_size, H = cfg.num_attention_heads, dh = D / H, I = cfg.intermediate_size;
    const dt = dtypeCode(this.dtype);
    const pH = train ? cfg.hidden_dropout_prob : 0;
    const pA = train ? cfg.attention_probs_dropout_prob : 0;

    // embeddings: word + position (+ token type) in the embeddings' width E, LayerNorm, dropout, then (ELECTRA) projected to D
    const E = cfg.embedding_size ?? D;
    const pos = this.positions(batch);
    const emb = ws.f32('emb', N * E);
    K.embeddingForward(emb, batch.inputIds, this.p(R.word), N, E, cfg.vocab_size, false);
    if (R.pos) K.embeddingForward(emb, pos, this.p(R.pos), N, E, cfg.max_position_embeddings, true);
    if (R.type) K.embeddingForward(emb, this.typeIds(batch), this.p(R.type), N, E, cfg.type_vocab_size, true);
    const embLn = ws.f32('emb.ln', N * E);
    K.layernormForward(embLn, ws.f32('emb.mean', N), ws.f32('emb.rstd', N), emb, this.p(R.embLnW), this.p(R.embLnB), N, E, cfg.layer_norm_eps);
    const embMean = ws.f32('emb.mean', N), embRstd = ws.f32('emb.rstd', N);
    const embOut = drop('emb.drop', embLn, pH, { kind: 'tokens', B, S });
    let x = R.projW ? this.linear(ws.f32('emb.proj', N * D), embOut, R.projW, R.projB, N, D, E, dt) : embOut;
    const acts = this.acts;
    Object.assign(acts, { emb, embLn, embMean, embRstd, embOut, x0: x });

    const maskAdd = ws.f32('maskAdd', N);
    for (let i = 0; i < N; i++) maskAdd[i] = batch.attentionMask[i] ? 0 : MASK_NEG;
    // (DeBERTa divides by sqrt(head_dim · (1 + its relative terms)))
    const scale = 1 / Math.sqrt(dh * this.scaleFactor);
    const tanh = geluIsTanh(cfg.hidden_act);
    // DeBERTa: the relative-position rows this length reads (a window of the table), through its LayerNorm once per forward
    acts.rel = R.rel ? this.relRows(R.rel, S) : null;

    for (let l = 0; l < cfg.num_hidden_layers; l++) {
      const L = R.layers[l]!, a = (n: LayerAct) => ws.f32(`l${l}.${n}`, n === 'mean1' || n === 'rstd1' || n === 'mean2' || n === 'rstd2' ? N : n === 'qkv' ? N * 3 * D
        : n === 'P' ? B * H * S * S : n === 'inter' || n === 'gelu' ? N * I : N * D);
      const qkv = this.linear(a('qkv'), x, L.qkvW, L.qkvB, N, 3 * D, D, dt);
      const q = a('q'), k = a('k'), v = a('v');
      K.splitHeads(q, k, v, qkv, B, S, H, dh);
      const scores = ws.f32('scores', B * H * S * S);
      K.matmul(scores, q, k, null, B * H, S, S, dh, false, true, false, dt);
      const A = acts.layers[l]!;
      if (R.rel) this.relForward(R.rel, acts.rel!, L, A, l, scores, q, k, B, S, drop, pH, dt);
      const P = a('P');
      K.attnSoftmaxForward(P, scores, maskAdd, B, H, S, scale);
      const Pd = drop(`l${l}.Pd`, P, pA, { kind: 'probs', B, H, S });
      A.qkv = qkv; A.q = q; A.k = k; A.v = v; A.P = P; A.Pd = Pd;
      const ctxh = ws.f32('ctxh', N * D);
      K.matmul(ctxh, Pd, v, null, B * H, S, dh, S, false, false, false, dt);
      const ctx = a('ctx');
      K.headsToRows(ctx, ctxh, B, S, H, dh);
      const ao = this.linear(a('ao'), ctx, L.aoW, L.aoB, N, D, D, dt);
      const r1 = a('r1');
      K.addForward(r1, this.family.attnOutputDropout ? drop(`l${l}.aod`, ao, pH, { kind: 'tokens', B, S }) : ao, x, N * D);
      const h1 = a('h1');
      K.layernormForward(h1, a('mean1'), a('rstd1'), r1, this.p(L.ln1W), this.p(L.ln1B), N, D, cfg.layer_norm_eps);
      const inter = this.linear(a('inter'), h1, L.interW, L.interB, N, I, D, dt);
      const g = a('gelu');
      K.geluForward(g, inter, N * I, tanh);
      const o = this.linear(a('o'), g, L.outW, L.outB, N, D, I, dt);
      const r2 = a('r2');
      K.addForward(r2, drop(`l${l}.od`, o, pH, { kind: 'tokens', B, S }), h1, N * D);
      const out = a('out');
      K.layernormForward(out, a('mean2'), a('rstd2'), r2, this.p(L.ln2W), this.p(L.ln2B), N, D, cfg.layer_norm_eps);
      A.ctx = ctx; A.ao = ao; A.r1 = r1; A.h1 = h1; A.mean1 = a('mean1'); A.rstd1 = a('rstd1'); A.inter = inter; A.gelu = g; A.o = o;
      A.r2 = r2; A.out = out; A.mean2 = a('mean2'); A.rstd2 = a('rstd2');
      x = out;
    }

    // pooler over the first token's rows (BERT's pooler, or the family head's dropout + dense + activation; tiny: always f32)
    const pC = train ? cfg.classifier_dropout ?? cfg.hidden_dropout_prob : 0;
    const cls = ws.f32('cls', B * D);
    for (let b = 0; b < B; b++) cls.set(x.subarray(b * S * D, b * S * D + D), b * D);
    const clsIn = this.family.poolerDropout ? drop('cls.drop', cls, train ? cfg.pooler_dropout ?? pC : 0, { kind: 'examples', B }) : cls;
    const pre = this.linear(ws.f32('pooler.pre', B * D), clsIn, R.poolW, R.poolB, B, D, D, DTYPE_F32);
    const pooled = ws.f32('pooled', B * D);
    const act = this.family.poolerAct;
    if (act === 'tanh') K.tanhForward(pooled, pre, B * D);
    else if (act === 'gelu') K.geluForward(pooled, pre, B * D, false);
    else for (let i = 0; i < B * D; i++) pooled[i] = pre[i]! > 0 ? pre[i]! : 0; // ReLU on [B, D]

    let logits: F32 | null = null, pd = pooled;
    if (this.numLabels > 0) {
      pd = drop('pooled.drop', pooled, pC, { kind: 'examples', B });
      const r = classifierHead.forward(this.tc, { pooled: pd, B });
      logits = r.logits;
      this.lastCls = r.saved;
    }
    acts.clsIn = clsIn; acts.pre = pre;
    acts.cls = cls; acts.pooled = pooled; acts.pd = pd; acts.logits = logits;
    this.last = { batch, train, seeds, acts };
    this.lastMlm = null;
    this.lastNsp = null;
    this.lastRtd = null;
    return { sequenceOutput: x, pooledOutput: pooled, logits };
  }

  /**
   * DeBERTa's relative index for length S: idx[i·S + j] = δ(i, j) − lo (families/deberta.ts relativeIndex), where rows lo … lo + R − 1
   * of the table are all that length reads (2·S − 1 at most, whatever the table's size), so that the position projections and the
   * c2p / p2c products cost what the length needs.
   */
  private relTable(S: number): { idx: Int32Array; lo: number; R: number } {
    let t = this.relTables.get(S);
    if (t) return t;
    const d = this.cfg.deberta!, M = this.cfg.max_position_embeddings;
    // δ depends on i − j alone: one value per difference
    const byDiff = Int32Array.from({ length: 2 * S - 1 }, (_, r) => relativeIndex(r - (S - 1), 0, d, M));
    let lo = Infinity, hi = -Infinity;
    for (const v of byDiff) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    const idx = new Int32Array(S * S);
    for (let i = 0; i < S; i++) for (let j = 0; j < S; j++) idx[i * S + j] = byDiff[i - j + S - 1]! - lo;
    if (this.relTables.size >= 8) this.relTables.delete(this.relTables.keys().next().value!);
    t = { idx, lo, R: hi - lo + 1 };
    this.relTables.set(S, t);
    return t;
  }

  /** the rows of the relative-position table length S reads, through encoder.LayerNorm where norm_rel_ebd says so */
  private relRows(RR: RelRefs, S: number): RelActs {
    const t = this.relTable(S), D = this.cfg.hidden_size;
    const rows = this.p(RR.emb).subarray(t.lo * D, (t.lo + t.R) * D);
    if (!RR.lnW) return { ...t, x: rows };
    const x = this.ws.f32('rel.ln', t.R * D);
    this.K.layernormForward(x, this.ws.f32('rel.mean', t.R), this.ws.f32('rel.rstd', t.R), rows, this.p(RR.lnW), this.p(RR.lnB!), t.R, D, this.cfg.layer_norm_eps);
    return { ...t, x };
  }

  /**
   * DeBERTa's disentangled terms added to layer l's raw scores [B, H, S, S] (the softmax divides all by sqrt(head_dim · factor)):
   * the rows after this layer's dropout (HF's pos_dropout), projected to position keys and queries [H, R, dh] by the layer's
   * key_proj / query_proj (share_att_key) or its own; c2p = q · pos_keyᵀ and p2c = k · pos_queryᵀ [B, H, S, R], gathered at δ(i, j).
   */
  private relForward(RR: RelRefs, rel: RelActs, L: LayerRefs, A: LayerActs, l: number, scores: F32, q: F32, k: F32, B: number, S: number,
    drop: (name: DropSite, x: F32, p: number, rows: DropRows) => F32, pH: number, dt: number): void {
    const K = this.K, ws = this.ws, D = this.cfg.hidden_size, H = this.cfg.num_attention_heads, dh = D / H, R = rel.R;
    const relD = drop(`l${l}.rel`, rel.x, pH, { kind: 'shared' });
    const posQ = ws.f32(`l${l}.posQ`, R * D), posK = ws.f32(`l${l}.posK`, R * D);
    if (RR.share) {
      const pq = this.linear(ws.f32('posqkv', R * 3 * D), relD, L.qkvW, L.qkvB, R, 3 * D, D, dt);
      K.splitHeads(posQ, posK, ws.f32('posv', R * D), pq, 1, R, H, dh);
    } else {
      for (const [W, out] of [[L.posK, posK], [L.posQ, posQ]] as const) {
        if (W) K.rowsToHeads(out, this.linear(ws.f32('posrows', R * D), relD, W.w, W.b, R, D, D, dt), 1, R, H, dh);
      }
    }
    const c2p = RR.c2p ? ws.f32('c2p', B * H * S * R) : null, p2c = RR.p2c ? ws.f32('p2c', B * H * S * R) : null;
    const n = H * S * dh, nc = H * S * R;
    for (let b = 0; b < B; b++) {
      if (c2p) K.matmul(c2p.subarray(b * nc, (b + 1) * nc), q.subarray(b * n, (b + 1) * n), posK, null, H, S, R, dh, false, true, false, dt);
      if (p2c) K.matmul(p2c.subarray(b * nc, (b + 1) * nc), k.subarray(b * n, (b + 1) * n), posQ, null, H, S, R, dh, false, true, false, dt);
    }
    K.relPosBias(scores, c2p, p2c, rel.idx, B * H, S, R);
    A.relD = relD; A.posQ = posQ; A.posK = posK;
  }

  /** relForward's backward from d(raw scores): dQ and dK gain the c2p and p2c terms' part; the projections' gradients accumulate;
   *  d(the rows) of this layer, through its dropout, is added to d.rel */
  private relBackward(RR: RelRefs, rel: RelActs, L: LayerRefs, A: LayerActs, l: number, dScores: F32, dQ: F32, dK: F32, q: F32, k: F32, B: number, S: number,
    dropB: (name: DropSite, d: F32, p: number) => F32, pH: number, dt: number): void {
    const K = this.K, ws = this.ws, D = this.cfg.hidden_size, H = this.cfg.num_attention_heads, dh = D / H, R = rel.R;
    const dC = RR.c2p ? ws.f32('d.c2p', B * H * S * R) : null, dPm = RR.p2c ? ws.f32('d.p2c', B * H * S * R) : null;
    K.relPosBiasBackward(dC, dPm, dScores, rel.idx, B * H, S, R);
    const dPosK = ws.f32('d.posk', R * D), dPosQ = ws.f32('d.posq', R * D);
    if (!dC) dPosK.fill(0);
    if (!dPm) dPosQ.fill(0);
    const n = H * S * dh, nc = H * S * R;
    for (let b = 0; b < B; b++) {
      const sl = (x: F32, m: number) => x.subarray(b * m, (b + 1) * m);
      if (dC) {
        K.matmul(sl(dQ, n), sl(dC, nc), A.posK, null, H, S, dh, R, false, false, true, dt);
        K.matmul(dPosK, sl(dC, nc), sl(q, n), null, H, R, dh, S, true, false, b > 0, dt);
      }
      if (dPm) {
        K.matmul(sl(dK, n), sl(dPm, nc), A.posQ, null, H, S, dh, R, false, false, true, dt);
        K.matmul(dPosQ, sl(dPm, nc), sl(k, n), null, H, R, dh, S, true, false, b > 0, dt);
      }
    }
    const dRelD = ws.f32('d.relD', R * D);
    if (RR.share) {
      const dpq = ws.f32('d.posqkv', R * 3 * D);
      K.mergeHeads3(dpq, dPosQ, dPosK, ws.f32('relzeros', R * D), 1, R, H, dh);
      this.linearBack(dpq, A.relD, L.qkvW, L.qkvB, R, 3 * D, D, dt, dRelD);
    } else {
      let first = true;
      for (const [W, g] of [[L.posK, dPosK], [L.posQ, dPosQ]] as const) {
        if (!W) continue;
        const rows = ws.f32('d.posrows', R * D);
        K.headsToRows(rows, g, 1, R, H, dh);
        this.linearBack(rows, A.relD, W.w, W.b, R, D, D, dt, dRelD, !first);
        first = false;
      }
    }
    K.accumulate(ws.f32('d.rel', R * D), dropB(`l${l}.rel`, dRelD, pH), R * D);
  }

  /** d(the relative-position rows), summed over the layers, into the table's rows lo … lo + R − 1 through encoder.LayerNorm */
  private relRowsBackward(RR: RelRefs, rel: RelActs): void {
    const K = this.K, ws = this.ws, D = this.cfg.hidden_size, R = rel.R;
    const dRel = ws.f32('d.rel', R * D), gRows = this.g(RR.emb).subarray(rel.lo * D, (rel.lo + R) * D);
    if (!RR.lnW) { K.accumulate(gRows, dRel, R * D); return; }
    const dIn = ws.f32('d.relIn', R * D);
    K.layernormBackward(dIn, this.g(RR.lnW), this.g(RR.lnB!), dRel, this.p(RR.emb).subarray(rel.lo * D, (rel.lo + R) * D), this.p(RR.lnW),
      ws.f32('rel.mean', R), ws.f32('rel.rstd', R), R, D);
    K.accumulate(gRows, dIn, R * D);
  }

  /** a LayerNorm whose bias may be absent (ModernBERT's norm_bias false: a zero bias) */
  private norm(out: F32, mean: F32, rstd: F32, x: F32, n: NormRef, R: number): void {
    const D = this.cfg.hidden_size;
    this.K.layernormForward(out, mean, rstd, x, this.p(n.w), n.b ? this.p(n.b) : this.ws.f32('zeros', D), R, D, this.cfg.layer_norm_eps);
  }
  /** its backward: dX = ..., the weight's (and bias's) gradients accumulate */
  private normBack(dX: F32, dOut: F32, x: F32, n: NormRef, mean: F32, rstd: F32, R: number): void {
    const D = this.cfg.hidden_size, sink = this.ws.f32('sink', D);
    if (!n.b) sink.fill(0);
    this.K.layernormBackward(dX, this.g(n.w), n.b ? this.g(n.b) : sink, dOut, x, this.p(n.w), mean, rstd, R, D);
  }

  /** cos and sin of position · inv_freq [S, dh/2] in float32 as HF's ModernBertRotaryEmbedding computes them */
  private rope(theta: number, S: number, dh: number): { cos: F32; sin: F32 } {
    const key = `${theta}:${S}`;
    let t = this.ropeTables.get(key);
    if (!t) {
      const h2 = dh / 2, f = Math.fround, cos = new Float32Array(S * h2), sin = new Float32Array(S * h2);
      // freqs = inv_freq · position in float32
      const inv = ropeInvFreq(theta, dh);
      for (let s = 0; s < S; s++) for (let j = 0; j < h2; j++) { const a = f(inv[j]! * s); cos[s * h2 + j] = Math.cos(a); sin[s * h2 + j] = Math.sin(a); }
      t = { cos, sin };
      this.ropeTables.set(key, t);
    }
    return t;
  }

  /**
   * How the last ModernBERT forward laid out its tokens, for its backward: padded (T = B·S rows, sequence b at rows b·S …, all S
   * of them, padding masked) or unpadded as HF runs it with flash-attention (only the real tokens, packed: sequence b at rows off[b]
   * … off[b] + len[b]), so that the dense layers cost what the real tokens cost. pOff[b]: where b's attention probabilities start.
   */
  /** whether the last forward kept what backward reads */
  private gradKept = true;
  private seg = { unpadded: false, T: 0, off: new Float64Array(0), len: new Int32Array(0), pOff: new Float64Array(0), blockedFrom: Infinity };
  /** ModernBERT only: run unpadded when the batch has padding and every row's mask is a prefix (ja-bert's inputs are); false: always padded */
  unpad = true;
  /** ModernBERT only: a sequence (a group of the layout) longer than this trains with blocked attention when attention dropout is off */
  blockedTrainFrom = BLOCKED_TRAIN_FROM;
  /** ModernBERT only: the bytes of attention probabilities a training step may keep across layers before it trains blocked (ATTN_MEMORY_BUDGET) */
  attnMemoryBudget = ATTN_MEMORY_BUDGET;

  /** row b's runs of consecutive real tokens (attention mask 1) as (start, count), in order; returns the number of real tokens. Both
   *  layouts put token s of a run at row off[b] + s: padded, off[b] = b·S; unpadded, the mask is a prefix and its one run starts at 0 */
  private realRuns(mask: Uint8Array, b: number, S: number, run: (start: number, count: number) => void): number {
    let n = 0;
    for (let s = 0; s < S;) {
      if (!mask[b * S + s]) { s++; continue; }
      let e = s + 1;
      while (e < S && mask[b * S + e]) e++;
      run(s, e - s);
      n += e - s;
      s = e;
    }
    return n;
  }

  /** ModernBERT's forward (families/modernbert.ts): embeddings and norm, pre-norm layers with rotary attention (sliding-window on
   *  local layers) and GeGLU, final_norm, then the head on the first token or the mean of the real tokens */
  private forwardModern(batch: Batch, train: boolean, drop: (name: DropSite, x: F32, p: number, rows: DropRows) => F32, seeds: number[], blocked: boolean): ForwardResult {
    const K = this.K, ws = this.ws, cfg = this.cfg, M = this.MR!, m = cfg.modernbert!;
    const { B, S } = batch;
    const N = B * S, D = cfg.hidden_size, H = cfg.num_attention_heads, dh = D / H, I = cfg.intermediate_size;
    const dt = dtypeCode(this.dtype), tanh = geluIsTanh(cfg.hidden_act);
    const pE = train ? m.embedding_dropout : 0, pA = train ? m.attention_dropout : 0, pM = train ? m.mlp_dropout : 0;
    const acts = this.acts, mask = batch.attentionMask;
    // the layout: unpadded where the batch has padding and every row's real tokens come first (typed arrays kept across steps)
    const seg = this.seg;
    if (seg.len.length < B) { seg.len = new Int32Array(B); seg.off = new Float64Array(B); seg.pOff = new Float64Array(B); }
    const { len, off, pOff } = seg;
    let prefix = true, real = 0, empty = false;
    for (let b = 0; b < B; b++) {
      let n = 0;
      for (let s = 0; s < S; s++) if (mask[b * S + s]) { if (n !== s) prefix = false; n++; }
      len[b] = n;
      real += n;
      if (n === 0) empty = true;
    }
    const unpadded = this.unpad && prefix && real < N && !empty;
    if (!unpadded) len.fill(S, 0, B);
    // a group (a sequence unpadded, the whole batch padded) trains blocked when it is long and attention dropout is off: no probabilities kept
    // (the rule, decided once per forward and kept in seg for the backward: past blockedTrainFrom tokens, or past 128 when the batch's
    // probabilities over all layers would exceed attnMemoryBudget; never with attention dropout, whose mask needs the probabilities)
    let kept = 0;
    for (let b = 0; b < B; b++) kept += H * (unpadded ? len[b]! * len[b]! : S * S);
    seg.blockedFrom = blocked || pA > 0 ? Infinity : cfg.num_hidden_layers * kept * 4 > this.attnMemoryBudget ? Math.min(128, this.blockedTrainFrom) : this.blockedTrainFrom;
    const trainBlocked = (Sc: number) => Sc > seg.blockedFrom;
    let T = 0, PT = 0, anyBlocked = false;
    for (let b = 0; b < B; b++) {
      off[b] = T; pOff[b] = PT; T += len[b]!;
      if (!unpadded) continue;
      if (trainBlocked(len[b]!)) anyBlocked = true; else PT += H * len[b]! * len[b]!;
    }
    if (!unpadded) { if (trainBlocked(S)) anyBlocked = true; else PT = B * H * S * S; }
    seg.unpadded = unpadded; seg.T = T;
    let ids = batch.inputIds;
    if (unpadded) {
      ids = ws.i32('packedIds', T);
      for (let b = 0; b < B; b++) ids.set(batch.inputIds.subarray(b * S, b * S + len[b]!), off[b]!);
    }
    const emb = ws.f32('emb', T * D);
    K.embeddingForward(emb, ids, this.p(M.word), T, D, cfg.vocab_size, false);
    const embLn = ws.f32('emb.ln', T * D), embMean = ws.f32('emb.mean', T), embRstd = ws.f32('emb.rstd', T);
    this.norm(embLn, embMean, embRstd, emb, M.emb, T);
    const tokenRows: DropRows = { kind: 'tokens', B, S, off, len };
    let x = drop('emb.drop', embLn, pE, tokenRows);
    Object.assign(acts, { emb, embLn, embMean, embRstd, embOut: x, x0: x });
    // padded: the padding mask; unpadded: nothing to mask (a zero row as long as the longest sequence)
    const maskAdd = ws.f32('maskAdd', N);
    for (let i = 0; i < N; i++) maskAdd[i] = unpadded || mask[i] ? 0 : MASK_NEG;
    const scale = 1 / Math.sqrt(dh), half = Math.floor(m.local_attention / 2);
    for (let l = 0; l < cfg.num_hidden_layers; l++) {
      const L = M.layers[l]!, A = acts.layers[l]!;
      // inference keeps nothing for a backward: every layer reuses layer 0's buffers (its input is read before its output is written)
      const a = (n: LayerAct, size: number) => ws.f32(`l${blocked ? 0 : l}.${n}`, size);
      let inp = x;
      if (L.an) {
        inp = a('an', T * D); A.meanA = a('meanA', T); A.rstdA = a('rstdA', T);
        this.norm(inp, A.meanA, A.rstdA, x, L.an, T);
      }
      A.an = inp;
      const qkv = this.linear(a('qkv', T * 3 * D), inp, L.qkvW, L.qkvB, T, 3 * D, D, dt);
      const q = a('q', T * D), k = a('k', T * D), v = a('v', T * D), P = blocked ? a('P', 0) : a('P', PT);
      const ctxhB = a('ctxhB', anyBlocked ? T * D : 0), lse = a('lse', anyBlocked ? H * T : 0);
      // (blocked: inference, nothing kept for a backward)
      const r = this.rope(L.theta, S, dh);
      // per sequence (one call for all when padded): heads, rotary q and k, scores, softmax over the visible keys
      const groups = unpadded ? B : 1;
      const ctx = a('ctx', T * D);
      for (let g = 0; g < groups; g++) {
        const Bc = unpadded ? 1 : B, Sc = unpadded ? len[g]! : S, o = off[g]! * D, n = Bc * Sc * D;
        const qg = q.subarray(o, o + n), kg = k.subarray(o, o + n);
        K.splitHeads(qg, kg, v.subarray(o, o + n), qkv.subarray(3 * o, 3 * o + 3 * n), Bc, Sc, H, dh);
        K.ropeApply(qg, r.cos, r.sin, Bc * H, Sc, dh, false);
        K.ropeApply(kg, r.cos, r.sin, Bc * H, Sc, dh, false);
        if (trainBlocked(Sc)) {
          // training on a long sequence: the blocked forward, keeping the context by head and each row's log-sum-exp for the backward
          const ctxh = ctxhB.subarray(o, o + n);
          K.attnBlocked(ctxh, qg, kg, v.subarray(o, o + n), maskAdd.subarray(0, Bc * Sc), lse.subarray(H * off[g]!, H * off[g]! + Bc * H * Sc), Bc, H, Sc, dh, scale, L.local ? half : Sc);
          K.headsToRows(ctx.subarray(o, o + n), ctxh, Bc, Sc, H, dh);
          continue;
        }
        if (blocked && Sc > BLOCKED_FROM) {
          // inference on a long sequence: tiles with a running softmax, never the S×S matrix; a local layer reads only its band
          const ctxh = ws.f32('ctxh', n);
          K.attnBlocked(ctxh, qg, kg, v.subarray(o, o + n), maskAdd.subarray(0, Bc * Sc), null, Bc, H, Sc, dh, scale, L.local ? half : Sc);
          K.headsToRows(ctx.subarray(o, o + n), ctxh, Bc, Sc, H, dh);
          continue;
        }
        // (inference on a shorter one: the materialised softmax, faster there, one group's probabilities at a time)
        const np = Bc * H * Sc * Sc, Pg = blocked ? a('P', np) : P.subarray(pOff[g]!, pOff[g]! + np), scores = ws.f32('scores', np);
        K.matmul(scores, qg, kg, null, Bc * H, Sc, Sc, dh, false, true, false, dt);
        const madd = maskAdd.subarray(0, Bc * Sc);
        if (L.local) K.attnSoftmaxWindow(Pg, scores, madd, Bc, H, Sc, scale, half);
        else K.attnSoftmaxForward(Pg, scores, madd, Bc, H, Sc, scale);
        if (blocked) {
          const ctxh = ws.f32('ctxh', n);
          K.matmul(ctxh, Pg, v.subarray(o, o + n), null, Bc * H, Sc, dh, Sc, false, false, false, dt);
          K.headsToRows(ctx.subarray(o, o + n), ctxh, Bc, Sc, H, dh);
        }
      }
      const Pd = blocked ? P : drop(`l${l}.Pd`, P, pA, unpadded ? { kind: 'probs', B, H, S, pOff, len } : { kind: 'probs', B, H, S });
      for (let g = 0; g < groups && !blocked; g++) {
        const Bc = unpadded ? 1 : B, Sc = unpadded ? len[g]! : S, o = off[g]! * D, n = Bc * Sc * D, np = Bc * H * Sc * Sc;
        if (trainBlocked(Sc)) continue;
        const ctxh = ws.f32('ctxh', n);
        K.matmul(ctxh, Pd.subarray(pOff[g]!, pOff[g]! + np), v.subarray(o, o + n), null, Bc * H, Sc, dh, Sc, false, false, false, dt);
        K.headsToRows(ctx.subarray(o, o + n), ctxh, Bc, Sc, H, dh);
      }
      const ao = this.linear(a('ao', T * D), ctx, L.woW, L.woB, T, D, D, dt);
      const r1 = a('r1', T * D);
      K.addForward(r1, drop(`l${l}.aod`, ao, pA, tokenRows), x, T * D);
      const h1 = a('h1', T * D), mean1 = a('mean1', T), rstd1 = a('rstd1', T);
      this.norm(h1, mean1, rstd1, r1, L.mn, T);
      const wi = this.linear(a('wi', T * 2 * I), h1, L.wiW, L.wiB, T, 2 * I, D, dt);
      const glu = a('glu', T * I);
      K.gegluForward(glu, wi, T, I, tanh);
      const gd = drop(`l${l}.gd`, glu, pM, tokenRows);
      const o = this.linear(a('o', T * D), gd, L.mwW, L.mwB, T, D, I, dt);
      const out = a('out', T * D);
      K.addForward(out, o, r1, T * D);
      Object.assign(A, { qkv, q, k, v, P, Pd, ctxhB, lse, ctx, ao, r1, h1, mean1, rstd1, wi, glu, gd, o, out });
      x = out;
    }
    const final = ws.f32('final', T * D), finalMean = ws.f32('final.mean', T), finalRstd = ws.f32('final.rstd', T);
    this.norm(final, finalMean, finalRstd, x, M.final, T);
    // the sequence output [B, S, D]: unpadded, the real tokens' rows put back and zeros at padding (as HF re-pads them)
    let seqOut = final;
    if (unpadded) {
      seqOut = ws.f32('seqOut', N * D);
      seqOut.fill(0);
      for (let b = 0; b < B; b++) seqOut.set(final.subarray(off[b]! * D, (off[b]! + len[b]!) * D), b * S * D);
    }

    // ModernBertForSequenceClassification: pool (first token, or the mean over attention_mask), head (dense, act, norm), dropout, classifier
    const cls = ws.f32('cls', B * D);
    if (m.classifier_pooling === 'cls') for (let b = 0; b < B; b++) cls.set(final.subarray(off[b]! * D, off[b]! * D + D), b * D);
    else {
      // the mean over the real tokens: one column sum per run of consecutive real tokens (one per sequence for ja-bert's prefix masks)
      cls.fill(0);
      for (let b = 0; b < B; b++) {
        const row = cls.subarray(b * D, b * D + D);
        const n = this.realRuns(mask, b, S, (s, c) => K.colSumAccumulate(row, final.subarray((off[b]! + s) * D, (off[b]! + s + c) * D), c, D));
        K.scale(row, 1 / n, D);
      }
    }
    const pre = this.linear(ws.f32('pooler.pre', B * D), cls, M.headW, M.headB, B, D, D, DTYPE_F32);
    const headAct = ws.f32('head.act', B * D), act = m.classifier_activation;
    if (act === 'tanh') K.tanhForward(headAct, pre, B * D);
    else if (act === 'relu') for (let i = 0; i < B * D; i++) headAct[i] = pre[i]! > 0 ? pre[i]! : 0;
    else K.geluForward(headAct, pre, B * D, geluIsTanh(act));
    const pooled = ws.f32('pooled', B * D), headMean = ws.f32('head.mean', B), headRstd = ws.f32('head.rstd', B);
    this.norm(pooled, headMean, headRstd, headAct, M.headN, B);
    let logits: F32 | null = null, pd = pooled;
    if (this.numLabels > 0) {
      pd = drop('pooled.drop', pooled, train ? cfg.classifier_dropout ?? 0 : 0, { kind: 'examples', B });
      const r = classifierHead.forward(this.tc, { pooled: pd, B });
      logits = r.logits;
      this.lastCls = r.saved;
    }
    Object.assign(acts, { final, finalMean, finalRstd, seqOut, cls, clsIn: cls, pre, headAct, headMean, headRstd, pooled, pd, logits });
    this.last = { batch, train, seeds, acts };
    this.lastMlm = null;
    this.lastNsp = null;
    this.lastRtd = null;
    return { sequenceOutput: seqOut, pooledOutput: pooled, logits };
  }

  /** mean cross-entropy of the last forward's logits; keeps probs for backward */
  loss(labels: Int32Array): { loss: number; probs: F32 } {
    if (!this.last) throw new Error('loss() needs a forward() first');
    if (this.numLabels === 0) throw new Error('this model has no classifier head');
    const B = this.last.batch.B, C = this.numLabels;
    if (labels.length !== B) throw new Error(`labels has ${labels.length} entries for a batch of ${B}`);
    const probs = this.ws.f32('probs', B * C);
    const loss = this.K.crossEntropyForward(this.ws.f32('losses', B), probs, this.last.acts.logits!, labels, B, C);
    return { loss, probs };
  }

  /**
   * Backward of the last forward. Gradients flow from any of: the classifier
   * loss (labels given, after loss()), dPooled [B, D] and dSequence [B, S, D]
   * supplied by another head. Parameter gradients accumulate into grads.
   */
  backward(opts: { labels?: Int32Array; dLoss?: number; dPooled?: F32; dSequence?: F32; dLogits?: F32 } = {}): void {
    if (this.dtype === 'int8') throw new ModelInputError(INT8_TRAINING);
    if (!this.last) throw new Error('backward() needs a forward() first');
    if (!this.gradKept) throw new Error('backward() needs a forward() that kept its activations (this one ran with grad: false)');
    this.ensureGrads();
    const K = this.K, ws = this.ws, cfg = this.cfg;
    const { batch, train, acts } = this.last;
    const { B, S } = batch;
    const N = B * S, D = cfg.hidden_size, H = cfg.num_attention_heads, dh = D / H, I = cfg.intermediate_size;
    const dt = dtypeCode(this.dtype);
    const pH = train ? cfg.hidden_dropout_prob : 0;
    const pA = train ? cfg.attention_probs_dropout_prob : 0;
    const scale = 1 / Math.sqrt(dh * this.scaleFactor);
    const tanh = geluIsTanh(cfg.hidden_act);
    const dropB = (name: DropSite, d: F32, p: number): F32 => {
      if (p <= 0) return d;
      const out = ws.f32(`${name}.d`, d.length);
      K.dropoutBackward(out, d, ws.u8(`${name}.mask`, d.length), d.length, p);
      return out;
    };

    const pC = train ? cfg.classifier_dropout ?? cfg.hidden_dropout_prob : 0;
    const dPooled = ws.f32('d.pooled', B * D);
    if (opts.dPooled) dPooled.set(opts.dPooled.subarray(0, B * D)); else dPooled.fill(0);
    if (opts.labels) {
      if (this.numLabels === 0) throw new Error('this model has no classifier head');
      const C = this.numLabels;
      const dLogits = ws.f32('d.logits', B * C);
      // the loss's gradient given (label smoothing, class weights: train/loss.ts), or plain cross-entropy's
      if (opts.dLogits) dLogits.set(opts.dLogits.subarray(0, B * C));
      else K.crossEntropyBackward(dLogits, ws.f32('probs', B * C), opts.labels, B, C, opts.dLoss ?? 1);
      const { dPooled: dpd } = classifierHead.backward(this.tc, dLogits, this.lastCls!);
      K.accumulate(dPooled, dropB('pooled.drop', dpd, pC), B * D);
    }
    if (this.MR) { this.backwardModern(dPooled, opts.dSequence, dropB); return; }
    const R = this.R!;
    // pooler
    const dPre = ws.f32('d.pre', B * D);
    const act = this.family.poolerAct;
    if (act === 'tanh') K.tanhBackward(dPre, acts.pooled, dPooled, B * D);
    else if (act === 'gelu') K.geluBackward(dPre, acts.pre, dPooled, B * D, false);
    else for (let i = 0; i < B * D; i++) dPre[i] = acts.pre[i]! > 0 ? dPooled[i]! : 0;
    const dClsIn = ws.f32('d.cls', B * D);
    this.linearBack(dPre, acts.clsIn, R.poolW, R.poolB, B, D, D, DTYPE_F32, dClsIn);
    const dCls = this.family.poolerDropout ? dropB('cls.drop', dClsIn, train ? cfg.pooler_dropout ?? pC : 0) : dClsIn;

    // DeBERTa: d(the relative-position rows) summed over the layers
    if (acts.rel) ws.f32('d.rel', acts.rel.R * D).fill(0);
    // gradients w.r.t. layer outputs ping-pong between two buffers
    let cur: 0 | 1 = 0;
    let dX = ws.f32('d.x0', N * D);
    if (opts.dSequence) dX.set(opts.dSequence.subarray(0, N * D)); else dX.fill(0);
    for (let b = 0; b < B; b++) {
      const row = dX.subarray(b * S * D, b * S * D + D);
      K.accumulate(row, dCls.subarray(b * D, b * D + D), D);
    }

    for (let l = cfg.num_hidden_layers - 1; l >= 0; l--) {
      const L = R.layers[l]!, A = acts.layers[l]!;
      const inp = l === 0 ? acts.x0 : acts.layers[l - 1]!.out;
      // out = LN2(r2), r2 = drop(o) + h1
      const dR2 = ws.f32('d.r2', N * D);
      K.layernormBackward(dR2, this.g(L.ln2W), this.g(L.ln2B), dX, A.r2, this.p(L.ln2W), A.mean2, A.rstd2, N, D);
      const dO = dropB(`l${l}.od`, dR2, pH);
      const dG = ws.f32('d.gelu', N * I);
      this.linearBack(dO, A.gelu, L.outW, L.outB, N, D, I, dt, dG);
      const dInter = ws.f32('d.inter', N * I);
      K.geluBackward(dInter, A.inter, dG, N * I, tanh);
      const dH1 = ws.f32('d.h1', N * D);
      this.linearBack(dInter, A.h1, L.interW, L.interB, N, I, D, dt, dH1);
      K.accumulate(dH1, dR2, N * D);
      // h1 = LN1(r1), r1 = drop(ao) + inp
      const dR1 = ws.f32('d.r1', N * D);
      K.layernormBackward(dR1, this.g(L.ln1W), this.g(L.ln1B), dH1, A.r1, this.p(L.ln1W), A.mean1, A.rstd1, N, D);
      const dAo = this.family.attnOutputDropout ? dropB(`l${l}.aod`, dR1, pH) : dR1;
      const dCtx = ws.f32('d.ctx', N * D);
      this.linearBack(dAo, A.ctx, L.aoW, L.aoB, N, D, D, dt, dCtx);
      const dCtxh = ws.f32('d.ctxh', N * D);
      K.rowsToHeads(dCtxh, dCtx, B, S, H, dh);
      // ctxh = Pd . v
      const { P, Pd, v, q, k } = A;
      const dPd = ws.f32('d.Pd', B * H * S * S);
      K.matmul(dPd, dCtxh, v, null, B * H, S, S, dh, false, true, false, dt);
      const dV = ws.f32('d.v', N * D);
      K.matmul(dV, Pd, dCtxh, null, B * H, S, dh, S, true, false, false, dt);
      const dP = dropB(`l${l}.Pd`, dPd, pA);
      const dScores = ws.f32('d.scores', B * H * S * S);
      K.attnSoftmaxBackward(dScores, dP, P, B * H * S, S, scale);
      const dQ = ws.f32('d.q', N * D), dK = ws.f32('d.k', N * D);
      K.matmul(dQ, dScores, k, null, B * H, S, dh, S, false, false, false, dt);
      K.matmul(dK, dScores, q, null, B * H, S, dh, S, true, false, false, dt);
      if (R.rel) this.relBackward(R.rel, acts.rel!, L, A, l, dScores, dQ, dK, q, k, B, S, dropB, pH, dt);
      const dQkv = ws.f32('d.qkv', N * 3 * D);
      K.mergeHeads3(dQkv, dQ, dK, dV, B, S, H, dh);
      cur = cur === 0 ? 1 : 0;
      const dIn = ws.f32(`d.x${cur}`, N * D);
      this.linearBack(dQkv, inp, L.qkvW, L.qkvB, N, 3 * D, D, dt, dIn);
      K.accumulate(dIn, dR1, N * D);
      dX = dIn;
    }

    if (R.rel) this.relRowsBackward(R.rel, acts.rel!);
    // embeddings (through the projection where the family has one)
    const E = cfg.embedding_size ?? D;
    let dEmbOut = dX;
    if (R.projW) {
      dEmbOut = ws.f32('d.embln', N * E);
      this.linearBack(dX, acts.embOut, R.projW, R.projB, N, D, E, dt, dEmbOut);
    }
    const dEmbLn = dropB('emb.drop', dEmbOut, pH);
    const dEmb = ws.f32('d.emb', N * E);
    K.layernormBackward(dEmb, this.g(R.embLnW), this.g(R.embLnB), dEmbLn, acts.emb, this.p(R.embLnW), acts.embMean, acts.embRstd, N, E);
    K.embeddingBackward(this.g(R.word), dEmb, batch.inputIds, N, E, cfg.vocab_size);
    if (R.pos) K.embeddingBackward(this.g(R.pos), dEmb, ws.i32('posIds', N), N, E, cfg.max_position_embeddings);
    if (R.type) K.embeddingBackward(this.g(R.type), dEmb, ws.i32('typeIds', N), N, E, cfg.type_vocab_size);
  }

  /** ModernBERT's backward from d(pooled) [B, D] and d(sequence output) [B·S, D], in reverse order of forwardModern, on its layout */
  private backwardModern(dPooled: F32, dSequence: F32 | undefined, dropB: (name: DropSite, d: F32, p: number) => F32): void {
    const K = this.K, ws = this.ws, cfg = this.cfg, M = this.MR!, m = cfg.modernbert!;
    const { batch, train, acts } = this.last!;
    const { B, S } = batch, mask = batch.attentionMask;
    const { unpadded, T, off, len, pOff } = this.seg;
    const D = cfg.hidden_size, H = cfg.num_attention_heads, dh = D / H, I = cfg.intermediate_size;
    const dt = dtypeCode(this.dtype), tanh = geluIsTanh(cfg.hidden_act);
    const pE = train ? m.embedding_dropout : 0, pA = train ? m.attention_dropout : 0, pM = train ? m.mlp_dropout : 0;
    const scale = 1 / Math.sqrt(dh), half = Math.floor(m.local_attention / 2), maskAdd = ws.f32('maskAdd', B * S);
    // the groups the forward ran blocked (no probabilities kept): the same rule, on the same lengths
    const trainBlocked = (Sc: number) => Sc > this.seg.blockedFrom;
    // head: pooled = norm(act(pre)), pre = dense(pool(final))
    const dAct = ws.f32('d.act', B * D);
    this.normBack(dAct, dPooled, acts.headAct, M.headN, acts.headMean, acts.headRstd, B);
    const dPre = ws.f32('d.pre', B * D), act = m.classifier_activation;
    if (act === 'tanh') K.tanhBackward(dPre, acts.headAct, dAct, B * D);
    else if (act === 'relu') for (let i = 0; i < B * D; i++) dPre[i] = acts.pre[i]! > 0 ? dAct[i]! : 0;
    else K.geluBackward(dPre, acts.pre, dAct, B * D, geluIsTanh(act));
    const dCls = ws.f32('d.cls', B * D);
    this.linearBack(dPre, acts.cls, M.headW, M.headB, B, D, D, DTYPE_F32, dCls);
    // d(final) on the layout's rows: the sequence output's gradient (its real tokens' rows when unpadded), then the pooling's
    const dFinal = ws.f32('d.final', T * D);
    if (!dSequence) dFinal.fill(0);
    else if (!unpadded) dFinal.set(dSequence.subarray(0, T * D));
    else for (let b = 0; b < B; b++) dFinal.set(dSequence.subarray(b * S * D, (b * S + len[b]!) * D), off[b]! * D);
    for (let b = 0; b < B; b++) {
      const g = dCls.subarray(b * D, b * D + D);
      if (m.classifier_pooling === 'cls') { K.accumulate(dFinal.subarray(off[b]! * D, off[b]! * D + D), g, D); continue; }
      // every real token's row gets g / n: a rank-1 product (ones · g) accumulated per run of real tokens
      K.scale(g, 1 / this.realRuns(mask, b, S, () => {}), D);
      const ones = ws.f32('ones', S);
      ones.fill(1);
      this.realRuns(mask, b, S, (s, c) => K.matmul(dFinal.subarray((off[b]! + s) * D, (off[b]! + s + c) * D), ones, g, null, 1, c, D, 1, false, false, true, DTYPE_F32));
    }
    let cur: 0 | 1 = 0;
    let dX = ws.f32('d.x0', T * D);
    const last = acts.layers.at(-1)?.out ?? acts.x0;
    this.normBack(dX, dFinal, last, M.final, acts.finalMean, acts.finalRstd, T);
    const groups = unpadded ? B : 1;

    for (let l = cfg.num_hidden_layers - 1; l >= 0; l--) {
      const L = M.layers[l]!, A = acts.layers[l]!;
      const inp = l === 0 ? acts.x0 : acts.layers[l - 1]!.out;
      // out = r1 + Wo(drop(geglu(Wi(norm(r1)))))
      const dGd = ws.f32('d.gelu', T * I);
      this.linearBack(dX, A.gd, L.mwW, L.mwB, T, D, I, dt, dGd);
      const dGlu = dropB(`l${l}.gd`, dGd, pM);
      const dWi = ws.f32('d.wi', T * 2 * I);
      K.gegluBackward(dWi, A.wi, dGlu, T, I, tanh);
      const dH1 = ws.f32('d.h1', T * D);
      this.linearBack(dWi, A.h1, L.wiW, L.wiB, T, 2 * I, D, dt, dH1);
      const dR1 = ws.f32('d.r1', T * D);
      this.normBack(dR1, dH1, A.r1, L.mn, A.mean1, A.rstd1, T);
      K.accumulate(dR1, dX, T * D);
      // r1 = inp + drop(Wo(attention(rope(q), rope(k), v)))
      const dAo = dropB(`l${l}.aod`, dR1, pA);
      const dCtx = ws.f32('d.ctx', T * D);
      this.linearBack(dAo, A.ctx, L.woW, L.woB, T, D, D, dt, dCtx);
      const { P, Pd, v, q, k } = A;
      const dPd = ws.f32('d.Pd', P.length), dV = ws.f32('d.v', T * D);
      const dQ = ws.f32('d.q', T * D), dK = ws.f32('d.k', T * D), dQkv = ws.f32('d.qkv', T * 3 * D);
      for (let g = 0; g < groups; g++) {
        const Bc = unpadded ? 1 : B, Sc = unpadded ? len[g]! : S, o = off[g]! * D, n = Bc * Sc * D, np = Bc * H * Sc * Sc;
        const dCtxh = ws.f32('d.ctxh', n);
        K.rowsToHeads(dCtxh, dCtx.subarray(o, o + n), Bc, Sc, H, dh);
        if (trainBlocked(Sc)) {
          // trained blocked: dq, dk, dv from the saved context and log-sum-exp, the probabilities recomputed tile by tile
          K.attnBlockedBackward(dQ.subarray(o, o + n), dK.subarray(o, o + n), dV.subarray(o, o + n), dCtxh, q.subarray(o, o + n), k.subarray(o, o + n), v.subarray(o, o + n),
            A.ctxhB.subarray(o, o + n), A.lse.subarray(H * off[g]!, H * off[g]! + Bc * H * Sc), maskAdd.subarray(0, Bc * Sc), Bc, H, Sc, dh, scale, L.local ? half : Sc);
          continue;
        }
        K.matmul(dPd.subarray(pOff[g]!, pOff[g]! + np), dCtxh, v.subarray(o, o + n), null, Bc * H, Sc, Sc, dh, false, true, false, dt);
        K.matmul(dV.subarray(o, o + n), Pd.subarray(pOff[g]!, pOff[g]! + np), dCtxh, null, Bc * H, Sc, dh, Sc, true, false, false, dt);
      }
      const dP = dropB(`l${l}.Pd`, dPd, pA);
      const r = this.rope(L.theta, S, dh);
      for (let g = 0; g < groups; g++) {
        const Bc = unpadded ? 1 : B, Sc = unpadded ? len[g]! : S, o = off[g]! * D, n = Bc * Sc * D, np = Bc * H * Sc * Sc;
        const dQg = dQ.subarray(o, o + n), dKg = dK.subarray(o, o + n);
        if (!trainBlocked(Sc)) {
          const dScores = ws.f32('d.scores', np);
          // outside a local layer's band P is exactly 0, so its scores get no gradient
          K.attnSoftmaxBackward(dScores, dP.subarray(pOff[g]!, pOff[g]! + np), P.subarray(pOff[g]!, pOff[g]! + np), Bc * H * Sc, Sc, scale);
          K.matmul(dQg, dScores, k.subarray(o, o + n), null, Bc * H, Sc, dh, Sc, false, false, false, dt);
          K.matmul(dKg, dScores, q.subarray(o, o + n), null, Bc * H, Sc, dh, Sc, true, false, false, dt);
        }
        K.ropeApply(dQg, r.cos, r.sin, Bc * H, Sc, dh, true);
        K.ropeApply(dKg, r.cos, r.sin, Bc * H, Sc, dh, true);
        K.mergeHeads3(dQkv.subarray(3 * o, 3 * o + 3 * n), dQg, dKg, dV.subarray(o, o + n), Bc, Sc, H, dh);
      }
      cur = cur === 0 ? 1 : 0;
      const dIn = ws.f32(`d.x${cur}`, T * D);
      if (L.an) {
        const dAn = ws.f32('d.an', T * D);
        this.linearBack(dQkv, A.an, L.qkvW, L.qkvB, T, 3 * D, D, dt, dAn);
        this.normBack(dIn, dAn, inp, L.an, A.meanA, A.rstdA, T);
      } else this.linearBack(dQkv, A.an, L.qkvW, L.qkvB, T, 3 * D, D, dt, dIn);
      K.accumulate(dIn, dR1, T * D);
      dX = dIn;
    }
    const dEmbLn = dropB('emb.drop', dX, pE);
    const dEmb = ws.f32('d.emb', T * D);
    this.normBack(dEmb, dEmbLn, acts.emb, M.emb, acts.embMean, acts.embRstd, T);
    K.embeddingBackward(this.g(M.word), dEmb, unpadded ? ws.i32('packedIds', T) : batch.inputIds, T, D, cfg.vocab_size);
  }

  /** position ids: 0..S-1, or fairseq's (padding_idx + 1 + the index among the row's non-padding tokens; padding_idx at padding) */
  private positions(batch: Batch): Int32Array {
    const { B, S } = batch, pos = this.ws.i32('posIds', B * S);
    if (this.family.positions === 'absolute') {
      for (let b = 0; b < B; b++) for (let s = 0; s < S; s++) pos[b * S + s] = s;
    } else {
      // HF's create_position_ids_from_input_ids: mask = ids != padding_idx; cumsum(mask) * mask + padding_idx
      const pad = this.cfg.pad_token_id ?? 1;
      for (let b = 0; b < B; b++) {
        let c = 0;
        for (let s = 0; s < S; s++) { const real = batch.inputIds[b * S + s] !== pad; if (real) c++; pos[b * S + s] = real ? c + pad : pad; }
      }
    }
    return pos;
  }

  /** the token type ids the model reads: the batch's, or zeros where the family has a single type (RoBERTa) */
  private typeIds(batch: Batch): Int32Array {
    const n = batch.B * batch.S, t = this.ws.i32('typeIds', n);
    if (this.cfg.type_vocab_size > 1) t.set(batch.tokenTypeIds.subarray(0, n)); else t.fill(0);
    return t;
  }

  /**
   * Masked-LM loss of the last forward over the given flat positions
   * (b * S + s) with their target ids: h = LayerNorm(act(dense(x))),
   * logits = h . word_embeddings^T + bias (the decoder is tied to the
   * embeddings, as in BERT). Keeps what mlmBackward needs.
   */
  mlmLoss(positions: Int32Array, targets: Int32Array): { loss: number; accuracy: number; probs: F32 } {
    if (!this.mlm) throw new Error('this model has no masked-LM head (construct it with mlmHead: true)');
    if (!this.last) throw new Error('mlmLoss() needs a forward() first');
    if (positions.length !== targets.length) throw new Error(`${positions.length} positions for ${targets.length} targets`);
    const K = this.K, ws = this.ws, cfg = this.cfg;
    const M = positions.length, V = cfg.vocab_size, N = this.last.batch.B * this.last.batch.S;
    const seq = this.MR ? this.last.acts.seqOut : this.last.acts.layers.at(-1)?.out ?? this.last.acts.x0;
    const { logits, saved } = mlmHead.forward(this.tc, { sequence: seq, positions, N });
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
    this.lastMlm = { targets, probs, saved };
    return { loss, accuracy: counted ? correct / counted : 0, probs };
  }

  /**
   * Sentence-pair loss of the last forward (NSP or SOP): logits = pooled ·
   * cls.seq_relationshipᵀ + bias, no dropout on the pooled output (as
   * google-research/bert's get_next_sentence_output); mean cross-entropy.
   */
  nspLoss(labels: Int32Array): { loss: number; accuracy: number } {
    if (!this.nsp) throw new Error('this model has no sentence-pair head (construct it with nspHead: true)');
    if (!this.last) throw new Error('nspLoss() needs a forward() first');
    const B = this.last.batch.B, ws = this.ws;
    if (labels.length !== B) throw new Error(`labels has ${labels.length} entries for a batch of ${B}`);
    const { logits, saved } = nspHead.forward(this.tc, { pooled: this.last.acts.pooled, B });
    const probs = ws.f32('nsp.probs', B * 2);
    const loss = this.K.crossEntropyForward(ws.f32('nsp.losses', B), probs, logits, labels, B, 2);
    let correct = 0;
    for (let b = 0; b < B; b++) if ((logits[2 * b + 1]! > logits[2 * b]! ? 1 : 0) === labels[b]) correct++;
    this.lastNsp = { labels, probs, saved };
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
    const probs = this.lastNsp!.probs.slice();
    this.lastNsp = null;
    return probs;
  }

  /**
   * ELECTRA's replaced-token detection on the last forward: one logit per
   * token [B·S] (a view, valid until the next call); the loss over them is the
   * caller's (pretrain/electra.ts: binary cross-entropy over real tokens).
   */
  rtdLogits(): F32 {
    if (!this.rtd) throw new Error('this model has no replaced-token detection head (construct it with rtdHead: true)');
    if (!this.last) throw new Error('rtdLogits() needs a forward() first');
    const seq = this.last.acts.layers.at(-1)?.out ?? this.last.acts.x0;
    const { logits, saved } = rtdHead.forward(this.tc, { sequence: seq, N: this.last.batch.B * this.last.batch.S });
    this.lastRtd = saved;
    return logits;
  }

  /**
   * Backward of the pretraining heads that ran after the last forward, through
   * the encoder: mlmLoss (scaled by dLoss), nspLoss (by dPair, default dLoss), and the
   * replaced-token head from its logits' gradient dRtdLogits [B·S].
   */
  pretrainBackward(dLoss = 1, dRtdLogits?: F32, dPair = dLoss): void {
    let dSeq: F32 | undefined = this.lastMlm ? this.mlmSequenceGrad(dLoss) : undefined;
    if (dRtdLogits) {
      if (!this.lastRtd) throw new Error('pretrainBackward(dLoss, dRtdLogits) needs rtdLogits() first');
      this.ensureGrads();
      const d = rtdHead.backward(this.tc, dRtdLogits, this.lastRtd).dSequence;
      if (dSeq) this.K.accumulate(dSeq, d, d.length); else dSeq = d;
      this.lastRtd = null;
    }
    let dPooled: F32 | undefined;
    if (this.lastNsp) {
      const B = this.last!.batch.B, ws = this.ws, K = this.K;
      const dLogits = ws.f32('nsp.dlogits', B * 2);
      K.crossEntropyBackward(dLogits, this.lastNsp.probs, this.lastNsp.labels, B, 2, dPair);
      dPooled = nspHead.backward(this.tc, dLogits, this.lastNsp.saved).dPooled;
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
    const { targets, probs, saved } = this.lastMlm;
    const M = saved.M, V = this.cfg.vocab_size;
    const dLogits = this.ws.f32('mlm.dlogits', M * V);
    this.K.crossEntropyBackward(dLogits, probs, targets, M, V, dLoss);
    return mlmHead.backward(this.tc, dLogits, saved).dSequence;
  }
}
