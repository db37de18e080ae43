/**
 * Encoder families: BERT and its relatives that share BERT's post-LayerNorm transformer layer and differ in
 * names, embeddings and the classification head. Each family is one declaration here: its model_type names,
 * the Hugging Face name of every parameter, how positions are numbered, whether token types exist, the
 * embedding projection, and its own sequence-classification head, which ja-bert runs as
 * "pooler" (dense + activation on the first token) then "classifier" (dropout + linear):
 *
 * | family | HF classes | positions | token types | pooler (family head) | classifier |
 * |---|---|---|---|---|---|
 * | bert | BertModel / BertForSequenceClassification | 0..S-1 | yes | bert.pooler.dense, tanh | classifier |
 * | roberta, xlm-roberta | RobertaForSequenceClassification | pad+1+cumsum over non-pad | one type | dropout, classifier.dense, tanh | classifier.out_proj |
 * | distilbert | DistilBertForSequenceClassification | 0..S-1 | none | pre_classifier, ReLU | classifier (seq_classif_dropout) |
 * | electra | ElectraForSequenceClassification | 0..S-1 | yes; embedding_size may differ (embeddings_project) | dropout, classifier.dense, GELU | classifier.out_proj |
 *
 * The layout (params.ts), the encoder's forward and backward (bert.ts), the classifier (heads/task.ts) and
 * checkpoint loading (load.ts) all read these names; nothing else spells a parameter name.
 */
export type FamilyName = 'bert' | 'roberta' | 'xlm-roberta' | 'distilbert' | 'electra';
export const FAMILIES: readonly FamilyName[] = ['bert', 'roberta', 'xlm-roberta', 'distilbert', 'electra'];

export interface Dense { w: string; b: string }
export interface LayerNames { q: Dense; k: Dense; v: Dense; ao: Dense; ln1: Dense; inter: Dense; out: Dense; ln2: Dense }

export interface FamilyDecl {
  /** the HF class names config.json's architectures lists for a classifier and for the bare encoder */
  classifierArch: string; baseArch: string;
  word: string; pos: string;
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
  mlm: { dense: Dense; ln: Dense; bias: string; act: 'hidden_act' | 'gelu'; arch: string } | null;
  /** the sentence-pair head on the pooled output (BertForPreTraining's cls.seq_relationship: NSP or SOP, 2 classes) and the HF
   *  class of a model with it; null where the family has none */
  nsp: { dense: Dense; arch: string } | null;
  /** replaced-token detection (ElectraForPreTraining's discriminator_predictions): dense, hidden_act, one logit per token */
  rtd: { dense: Dense; prediction: Dense } | null;
}

const dense = (p: string): Dense => ({ w: `${p}.weight`, b: `${p}.bias` });
const ln = (p: string): Dense => dense(p);

/** BERT's layer names under `prefix` (BERT, RoBERTa, XLM-R and ELECTRA share them) */
function bertLayer(prefix: string): (l: number) => LayerNames {
  return (l) => {
    const p = `${prefix}.encoder.layer.${l}.`;
    return {
      q: dense(`${p}attention.self.query`), k: dense(`${p}attention.self.key`), v: dense(`${p}attention.self.value`),
      ao: dense(`${p}attention.output.dense`), ln1: ln(`${p}attention.output.LayerNorm`),
      inter: dense(`${p}intermediate.dense`), out: dense(`${p}output.dense`), ln2: ln(`${p}output.LayerNorm`),
    };
  };
}

const BERT: FamilyDecl = {
  classifierArch: 'BertForSequenceClassification', baseArch: 'BertModel', prefix: 'bert',
  word: 'bert.embeddings.word_embeddings.weight', pos: 'bert.embeddings.position_embeddings.weight', type: 'bert.embeddings.token_type_embeddings.weight',
  embLn: ln('bert.embeddings.LayerNorm'), proj: null, layer: bertLayer('bert'),
  pooler: dense('bert.pooler.dense'), poolerAct: 'tanh', poolerDropout: false, poolerInEncoder: true, classifier: dense('classifier'),
  positions: 'absolute', attnOutputDropout: true,
  ignored: [/^cls\./, /position_ids$/],
  mlm: { dense: dense('cls.predictions.transform.dense'), ln: ln('cls.predictions.transform.LayerNorm'), bias: 'cls.predictions.bias', act: 'hidden_act', arch: 'BertForMaskedLM' },
  nsp: { dense: dense('cls.seq_relationship'), arch: 'BertForNextSentencePrediction' }, rtd: null,
};

