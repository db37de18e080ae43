/**
 * ModernBERT (ModernBertModel, ModernBertForSequenceClassification, ModernBertForMaskedLM's encoder; sbintuitions'
 * modernbert-ja, ruri-v3): word embeddings only (positions are rotary), then pre-norm layers — attn_norm (an identity on
 * layer 0), Wqkv, rotary q and k (global_rope_theta on global layers, local_rope_theta on local ones), attention over
 * every key on global layers (every global_attn_every_n_layers-th, from 0) and over keys within local_attention / 2
 * positions elsewhere, Wo, residual; mlp_norm, Wi → GeGLU (act(input) · gate), Wo, residual — then final_norm. The
 * classification head is ModernBertPredictionHead (dense, classifier_activation, norm) on the first token or the mean of
 * the real tokens (classifier_pooling), dropout, classifier. LayerNorms and linears carry biases only where norm_bias,
 * attention_bias, mlp_bias and classifier_bias say so (all false in the published models).
 *
 * config.json uses ModernBertConfig's keys; they are read into BertConfig's (hidden_activation → hidden_act, norm_eps →
 * layer_norm_eps, ...) plus `modernbert` for what BERT has no key for, and written back under their own names.
 */
import { configBool, dense, type FamilyDecl, type ModernBertFields } from './types.js';

/** layer l's attention as HF decides it: local (a sliding window) when l is not a multiple of global_attn_every_n_layers, its rotary
 *  base by layer_types (the two agree in published configs; HF reads each from its own field) */
export function modernLayerKind(m: ModernBertFields, l: number): { local: boolean; theta: number } {
  return { local: l % m.global_attn_every_n_layers !== 0, theta: m.layer_types[l] === 'sliding_attention' ? m.local_rope_theta : m.global_rope_theta };
}

/** ModernBertRotaryEmbedding's inv_freq, 1 / theta ** (arange(0, dh, 2) / dh), each step rounded to float32 as torch computes it */
export function ropeInvFreq(theta: number, dh: number): Float32Array {
  const f = Math.fround;
  return Float32Array.from({ length: dh / 2 }, (_, j) => 1 / f(theta ** f((2 * j) / dh)));
}

const ACTS = ['gelu', 'gelu_new', 'gelu_pytorch_tanh'];
const HEAD_ACTS = [...ACTS, 'relu', 'tanh'];

