/**
 * The heads a model runs on its encoder's outputs, behind one interface:
 * their parameters (Hugging Face names), a forward from the encoder's outputs
 * to logits, and a backward from d(logits) to d(encoder outputs) while their
 * parameter gradients accumulate. Here: the sequence classifier
 * (BertForSequenceClassification's `classifier`), the sentence-pair head and
 * the masked-LM head (BertForPreTraining's `cls.seq_relationship` and
 * `cls.predictions`). A pair model's head (index.ts, over the registry of
 * cacheable heads) implements the same interface with two encoded sides as
 * its input. Buffers come from the model's workspace, so a training step
 * allocates nothing.
 */
import type { F32, Kernels } from '../../core/kernels.js';
import { DTYPE_F32 } from '../../core/kernels.js';
import type { Act } from '../workspace.js';
import { type BertConfig, geluIsTanh } from '../config.js';
import { familyOf, type Dense } from '../family.js';

/** a parameter: name, shape, initialisation, whether weight decay applies */
export type TaskSpec = [name: string, shape: number[], init: 'normal' | 'zeros' | 'ones', decay: boolean];

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
  params(cfg: BertConfig, labels: number): TaskSpec[];
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
export const nspHead = pooledLinear(() => ({ w: 'cls.seq_relationship.weight', b: 'cls.seq_relationship.bias' }), 'nsp.logits', 'nsp.dpooled', 2);

export interface MlmIn { sequence: F32; positions: Int32Array; N: number }
export interface MlmSaved { positions: Int32Array; N: number; M: number; x: F32; pre: F32; act: F32; h: F32; mean: F32; rstd: F32 }

/**
 * The masked-LM head over the flat positions (b·S + s) of the sequence
 * output: h = LayerNorm(act(dense(x))), logits = h · word_embeddingsᵀ + bias
 * (the decoder tied to the embeddings, as in BERT; in the model's dtype).
 */
export const mlmHead: TaskHead<MlmIn, MlmSaved, { dSequence: F32 }> = {
  params: (cfg) => {
    const D = cfg.hidden_size;
    return [['cls.predictions.transform.dense.weight', [D, D], 'normal', true], ['cls.predictions.transform.dense.bias', [D], 'zeros', false],
      ['cls.predictions.transform.LayerNorm.weight', [D], 'ones', false], ['cls.predictions.transform.LayerNorm.bias', [D], 'zeros', false],
      ['cls.predictions.bias', [cfg.vocab_size], 'zeros', false]];
  },
  forward(c, { sequence, positions, N }) {
    const K = c.K, cfg = c.cfg, M = positions.length, D = cfg.hidden_size, V = cfg.vocab_size;
    const x = c.buf('mlm.x', M * D);
    positions.forEach((p, i) => {
      if (p < 0 || p >= N) throw new Error(`masked position ${p} is outside the batch (${N} tokens)`);
      x.set(sequence.subarray(p * D, p * D + D), i * D);
    });
    const pre = c.linear(c.buf('mlm.pre', M * D), x, 'cls.predictions.transform.dense.weight', 'cls.predictions.transform.dense.bias', M, D, D, DTYPE_F32);
    const act = c.buf('mlm.act', M * D);
    K.geluForward(act, pre, M * D, geluIsTanh(cfg.hidden_act));
    const h = c.buf('mlm.h', M * D), mean = c.buf('mlm.mean', M), rstd = c.buf('mlm.rstd', M);
    K.layernormForward(h, mean, rstd, act, c.param('cls.predictions.transform.LayerNorm.weight'), c.param('cls.predictions.transform.LayerNorm.bias'), M, D, cfg.layer_norm_eps);
    const logits = c.linear(c.buf('mlm.logits', M * V), h, familyOf(cfg).word, 'cls.predictions.bias', M, V, D, c.dt);
    return { logits, saved: { positions, N, M, x, pre, act, h, mean, rstd } };
  },
  backward(c, dLogits, { positions, N, M, x, pre, act, h, mean, rstd }) {
    const K = c.K, cfg = c.cfg, D = cfg.hidden_size, V = cfg.vocab_size;
    // the tied decoder: its gradient joins the word-embedding gradient
    const dH = c.buf('mlm.dh', M * D);
    c.linearBack(dLogits, h, familyOf(cfg).word, 'cls.predictions.bias', M, V, D, c.dt, dH);
    const dAct = c.buf('mlm.dact', M * D);
    K.layernormBackward(dAct, c.grad('cls.predictions.transform.LayerNorm.weight'), c.grad('cls.predictions.transform.LayerNorm.bias'), dH, act,
      c.param('cls.predictions.transform.LayerNorm.weight'), mean, rstd, M, D);
    const dPre = c.buf('mlm.dpre', M * D);
    K.geluBackward(dPre, pre, dAct, M * D, geluIsTanh(cfg.hidden_act));
    const dX = c.buf('mlm.dx', M * D);
    c.linearBack(dPre, x, 'cls.predictions.transform.dense.weight', 'cls.predictions.transform.dense.bias', M, D, D, DTYPE_F32, dX);
    const dSequence = c.buf('mlm.dseq', N * D);
    dSequence.fill(0);
    positions.forEach((p, i) => K.accumulate(dSequence.subarray(p * D, p * D + D), dX.subarray(i * D, i * D + D), D));
    return { dSequence };
  },
};
