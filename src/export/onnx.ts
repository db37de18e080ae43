/**
 * A BERT as an ONNX graph (opset 17), written with onnx-proto's protobuf
 * classes: the embeddings (word + position + token type, LayerNorm), the
 * post-LN encoder layers (self-attention with the additive −10000 mask, erf or
 * tanh GELU), the pooler, and one of three tops: a classifier on the pooled
 * output (`logits` [batch, labels]; the sequence classifier, or the pretrained
 * next-sentence head), the masked-LM head (`logits` [batch, sequence, vocab],
 * its decoder tied to the word embeddings), or none (`last_hidden_state`,
 * `pooler_output`). Inputs as Hugging Face's exporter names them: input_ids,
 * attention_mask, token_type_ids (int64, [batch, sequence], both axes dynamic).
 *
 * int8 (`quantize`): ONNX Runtime's dynamic quantisation, written directly:
 * every weight MatMul becomes DynamicQuantizeLinear (activations to uint8, a
 * scale and zero point per call) → MatMulInteger against int8 weights with one
 * scale per output column (symmetric, zero point 0) → Cast → Mul by the two
 * scales; the word-embedding table is stored int8 with one scale per row and
 * dequantised after the Gather. Attention's activation-by-activation products,
 * LayerNorm, softmax and the small tables stay f32.
 */
import onnxProto from 'onnx-proto';
import type { Bert } from '../model/bert.js';
import { geluIsTanh } from '../model/config.js';
import { MASK_NEG } from '../core/kernels.js';
import { quantizeRows } from '../core/quant.js';
import { debertaSpan, relativeIndex } from '../model/families/deberta.js';
import { modernLayerKind, ropeInvFreq } from '../model/families/modernbert.js';

const { onnx } = onnxProto;
type Attr = number | number[] | string;
const FLOAT = onnx.TensorProto.DataType.FLOAT, INT64 = onnx.TensorProto.DataType.INT64, INT8 = onnx.TensorProto.DataType.INT8;

export type OnnxTask = 'text-classification' | 'fill-mask' | 'feature-extraction';

export interface OnnxOptions {
  task: OnnxTask;
  /** for text-classification: the classifier's parameter prefix (the family's classifier, or its next-sentence head's) */
  classifier?: string;
  quantize?: boolean;
  opset?: number;
  producerVersion?: string;
}