function roberta(prefix: 'roberta', cls: string, base: string): FamilyDecl {
  return {
    classifierArch: cls, baseArch: base, prefix,
    word: `${prefix}.embeddings.word_embeddings.weight`, pos: `${prefix}.embeddings.position_embeddings.weight`, type: `${prefix}.embeddings.token_type_embeddings.weight`,
    embLn: ln(`${prefix}.embeddings.LayerNorm`), proj: null, layer: bertLayer(prefix),
    pooler: dense('classifier.dense'), poolerAct: 'tanh', poolerDropout: true, poolerInEncoder: false, classifier: dense('classifier.out_proj'),
    positions: 'padding-offset', attnOutputDropout: true,
    // the masked-LM head and RobertaModel's pooler, which RobertaForSequenceClassification does not use
    ignored: [/^lm_head\./, new RegExp(`^${prefix}\\.pooler\\.`), /position_ids$/],
    mlm: null, nsp: null, rtd: null,
  };
}

const DISTILBERT: FamilyDecl = {
  classifierArch: 'DistilBertForSequenceClassification', baseArch: 'DistilBertModel', prefix: 'distilbert',
  word: 'distilbert.embeddings.word_embeddings.weight', pos: 'distilbert.embeddings.position_embeddings.weight', type: null,
  embLn: ln('distilbert.embeddings.LayerNorm'), proj: null,
  layer: (l) => {
    const p = `distilbert.transformer.layer.${l}.`;
    return {
      q: dense(`${p}attention.q_lin`), k: dense(`${p}attention.k_lin`), v: dense(`${p}attention.v_lin`), ao: dense(`${p}attention.out_lin`),
      ln1: ln(`${p}sa_layer_norm`), inter: dense(`${p}ffn.lin1`), out: dense(`${p}ffn.lin2`), ln2: ln(`${p}output_layer_norm`),
    };
  },
  pooler: dense('pre_classifier'), poolerAct: 'relu', poolerDropout: false, poolerInEncoder: false, classifier: dense('classifier'),
  positions: 'absolute', attnOutputDropout: false,
  // DistilBertForMaskedLM's head
  ignored: [/^vocab_(transform|layer_norm|projector)\./, /position_ids$/],
  mlm: null, nsp: null, rtd: null,
};

const ELECTRA = (withProj: boolean): FamilyDecl => ({
  classifierArch: 'ElectraForSequenceClassification', baseArch: 'ElectraModel', prefix: 'electra',
  word: 'electra.embeddings.word_embeddings.weight', pos: 'electra.embeddings.position_embeddings.weight', type: 'electra.embeddings.token_type_embeddings.weight',
  embLn: ln('electra.embeddings.LayerNorm'), proj: withProj ? dense('electra.embeddings_project') : null, layer: bertLayer('electra'),
  pooler: dense('classifier.dense'), poolerAct: 'gelu', poolerDropout: true, poolerInEncoder: false, classifier: dense('classifier.out_proj'),
  positions: 'absolute', attnOutputDropout: true,
  // the discriminator's replaced-token head and a generator's MLM head
  ignored: [/^discriminator_predictions\./, /^generator_(predictions|lm_head)\./, /position_ids$/],
  // ElectraForMaskedLM (the generator: GELU whatever hidden_act says) and ElectraForPreTraining (the discriminator)
  mlm: { dense: dense('generator_predictions.dense'), ln: ln('generator_predictions.LayerNorm'), bias: 'generator_lm_head.bias', act: 'gelu', arch: 'ElectraForMaskedLM' },
  nsp: null,
  rtd: { dense: dense('discriminator_predictions.dense'), prediction: dense('discriminator_predictions.dense_prediction') },
});

/** the declaration of `cfg`'s family */
export function familyOf(cfg: { model_type?: FamilyName; embedding_size?: number; hidden_size: number }): FamilyDecl {
  switch (cfg.model_type ?? 'bert') {
    case 'bert': return BERT;
    case 'roberta': return roberta('roberta', 'RobertaForSequenceClassification', 'RobertaModel');
    // XLM-R's HF classes keep RoBERTa's names (XLMRobertaModel's weights are under roberta.)
    case 'xlm-roberta': return roberta('roberta', 'XLMRobertaForSequenceClassification', 'XLMRobertaModel');
    case 'distilbert': return DISTILBERT;
    case 'electra': return ELECTRA(cfg.embedding_size !== undefined && cfg.embedding_size !== cfg.hidden_size);
  }
}
