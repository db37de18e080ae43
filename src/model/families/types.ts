/**
 * What an encoder family declares (one file per family in this folder, index.ts the registry): the Hugging Face
 * name of every parameter, how positions are numbered, whether token types exist, the embedding projection, its
 * sequence-classification head, its pretraining heads, and how its config.json names things. The layout
 * (params.ts), the encoder's forward and backward (bert.ts), the task heads (heads/task.ts), checkpoint loading
 * (load.ts), config.json on both sides (config.ts) and the ONNX graph (export/onnx.ts) read the declaration;
 * nothing else spells a parameter name.
 */
export interface Dense { w: string; b: string }
export interface LayerNames { q: Dense; k: Dense; v: Dense; ao: Dense; ln1: Dense; inter: Dense; out: Dense; ln2: Dense }

export interface FamilyDecl {
  /** the HF class names config.json's architectures lists for a classifier and for the bare encoder */
  classifierArch: string; baseArch: string;
  word: string;
  /** the position table, null where positions are rotary (ModernBERT) */
  pos: string | null;
  /** the token-type table, null where the family has none */
  type: string | null;
  embLn: Dense;
  /** embedding_size → hidden_size (ELECTRA's embeddings_project), when the config makes them differ */
  proj: Dense | null;
  layer(l: number): LayerNames;
  /** the dense + activation on the first token (BERT's pooler; the others' classification head's first layer) */
  pooler: Dense;
  poolerAct: 'tanh' | 'gelu' | 'relu';
  /** dropout on the first token before the pooler's dense (RoBERTa's and ELECTRA's heads) */
  poolerDropout: boolean;
  /** whether the pooler belongs to the encoder (BERT) or to the classification head (loaded if present, else initialised) */
  poolerInEncoder: boolean;
  /** parameters of the classification head beyond the pooler that a pretraining checkpoint shares with it, kept when the labels are
   *  replaced as HF keeps them (ModernBertPredictionHead's norm); absent: none */
  headShared?: string[];
  /** a bare encoder's top-level modules: a checkpoint name starting with one of them is put under `prefix` (a BertModel or
   *  ModernBertModel saved alone, as sentence-transformers writes them) */
  bareModules: string[];
  /** the label-sized linear layer */
  classifier: Dense;
  /** positions 0..S-1, or fairseq's: padding_idx + 1 + index among the row's non-padding tokens, padding at padding_idx */
  positions: 'absolute' | 'padding-offset';
  /** dropout on the attention output before its residual (DistilBERT has none) */
  attnOutputDropout: boolean;
  /** checkpoint names the classifier does not use: pretraining heads, a bare model's pooler, buffers */
  ignored: RegExp[];
  /** a prefix of every encoder name, for messages and legacy names */
  prefix: string;
  /** the masked-LM head ja-bert pretrains with (BertForPreTraining's cls.predictions; ElectraForMaskedLM's generator
   *  head): dense hidden → embedding size, activation (the config's hidden_act, or exact GELU), LayerNorm, then the decoder
   *  tied to the word embeddings plus `bias`; `arch` the HF class of a model with it; null where ja-bert does not pretrain the family */
  mlm: { dense: Dense; ln: Dense; bias: string; act: 'hidden_act' | 'gelu' | 'classifier_activation'; arch: string } | null;
  /** the sentence-pair head on the pooled output (BertForPreTraining's cls.seq_relationship: NSP or SOP, 2 classes) and the HF
   *  class of a model with it; null where the family has none */
  nsp: { dense: Dense; arch: string } | null;
  /** replaced-token detection (ElectraForPreTraining's discriminator_predictions): dense, hidden_act, one logit per token */
  rtd: { dense: Dense; prediction: Dense } | null;
  /** the standard deviation a freshly initialised weight (init 'normal') is drawn with and the cutoff (in standard deviations) it is
   *  truncated at, where the family's _init_weights differs from BERT's N(0, initializer_range) (ModernBERT); absent: BERT's */
  initStd?(cfg: { hidden_size: number; num_hidden_layers: number; initializer_range: number }, name: string): { std: number; cutoff: number };
  /** ModernBERT's pre-norm layer (families/modernbert.ts) in place of BERT's post-LN one (`layer`); null for BERT's relatives */
  modern: ModernNames | null;
  /** DeBERTa's disentangled attention on BERT's layer (families/deberta.ts): the relative-position table, its LayerNorm and the
   *  layers' own position projections (where share_att_key is false); absent for the others */
  disentangled?: DisentangledNames;
  /** the embeddings' width when config.json does not give embedding_size (ELECTRA's 128); absent: the family has no
   *  embedding width of its own (it is hidden_size) */
  defaultEmbeddingSize?: number;
  /** config.json as the family writes it → BERT's keys (DistilBERT's dim, n_layers, ...; RoBERTa's pad default); throws an Error
   *  whose message names the field for a config the family cannot load */
  configIn?(raw: Record<string, unknown>): Record<string, unknown>;
  /** BERT's keys → config.json as HF writes it for the family */
  configOut?(body: Record<string, unknown>): Record<string, unknown>;
}

