/**
 * RoBERTa and XLM-RoBERTa (multilingual-e5 and the other XLM-R encoders): BERT's layer under `roberta.`, fairseq's
 * positions (padding_idx + 1 + index among the row's non-padding tokens), one token type, and the classification
 * head RobertaClassificationHead (dropout, dense, tanh, dropout, out_proj). XLM-R's HF classes keep RoBERTa's names.
 */
import { bertLayer, dense, ln, type FamilyDecl } from './types.js';

function roberta(cls: string, base: string): FamilyDecl {
  const prefix = 'roberta';
  return {
    classifierArch: cls, baseArch: base, prefix, bareModules: ['embeddings', 'encoder', 'pooler'],
    word: `${prefix}.embeddings.word_embeddings.weight`, pos: `${prefix}.embeddings.position_embeddings.weight`, type: `${prefix}.embeddings.token_type_embeddings.weight`,
    embLn: ln(`${prefix}.embeddings.LayerNorm`), proj: null, layer: bertLayer(prefix),
    pooler: dense('classifier.dense'), poolerAct: 'tanh', poolerDropout: true, poolerInEncoder: false, classifier: dense('classifier.out_proj'),
    positions: 'padding-offset', attnOutputDropout: true,
    // the masked-LM head and RobertaModel's pooler, which RobertaForSequenceClassification does not use
    ignored: [/^lm_head\./, new RegExp(`^${prefix}\\.pooler\\.`), /position_ids$/],
    mlm: null, nsp: null, rtd: null, modern: null,
    // RobertaConfig's padding id is 1
    configIn: (raw) => (raw.pad_token_id === undefined ? { ...raw, pad_token_id: 1 } : raw),
    configOut: (body) => ({ ...body, bos_token_id: 0, eos_token_id: 2 }),
  };
}

export const robertaFamily = roberta('RobertaForSequenceClassification', 'RobertaModel');
export const xlmRoberta = roberta('XLMRobertaForSequenceClassification', 'XLMRobertaModel');