const bytes = (a: Float32Array | Int8Array | BigInt64Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** nodes and initialisers, with fresh value names */
class GraphBuilder {
  readonly nodes: Array<InstanceType<typeof onnx.NodeProto>> = [];
  readonly inits: Array<InstanceType<typeof onnx.TensorProto>> = [];
  private n = 0;
  private consts = new Map<string, string>();

  /** one node; returns its outputs' names */
  opN(type: string, inputs: string[], outputs: number | string[], attrs: Record<string, Attr> = {}): string[] {
    const outs = typeof outputs === 'number' ? Array.from({ length: outputs }, () => `${type.toLowerCase()}_${this.n++}`) : outputs;
    const attribute = Object.entries(attrs).map(([name, v]) => {
      if (typeof v === 'string') return { name, type: onnx.AttributeProto.AttributeType.STRING, s: new TextEncoder().encode(v) };
      if (Array.isArray(v)) return { name, type: onnx.AttributeProto.AttributeType.INTS, ints: v };
      return Number.isInteger(v) && name !== 'epsilon' && name !== 'alpha' ? { name, type: onnx.AttributeProto.AttributeType.INT, i: v } : { name, type: onnx.AttributeProto.AttributeType.FLOAT, f: v };
    });
    this.nodes.push(onnx.NodeProto.create({ opType: type, input: inputs, output: outs, name: `${type}_${this.nodes.length}`, attribute }));
    return outs;
  }

  op(type: string, inputs: string[], attrs: Record<string, Attr> = {}, output?: string): string {
    return this.opN(type, inputs, output ? [output] : 1, attrs)[0]!;
  }

  f32(name: string, dims: number[], data: Float32Array): string {
    this.inits.push(onnx.TensorProto.create({ name, dims, dataType: FLOAT, rawData: bytes(data) }));
    return name;
  }

  i8(name: string, dims: number[], data: Int8Array): string {
    this.inits.push(onnx.TensorProto.create({ name, dims, dataType: INT8, rawData: bytes(data) }));
    return name;
  }

  i64(name: string, dims: number[], values: number[]): string {
    this.inits.push(onnx.TensorProto.create({ name, dims, dataType: INT64, rawData: bytes(BigInt64Array.from(values, (v) => BigInt(v))) }));
    return name;
  }

  /** a named scalar or vector constant, stored once */
  scalar(v: number): string {
    const key = `f${v}`;
    if (!this.consts.has(key)) this.consts.set(key, this.f32(`const_f32_${this.consts.size}`, [], Float32Array.of(v)));
    return this.consts.get(key)!;
  }

  ints(v: number[]): string {
    const key = `i${v.join(',')}`;
    if (!this.consts.has(key)) this.consts.set(key, this.i64(`const_i64_${this.consts.size}`, [v.length], v));
    return this.consts.get(key)!;
  }

  int(v: number): string {
    const key = `s${v}`;
    if (!this.consts.has(key)) this.consts.set(key, this.i64(`const_i64s_${this.consts.size}`, [], [v]));
    return this.consts.get(key)!;
  }
}

/** what a local layer adds to scores outside its window: far below MASK_NEG, so that a padded key inside the window still outweighs
 *  a key outside it, and exp() of it is 0 (HF fills with float32's minimum) */
const WINDOW_NEG = -1e30;

/** W [out, in] (PyTorch's Linear layout) transposed to [in, out] for MatMul */
function transposed(w: Float32Array, out: number, inp: number): Float32Array {
  const t = new Float32Array(w.length);
  for (let o = 0; o < out; o++) for (let i = 0; i < inp; i++) t[i * out + o] = w[o * inp + i]!;
  return t;
}

/** the model as ONNX bytes */
export function bertToOnnx(model: Bert, o: OnnxOptions): Uint8Array {
  const cfg = model.cfg, D = cfg.hidden_size, H = cfg.num_attention_heads, dh = D / H, I = cfg.intermediate_size, eps = cfg.layer_norm_eps;
  const g = new GraphBuilder(), q = o.quantize ?? false;
  const rel = model.family.disentangled && cfg.deberta?.relative_attention ? cfg.deberta : null;
  if (!model.family.pos && !model.family.disentangled && !model.family.modern) throw new Error(`bertToOnnx: ${cfg.model_type} has no ONNX graph yet`);
  const posTable = model.family.pos;
  const P = (name: string) => model.param(name);
  /** a bias where the model has one (ModernBERT's are off by its *_bias flags) */
  const bias = (name: string): Float32Array | null => (model.layout.byName.has(name) ? P(name) : null);

  /** a Linear's initialisers, made once per prefix (DeBERTa's shared keys project the relative-position table with the layer's own key_proj) */
  const made = new Map<string, string[]>();
  const once = (prefix: string, make: () => string[]): string[] => {
    let v = made.get(prefix);
    if (!v) { v = make(); made.set(prefix, v); }
    return v;
  };
  /** x · Wᵀ + b for a Linear named `prefix` ([out, in] weight) */
  const linear = (x: string, prefix: string, out: number, inp: number): string => {
    const w = P(`${prefix}.weight`);
    const bv = bias(`${prefix}.bias`);
    const addBias = (y: string, b: string | undefined) => (b ? g.op('Add', [y, b]) : y);
    if (!q) {
      const [wT, b] = once(prefix, () => [g.f32(`${prefix}.weight_T`, [inp, out], transposed(w, out, inp)), ...(bv ? [g.f32(`${prefix}.bias`, [out], bv)] : [])]);
      return addBias(g.op('MatMul', [x, wT!]), b);
    }
    // per output channel: quantise W's rows (= the columns of Wᵀ), then store Wᵀ
    const [wqT, ws, b] = once(prefix, () => {
      const { q: wq, scale } = quantizeRows(w, out, inp);
      const t = new Int8Array(wq.length);
      for (let r = 0; r < out; r++) for (let c = 0; c < inp; c++) t[c * out + r] = wq[r * inp + c]!;
      return [g.i8(`${prefix}.weight_T_quantized`, [inp, out], t), g.f32(`${prefix}.weight_scale`, [out], scale), ...(bv ? [g.f32(`${prefix}.bias`, [out], bv)] : [])];
    });
    const [xq, xs, xz] = g.opN('DynamicQuantizeLinear', [x], 3);
    const acc = g.op('MatMulInteger', [xq!, wqT!, xz!]);
    const scales = g.op('Mul', [xs!, ws!]);
    return addBias(g.op('Mul', [g.op('Cast', [acc], { to: FLOAT }), scales]), b);
  };
  // (LayerNormalization's bias is optional: ModernBERT's norms have none unless norm_bias)
  const layerNorm = (x: string, prefix: string, width = D): string => {
    const b = bias(`${prefix}.bias`);
    return g.op('LayerNormalization', [x, g.f32(`${prefix}.weight`, [width], P(`${prefix}.weight`)), ...(b ? [g.f32(`${prefix}.bias`, [width], b)] : [])], { axis: -1, epsilon: eps });
  };
  const F = model.family, E = cfg.embedding_size ?? D;
  const stem = (d: { w: string }): string => d.w.replace(/\.weight$/, '');
  const withTypes = F.type !== null && cfg.type_vocab_size > 1;
  const gelu = (x: string, tanh = geluIsTanh(cfg.hidden_act)): string => {
    if (tanh) {
      // 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))
      const x3 = g.op('Mul', [g.op('Mul', [x, x]), x]);
      const inner = g.op('Mul', [g.op('Add', [x, g.op('Mul', [x3, g.scalar(0.044715)])]), g.scalar(Math.sqrt(2 / Math.PI))]);
      return g.op('Mul', [g.op('Mul', [x, g.scalar(0.5)]), g.op('Add', [g.op('Tanh', [inner]), g.scalar(1)])]);
    }
    // 0.5 x (1 + erf(x / √2))
    return g.op('Mul', [g.op('Mul', [x, g.scalar(0.5)]), g.op('Add', [g.op('Erf', [g.op('Div', [x, g.scalar(Math.SQRT2)])]), g.scalar(1)])]);
  };

  // embeddings (the family's names, families/): word + position (+ token type) in width E, LayerNorm, (ELECTRA) projected to D
  const wordName = F.word, V = cfg.vocab_size;
  let words: string;
  if (q) {
    const { q: tq, scale } = quantizeRows(P(wordName), V, E);
    const rows = g.op('Cast', [g.op('Gather', [g.i8(`${wordName}_quantized`, [V, E], tq), 'input_ids'], { axis: 0 })], { to: FLOAT });
    const rowScale = g.op('Unsqueeze', [g.op('Gather', [g.f32(`${wordName}_scale`, [V], scale), 'input_ids'], { axis: 0 }), g.ints([-1])]);
    words = g.op('Mul', [rows, rowScale]);
  } else words = g.op('Gather', [g.f32(wordName, [V, E], P(wordName)), 'input_ids'], { axis: 0 });
  // the position ids, for a family with a position table
  const positionIds = (): string => {
    if (F.positions === 'absolute') {
      const seqLen = g.op('Gather', [g.op('Shape', ['input_ids']), g.int(1)], { axis: 0 });
      return g.op('Range', [g.int(0), seqLen, g.int(1)]);
    }
    // fairseq's: padding_idx + the running count of non-padding tokens, padding_idx at padding (HF's create_position_ids_from_input_ids)
    const pad = cfg.pad_token_id ?? 1;
    const real = g.op('Cast', [g.op('Not', [g.op('Equal', ['input_ids', g.int(pad)])])], { to: INT64 });
    return g.op('Add', [g.op('Mul', [g.op('CumSum', [real, g.int(1)]), real]), g.int(pad)]);
  };
  // (DeBERTa without position_biased_input and ModernBERT: no absolute positions)
  let sum = posTable ? g.op('Add', [words, g.op('Gather', [g.f32(posTable, [cfg.max_position_embeddings, E], P(posTable)), positionIds()], { axis: 0 })]) : words;
  if (F.type && withTypes) sum = g.op('Add', [sum, g.op('Gather', [g.f32(F.type, [cfg.type_vocab_size, E], P(F.type)), 'token_type_ids'], { axis: 0 })]);
  // one token type (RoBERTa): its row is added to every position
  else if (F.type) sum = g.op('Add', [sum, g.f32(`${F.type}_row0`, [E], P(F.type).slice(0, E))]);
  let x = layerNorm(sum, stem(F.embLn), E);
  if (F.proj) x = linear(x, stem(F.proj), D, E);

  // the additive mask [batch, 1, 1, sequence]: 0 where attended, −10000 where padded
  const maskF = g.op('Unsqueeze', [g.op('Cast', ['attention_mask'], { to: FLOAT }), g.ints([1, 2])]);
  const maskAdd = g.op('Mul', [g.op('Sub', [g.scalar(1), maskF]), g.scalar(MASK_NEG)]);
  const heads = g.ints([0, 0, H, dh]), merged = g.ints([0, 0, D]);
  // DeBERTa: the relative-position table after its LayerNorm (a constant), and the index of query i and key j into it,
  // relativeIndex(i − j) looked up in a constant table over every difference the positions allow
  let relRows = '', relIdx = '', relIdxT = '', span = 0;
  if (rel) {
    const d = F.disentangled!, M = cfg.max_position_embeddings;
    span = debertaSpan(rel, M);
    const table = P(d.relEmb).slice(0, 2 * span * D);
    if (rel.norm_rel_ebd) {
      const w = P(d.relNorm.w), b = P(d.relNorm.b);
      for (let r = 0; r < 2 * span; r++) {
        const row = table.subarray(r * D, (r + 1) * D);
        let mean = 0, v = 0;
        for (const t of row) mean += t;
        mean /= D;
        for (const t of row) v += (t - mean) ** 2;
        const rstd = 1 / Math.sqrt(v / D + eps);
        for (let c = 0; c < D; c++) row[c] = (row[c]! - mean) * rstd * w[c]! + b[c]!;
      }
    }
    relRows = g.f32('deberta.encoder.rel_embeddings_normed', [2 * span, D], table);
    const byDiff = Array.from({ length: 2 * M - 1 }, (_, k) => relativeIndex(k - (M - 1), 0, rel, M));
    const r = g.op('Range', [g.int(0), g.op('Gather', [g.op('Shape', ['input_ids']), g.int(1)], { axis: 0 }), g.int(1)]);
    const diff = g.op('Sub', [g.op('Unsqueeze', [r, g.ints([1])]), g.op('Unsqueeze', [r, g.ints([0])])]);
    relIdx = g.op('Gather', [g.i64('deberta.relative_index_by_difference', [2 * M - 1], byDiff), g.op('Add', [diff, g.int(M - 1)])], { axis: 0 });
    relIdxT = g.op('Transpose', [relIdx], { perm: [1, 0] });
  }
  /**
   * ModernBERT's pre-norm layers (families/modernbert.ts) and final_norm: attn_norm (none on layer 0), Wqkv split in three, rotary q
   * and k (rotate-half, cos and sin of position · inv_freq computed in float32 from the input's length, each layer's theta), the
   * padding mask plus, on a local layer, the window |i − j| ≤ local_attention / 2 as an additive constant of the input's length,
   * Wo and the residual; mlp_norm, Wi split into input and gate, act(input) · gate, Wo and the residual.
   */
  function modernEncoder(x0: string): string {
    const m = cfg.modernbert!, M = F.modern!;
    const seqLen = g.op('Gather', [g.op('Shape', ['input_ids']), g.int(1)], { axis: 0 });
    const r = g.op('Range', [g.int(0), seqLen, g.int(1)]);
    const posF = g.op('Unsqueeze', [g.op('Cast', [r], { to: FLOAT }), g.ints([1])]);
    const ropes = new Map<number, { cos: string; sin: string }>();
    const rope = (theta: number) => {
      let t = ropes.get(theta);
      if (!t) {
        const freqs = g.op('Mul', [posF, g.f32(`rope_inv_freq_${ropes.size}`, [dh / 2], ropeInvFreq(theta, dh))]);
        const emb = g.op('Concat', [freqs, freqs], { axis: -1 });
        t = { cos: g.op('Cos', [emb]), sin: g.op('Sin', [emb]) };
        ropes.set(theta, t);
      }
      return t;
    };
    // rotate_half(t) = cat(−t[..., dh/2:], t[..., :dh/2]); t · cos + rotate_half(t) · sin
    const halves = g.ints([dh / 2, dh / 2]);
    const rotary = (t: string, c: { cos: string; sin: string }) => {
      const [a, b] = g.opN('Split', [t, halves], 2, { axis: -1 });
      const rot = g.op('Concat', [g.op('Neg', [b!]), a!], { axis: -1 });
      return g.op('Add', [g.op('Mul', [t, c.cos]), g.op('Mul', [rot, c.sin])]);
    };
    const diff = g.op('Sub', [g.op('Unsqueeze', [r, g.ints([1])]), g.op('Unsqueeze', [r, g.ints([0])])]);
    const inWindow = g.op('LessOrEqual', [g.op('Abs', [diff]), g.int(Math.floor(m.local_attention / 2))]);
    const windowAdd = g.op('Add', [maskAdd, g.op('Where', [inWindow, g.scalar(0), g.scalar(WINDOW_NEG)])]);
    const thirds = g.ints([D, D, D]), scale = 1 / Math.sqrt(dh);
    const split = (t: string, perm: number[]) => g.op('Transpose', [g.op('Reshape', [t, heads])], { perm });
    let x = x0;
    for (let l = 0; l < cfg.num_hidden_layers; l++) {
      const n = M.layer(l), kind = modernLayerKind(m, l), c = rope(kind.theta);
      const inp = n.attnNorm ? layerNorm(x, n.attnNorm) : x;
      const [qs, ks, vs] = g.opN('Split', [linear(inp, n.wqkv, 3 * D, D), thirds], 3, { axis: -1 });
      const qh = rotary(split(qs!, [0, 2, 1, 3]), c), kh = rotary(split(ks!, [0, 2, 1, 3]), c), vh = split(vs!, [0, 2, 1, 3]);
      const raw = g.op('MatMul', [qh, g.op('Transpose', [kh], { perm: [0, 1, 3, 2] })]);
      const scores = g.op('Add', [g.op('Mul', [raw, g.scalar(scale)]), kind.local ? windowAdd : maskAdd]);
      const ctx = g.op('Reshape', [g.op('Transpose', [g.op('MatMul', [g.op('Softmax', [scores], { axis: -1 }), vh])], { perm: [0, 2, 1, 3] }), merged]);
      x = g.op('Add', [x, linear(ctx, n.wo, D, D)]);
      const [input, gate] = g.opN('Split', [linear(layerNorm(x, n.mlpNorm), n.wi, 2 * I, D), g.ints([I, I])], 2, { axis: -1 });
      x = g.op('Add', [x, linear(g.op('Mul', [gelu(input!), gate!]), n.mlpWo, D, I)]);
    }
    return layerNorm(x, M.finalNorm);
  }

  // (the scores' divisor: sqrt(head_dim), DeBERTa's sqrt(head_dim · (1 + its relative terms)))
  const scoreScale = 1 / Math.sqrt(dh * (1 + (cfg.deberta?.pos_att_type.length ?? 0)));
  if (F.modern) x = modernEncoder(x);
  for (let l = 0; l < cfg.num_hidden_layers && !F.modern; l++) {
    const n = F.layer(l);
    const split = (t: string, perm: number[]) => g.op('Transpose', [g.op('Reshape', [t, heads])], { perm });
    const qh = split(linear(x, stem(n.q), D, D), [0, 2, 1, 3]);
    const kOut = linear(x, stem(n.k), D, D);
    const kh = split(kOut, [0, 2, 3, 1]);
    const vh = split(linear(x, stem(n.v), D, D), [0, 2, 1, 3]);
    let raw = g.op('MatMul', [qh, kh]);
    if (rel) {
      // c2p: q · pos_keyᵀ [B, H, S, 2·span] gathered at idx[i, j]; p2c: k · pos_queryᵀ gathered at idx[i, j] along the key's row, transposed
      const full = g.op('Shape', [raw]);
      const posT = (prefix: string) => g.op('Transpose', [g.op('Reshape', [linear(relRows, prefix, D, D), g.ints([2 * span, H, dh])])], { perm: [1, 2, 0] });
      if (rel.pos_att_type.includes('c2p')) {
        const pk = rel.share_att_key ? stem(n.k) : stem(F.disentangled!.posKey(l));
        raw = g.op('Add', [raw, g.op('GatherElements', [g.op('MatMul', [qh, posT(pk)]), g.op('Expand', [relIdx, full])], { axis: 3 })]);
      }
      if (rel.pos_att_type.includes('p2c')) {
        const pq = rel.share_att_key ? stem(n.q) : stem(F.disentangled!.posQuery(l));
        const kr = split(kOut, [0, 2, 1, 3]);
        const p2c = g.op('GatherElements', [g.op('MatMul', [kr, posT(pq)]), g.op('Expand', [relIdxT, full])], { axis: 3 });
        raw = g.op('Add', [raw, g.op('Transpose', [p2c], { perm: [0, 1, 3, 2] })]);
      }
    }
    const scores = g.op('Add', [g.op('Mul', [raw, g.scalar(scoreScale)]), maskAdd]);
    const ctx = g.op('Reshape', [g.op('Transpose', [g.op('MatMul', [g.op('Softmax', [scores], { axis: -1 }), vh])], { perm: [0, 2, 1, 3] }), merged]);
    const h1 = layerNorm(g.op('Add', [linear(ctx, stem(n.ao), D, D), x]), stem(n.ln1));
    const inter = gelu(linear(h1, stem(n.inter), I, D));
    x = layerNorm(g.op('Add', [linear(inter, stem(n.out), D, I), h1]), stem(n.ln2));
  }

  const outputs: Array<{ name: string; dims: Array<string | number> }> = [];
  // the pooler on the first token: BERT's tanh, or the family head's first layer (tanh, exact GELU, ReLU)
  const pooled = () => {
    if (F.modern) return modernHead();
    const pre = linear(g.op('Gather', [x, g.int(0)], { axis: 1 }), stem(F.pooler), D, D);
    if (F.poolerAct === 'tanh') return g.op('Tanh', [pre]);
    if (F.poolerAct === 'relu') return g.op('Relu', [pre]);
    return g.op('Mul', [g.op('Mul', [pre, g.scalar(0.5)]), g.op('Add', [g.op('Erf', [g.op('Div', [pre, g.scalar(Math.SQRT2)])]), g.scalar(1)])]);
  };
  /** ModernBertPredictionHead on the first token or the mean over attention_mask (classifier_pooling): dense, classifier_activation, norm */
  function modernHead(): string {
    const m = cfg.modernbert!;
    let first: string;
    if (m.classifier_pooling === 'cls') first = g.op('Gather', [x, g.int(0)], { axis: 1 });
    else {
      const w = g.op('Unsqueeze', [g.op('Cast', ['attention_mask'], { to: FLOAT }), g.ints([-1])]);
      first = g.op('Div', [g.op('ReduceSum', [g.op('Mul', [x, w]), g.ints([1])], { keepdims: 0 }), g.op('ReduceSum', [w, g.ints([1])], { keepdims: 0 })]);
    }
    const pre = linear(first, stem(F.pooler), D, D), act = m.classifier_activation;
    const a = act === 'tanh' ? g.op('Tanh', [pre]) : act === 'relu' ? g.op('Relu', [pre]) : gelu(pre, geluIsTanh(act));
    return layerNorm(a, F.modern!.headNorm);
  }
  if (o.task === 'text-classification') {
    const prefix = o.classifier ?? stem(F.classifier), C = P(`${prefix}.bias`).length;
    g.op('Identity', [linear(pooled(), prefix, C, D)], {}, 'logits');
    outputs.push({ name: 'logits', dims: ['batch_size', C] });
  } else if (o.task === 'fill-mask') {
    // the family's masked-LM head (families/): dense hidden → E, its activation (hidden_act, exact GELU, or ModernBERT's
    // classifier_activation), LayerNorm in E (biases where the model has them)
    const m = F.mlm;
    if (!m) throw new Error(`no masked-LM head for ${cfg.model_type}`);
    const pre = linear(x, stem(m.dense), E, D);
    const actName = m.act === 'gelu' ? 'gelu' : m.act === 'classifier_activation' ? cfg.modernbert!.classifier_activation : cfg.hidden_act;
    const act = actName === 'tanh' ? g.op('Tanh', [pre]) : actName === 'relu' ? g.op('Relu', [pre]) : gelu(pre, geluIsTanh(actName));
    const t = layerNorm(act, stem(m.ln), E);
    // the decoder is the word-embedding table (tied), kept f32 here; its own bias where it has one
    const dec = g.f32(m.bias.replace(/bias$/, 'decoder.weight_T'), [E, V], transposed(P(wordName), V, E));
    const db = bias(m.bias);
    g.op(db ? 'Add' : 'Identity', [g.op('MatMul', [t, dec]), ...(db ? [g.f32(m.bias, [V], db)] : [])], {}, 'logits');
    outputs.push({ name: 'logits', dims: ['batch_size', 'sequence_length', V] });
  } else {
    g.op('Identity', [pooled()], {}, 'pooler_output');
    g.op('Identity', [x], {}, 'last_hidden_state');
    outputs.push({ name: 'last_hidden_state', dims: ['batch_size', 'sequence_length', D] }, { name: 'pooler_output', dims: ['batch_size', D] });
  }

  const tensorType = (elemType: number, dims: Array<string | number>) => ({ tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } });
  // token_type_ids only where the model reads them (RoBERTa's single type and DistilBERT take none, as HF's ONNX exports of them)
  const input = ['input_ids', 'attention_mask', ...(withTypes ? ['token_type_ids'] : [])].map((name) => ({ name, type: tensorType(INT64, ['batch_size', 'sequence_length']) }));
  const model_ = onnx.ModelProto.create({
    irVersion: 8, producerName: 'ja-bert', producerVersion: o.producerVersion ?? '', opsetImport: [{ domain: '', version: o.opset ?? 17 }],
    graph: { name: 'bert', node: g.nodes, initializer: g.inits, input, output: outputs.map((u) => ({ name: u.name, type: tensorType(FLOAT, u.dims) })) },
  });
  return onnx.ModelProto.encode(model_).finish();
}
