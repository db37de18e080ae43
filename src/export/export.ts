/**
 * `ja-bert export`: a model folder out to the ecosystem.
 *
 *   --format onnx (default)  transformers.js' layout: config.json, the tokenizer files,
 *                            onnx/model.onnx (+ onnx/model_quantized.onnx with --quantize int8)
 *   --format hf              Hugging Face's PyTorch layout: config.json, model.safetensors,
 *                            the tokenizer files (tokenizer.json where expressible)
 *
 * What the ONNX graph computes follows from the model: its classifier
 * (text-classification, `logits`); for a pretrained model without one, its
 * next-sentence head as a two-label classifier (is_next / not_next, as ja-bert's
 * predict answers); for a pair-head model, the shared encoder alone
 * (`last_hidden_state`, `pooler_output`) with the head's parameters in
 * pair_head.safetensors and its scoring function in pair_head.json. `--task
 * fill-mask` exports the masked-LM head, `--task feature-extraction` the encoder.
 *
 * Everything is written into a temporary folder beside OUT and renamed into
 * place at the end: an interrupted export leaves no half-written OUT.
 */
import { checkOutputPath } from '../io/files.js';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Kernels } from '../core/kernels.js';
import { choiceOption, intOption, OptionError } from '../core/options.js';
import { writeFileAtomic } from '../io/atomic.js';
import { copyTokenizerFiles } from '../io/checkpoint.js';
import { writeSafetensors } from '../io/safetensors.js';
import { configToJson, maxSequenceLength } from '../model/config.js';
import { FAMILIES, familyNamed, familyOf } from '../model/families/index.js';
import { findModelFiles, loadBert, readConfig } from '../model/load.js';
import { headDescription, type HeadType } from '../model/heads/index.js';
import { loadTokenizer } from '../tokenize/index.js';
import { InputBuilder } from '../tokenize/inputs.js';
import { DataError, positiveLabelIndex } from '../data/processors.js';
import { NSP_LABELS } from '../infer/models.js';
import { bertToOnnx, type OnnxTask } from './onnx.js';
import { exportTokenizer } from './tokenizer.js';

export interface ExportOptions {
  model: string;
  output: string;
  kernels: Kernels;
  format?: 'onnx' | 'hf';
  /** int8: also onnx/model_quantized.onnx (dynamic int8: MatMulInteger with per-channel weight scales) */
  quantize?: 'none' | 'int8';
  opset?: number;
  /** default: from the model (text-classification with a classifier or a next-sentence head, feature-extraction for pair heads) */
  task?: OnnxTask;
  lowercase?: boolean;
  overwrite?: boolean;
  /** written into the ONNX files' producer_version */
  version?: string;
  log?: (line: string) => void;
}

export interface ExportResult {
  output: string;
  task: OnnxTask;
  /** the head the classifier logits come from: classifier, cls.seq_relationship, or none */
  head: string;
  labels: string[];
  files: string[];
  onnxBytes: number | null;
  quantizedBytes: number | null;
  /** why there is no tokenizer.json, when there is none */
  tokenizerNote: string | null;
}

/** what an export folder holds (exportModel writes nothing else) */
const EXPORT_FILES = /^(config\.json|tokenizer\.json|tokenizer_config\.json|special_tokens_map\.json|vocab\.txt|.*\.model|.*\.vocab|onnx|model\.safetensors|pair_head\.(json|safetensors))$/;

