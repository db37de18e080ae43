/**
 * DistilBERT: BERT's post-LN layer under its own names (q_lin, sa_layer_norm, ffn.lin1, ...), no token types, no
 * dropout on the attention output, pre_classifier + ReLU before the classifier, and DistilBertConfig's keys
 * (dim, n_layers, n_heads, hidden_dim, activation, dropout, attention_dropout, seq_classif_dropout).
 */
import { dense, ln, type FamilyDecl } from './types.js';

const KEYS: Array<[string, string]> = [['dim', 'hidden_size'], ['n_layers', 'num_hidden_layers'], ['n_heads', 'num_attention_heads'], ['hidden_dim', 'intermediate_size'],
  ['activation', 'hidden_act'], ['dropout', 'hidden_dropout_prob'], ['attention_dropout', 'attention_probs_dropout_prob'], ['seq_classif_dropout', 'classifier_dropout']];

export const distilbert: FamilyDecl = {
  classifierArch: 'DistilBertForSequenceClassification', baseArch: 'DistilBertModel', prefix: 'distilbert', bareModules: ['embeddings', 'transformer'],
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
  mlm: null, nsp: null, rtd: null, modern: null,
  configIn(raw0) {
    const raw: Record<string, unknown> = { ...raw0, type_vocab_size: 0, layer_norm_eps: 1e-12 };
    for (const [d, b] of KEYS) if (raw0[d] !== undefined) raw[b] = raw0[d];
    if (raw.classifier_dropout === undefined) raw.classifier_dropout = 0.2; // DistilBertConfig's seq_classif_dropout
    if (raw0.sinusoidal_pos_embds === true) throw new Error('sinusoidal_pos_embds: true (fixed sinusoidal positions) is not supported; ja-bert trains the position table');
    return raw;
  },
  configOut(body) {
    const { hidden_size, num_hidden_layers, num_attention_heads, intermediate_size, hidden_act, hidden_dropout_prob, attention_probs_dropout_prob, classifier_dropout,
      type_vocab_size: _v, layer_norm_eps: _e, position_embedding_type: _p, ...others } = body;
    return { ...others, dim: hidden_size, n_layers: num_hidden_layers, n_heads: num_attention_heads, hidden_dim: intermediate_size, activation: hidden_act,
      dropout: hidden_dropout_prob, attention_dropout: attention_probs_dropout_prob, seq_classif_dropout: classifier_dropout ?? 0.2, qa_dropout: 0.1,
      sinusoidal_pos_embds: false, tie_weights_: true };
  },
};
