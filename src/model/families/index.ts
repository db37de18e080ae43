/**
 * Encoder families: BERT and its relatives that share BERT's post-LayerNorm transformer layer and differ in
 * names, embeddings, the classification head and config.json's keys. Each family is one file here declaring
 * itself (types.ts FamilyDecl); this registry maps config.json's model_type to it. Adding a family that keeps
 * BERT's layer: one file, one line below.
 *
 * | family | HF classes | positions | token types | pooler (family head) | classifier |
 * |---|---|---|---|---|---|
 * | bert | BertModel / BertForSequenceClassification | 0..S-1 | yes | bert.pooler.dense, tanh | classifier |
 * | roberta, xlm-roberta | RobertaForSequenceClassification | pad+1+cumsum over non-pad | one type | dropout, classifier.dense, tanh | classifier.out_proj |
 * | distilbert | DistilBertForSequenceClassification | 0..S-1 | none | pre_classifier, ReLU | classifier (seq_classif_dropout) |
 * | electra | ElectraForSequenceClassification | 0..S-1 | yes; embedding_size may differ (embeddings_project) | dropout, classifier.dense, GELU | classifier.out_proj |
 * | modernbert | ModernBertForSequenceClassification | rotary (pre-norm layer, `modern`) | none | head.dense, act, head.norm on cls or mean | classifier |
 * | deberta-v2 | DebertaV2ForSequenceClassification | relative (c2p, p2c; `disentangled`), absolute only with position_biased_input | type_vocab_size, often 0 | dropout, pooler.dense, GELU (ContextPooler) | classifier (cls_dropout) |
 */
import { bert } from './bert.js';
import { distilbert } from './distilbert.js';
import { electra } from './electra.js';
import { modernbert } from './modernbert.js';
import { robertaFamily, xlmRoberta } from './roberta.js';
import { deberta } from './deberta.js';
import type { FamilyCfg, FamilyDecl, FamilyEntry } from './types.js';

export type { DebertaFields, Dense, FamilyDecl, LayerNames, ModernBertFields } from './types.js';

/** the registry: config.json's model_type → the family's declaration */
const REGISTRY = { bert, roberta: robertaFamily, 'xlm-roberta': xlmRoberta, distilbert, electra, modernbert, 'deberta-v2': deberta } satisfies Record<string, FamilyEntry>;

export type FamilyName = keyof typeof REGISTRY;
export const FAMILIES = Object.keys(REGISTRY) as FamilyName[];

/** a family's declaration for what does not depend on the config's widths (its config keys, its heads' names) */
export function familyNamed(name: FamilyName): FamilyDecl {
  return familyOf({ model_type: name, hidden_size: 1 });
}

/** the declaration of `cfg`'s family */
export function familyOf(cfg: FamilyCfg & { model_type?: FamilyName }): FamilyDecl {
  const e: FamilyEntry = REGISTRY[cfg.model_type ?? 'bert'];
  return typeof e === 'function' ? e(cfg) : e;
}