export function exportModel(o: ExportOptions): ExportResult {
  const format = choiceOption('format', o.format, ['onnx', 'hf'] as const, 'onnx');
  const quantize = choiceOption('quantize', o.quantize, ['none', 'int8'] as const, 'none');
  // LayerNormalization is an ONNX operator from opset 17; onnxruntime 1.30 runs up to 23 (21 is what we test)
  const opset = intOption('opset', o.opset, 17, 17, 21);
  const askedTask = o.task === undefined ? undefined : choiceOption('task', o.task, ['text-classification', 'fill-mask', 'feature-extraction'] as const, 'text-classification');
  if (format === 'hf' && quantize !== 'none') throw new OptionError('--quantize applies to --format onnx');
  checkOutputPath('--output', o.output, { model: o.model, folder: true });
  if (existsSync(o.output) && (!statSync(o.output).isDirectory() || readdirSync(o.output).length)) {
    if (!o.overwrite) throw new OptionError(`${o.output} exists and is not empty (--overwrite replaces it)`);
    // --overwrite replaces an export, never a file or a folder holding what ja-bert did not write
    if (!statSync(o.output).isDirectory()) throw new OptionError(`${o.output}: exists and is not a folder; --overwrite replaces only an export folder`);
    const foreign = readdirSync(o.output).filter((f) => !EXPORT_FILES.test(f)).concat(existsSync(join(o.output, 'onnx')) && statSync(join(o.output, 'onnx')).isDirectory() ? readdirSync(join(o.output, 'onnx')).filter((f) => !/^model(_quantized)?\.onnx$/.test(f)).map((f) => `onnx/${f}`) : []);
    if (foreign.length) throw new OptionError(`${o.output}: holds files ja-bert's export does not write (${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ', …' : ''}); --overwrite replaces only an export folder: give another path`);
  }

  const files = findModelFiles(o.model);
  const rawCfg = readConfig(files), family = rawCfg.model_type ?? 'bert', F = familyOf(rawCfg);
  if (askedTask === 'fill-mask' && !F.mlm) throw new OptionError(`${o.model}: --task fill-mask exports the masked-LM head of ${FAMILIES.filter((f) => familyNamed(f).mlm).join(', ')} models; this is a ${family} model`);
  const { model, initialised } = loadBert(o.model, { kernels: o.kernels, dtype: 'f32', nspHead: true, mlmHead: askedTask === 'fill-mask' });
  const cfg = model.cfg;
  const has = (name: string) => model.layout.byName.has(name) && !initialised.includes(name);
  let task: OnnxTask, head = 'none', labels = cfg.labels;
  if (askedTask === 'fill-mask') {
    if (!has(F.mlm!.dense.w)) throw new DataError(`${o.model}: --task fill-mask needs the masked-LM head, which this checkpoint does not have (no ${F.mlm!.dense.w})`);
    task = 'fill-mask'; labels = [];
  } else if (cfg.pair_head || askedTask === 'feature-extraction') {
    task = 'feature-extraction'; labels = [];
  } else if (askedTask === 'text-classification' || askedTask === undefined) {
    if (cfg.labels.length) { task = 'text-classification'; head = model.family.classifier.w.replace(/\.weight$/, ''); }
    else if (F.nsp && has(F.nsp.dense.w)) { task = 'text-classification'; head = F.nsp.dense.w.replace(/\.weight$/, ''); labels = NSP_LABELS; }
    else if (askedTask) throw new DataError(`${o.model}: no classifier and no next-sentence head to export for text-classification`);
    else { task = 'feature-extraction'; labels = []; }
  } else task = 'feature-extraction';

  const tokenizer = loadTokenizer(files.dir, { lowercase: o.lowercase });
  const pad = new InputBuilder(tokenizer, 8).pad;
  const tok = exportTokenizer(tokenizer, maxSequenceLength(cfg));

  // config.json as HF reads it, with the pad token the inputs use (HF's default 0 is often another token)
  const json: Record<string, unknown> = { ...configToJson(cfg), pad_token_id: pad, position_embedding_type: 'absolute', torch_dtype: 'float32' };
  if (F.nsp && head === F.nsp.dense.w.replace(/\.weight$/, '')) Object.assign(json, { architectures: [F.nsp.arch] });
  if (task === 'text-classification') Object.assign(json, { num_labels: labels.length, id2label: Object.fromEntries(labels.map((l, i) => [String(i), l])), label2id: Object.fromEntries(labels.map((l, i) => [l, i])) });
  if (task === 'fill-mask') json.architectures = [F.mlm!.arch];
  if (task === 'feature-extraction') { json.architectures = [model.family.baseArch]; delete json.id2label; delete json.label2id; delete json.num_labels; }
  if (cfg.pair_head) json.ja_bert_pair_head = 'pair_head.json';

  const out = o.output.replace(/\/+$/, '');
  const tmp = join(dirname(out), `.${basename(out)}.export-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  let onnxBytes: number | null = null, quantizedBytes: number | null = null;
  try {
    const write = (name: string, data: string | Uint8Array) => { mkdirSync(dirname(join(tmp, name)), { recursive: true }); writeFileAtomic(join(tmp, name), (w) => w(data)); };
    write('config.json', JSON.stringify(json, null, 2) + '\n');
    // the tokenizer: tokenizer.json where it can express it, and the original files beside it (SentencePiece's .model, vocab.txt)
    copyTokenizerFiles(files.dir, tmp);
    for (const [name, data] of Object.entries(tok.files)) write(name, data);
    if (tok.note) o.log?.(`no tokenizer.json: ${tok.note}`);
    if (format === 'hf') {
      writeSafetensors(join(tmp, 'model.safetensors'), model.layout.specs.filter((s) => has(s.name)).map((s) => ({ name: s.name, shape: s.shape, data: model.param(s.name) })), { format: 'pt', producer: 'ja-bert' });
    } else {
      const common = { task, classifier: head === 'none' ? undefined : head, opset, producerVersion: o.version };
      o.log?.(`writing onnx/model.onnx (${task}${head !== 'none' ? `, ${head}` : ''}, opset ${opset})`);
      const f32 = bertToOnnx(model, common);
      write('onnx/model.onnx', f32);
      onnxBytes = f32.length;
      if (quantize === 'int8') {
        o.log?.('writing onnx/model_quantized.onnx (dynamic int8)');
        const q8 = bertToOnnx(model, { ...common, quantize: true });
        write('onnx/model_quantized.onnx', q8);
        quantizedBytes = q8.length;
      }
    }
    if (cfg.pair_head) {
      // the head's own parameters and how it scores, so B representations computed elsewhere can be ranked
      const specs = model.layout.specs.filter((s) => s.name.startsWith('head.'));
      writeSafetensors(join(tmp, 'pair_head.safetensors'), specs.map((s) => ({ name: s.name, shape: s.shape, data: model.param(s.name) })), { format: 'pt', producer: 'ja-bert' });
      write('pair_head.json', JSON.stringify(pairHeadSpec(cfg.pair_head.type, cfg.pair_head, cfg.labels), null, 2) + '\n');
    }
    if (existsSync(out)) rmSync(out, { recursive: true, force: true });
    renameSync(tmp, out);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  const list: string[] = [];
  const walk = (d: string, rel: string) => { for (const f of readdirSync(d).sort()) { const p = join(d, f); if (statSync(p).isDirectory()) walk(p, `${rel}${f}/`); else list.push(`${rel}${f}`); } };
  walk(out, '');
  return { output: out, task, head, labels, files: list, onnxBytes, quantizedBytes, tokenizerNote: tok.note ?? null };
}

/** pair_head.json: what a pair head reads of the encoder's outputs and how it scores (docs/EXPORT.md) */
function pairHeadSpec(type: HeadType, h: { dim: number; codes: number; side_length: number }, labels: string[]): Record<string, unknown> {
  const { reads, scores } = headDescription(type);
  return {
    type, dim: h.dim, codes: h.codes, side_length: h.side_length, labels, positive_label: labels[positiveLabelIndex(labels)],
    inputs: 'each text encoded alone as [CLS] text [SEP], at most side_length tokens, by onnx/model.onnx',
    reads, score: scores, probability: 'softmax(logits)[positive_label]',
    parameters: 'pair_head.safetensors (head.* tensors, PyTorch Linear layout [out, in])',
    reference: `src/model/heads/${type}.ts`,
  };
}
