/**
 * BertConfig: the Hugging Face config.json keys (and the TF bert_config.json
 * keys, which are the same minus layer_norm_eps), validated when built. The
 * relatives of BERT (families/) are read into the same shape: RoBERTa, XLM-R and
 * ELECTRA use BERT's key names (ELECTRA adds embedding_size); DistilBERT's own
 * names (dim, n_layers, ...) are mapped on reading and written back on saving.
 */
export type HiddenAct = 'gelu' | 'gelu_new' | 'gelu_pytorch_tanh';

export interface BertConfig {
  vocab_size: number;
  hidden_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  intermediate_size: number;
  hidden_act: HiddenAct;
  hidden_dropout_prob: number;
  attention_probs_dropout_prob: number;
  max_position_embeddings: number;
  type_vocab_size: number;
  initializer_range: number;
  layer_norm_eps: number;
  /** label names in class-id order; empty when the checkpoint has no classifier */
  labels: string[];
  /** a cacheable pair head (src/model/heads/) in place of the classifier; absent for the cross-encoder */
  pair_head?: PairHeadConfig;
  /** the id that pads inputs (HF masks by it); written to config.json, default unknown */
  pad_token_id?: number;
  /** HF's problem_type: 'regression' = one output trained with MSE (labels then holds one name); absent = single-label classification */
  problem_type?: 'regression' | 'multi_label_classification';
  /** the encoder family (families/); absent: bert */
  model_type?: FamilyName;
  /** ELECTRA: the embeddings' width, projected to hidden_size when it differs */
  embedding_size?: number;
  /** dropout before the classifier (HF's classifier_dropout; DistilBERT's seq_classif_dropout); absent: hidden_dropout_prob */
  classifier_dropout?: number;
  /** ModernBERT's own settings (families/modernbert.ts); present exactly when model_type is modernbert */
  modernbert?: ModernBertFields;
  /** DeBERTa's own settings (families/deberta.ts); present exactly when model_type is deberta-v2 */
  deberta?: DebertaFields;
  /** dropout on the first token before the family head's dense where it differs from classifier_dropout (DeBERTa's pooler_dropout) */
  pooler_dropout?: number;
  /** the word segmenter the model's input should go through (ku-nlp's DeBERTa-v2: Juman++), kept in config.json of what ja-bert trains from it */
  word_segmentation?: 'juman++';
}

/** the longest input the model's position table takes (fairseq-style positions start after padding_idx) */
export function maxSequenceLength(cfg: BertConfig): number {
  return familyOf(cfg).positions === 'padding-offset' ? cfg.max_position_embeddings - (cfg.pad_token_id ?? 1) - 1 : cfg.max_position_embeddings;
}

export class ConfigError extends JaBertError { override readonly code = 'ERR_JA_BERT_CONFIG'; }
registerError(ConfigError);

import { JaBertError, registerError } from '../core/errors.js';
import { headConfig, type PairHeadConfig } from './heads/index.js';
import { FAMILIES, familyNamed, familyOf, type DebertaFields, type FamilyName, type ModernBertFields } from './families/index.js';

export type { DebertaFields, ModernBertFields };

/** DistilBERT's config names for BERT's */
const DEFAULTS: Omit<BertConfig, 'vocab_size' | 'hidden_size' | 'num_hidden_layers' | 'num_attention_heads' | 'intermediate_size'> = {
  hidden_act: 'gelu',
  hidden_dropout_prob: 0.1,
  attention_probs_dropout_prob: 0.1,
  max_position_embeddings: 512,
  type_vocab_size: 2,
  initializer_range: 0.02,
  layer_norm_eps: 1e-12,
  labels: [],
};

/** gelu (exact erf form) vs the tanh approximation */
export function geluIsTanh(act: HiddenAct): boolean {
  return act !== 'gelu';
}

