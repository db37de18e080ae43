/**
 * The parameter layout: one table from Hugging Face names (the family's, families/) to offsets in one
 * flat arena. Tensors that take weight decay come first and those that do not
 * (LayerNorm and biases) after, so AdamW is two passes over two slices. Within
 * a layer, query|key|value weights (and biases) are adjacent so the three
 * projections run as one fused [3D, D] matmul.
 */
import type { BertConfig } from './config.js';
import { familyOf, type FamilyDecl } from './families/index.js';
import { debertaSpan } from './families/deberta.js';
import { headParamSpecs } from './heads/index.js';
import { classifierHead, mlmHead, nspHead, rtdHead } from './heads/task.js';
import type { Spec } from './spec.js';

export interface ParamSpec {
  name: string;
  shape: number[];
  size: number;
  offset: number;
  decay: boolean;
  init: Spec[2];
}

export interface Layout {
  specs: ParamSpec[];
  byName: Map<string, ParamSpec>;
  total: number;
  /** [0, decayEnd) takes weight decay, [decayEnd, total) does not */
  decayEnd: number;
}

type Entry = [string, number[], ParamSpec['init']];

/** ModernBERT's parameters (families/modernbert.ts): biases only where the config's *_bias flags say so; its head's dense and norm */
function modernLayout(cfg: BertConfig, F: FamilyDecl, decay: Entry[], noDecay: Entry[]): void {
  const D = cfg.hidden_size, I = cfg.intermediate_size, m = cfg.modernbert!, M = F.modern!;
  const norm = (p: string) => { noDecay.push([`${p}.weight`, [D], 'ones']); if (m.norm_bias) noDecay.push([`${p}.bias`, [D], 'zeros']); };
  const lin = (p: string, out: number, inp: number, bias: boolean) => { decay.push([`${p}.weight`, [out, inp], 'normal']); if (bias) noDecay.push([`${p}.bias`, [out], 'zeros']); };
  norm(F.embLn.w.replace(/\.weight$/, ''));
  for (let l = 0; l < cfg.num_hidden_layers; l++) {
    const n = M.layer(l);
    if (n.attnNorm) norm(n.attnNorm);
    lin(n.wqkv, 3 * D, D, m.attention_bias);
    lin(n.wo, D, D, m.attention_bias);
    norm(n.mlpNorm);
    lin(n.wi, 2 * I, D, m.mlp_bias);
    lin(n.mlpWo, D, I, m.mlp_bias);
  }
  norm(M.finalNorm);
  lin(F.pooler.w.replace(/\.weight$/, ''), D, D, m.classifier_bias);
  norm(M.headNorm);
}

/**
 * mlm: add the masked-LM head (cls.predictions; its decoder is tied to the word embeddings);
 * nsp: add the sentence-pair head on the pooled output (cls.seq_relationship, 2 classes, as
 * BertForPreTraining names it; next-sentence or sentence-order prediction);
 * rtd: add ELECTRA's replaced-token detection head (discriminator_predictions)
 */
export function makeLayout(cfg: BertConfig, numLabels: number, mlm = false, nsp = false, rtd = false): Layout {
  const D = cfg.hidden_size, I = cfg.intermediate_size, E = cfg.embedding_size ?? D, F = familyOf(cfg);
  const decay: Entry[] = [];
  const noDecay: Entry[] = [];
  // the family's names (families/), in BERT's order: embeddings, layers (query|key|value adjacent), pooler
  decay.push([F.word, [cfg.vocab_size, E], 'normal']);
  if (F.modern) modernLayout(cfg, F, decay, noDecay);
  else {
    if (F.pos) decay.push([F.pos, [cfg.max_position_embeddings, E], 'normal']);
    if (F.type) decay.push([F.type, [cfg.type_vocab_size, E], 'normal']);
    noDecay.push([F.embLn.w, [E], 'ones']);
    noDecay.push([F.embLn.b, [E], 'zeros']);
    if (F.proj) { decay.push([F.proj.w, [D, E], 'normal']); noDecay.push([F.proj.b, [D], 'zeros']); }
    const rel = F.disentangled && cfg.deberta?.relative_attention ? cfg.deberta : null;
    for (let l = 0; l < cfg.num_hidden_layers; l++) {
      const n = F.layer(l);
      for (const w of [n.q, n.k, n.v]) decay.push([w.w, [D, D], 'normal']);
      for (const w of [n.q, n.k, n.v]) noDecay.push([w.b, [D], 'zeros']);
      decay.push([n.ao.w, [D, D], 'normal']);
      noDecay.push([n.ao.b, [D], 'zeros']);
      noDecay.push([n.ln1.w, [D], 'ones']);
      noDecay.push([n.ln1.b, [D], 'zeros']);
      decay.push([n.inter.w, [I, D], 'normal']);
      noDecay.push([n.inter.b, [I], 'zeros']);
      decay.push([n.out.w, [D, I], 'normal']);
      noDecay.push([n.out.b, [D], 'zeros']);
      noDecay.push([n.ln2.w, [D], 'ones']);
      noDecay.push([n.ln2.b, [D], 'zeros']);
      // DeBERTa's own position projections (share_att_key false)
      if (rel && !rel.share_att_key) {
        if (rel.pos_att_type.includes('c2p')) { decay.push([F.disentangled!.posKey(l).w, [D, D], 'normal']); noDecay.push([F.disentangled!.posKey(l).b, [D], 'zeros']); }
        if (rel.pos_att_type.includes('p2c')) { decay.push([F.disentangled!.posQuery(l).w, [D, D], 'normal']); noDecay.push([F.disentangled!.posQuery(l).b, [D], 'zeros']); }
      }
    }
    // DeBERTa's relative-position table (2·span rows) and its LayerNorm
    if (rel) {
      decay.push([F.disentangled!.relEmb, [2 * debertaSpan(rel, cfg.max_position_embeddings), D], 'normal']);
      if (rel.norm_rel_ebd) { noDecay.push([F.disentangled!.relNorm.w, [D], 'ones']); noDecay.push([F.disentangled!.relNorm.b, [D], 'zeros']); }
    }
    decay.push([F.pooler.w, [D, D], 'normal']);
    noDecay.push([F.pooler.b, [D], 'zeros']);
  }
  // the heads on the encoder, each giving its own parameters (heads/task.ts, heads/index.ts)
  const heads: Spec[] = [
    ...(mlm ? mlmHead.params(cfg, 0) : []),
    ...(nsp ? nspHead.params(cfg, 2) : []),
    ...(rtd ? rtdHead.params(cfg, 1) : []),
    ...(cfg.pair_head ? headParamSpecs(cfg, cfg.pair_head, cfg.labels.length) : numLabels > 0 ? classifierHead.params(cfg, numLabels) : []),
  ];
  for (const [name, shape, init, d] of heads) (d ? decay : noDecay).push([name, shape, init]);
  const specs: ParamSpec[] = [];
  let offset = 0;
  const add = (list: typeof decay, isDecay: boolean) => {
    for (const [name, shape, init] of list) {
      const size = shape.reduce((a, b) => a * b, 1);
      specs.push({ name, shape, size, offset, decay: isDecay, init });
      offset += size;
    }
  };
  add(decay, true);
  const decayEnd = offset;
  add(noDecay, false);
  return { specs, byName: new Map(specs.map((s) => [s.name, s])), total: offset, decayEnd };
}
