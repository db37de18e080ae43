/** BERT (BertModel, BertForSequenceClassification, BertForPreTraining's heads): the reference family */
import { bertLayer, dense, ln, type FamilyDecl } from './types.js';

export const bert: FamilyDecl = {
  classifierArch: 'BertForSequenceClassification', baseArch: 'BertModel', prefix: 'bert', bareModules: ['embeddings', 'encoder', 'pooler'],
  word: 'bert.embeddings.word_embeddings.weight', pos: 'bert.embeddings.position_embeddings.weight', type: 'bert.embeddings.token_type_embeddings.weight',
  embLn: ln('bert.embeddings.LayerNorm'), proj: null, layer: bertLayer('bert'),
  pooler: dense('bert.pooler.dense'), poolerAct: 'tanh', poolerDropout: false, poolerInEncoder: true, classifier: dense('classifier'),
  positions: 'absolute', attnOutputDropout: true,
  ignored: [/^cls\./, /position_ids$/],
  mlm: { dense: dense('cls.predictions.transform.dense'), ln: ln('cls.predictions.transform.LayerNorm'), bias: 'cls.predictions.bias', act: 'hidden_act', arch: 'BertForMaskedLM' },
  nsp: { dense: dense('cls.seq_relationship'), arch: 'BertForNextSentencePrediction' }, rtd: null, modern: null,
};