/** ModernBertConfig's keys and defaults → BertConfig's keys and `modernbert`; an Error naming the field for what ja-bert cannot run */
function configIn(raw: Record<string, unknown>): Record<string, unknown> {
  const bool = (k: string, d: boolean): boolean => configBool(raw, k, d);
  const num = (k: string, d: number, o: { integer?: boolean; positive?: boolean; max?: number } = {}): number => {
    const v = raw[k];
    if (v === undefined || v === null) return d;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (o.positive && v === 0) || (o.integer && !Number.isInteger(v)) || (o.max !== undefined && v > o.max)) {
      throw new Error(`"${k}" must be a ${o.positive ? 'positive' : 'non-negative'} ${o.integer ? 'integer' : 'number'}${o.max !== undefined ? ` no larger than ${o.max}` : ''}, got ${JSON.stringify(v)}`);
    }
    return v;
  };
  const str = (k: string, d: string, allowed: string[]): string => {
    const v = raw[k] ?? d;
    if (typeof v !== 'string' || !allowed.includes(v)) throw new Error(`"${k}" is ${JSON.stringify(v)}; ja-bert runs ${allowed.join(', ')}`);
    return v;
  };
  const layers = raw.num_hidden_layers;
  const every = num('global_attn_every_n_layers', 3, { integer: true, positive: true });
  // rotary thetas: the legacy keys, or rope_parameters {full_attention, sliding_attention} (transformers ≥ 5), default rope only
  let globalTheta = num('global_rope_theta', 160_000, { positive: true }), localTheta = num('local_rope_theta', 10_000, { positive: true });
  const rp = raw.rope_parameters ?? raw.rope_scaling;
  if (rp !== undefined && rp !== null) {
    if (typeof rp !== 'object' || Array.isArray(rp)) throw new Error(`"rope_parameters" must be an object, got ${JSON.stringify(rp)}`);
    for (const [kind, v] of Object.entries(rp as Record<string, unknown>)) {
      if (kind !== 'full_attention' && kind !== 'sliding_attention') throw new Error(`"rope_parameters" has "${kind}"; ja-bert reads full_attention and sliding_attention (default rope)`);
      if (v === null) continue;
      const o = v as Record<string, unknown>;
      if (o.rope_type !== undefined && o.rope_type !== 'default') throw new Error(`"rope_parameters.${kind}.rope_type" is ${JSON.stringify(o.rope_type)}; ja-bert runs the default rotary embedding only`);
      if (o.rope_theta !== undefined) {
        if (typeof o.rope_theta !== 'number' || !(o.rope_theta > 0) || !Number.isFinite(o.rope_theta)) throw new Error(`"rope_parameters.${kind}.rope_theta" must be a positive number, got ${JSON.stringify(o.rope_theta)}`);
        if (kind === 'full_attention') globalTheta = o.rope_theta; else localTheta = o.rope_theta;
      }
    }
  }
  let layerTypes: ModernBertFields['layer_types'] | undefined;
  if (raw.layer_types !== undefined && raw.layer_types !== null) {
    const lt = raw.layer_types;
    if (!Array.isArray(lt) || (typeof layers === 'number' && lt.length !== layers) || lt.some((t) => t !== 'full_attention' && t !== 'sliding_attention')) {
      throw new Error(`"layer_types" must list "full_attention" or "sliding_attention" for each of the ${JSON.stringify(layers)} layers, got ${JSON.stringify(lt)}`);
    }
    layerTypes = lt as ModernBertFields['layer_types'];
  }
  const maxPos = num('max_position_embeddings', 8192, { integer: true, positive: true, max: 65_536 });
  const modern: ModernBertFields = {
    norm_bias: bool('norm_bias', false), attention_bias: bool('attention_bias', false), mlp_bias: bool('mlp_bias', false),
    classifier_bias: bool('classifier_bias', false), decoder_bias: bool('decoder_bias', true),
    // a window wider than the positions is every key: HF's mask is then all-visible too
    local_attention: num('local_attention', 128, { integer: true, positive: true, max: 2 * 65_536 }),
    global_attn_every_n_layers: every, global_rope_theta: globalTheta, local_rope_theta: localTheta,
    layer_types: layerTypes ?? Array.from({ length: typeof layers === 'number' && Number.isInteger(layers) && layers > 0 && layers <= 256 ? layers : 0 },
      (_, i) => (i % every ? 'sliding_attention' : 'full_attention')),
    classifier_pooling: str('classifier_pooling', 'cls', ['cls', 'mean']) as 'cls' | 'mean',
    classifier_activation: str('classifier_activation', 'gelu', HEAD_ACTS) as ModernBertFields['classifier_activation'],
    embedding_dropout: num('embedding_dropout', 0), mlp_dropout: num('mlp_dropout', 0), attention_dropout: num('attention_dropout', 0),
    ids: Object.fromEntries(['bos_token_id', 'eos_token_id', 'cls_token_id', 'sep_token_id'].filter((k) => typeof raw[k] === 'number').map((k) => [k, raw[k] as number])),
  };
  for (const k of ['embedding_dropout', 'mlp_dropout', 'attention_dropout'] as const) if (modern[k] >= 1) throw new Error(`"${k}" must be below 1, got ${modern[k]}`);
  const act = str('hidden_activation', (raw.hidden_act as string | undefined) ?? 'gelu', ACTS) as 'gelu' | 'gelu_new' | 'gelu_pytorch_tanh';
  return {
    ...raw, hidden_act: act, layer_norm_eps: num('norm_eps', 1e-5), type_vocab_size: 0, max_position_embeddings: maxPos,
    hidden_dropout_prob: modern.embedding_dropout, attention_probs_dropout_prob: modern.attention_dropout,
    classifier_dropout: num('classifier_dropout', 0), pad_token_id: num('pad_token_id', 50283, { integer: true }), modernbert: modern,
  };
}

