/**
 * The heads a model runs on its encoder's outputs, behind one interface:
 * their parameters (Hugging Face names), a forward from the encoder's outputs
 * to logits, and a backward from d(logits) to d(encoder outputs) while their
 * parameter gradients accumulate. Here: the sequence classifier
 * (BertForSequenceClassification's `classifier`), the sentence-pair head and
 * the masked-LM head (BertForPreTraining's `cls.seq_relationship` and
 * `cls.predictions`, ElectraForMaskedLM's generator head) and ELECTRA's
 * replaced-token detection (ElectraForPreTraining). A pair model's head (index.ts, over the registry of
 * cacheable heads) implements the same interface with two encoded sides as
 * its input. Buffers come from the model's workspace, so a training step
 * allocates nothing.
 */
import type { F32, Kernels } from '../../core/kernels.js';
import { DTYPE_F32 } from '../../core/kernels.js';
import type { Act } from '../workspace.js';
import { type BertConfig, geluIsTanh } from '../config.js';
import { familyOf, type Dense } from '../families/index.js';
import type { Spec } from './types.js';


/** what a head computes with: the model's kernels, parameters by name, workspace buffers, dense helpers */
export interface TaskContext {
  readonly K: Kernels;
  readonly cfg: BertConfig;
  /** the model's matmul dtype code (bf16 where the model runs bf16) */
  readonly dt: number;
  param(name: string): F32;
  grad(name: string): F32;
  buf(name: Act, n: number): F32;
  /** out[R, O] = x[R, In] · Wᵀ (+ b) */
  linear(out: F32, x: F32, W: string, b: string | null, R: number, O: number, In: number, dt: number): F32;
  /** dW += dYᵀ X, db += Σ dY, dX = dY · W (dX null: not needed) */
  linearBack(dY: F32, X: F32, W: string, b: string | null, R: number, O: number, In: number, dt: number, dX: F32 | null): void;
}

/** one head: `In` what it reads of the encoder, `S` what its forward keeps for its backward, `G` the encoder gradients it returns */
export interface TaskHead<In, S, G> {
  params(cfg: BertConfig, labels: number): Spec[];
  forward(c: TaskContext, input: In): { logits: F32; saved: S };
  backward(c: TaskContext, dlogits: F32, saved: S): G;
}

/** a linear classifier on the pooled output [B, D] */
export interface PooledIn { pooled: F32; B: number }

function pooledLinear(names: (cfg: BertConfig) => Dense, logitsBuf: Act, dBuf: Act, fixedLabels?: number): TaskHead<PooledIn, PooledIn & { C: number }, { dPooled: F32 }> {
  return {
    params: (cfg, labels) => { const n = names(cfg); return [[n.w, [fixedLabels ?? labels, cfg.hidden_size], 'normal', true], [n.b, [fixedLabels ?? labels], 'zeros', false]]; },
    forward(c, { pooled, B }) {
      const D = c.cfg.hidden_size, n = names(c.cfg), C = c.param(n.b).length;
      const logits = c.linear(c.buf(logitsBuf, B * C), pooled, n.w, n.b, B, C, D, DTYPE_F32);
      return { logits, saved: { pooled, B, C } };
    },
    backward(c, dLogits, { pooled, B, C }) {
      const D = c.cfg.hidden_size, n = names(c.cfg);
      const dPooled = c.buf(dBuf, B * D);
      c.linearBack(dLogits, pooled, n.w, n.b, B, C, D, DTYPE_F32, dPooled);
      return { dPooled };
    },
  };
}

/** the family's sequence classifier (BertForSequenceClassification's classifier, RoBERTa's and ELECTRA's classifier.out_proj, ...) on the pooled output after dropout; tiny: always f32 */
export const classifierHead = pooledLinear((cfg) => familyOf(cfg).classifier, 'logits', 'd.pd');

/** the sentence-pair head (NSP or SOP) on the pooled output, no dropout, as google-research/bert's get_next_sentence_output */
export const nspHead = pooledLinear((cfg) => {
  const n = familyOf(cfg).nsp;
  if (!n) throw new Error(`the next-sentence head is BERT's; this model is ${cfg.model_type}`);
  return n.dense;
}, 'nsp.logits', 'nsp.dpooled', 2);

export interface MlmIn { sequence: F32; positions: Int32Array; N: number }
export interface MlmSaved { positions: Int32Array; N: number; M: number; x: F32; pre: F32; act: F32; h: F32; mean: F32; rstd: F32 }

