/**
 * DeBERTa-v2 and v3 (DebertaV2Model, DebertaV2ForSequenceClassification; ku-nlp/deberta-v2-*-japanese,
 * ku-nlp/deberta-v3-base-japanese, izumi-lab/deberta-v2-small-japanese): BERT's post-LN layer under `deberta.` with
 * query_proj / key_proj / value_proj, and disentangled attention — the content scores q·kᵀ plus, over the relative
 * position δ(i, j) of query i and key j, content→position q_i · pos_key[δ] (c2p) and position→content k_j · pos_query[δ]
 * (p2c), all divided by sqrt(head_dim · (1 + the number of terms)). δ(i, j) = clamp(bucket(i − j) + span, 0, 2·span − 1):
 * log buckets beyond position_buckets / 2 (make_log_bucket_position), span = position_buckets (or max_relative_positions);
 * pos_key and pos_query project the relative-position table (encoder.rel_embeddings, through encoder.LayerNorm when
 * norm_rel_ebd says layer_norm) with the layer's own key_proj / query_proj (share_att_key) or pos_key_proj / pos_query_proj.
 * Absolute positions only with position_biased_input; token types only with type_vocab_size > 0. The classification head
 * is ContextPooler (dropout pooler_dropout, dense, pooler_hidden_act) then dropout cls_dropout and the classifier.
 *
 * config.json keeps DebertaV2Config's keys; what BERT has no key for is read into `deberta` and written back.
 */
import { configBool, dense, ln, type DebertaFields, type FamilyDecl, type FamilyEntry } from './types.js';

/** DebertaV2Config's keys and defaults → BertConfig's keys and `deberta`; an Error naming the field for what ja-bert cannot run */
function configIn(raw: Record<string, unknown>): Record<string, unknown> {
  const bool = (k: string, d: boolean): boolean => configBool(raw, k, d);
  const int = (k: string, d: number): number => {
    const v = raw[k];
    if (v === undefined || v === null) return d;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < -1 || v > 65_536) throw new Error(`"${k}" must be an integer from -1 to 65536, got ${JSON.stringify(v)}`);
    return v;
  };
  const prob = (k: string): number | undefined => {
    const v = raw[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !(v >= 0 && v < 1)) throw new Error(`"${k}" must be a probability below 1, got ${JSON.stringify(v)}`);
    return v;
  };
  // pos_att_type: a list, or "p2c|c2p" as older configs write it (DebertaV2Config splits on "|"); "p2p" is accepted and unused, as in HF
  let pat = raw.pos_att_type ?? [];
  if (typeof pat === 'string') pat = pat.toLowerCase().split('|').map((x) => x.trim()).filter(Boolean);
  if (!Array.isArray(pat) || pat.some((x) => x !== 'c2p' && x !== 'p2c' && x !== 'p2p')) {
    throw new Error(`"pos_att_type" must list "c2p" and/or "p2c", got ${JSON.stringify(raw.pos_att_type)}`);
  }
  const norm = raw.norm_rel_ebd ?? 'none';
  if (typeof norm !== 'string') throw new Error(`"norm_rel_ebd" must be a string such as "layer_norm" or "none", got ${JSON.stringify(norm)}`);
  const conv = raw.conv_kernel_size;
  if (typeof conv === 'number' && conv > 0) throw new Error(`"conv_kernel_size" is ${conv}: ja-bert does not run DeBERTa-v2's convolution layer (microsoft/deberta-v2-xlarge's); the Japanese DeBERTa models have none`);
  const D = raw.hidden_size, H = raw.num_attention_heads;
  for (const k of ['embedding_size', 'pooler_hidden_size'] as const) {
    if (raw[k] !== undefined && raw[k] !== null && raw[k] !== D) throw new Error(`"${k}" is ${JSON.stringify(raw[k])}, not hidden_size ${JSON.stringify(D)}; ja-bert runs DeBERTa with one width`);
  }
  if (raw.attention_head_size !== undefined && raw.attention_head_size !== null && typeof D === 'number' && typeof H === 'number' && raw.attention_head_size !== D / H) {
    throw new Error(`"attention_head_size" is ${JSON.stringify(raw.attention_head_size)}, not hidden_size / num_attention_heads (${D / H})`);
  }
  const pact = raw.pooler_hidden_act ?? 'gelu';
  if (pact !== 'gelu') throw new Error(`"pooler_hidden_act" is ${JSON.stringify(pact)}; ja-bert runs DeBERTa's ContextPooler with gelu`);
  const deberta: DebertaFields = {
    relative_attention: bool('relative_attention', false),
    max_relative_positions: int('max_relative_positions', -1),
    position_buckets: int('position_buckets', -1),
    pos_att_type: [...new Set((pat as string[]).filter((x): x is 'c2p' | 'p2c' => x === 'c2p' || x === 'p2c'))],
    share_att_key: bool('share_att_key', false),
    norm_rel_ebd: norm.toLowerCase().split('|').map((x) => x.trim()).includes('layer_norm'),
    position_biased_input: bool('position_biased_input', true),
    legacy: bool('legacy', true),
  };
  const cls = prob('cls_dropout'), pool = prob('pooler_dropout');
  return {
    ...raw, layer_norm_eps: raw.layer_norm_eps ?? 1e-7, type_vocab_size: raw.type_vocab_size ?? 0, pad_token_id: raw.pad_token_id ?? 0,
    ...(cls !== undefined ? { classifier_dropout: cls } : {}), pooler_dropout: pool ?? 0, deberta,
  };
}

