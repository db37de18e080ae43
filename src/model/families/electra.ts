/**
 * ELECTRA (ElectraModel, ElectraForSequenceClassification; pretraining: ElectraForPreTraining's discriminator and
 * ElectraForMaskedLM's generator): BERT's layer under `electra.`, an embedding width of its own (embedding_size,
 * ElectraConfig's default 128) projected to hidden_size by embeddings_project when they differ, and the
 * classification head ElectraClassificationHead (dropout, dense, GELU, dropout, out_proj).
 */
import { bertLayer, dense, ln, type FamilyDecl, type FamilyEntry } from './types.js';

export const electra: FamilyEntry = (cfg) => ({
  classifierArch: 'ElectraForSequenceClassification', baseArch: 'ElectraModel', prefix: 'electra', bareModules: ['embeddings', 'encoder', 'embeddings_project'],
  word: 'electra.embeddings.word_embeddings.weight', pos: 'electra.embeddings.position_embeddings.weight', type: 'electra.embeddings.token_type_embeddings.weight',
  embLn: ln('electra.embeddings.LayerNorm'), proj: cfg.embedding_size !== undefined && cfg.embedding_size !== cfg.hidden_size ? dense('electra.embeddings_project') : null,
  layer: bertLayer('electra'),
  pooler: dense('classifier.dense'), poolerAct: 'gelu', poolerDropout: true, poolerInEncoder: false, classifier: dense('classifier.out_proj'),
  positions: 'absolute', attnOutputDropout: true,
  // the discriminator's replaced-token head and a generator's MLM head
  ignored: [/^discriminator_predictions\./, /^generator_(predictions|lm_head)\./, /position_ids$/],
  // ElectraForMaskedLM (the generator: GELU whatever hidden_act says) and ElectraForPreTraining (the discriminator)
  mlm: { dense: dense('generator_predictions.dense'), ln: ln('generator_predictions.LayerNorm'), bias: 'generator_lm_head.bias', act: 'gelu', arch: 'ElectraForMaskedLM' },
  nsp: null,
  rtd: { dense: dense('discriminator_predictions.dense'), prediction: dense('discriminator_predictions.dense_prediction') },
  modern: null,
  defaultEmbeddingSize: 128,
} satisfies FamilyDecl);