/** the family's masked-LM head names (families/), or an error for a family ja-bert does not pretrain */
function mlmNames(cfg: BertConfig): NonNullable<ReturnType<typeof familyOf>['mlm']> {
  const n = familyOf(cfg).mlm;
  if (!n) throw new Error(`ja-bert has no masked-LM head for ${cfg.model_type}`);
  return n;
}

/** the masked-LM head's activation: BERT's follows hidden_act, ELECTRA's generator is exact GELU, ModernBERT's is classifier_activation */
function mlmAct(cfg: BertConfig): { kind: 'gelu' | 'tanh' | 'relu'; tanhGelu: boolean } {
  const n = mlmNames(cfg);
  if (n.act === 'gelu') return { kind: 'gelu', tanhGelu: false };
  const name = n.act === 'classifier_activation' ? cfg.modernbert!.classifier_activation : cfg.hidden_act;
  return name === 'tanh' || name === 'relu' ? { kind: name, tanhGelu: false } : { kind: 'gelu', tanhGelu: geluIsTanh(name) };
}

/** which of the head's biases exist: all of them, except where ModernBERT's classifier_bias, norm_bias and decoder_bias say not */
function mlmBiases(cfg: BertConfig): { dense: boolean; ln: boolean; decoder: boolean } {
  const m = cfg.modernbert;
  return m ? { dense: m.classifier_bias, ln: m.norm_bias, decoder: m.decoder_bias } : { dense: true, ln: true, decoder: true };
}

/**
 * The masked-LM head over the flat positions (b·S + s) of the sequence
 * output: h = LayerNorm(act(dense(x))) in the embeddings' width E, logits =
 * h · word_embeddingsᵀ + bias (the decoder tied to the embeddings, as in BERT,
 * DeBERTa, ELECTRA's generator and ModernBERT; in the model's dtype). ModernBERT's
 * dense and norm are its prediction head's (head.dense, head.norm, shared with the
 * classifier), so the head adds only the decoder's bias there.
 */
export interface MlmIn { sequence: F32; positions: Int32Array; N: number }
export interface MlmSaved { positions: Int32Array; N: number; M: number; x: F32; pre: F32; act: F32; h: F32; mean: F32; rstd: F32 }

export const mlmHead: TaskHead<MlmIn, MlmSaved, { dSequence: F32 }> = {
  params: (cfg) => {
    const D = cfg.hidden_size, E = cfg.embedding_size ?? D, n = mlmNames(cfg), has = mlmBiases(cfg);
    const bias: Spec[] = has.decoder ? [[n.bias, [cfg.vocab_size], 'zeros', false]] : [];
    if (familyOf(cfg).modern) return bias;
    return [[n.dense.w, [E, D], 'normal', true], [n.dense.b, [E], 'zeros', false], [n.ln.w, [E], 'ones', false], [n.ln.b, [E], 'zeros', false], ...bias];
  },
  forward(c, { sequence, positions, N }) {
    const K = c.K, cfg = c.cfg, M = positions.length, D = cfg.hidden_size, E = cfg.embedding_size ?? D, V = cfg.vocab_size, n = mlmNames(cfg), has = mlmBiases(cfg);
    const x = c.buf('mlm.x', M * D);
    positions.forEach((p, i) => {
      if (p < 0 || p >= N) throw new Error(`masked position ${p} is outside the batch (${N} tokens)`);
      x.set(sequence.subarray(p * D, p * D + D), i * D);
    });
    const pre = c.linear(c.buf('mlm.pre', M * E), x, n.dense.w, has.dense ? n.dense.b : null, M, E, D, DTYPE_F32);
    const act = c.buf('mlm.act', M * E), a = mlmAct(cfg);
    if (a.kind === 'tanh') K.tanhForward(act, pre, M * E);
    else if (a.kind === 'relu') for (let i = 0; i < M * E; i++) act[i] = pre[i]! > 0 ? pre[i]! : 0;
    else K.geluForward(act, pre, M * E, a.tanhGelu);
    const h = c.buf('mlm.h', M * E), mean = c.buf('mlm.mean', M), rstd = c.buf('mlm.rstd', M);
    const lnB = has.ln ? c.param(n.ln.b) : c.buf('mlm.zeros', E).fill(0);
    K.layernormForward(h, mean, rstd, act, c.param(n.ln.w), lnB, M, E, cfg.layer_norm_eps);
    const logits = c.linear(c.buf('mlm.logits', M * V), h, familyOf(cfg).word, has.decoder ? n.bias : null, M, V, E, c.dt);
    return { logits, saved: { positions, N, M, x, pre, act, h, mean, rstd } };
  },
  backward(c, dLogits, { positions, N, M, x, pre, act, h, mean, rstd }) {
    const K = c.K, cfg = c.cfg, D = cfg.hidden_size, E = cfg.embedding_size ?? D, V = cfg.vocab_size, n = mlmNames(cfg), has = mlmBiases(cfg);
    // the tied decoder: its gradient joins the word-embedding gradient
    const dH = c.buf('mlm.dh', M * E);
    c.linearBack(dLogits, h, familyOf(cfg).word, has.decoder ? n.bias : null, M, V, E, c.dt, dH);
    const dAct = c.buf('mlm.dact', M * E);
    // (a bias-free norm: its bias gradient goes to a sink)
    const dLnB = has.ln ? c.grad(n.ln.b) : c.buf('mlm.sink', E);
    K.layernormBackward(dAct, c.grad(n.ln.w), dLnB, dH, act, c.param(n.ln.w), mean, rstd, M, E);
    const dPre = c.buf('mlm.dpre', M * E), a = mlmAct(cfg);
    if (a.kind === 'tanh') K.tanhBackward(dPre, act, dAct, M * E);
    else if (a.kind === 'relu') for (let i = 0; i < M * E; i++) dPre[i] = pre[i]! > 0 ? dAct[i]! : 0;
    else K.geluBackward(dPre, pre, dAct, M * E, a.tanhGelu);
    const dX = c.buf('mlm.dx', M * D);
    c.linearBack(dPre, x, n.dense.w, has.dense ? n.dense.b : null, M, E, D, DTYPE_F32, dX);
    const dSequence = c.buf('mlm.dseq', N * D);
    dSequence.fill(0);
    positions.forEach((p, i) => K.accumulate(dSequence.subarray(p * D, p * D + D), dX.subarray(i * D, i * D + D), D));
    return { dSequence };
  },
};