/** the relative-position table's half-width (rows 0 … 2·span − 1 are read): position_buckets, else max_relative_positions, else max_position_embeddings */
export function debertaSpan(d: DebertaFields, maxPositions: number): number {
  return d.position_buckets > 0 ? d.position_buckets : relativeMax(d, maxPositions);
}
/** the largest relative distance the buckets resolve (HF's max_relative_positions after its default) */
export function relativeMax(d: DebertaFields, maxPositions: number): number {
  return d.max_relative_positions < 1 ? maxPositions : d.max_relative_positions;
}

/**
 * HF's make_log_bucket_position for one relative position, in float32 as PyTorch computes it: |δ| below bucket/2 is δ
 * itself; beyond, sign(δ) · (ceil(log(|δ| / mid) / log((max − 1) / mid) · (mid − 1)) + mid), mid = bucket / 2.
 */
export function logBucket(rel: number, bucket: number, max: number): number {
  const mid = Math.floor(bucket / 2), f = Math.fround;
  const abs = rel < mid && rel > -mid ? mid - 1 : Math.abs(rel);
  if (abs <= mid) return rel;
  const logPos = Math.ceil(f(f(f(Math.log(f(abs / mid))) / f(Math.log(f((max - 1) / mid)))) * (mid - 1))) + mid;
  return Math.sign(rel) * logPos;
}

/** the index into the relative-position table's 2·span rows for query i and key j (both c2p and p2c read it: HF's p2c index
 *  clamp(−bucket(j − i) + span) is the same, the buckets being odd) */
export function relativeIndex(i: number, j: number, d: DebertaFields, maxPositions: number): number {
  const span = debertaSpan(d, maxPositions);
  const b = d.position_buckets > 0 ? logBucket(i - j, d.position_buckets, relativeMax(d, maxPositions)) : i - j;
  return Math.min(Math.max(b + span, 0), 2 * span - 1);
}

export const deberta: FamilyEntry = (cfg) => {
  const d = cfg.deberta, p = 'deberta.';
  const absolute = d?.position_biased_input ?? true;
  return {
    classifierArch: 'DebertaV2ForSequenceClassification', baseArch: 'DebertaV2Model', prefix: 'deberta', bareModules: ['embeddings', 'encoder'],
    word: `${p}embeddings.word_embeddings.weight`,
    pos: absolute ? `${p}embeddings.position_embeddings.weight` : null,
    type: (cfg.type_vocab_size ?? 0) > 0 ? `${p}embeddings.token_type_embeddings.weight` : null,
    embLn: ln(`${p}embeddings.LayerNorm`), proj: null,
    layer: (l) => {
      const q = `${p}encoder.layer.${l}.`;
      return {
        q: dense(`${q}attention.self.query_proj`), k: dense(`${q}attention.self.key_proj`), v: dense(`${q}attention.self.value_proj`),
        ao: dense(`${q}attention.output.dense`), ln1: ln(`${q}attention.output.LayerNorm`),
        inter: dense(`${q}intermediate.dense`), out: dense(`${q}output.dense`), ln2: ln(`${q}output.LayerNorm`),
      };
    },
    disentangled: {
      relEmb: `${p}encoder.rel_embeddings.weight`, relNorm: ln(`${p}encoder.LayerNorm`),
      posKey: (l) => dense(`${p}encoder.layer.${l}.attention.self.pos_key_proj`), posQuery: (l) => dense(`${p}encoder.layer.${l}.attention.self.pos_query_proj`),
    },
    // ContextPooler: dropout (pooler_dropout), dense, gelu; then dropout (cls_dropout) and the classifier
    pooler: dense('pooler.dense'), poolerAct: 'gelu', poolerDropout: true, poolerInEncoder: false, classifier: dense('classifier'),
    positions: 'absolute', attnOutputDropout: true,
    // the masked-LM heads (legacy cls.predictions, lm_predictions), buffers, and an absolute table the config does not use (HF ignores it too)
    ignored: [/^cls\./, /^lm_predictions\./, /^mask_predictions\./, /position_ids$/, ...(absolute ? [] : [/^deberta\.embeddings\.position_embeddings\./])],
    // DebertaV2ForMaskedLM: dense, hidden_act, LayerNorm, the decoder tied to the word embeddings plus its own bias
    mlm: (d?.legacy ?? true)
      ? { dense: dense('cls.predictions.transform.dense'), ln: ln('cls.predictions.transform.LayerNorm'), bias: 'cls.predictions.bias', act: 'hidden_act', arch: 'DebertaV2ForMaskedLM' }
      : { dense: dense('lm_predictions.lm_head.dense'), ln: ln('lm_predictions.lm_head.LayerNorm'), bias: 'lm_predictions.lm_head.bias', act: 'hidden_act', arch: 'DebertaV2ForMaskedLM' },
    nsp: null, rtd: null, modern: null,
    configIn,
    configOut(body) {
      const { deberta: d0, classifier_dropout, position_embedding_type: _p, ...others } = body;
      const f = d0 as DebertaFields;
      return { ...others, ...f, norm_rel_ebd: f.norm_rel_ebd ? 'layer_norm' : 'none', ...(typeof classifier_dropout === 'number' ? { cls_dropout: classifier_dropout } : {}),
        pooler_hidden_size: body.hidden_size, pooler_hidden_act: 'gelu' };
    },
  } satisfies FamilyDecl;
};
