/**
 * A model folder to a Bert and back: the config read and checked, the
 * weights (read by io/checkpoint.ts in any of the three formats) matched to
 * the parameter layout by name and shape, heads loaded or initialised; and
 * config.json + model.safetensors written atomically.
 */
import { mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { DType, Kernels } from '../core/kernels.js';
import { writeFileAtomic } from '../io/atomic.js';
import { findModelFiles, readWeights, type ModelFiles } from '../io/checkpoint.js';
import { writeSafetensors } from '../io/safetensors.js';
import { CheckpointError, firstNonFinite, toFloat32 } from '../io/tensor.js';
import { InputFileError, readJsonFile } from '../io/text.js';
import { expectsSegmenter } from '../tokenize/index.js';
import { Bert } from './bert.js';
import { type BertConfig, configToJson, makeConfig } from './config.js';
import { familyOf } from './families/index.js';
import type { PairHeadConfig } from './heads/index.js';

export { findModelFiles, readWeights, type ModelFiles };

export function readConfig(files: ModelFiles): BertConfig {
  let raw: unknown;
  try { raw = readJsonFile(files.configPath); } catch (e) { if (e instanceof InputFileError) throw new CheckpointError(e.message); throw e; }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new CheckpointError(`${files.configPath}: expected a JSON object`);
  return makeConfig(raw as Record<string, unknown>, files.configPath);
}

// names a checkpoint may carry that a classifier does not use: the family's (families/ `ignored`: pretraining heads,
// a bare model's pooler, buffers); cls.predictions.* is loaded when the model has the masked-LM head (its decoder.weight is the tied word embedding)

export interface LoadOptions {
  kernels: Kernels;
  dtype?: DType;
  /** override the label set (fine-tuning a new task); the classifier is then freshly initialised */
  labels?: string[];
  seed?: number;
  /** include the masked-LM head (loaded when the checkpoint has it, else initialised) */
  mlmHead?: boolean;
  /** include the sentence-pair head cls.seq_relationship (loaded when the checkpoint has it, else initialised; BERT only, ignored for the other families) */
  nspHead?: boolean;
  /** include ELECTRA's replaced-token detection head discriminator_predictions (loaded when present, else initialised) */
  rtdHead?: boolean;
  /** put a fresh cacheable pair head (with `labels`) in place of the classifier */
  pairHead?: PairHeadConfig;
  /** the folder's config and tokenizer, but freshly initialised weights (training from scratch) */
  randomInit?: boolean;
}

export interface LoadedModel {
  model: Bert;
  files: ModelFiles;
  /** parameters that the checkpoint did not hold and were initialised */
  initialised: string[];
}

export function loadBert(path: string, opts: LoadOptions): LoadedModel {
  const files = findModelFiles(path);
  const cfg = readConfig(files);
  // a model that expects Juman++-segmented input says so in what ja-bert saves from it (tokenize/index.ts)
  if (expectsSegmenter(files.dir)) cfg.word_segmentation = 'juman++';
  const relabel = opts.labels !== undefined;
  if (relabel) cfg.labels = opts.labels!;
  if (opts.pairHead) cfg.pair_head = opts.pairHead;
  // the next-sentence head is BERT's (a classifier without labels answers with it); the other families have none
  const nspHead = opts.nspHead && familyOf(cfg).nsp !== null;
  const model = new Bert(cfg, { kernels: opts.kernels, dtype: opts.dtype ?? 'f32', seed: opts.seed ?? 0, mlmHead: opts.mlmHead, nspHead, rtdHead: opts.rtdHead });
  if (opts.randomInit) return { model, files, initialised: model.layout.specs.map((sp) => sp.name) };
  const tensors = readWeights(files, model.family.prefix, model.family.bareModules);
  const missing: string[] = [], misShaped: string[] = [], unexpected: string[] = [], initialised: string[] = [];
  const F = model.family;
  // the label-sized classifier (new labels: freshly initialised) and what may be absent from an encoder's checkpoint: the heads, and
  // the pooler where it is the first layer of the family's classification head (RoBERTa's classifier.dense, DistilBERT's pre_classifier)
  const labelSized = new Set([F.classifier.w, F.classifier.b]);
  // (with what else of the head a pretraining checkpoint shares, kept on relabelling as HF does: ModernBERT's head.norm)
  const pooler = new Set([F.pooler.w, F.pooler.b, ...(F.headShared ?? [])]);
  const headOnly = new Set(F.poolerInEncoder ? [] : pooler);
  for (const spec of model.layout.specs) {
    const isClassifier = labelSized.has(spec.name) || (spec.name.startsWith('head.') && !pooler.has(spec.name));
    // a head is anything outside the encoder's names (cls.*, generator_predictions.*, discriminator_predictions.*, ...)
    const isHead = isClassifier || headOnly.has(spec.name) || !spec.name.startsWith(`${F.prefix}.`);
    const t = relabel && isClassifier ? undefined : tensors.get(spec.name);
    if (!t) {
      if (isHead) { initialised.push(spec.name); continue; }
      missing.push(spec.name);
      continue;
    }
    if (t.shape.length !== spec.shape.length || t.shape.some((d, i) => d !== spec.shape[i])) {
      misShaped.push(`${spec.name} is [${t.shape}], expected [${spec.shape}]`);
      continue;
    }
    const v = toFloat32(t);
    const i = firstNonFinite(v);
    if (i >= 0) throw new CheckpointError(`${files.weightsPath}: tensor ${spec.name} holds a non-finite value (${v[i]}) at index ${i}; the checkpoint is damaged or diverged`);
    model.params.set(v, spec.offset);
  }
  for (const name of tensors.keys()) {
    if (model.layout.byName.has(name) || F.ignored.some((r) => r.test(name))) continue;
    // a classifier the model does not use (new labels, an encoder alone, a pair head in its place)
    if ((labelSized.has(name) || headOnly.has(name) || name.startsWith('classifier.')) && (relabel || cfg.labels.length === 0 || cfg.pair_head)) continue;
    if (name.startsWith('head.') && !pooler.has(name) && relabel) continue;
    unexpected.push(name);
  }
  if (missing.length || misShaped.length || unexpected.length) {
    const parts: string[] = [];
    if (missing.length) parts.push(`missing: ${missing.join(', ')}`);
    if (misShaped.length) parts.push(`wrong shape: ${misShaped.join('; ')}`);
    if (unexpected.length) parts.push(`unexpected: ${unexpected.join(', ')}`);
    throw new CheckpointError(`${files.weightsPath}: checkpoint does not fit the config ${basename(files.configPath)} — ${parts.join(' | ')}`);
  }
  model.paramsChanged();
  return { model, files, initialised };
}

/** save config.json + model.safetensors into dir, each written atomically (without the parameters `omit` names) */
export function saveBert(model: Bert, dir: string, extraConfig: Record<string, unknown> = {}, omit?: (name: string) => boolean): void {
  mkdirSync(dir, { recursive: true });
  const tensors = model.layout.specs.filter((s) => !omit?.(s.name)).map((s) => ({ name: s.name, shape: s.shape, data: model.params.subarray(s.offset, s.offset + s.size) }));
  writeSafetensors(join(dir, 'model.safetensors'), tensors, { format: 'pt', producer: 'ja-bert' });
  writeFileAtomic(join(dir, 'config.json'), (write) => write(JSON.stringify({ ...configToJson(model.cfg), ...extraConfig }, null, 2) + '\n'));
}
