/**
 * The parameter layout: one table from Hugging Face names to offsets in one
 * flat arena. Tensors that take weight decay come first and those that do not
 * (LayerNorm and biases) after, so AdamW is two passes over two slices. Within
 * a layer, query|key|value weights (and biases) are adjacent so the three
 * projections run as one fused [3D, D] matmul.
 */
import type { BertConfig } from './config.js';
import { headParamSpecs } from './heads/index.js';
import { classifierHead, mlmHead, nspHead, type TaskSpec } from './heads/task.js';

export interface ParamSpec {
  name: string;
  shape: number[];
  size: number;
  offset: number;
  decay: boolean;
  init: 'normal' | 'zeros' | 'ones';
}

export interface Layout {
  specs: ParamSpec[];
  byName: Map<string, ParamSpec>;
  total: number;
  /** [0, decayEnd) takes weight decay, [decayEnd, total) does not */
  decayEnd: number;
}

/**
 * mlm: add the masked-LM head (cls.predictions; its decoder is tied to the word embeddings);
 * nsp: add the sentence-pair head on the pooled output (cls.seq_relationship, 2 classes, as
 * BertForPreTraining names it; next-sentence or sentence-order prediction)
 */
export function makeLayout(cfg: BertConfig, numLabels: number, mlm = false, nsp = false): Layout {
  const D = cfg.hidden_size, I = cfg.intermediate_size;
  const decay: Array<[string, number[], ParamSpec['init']]> = [];
  const noDecay: Array<[string, number[], ParamSpec['init']]> = [];
  decay.push(['bert.embeddings.word_embeddings.weight', [cfg.vocab_size, D], 'normal']);
  decay.push(['bert.embeddings.position_embeddings.weight', [cfg.max_position_embeddings, D], 'normal']);
  decay.push(['bert.embeddings.token_type_embeddings.weight', [cfg.type_vocab_size, D], 'normal']);
  noDecay.push(['bert.embeddings.LayerNorm.weight', [D], 'ones']);
  noDecay.push(['bert.embeddings.LayerNorm.bias', [D], 'zeros']);
  for (let l = 0; l < cfg.num_hidden_layers; l++) {
    const p = `bert.encoder.layer.${l}.`;
    for (const w of ['query', 'key', 'value']) decay.push([`${p}attention.self.${w}.weight`, [D, D], 'normal']);
    for (const w of ['query', 'key', 'value']) noDecay.push([`${p}attention.self.${w}.bias`, [D], 'zeros']);
    decay.push([`${p}attention.output.dense.weight`, [D, D], 'normal']);
    noDecay.push([`${p}attention.output.dense.bias`, [D], 'zeros']);
    noDecay.push([`${p}attention.output.LayerNorm.weight`, [D], 'ones']);
    noDecay.push([`${p}attention.output.LayerNorm.bias`, [D], 'zeros']);
    decay.push([`${p}intermediate.dense.weight`, [I, D], 'normal']);
    noDecay.push([`${p}intermediate.dense.bias`, [I], 'zeros']);
    decay.push([`${p}output.dense.weight`, [D, I], 'normal']);
    noDecay.push([`${p}output.dense.bias`, [D], 'zeros']);
    noDecay.push([`${p}output.LayerNorm.weight`, [D], 'ones']);
    noDecay.push([`${p}output.LayerNorm.bias`, [D], 'zeros']);
  }
  decay.push(['bert.pooler.dense.weight', [D, D], 'normal']);
  noDecay.push(['bert.pooler.dense.bias', [D], 'zeros']);
  // the heads on the encoder, each giving its own parameters (heads/task.ts, heads/index.ts)
  const heads: TaskSpec[] = [
    ...(mlm ? mlmHead.params(cfg, 0) : []),
    ...(nsp ? nspHead.params(cfg, 2) : []),
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