/** what ModernBertConfig has that BERT's keys do not say */
export interface ModernBertFields {
  norm_bias: boolean; attention_bias: boolean; mlp_bias: boolean; classifier_bias: boolean; decoder_bias: boolean;
  /** the local layers' window: a key is visible when |i − j| ≤ local_attention / 2 (integer division) */
  local_attention: number;
  /** layer l is global when l % global_attn_every_n_layers === 0 (HF decides the window by this) */
  global_attn_every_n_layers: number;
  global_rope_theta: number; local_rope_theta: number;
  /** per layer (HF's layer_types; decides each layer's rotary theta) */
  layer_types: Array<'full_attention' | 'sliding_attention'>;
  classifier_pooling: 'cls' | 'mean';
  classifier_activation: 'gelu' | 'gelu_new' | 'gelu_pytorch_tanh' | 'relu' | 'tanh';
  embedding_dropout: number; mlp_dropout: number; attention_dropout: number;
  /** bos/eos/cls/sep ids as config.json gave them, written back unchanged */
  ids: Record<string, number>;
}

/** the names of ModernBERT's pre-norm layer and final norm: each a module prefix, its tensors `<prefix>.weight` and, where the config's
 *  *_bias flag says so, `<prefix>.bias` */
export interface ModernNames {
  /** layer l: attn_norm (null on layer 0, an identity in HF), Wqkv, Wo, mlp_norm, the MLP's Wi (input | gate) and Wo */
  layer(l: number): { attnNorm: string | null; wqkv: string; wo: string; mlpNorm: string; wi: string; mlpWo: string };
  finalNorm: string;
  /** the classification head's LayerNorm after its dense and activation (ModernBertPredictionHead.norm) */
  headNorm: string;
}

/** what DebertaV2Config has that BERT's keys do not say (families/deberta.ts) */
export interface DebertaFields {
  /** c2p and p2c terms over relative positions (false: BERT's attention, still scaled by the terms pos_att_type names) */
  relative_attention: boolean;
  /** relative distances beyond this share the last bucket; −1 (HF's default): max_position_embeddings */
  max_relative_positions: number;
  /** log-bucketed relative positions (2·position_buckets table rows); −1: none (2·max_relative_positions rows) */
  position_buckets: number;
  /** the terms added to the content scores: content→position (c2p), position→content (p2c) */
  pos_att_type: Array<'c2p' | 'p2c'>;
  /** the position keys and queries come from the layer's own key_proj and query_proj (else pos_key_proj, pos_query_proj) */
  share_att_key: boolean;
  /** the relative-position table passes through encoder.LayerNorm (norm_rel_ebd "layer_norm") */
  norm_rel_ebd: boolean;
  /** absolute position embeddings added to the input (false in DeBERTa-v3 and ku-nlp's models: there is no table) */
  position_biased_input: boolean;
  /** DebertaV2ForMaskedLM's head: legacy (HF's default, ku-nlp's checkpoints) under cls.predictions, else under lm_predictions.lm_head */
  legacy: boolean;
}

/** the names of DeBERTa's relative-position parameters */
export interface DisentangledNames {
  relEmb: string;
  relNorm: Dense;
  posKey(l: number): Dense;
  posQuery(l: number): Dense;
}

/** a family's declaration, or (ELECTRA) one that depends on the config's widths */
export type FamilyEntry = FamilyDecl | ((cfg: FamilyCfg) => FamilyDecl);
/** what a family's declaration may depend on */
export interface FamilyCfg { embedding_size?: number; hidden_size: number; type_vocab_size?: number; deberta?: DebertaFields }

/** a config.json flag for a family's configIn: absent or null is the default; anything but a boolean is an Error naming the key */
export function configBool(raw: Record<string, unknown>, k: string, d: boolean): boolean {
  const v = raw[k];
  if (v === undefined || v === null) return d;
  if (typeof v !== 'boolean') throw new Error(`"${k}" must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

export const dense = (p: string): Dense => ({ w: `${p}.weight`, b: `${p}.bias` });
export const ln = (p: string): Dense => dense(p);

/** BERT's layer names under `prefix` (BERT, RoBERTa, XLM-R and ELECTRA share them) */
export function bertLayer(prefix: string): (l: number) => LayerNames {
  return (l) => {
    const p = `${prefix}.encoder.layer.${l}.`;
    return {
      q: dense(`${p}attention.self.query`), k: dense(`${p}attention.self.key`), v: dense(`${p}attention.self.value`),
      ao: dense(`${p}attention.output.dense`), ln1: ln(`${p}attention.output.LayerNorm`),
      inter: dense(`${p}intermediate.dense`), out: dense(`${p}output.dense`), ln2: ln(`${p}output.LayerNorm`),
    };
  };
}

