/**
 * Sentence vectors from a BERT's last layer, the three ways users pool:
 * `pooled` (the pooler's tanh(W·h_CLS), BERT's own sentence output), `cls`
 * (h_CLS as it is) and `mean` (the mean of every token's vector, [CLS] and
 * [SEP] included, as sentence-transformers' mean pooling over the attention
 * mask). Texts are encoded alone, `[CLS] text [SEP]`, in length-sorted batches.
 */
import type { Bert } from '../model/bert.js';
import type { InputBuilder } from '../tokenize/inputs.js';

export type Pooling = 'pooled' | 'cls' | 'mean';
export const POOLINGS = ['pooled', 'cls', 'mean'] as const;

/** one vector per text (accumulated in f64) */
export function embedTexts(model: Bert, builder: InputBuilder, texts: string[], pooling: Pooling, log?: (l: string) => void, batchSize = 32): Float64Array[] {
  const D = model.cfg.hidden_size;
  const order = texts.map((_, i) => i);
  const feats = texts.map((t) => builder.features(t));
  order.sort((a, b) => feats[a]!.inputIds.length - feats[b]!.inputIds.length);
  const out = new Array<Float64Array>(texts.length);
  const t0 = Date.now();
  for (let s = 0; s < order.length; s += batchSize) {
    const idx = order.slice(s, s + batchSize);
    const batch = builder.batch(idx.map((i) => feats[i]!));
    const r = model.forward(batch, { grad: false });
    idx.forEach((i, b) => {
      const v = new Float64Array(D);
      if (pooling === 'pooled') for (let d = 0; d < D; d++) v[d] = r.pooledOutput[b * D + d]!;
      else {
        const len = pooling === 'cls' ? 1 : feats[i]!.inputIds.length;
        for (let t = 0; t < len; t++) for (let d = 0; d < D; d++) v[d] += r.sequenceOutput[(b * batch.S + t) * D + d]! / len;
      }
      out[i] = v;
    });
    if (log && (s / batchSize) % 20 === 19) log(`encoded ${Math.min(s + batchSize, order.length)}/${order.length} texts, ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  }
  return out;
}