export interface RtdIn { sequence: F32; N: number }
export interface RtdSaved { N: number; sequence: F32; pre: F32; act: F32 }

/**
 * Replaced-token detection, ELECTRA's discriminator head
 * (ElectraDiscriminatorPredictions): logit = dense_prediction(act(dense(h)))
 * for every token of the sequence output, act the config's hidden_act; the
 * [N, D] dense runs in the model's dtype (it costs what a layer's attention
 * output does).
 */
export const rtdHead: TaskHead<RtdIn, RtdSaved, { dSequence: F32 }> = {
  params: (cfg) => {
    const D = cfg.hidden_size, n = familyOf(cfg).rtd;
    if (!n) throw new Error(`ja-bert has no replaced-token detection head for ${cfg.model_type ?? 'bert'}`);
    return [[n.dense.w, [D, D], 'normal', true], [n.dense.b, [D], 'zeros', false], [n.prediction.w, [1, D], 'normal', true], [n.prediction.b, [1], 'zeros', false]];
  },
  forward(c, { sequence, N }) {
    const cfg = c.cfg, D = cfg.hidden_size, n = familyOf(cfg).rtd!;
    const pre = c.linear(c.buf('rtd.pre', N * D), sequence, n.dense.w, n.dense.b, N, D, D, c.dt);
    const act = c.buf('rtd.act', N * D);
    c.K.geluForward(act, pre, N * D, geluIsTanh(cfg.hidden_act));
    const logits = c.linear(c.buf('rtd.logits', N), act, n.prediction.w, n.prediction.b, N, 1, D, DTYPE_F32);
    return { logits, saved: { N, sequence, pre, act } };
  },
  backward(c, dLogits, { N, sequence, pre, act }) {
    const cfg = c.cfg, D = cfg.hidden_size, n = familyOf(cfg).rtd!;
    const dAct = c.buf('rtd.dact', N * D);
    c.linearBack(dLogits, act, n.prediction.w, n.prediction.b, N, 1, D, DTYPE_F32, dAct);
    const dPre = c.buf('rtd.dpre', N * D);
    c.K.geluBackward(dPre, pre, dAct, N * D, geluIsTanh(cfg.hidden_act));
    const dSequence = c.buf('rtd.dseq', N * D);
    c.linearBack(dPre, sequence, n.dense.w, n.dense.b, N, D, D, c.dt, dSequence);
    return { dSequence };
  },
};