export const modernbert: FamilyDecl = {
  classifierArch: 'ModernBertForSequenceClassification', baseArch: 'ModernBertModel', prefix: 'model',
  word: 'model.embeddings.tok_embeddings.weight', pos: null, type: null,
  embLn: dense('model.embeddings.norm'), proj: null,
  layer: () => { throw new Error('ModernBERT declares its layers in `modern`'); },
  modern: {
    layer: (l) => {
      const p = `model.layers.${l}.`;
      return { attnNorm: l === 0 ? null : `${p}attn_norm`, wqkv: `${p}attn.Wqkv`, wo: `${p}attn.Wo`, mlpNorm: `${p}mlp_norm`, wi: `${p}mlp.Wi`, mlpWo: `${p}mlp.Wo` };
    },
    finalNorm: 'model.final_norm', headNorm: 'head.norm',
  },
  headShared: ['head.norm.weight', 'head.norm.bias'], bareModules: ['embeddings', 'layers', 'final_norm'],
  // ModernBertPredictionHead: dense (classifier_bias), classifier_activation, then head.norm; loaded from a masked-LM checkpoint's head
  pooler: dense('head.dense'), poolerAct: 'gelu', poolerDropout: false, poolerInEncoder: false, classifier: dense('classifier'),
  positions: 'absolute', attnOutputDropout: true,
  // ModernBertForMaskedLM's decoder (tied to the word embeddings, its bias ignored by a classifier)
  ignored: [/^decoder\./],
  // ModernBertForMaskedLM: the prediction head (head.dense, classifier_activation, head.norm: the classifier's own), then the decoder tied to the
  // word embeddings with its bias (decoder_bias)
  mlm: { dense: dense('head.dense'), ln: dense('head.norm'), bias: 'decoder.bias', act: 'classifier_activation', arch: 'ModernBertForMaskedLM' },
  nsp: null, rtd: null,
  configIn,
  // ModernBertPreTrainedModel._init_weights: truncated normals at ±initializer_cutoff_factor (2) standard deviations; "in" (embeddings,
  // Wqkv, Wi) initializer_range, "out" (attention and MLP Wo, head.dense) initializer_range / sqrt(2 · layers), the classifier hidden_size^-0.5
  initStd(cfg, name) {
    const cutoff = 2;
    if (name === 'classifier.weight') return { std: cfg.hidden_size ** -0.5, cutoff };
    if (/\.(attn\.Wo|mlp\.Wo)\.weight$/.test(name) || name === 'head.dense.weight') return { std: cfg.initializer_range / Math.sqrt(2 * cfg.num_hidden_layers), cutoff };
    return { std: cfg.initializer_range, cutoff };
  },
  configOut(body) {
    const { hidden_act, layer_norm_eps, hidden_dropout_prob: _h, attention_probs_dropout_prob: _a, type_vocab_size: _t, position_embedding_type: _p, modernbert: m0, ...others } = body;
    const m = m0 as ModernBertFields;
    const { ids, layer_types, global_rope_theta, local_rope_theta, ...flags } = m;
    return { ...others, ...ids, ...flags, layer_types, hidden_activation: hidden_act, norm_eps: layer_norm_eps,
      rope_parameters: { full_attention: { rope_type: 'default', rope_theta: global_rope_theta }, sliding_attention: { rope_type: 'default', rope_theta: local_rope_theta } },
      global_rope_theta, local_rope_theta };
  },
};