/** Build and validate a config from a parsed config.json / bert_config.json object. */
export function makeConfig(raw0: Record<string, unknown>, source = 'config'): BertConfig {
  const modelType = raw0.model_type === undefined || raw0.model_type === null ? 'bert' : String(raw0.model_type);
  if (!(FAMILIES as readonly string[]).includes(modelType)) {
    throw new ConfigError(`${source}: model_type "${modelType}" is not supported; ja-bert loads ${FAMILIES.join(', ')}`);
  }
  const family = modelType as FamilyName;
  // the family's own config keys and defaults (families/: DistilBERT's dim, n_layers, ...; RoBERTa's padding id)
  const decl = familyNamed(family);
  let raw = raw0;
  try {
    if (decl.configIn) raw = decl.configIn(raw0);
  } catch (e) {
    throw new ConfigError(`${source}: ${(e as Error).message}`);
  }
  // upper bounds far beyond any BERT, so that a damaged config fails here, not in an allocation
  const MAX: Record<string, number> = { vocab_size: 2_000_000, hidden_size: 16_384, num_hidden_layers: 256, num_attention_heads: 1024, intermediate_size: 65_536 };
  const need = (k: string): number => {
    const v = raw[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
      throw new ConfigError(`${source}: "${k}" must be a positive integer, got ${JSON.stringify(v)}`);
    }
    if (MAX[k] !== undefined && v > MAX[k]!) throw new ConfigError(`${source}: "${k}" is ${v}, more than ${MAX[k]} (a damaged config?)`);
    return v;
  };
  const opt = (k: string, d: number, integer = false): number => {
    const v = raw[k];
    if (v === undefined || v === null) return d;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (integer && !Number.isInteger(v))) {
      throw new ConfigError(`${source}: "${k}" must be a non-negative ${integer ? 'integer' : 'number'}, got ${JSON.stringify(v)}`);
    }
    return v;
  };
  const act = (raw.hidden_act ?? DEFAULTS.hidden_act) as string;
  if (act !== 'gelu' && act !== 'gelu_new' && act !== 'gelu_pytorch_tanh') {
    throw new ConfigError(`${source}: hidden_act "${act}" is not supported (gelu, gelu_new, gelu_pytorch_tanh)`);
  }
  let labels: string[] = [];
  const id2label = raw.id2label as Record<string, unknown> | undefined;
  const archs = Array.isArray(raw.architectures) ? (raw.architectures as unknown[]).map(String) : [];
  if (Array.isArray(raw.labels)) {
    labels = (raw.labels as unknown[]).map(String);
  } else if (id2label && typeof id2label === 'object' && (raw.num_labels !== undefined || archs.some((a) => a.includes('SequenceClassification')))) {
    const n = Object.keys(id2label).length;
    labels = Array.from({ length: n }, (_, i) => String(id2label[String(i)] ?? `LABEL_${i}`));
  }
  const cfg: BertConfig = {
    vocab_size: need('vocab_size'),
    hidden_size: need('hidden_size'),
    num_hidden_layers: need('num_hidden_layers'),
    num_attention_heads: need('num_attention_heads'),
    intermediate_size: need('intermediate_size'),
    hidden_act: act,
    hidden_dropout_prob: opt('hidden_dropout_prob', DEFAULTS.hidden_dropout_prob),
    attention_probs_dropout_prob: opt('attention_probs_dropout_prob', DEFAULTS.attention_probs_dropout_prob),
    max_position_embeddings: opt('max_position_embeddings', DEFAULTS.max_position_embeddings, true),
    type_vocab_size: opt('type_vocab_size', DEFAULTS.type_vocab_size, true),
    initializer_range: opt('initializer_range', DEFAULTS.initializer_range),
    layer_norm_eps: opt('layer_norm_eps', DEFAULTS.layer_norm_eps),
    labels,
    ...(typeof raw.pad_token_id === 'number' ? { pad_token_id: opt('pad_token_id', 0, true) } : {}),
    ...(raw.problem_type === 'regression' || raw.problem_type === 'multi_label_classification' ? { problem_type: raw.problem_type } : {}),
    ...(family !== 'bert' ? { model_type: family } : {}),
    // a family with an embedding width of its own (ELECTRA's default is 128, ElectraConfig)
    ...(decl.defaultEmbeddingSize !== undefined ? { embedding_size: raw.embedding_size === undefined ? decl.defaultEmbeddingSize : need('embedding_size') } : {}),
    ...(typeof raw.classifier_dropout === 'number' ? { classifier_dropout: opt('classifier_dropout', 0.1) } : {}),
    ...(family === 'modernbert' ? { modernbert: raw.modernbert as ModernBertFields } : {}),
    ...(family === 'deberta-v2' ? { deberta: raw.deberta as DebertaFields, pooler_dropout: raw.pooler_dropout as number } : {}),
    ...(raw.word_segmentation === 'juman++' ? { word_segmentation: 'juman++' as const } : {}),
  };
  if (cfg.modernbert && cfg.modernbert.layer_types.length !== cfg.num_hidden_layers) {
    throw new ConfigError(`${source}: "layer_types" lists ${cfg.modernbert.layer_types.length} layers for num_hidden_layers ${cfg.num_hidden_layers}`);
  }
  if (familyOf(cfg).positions === 'padding-offset' && cfg.max_position_embeddings <= (cfg.pad_token_id ?? 1) + 1) {
    throw new ConfigError(`${source}: max_position_embeddings ${cfg.max_position_embeddings} leaves no position after padding_idx ${cfg.pad_token_id} (RoBERTa numbers positions from padding_idx + 1)`);
  }
  if (raw.pair_head !== undefined && raw.pair_head !== null) {
    const h = raw.pair_head as Record<string, unknown>;
    try {
      cfg.pair_head = headConfig(String(h.type), typeof h.dim === 'number' ? h.dim : undefined, typeof h.codes === 'number' ? h.codes : undefined,
        typeof h.side_length === 'number' ? h.side_length : undefined);
    } catch (e) {
      throw new ConfigError(`${source}: pair_head: ${(e as Error).message}`);
    }
    if (!cfg.labels.length) throw new ConfigError(`${source}: a pair_head needs labels`);
  }
  if (cfg.hidden_size % cfg.num_attention_heads !== 0) {
    throw new ConfigError(`${source}: hidden_size ${cfg.hidden_size} is not divisible by num_attention_heads ${cfg.num_attention_heads}`);
  }
  if (cfg.hidden_dropout_prob >= 1 || cfg.attention_probs_dropout_prob >= 1 || (cfg.classifier_dropout ?? 0) >= 1 || (cfg.pooler_dropout ?? 0) >= 1) {
    throw new ConfigError(`${source}: dropout probabilities must be below 1`);
  }
  if (cfg.max_position_embeddings > 65_536 || cfg.type_vocab_size > 1024 || cfg.labels.length > 100_000) {
    throw new ConfigError(`${source}: max_position_embeddings (${cfg.max_position_embeddings}), type_vocab_size (${cfg.type_vocab_size}) or the label count (${cfg.labels.length}) is implausibly large (a damaged config?)`);
  }
  // the parameter count, before anything of that size is allocated (typed arrays hold at most 2^32 - 1 elements; gradients and Adam triple it)
  const D = cfg.hidden_size, I = cfg.intermediate_size, L = cfg.num_hidden_layers;
  const params = (cfg.vocab_size + cfg.max_position_embeddings + cfg.type_vocab_size) * (cfg.embedding_size ?? D) + L * (4 * D * D + 2 * D * I + 9 * D + I) + D * D;
  if (params > 1.5e9) throw new ConfigError(`${source}: a model of ${(params / 1e9).toFixed(1)} billion parameters is beyond what ja-bert trains on a CPU (limit 1.5 billion)`);
  return cfg;
}

/** config.json as Hugging Face writes it for the family, with our labels folded into id2label/label2id */
export function configToJson(cfg: BertConfig): Record<string, unknown> {
  const { labels, model_type: _t, ...rest } = cfg;
  const family = cfg.model_type ?? 'bert', decl = familyOf(cfg);
  const arch = rest.pair_head ? 'JaBertPairHead' : labels.length ? decl.classifierArch : decl.baseArch;
  let body: Record<string, unknown> = { model_type: family, architectures: [arch], position_embedding_type: 'absolute', ...rest };
  if (decl.configOut) body = decl.configOut(body);
  if (labels.length) {
    body.num_labels = labels.length;
    body.id2label = Object.fromEntries(labels.map((l, i) => [String(i), l]));
    body.label2id = Object.fromEntries(labels.map((l, i) => [l, i]));
  }
  return body;
}
