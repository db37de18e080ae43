/**
 * Model folders: config (config.json or TF bert_config.json) + weights in one
 * of safetensors, pytorch_model.bin, or a TF1 tensor bundle. Every format is
 * mapped by name onto the Hugging Face names of params.ts; problems (missing,
 * unexpected, mis-shaped tensors) are gathered and reported in one error.
 */
import { existsSync, readdirSync, statSync, mkdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { PairHeadConfig } from '../model/heads.js';
import type { DType, Kernels } from '../core/kernels.js';
import { Bert } from '../model/bert.js';
import { type BertConfig, configToJson, makeConfig } from '../model/config.js';
import { writeFileAtomic } from './atomic.js';
import { readSafetensors, writeSafetensors } from './safetensors.js';
import { CheckpointError, toFloat32, type RawTensor } from './tensor.js';
import { InputFileError, readJsonFile } from './text.js';
import { readTorchBin } from './torchbin.js';
import { readTf1Checkpoint, tfNameToHf } from './tf1.js';

export type WeightsFormat = 'safetensors' | 'bin' | 'tf1';

export interface ModelFiles {
  dir: string;
  configPath: string;
  weightsPath: string;
  format: WeightsFormat;
}

/** locate config and weights from a folder or a TF1 checkpoint prefix (DIR/model.ckpt-N) */
export function findModelFiles(path: string): ModelFiles {
  let dir = path;
  let tfPrefix: string | null = null;
  let weightsFile: ModelFiles | null = null;
  if (existsSync(path) && statSync(path).isFile() && (path.endsWith('.safetensors') || path.endsWith('.bin'))) {
    dir = dirname(path);
    weightsFile = { dir, configPath: '', weightsPath: path, format: path.endsWith('.bin') ? 'bin' : 'safetensors' };
  } else if (!existsSync(path) || !statSync(path).isDirectory()) {
    if (existsSync(path + '.index')) { tfPrefix = path; dir = dirname(path); }
    else if (existsSync(path) && path.endsWith('.index')) { tfPrefix = path.slice(0, -6); dir = dirname(path); }
    else throw new CheckpointError(`${path}: no such model folder or TF checkpoint prefix`);
  }
  const configPath = [join(dir, 'config.json'), join(dir, 'bert_config.json')].find((p) => existsSync(p));
  if (!configPath) throw new CheckpointError(`${dir}: no config.json or bert_config.json`);
  if (weightsFile) return { ...weightsFile, configPath };
  if (tfPrefix) return { dir, configPath, weightsPath: tfPrefix, format: 'tf1' };
  if (existsSync(join(dir, 'model.safetensors'))) return { dir, configPath, weightsPath: join(dir, 'model.safetensors'), format: 'safetensors' };
  if (existsSync(join(dir, 'pytorch_model.bin'))) return { dir, configPath, weightsPath: join(dir, 'pytorch_model.bin'), format: 'bin' };
  const indexes = readdirSync(dir).filter((f) => f.endsWith('.index') && f.includes('ckpt')).sort((a, b) => ckptStep(b) - ckptStep(a));
  if (indexes.length) return { dir, configPath, weightsPath: join(dir, indexes[0]!.slice(0, -6)), format: 'tf1' };
  throw new CheckpointError(`${dir}: no weights (model.safetensors, pytorch_model.bin or a TF checkpoint *.ckpt*.index)`);
}

function ckptStep(f: string): number {
  const m = /ckpt-(\d+)/.exec(f);
  return m ? Number(m[1]) : -1;
}

export function readConfig(files: ModelFiles): BertConfig {
  let raw: unknown;
  try { raw = readJsonFile(files.configPath); } catch (e) { if (e instanceof InputFileError) throw new CheckpointError(e.message); throw e; }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new CheckpointError(`${files.configPath}: expected a JSON object`);
  return makeConfig(raw as Record<string, unknown>, files.configPath);
}

/**
 * A binary reader's out-of-range access (a DataView past its buffer, an array
 * length from a damaged size field) means a damaged file: one CheckpointError
 * naming it, whatever check the reader itself missed.
 */
function damagedAsError<T>(path: string, read: () => T): T {
  try { return read(); } catch (e) {
    if (e instanceof RangeError || e instanceof TypeError) throw new CheckpointError(`${path}: the file is damaged (${e.message.replace(/\s+/g, ' ')})`);
    throw e;
  }
}

/** HF-named tensors from any format; TF kernels are transposed to [out, in] */
export function readWeights(files: ModelFiles): Map<string, RawTensor> {
  if (files.format === 'safetensors') return normaliseHfNames(damagedAsError(files.weightsPath, () => readSafetensors(files.weightsPath).tensors));
  if (files.format === 'bin') return normaliseHfNames(damagedAsError(files.weightsPath, () => readTorchBin(files.weightsPath)));
  const tf = damagedAsError(files.weightsPath, () => readTf1Checkpoint(files.weightsPath));
  const out = new Map<string, RawTensor>();
  for (const [name, t] of tf) {
    const hf = tfNameToHf(name);
    if (hf) out.set(hf.name, hf.transpose ? transpose2d(t) : t);
  }
  return out;
}

/** older HF files use gamma/beta and may lack the "bert." prefix (BertModel saves) */
function normaliseHfNames(m: Map<string, RawTensor>): Map<string, RawTensor> {
  const out = new Map<string, RawTensor>();
  for (const [k, v] of m) {
    let name = k.replace(/\.gamma$/, '.weight').replace(/\.beta$/, '.bias');
    if (/^(embeddings|encoder|pooler)\./.test(name)) name = 'bert.' + name;
    out.set(name, v);
  }
  return out;
}

function transpose2d(t: RawTensor): RawTensor {
  if (t.shape.length !== 2) return t;
  const [r, c] = t.shape as [number, number];
  const es = t.data.byteLength / (r * c);
  const out = new Uint8Array(t.data.byteLength);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out.set(t.data.subarray((i * c + j) * es, (i * c + j + 1) * es), (j * r + i) * es);
  return { dtype: t.dtype, shape: [c, r], data: out };
}

/** names a BERT checkpoint may carry that a classifier does not use */
const IGNORED = [/^cls\./, /position_ids$/, /^bert\.embeddings\.position_ids$/];
// (cls.predictions.* is loaded when the model has the masked-LM head; its decoder.weight is the tied word embedding)

export interface LoadOptions {
  kernels: Kernels;
  dtype?: DType;
  /** override the label set (fine-tuning a new task); the classifier is then freshly initialised */
  labels?: string[];
  seed?: number;
  /** include the masked-LM head (loaded when the checkpoint has it, else initialised) */
  mlmHead?: boolean;
  /** include the sentence-pair head cls.seq_relationship (loaded when the checkpoint has it, else initialised) */
  nspHead?: boolean;
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
  const relabel = opts.labels !== undefined;
  if (relabel) cfg.labels = opts.labels!;
  if (opts.pairHead) cfg.pair_head = opts.pairHead;
  const model = new Bert(cfg, { kernels: opts.kernels, dtype: opts.dtype ?? 'f32', seed: opts.seed ?? 0, mlmHead: opts.mlmHead, nspHead: opts.nspHead });
  if (opts.randomInit) return { model, files, initialised: model.layout.specs.map((sp) => sp.name) };
  const tensors = readWeights(files);
  const missing: string[] = [], misShaped: string[] = [], unexpected: string[] = [], initialised: string[] = [];
  for (const spec of model.layout.specs) {
    const isClassifier = spec.name.startsWith('classifier.') || spec.name.startsWith('head.');
    const isHead = isClassifier || spec.name.startsWith('cls.');
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
    for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i]!)) throw new CheckpointError(`${files.weightsPath}: tensor ${spec.name} holds a non-finite value (${v[i]}) at index ${i}; the checkpoint is damaged or diverged`);
    model.params.set(v, spec.offset);
  }
  for (const name of tensors.keys()) {
    if (model.layout.byName.has(name) || IGNORED.some((r) => r.test(name))) continue;
    if (name.startsWith('classifier.') && (relabel || cfg.labels.length === 0 || cfg.pair_head)) continue;
    if (name.startsWith('head.') && relabel) continue;
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

/** save config.json + model.safetensors into dir, each written atomically */
export function saveBert(model: Bert, dir: string, extraConfig: Record<string, unknown> = {}): void {
  mkdirSync(dir, { recursive: true });
  const tensors = model.layout.specs.map((s) => ({ name: s.name, shape: s.shape, data: model.params.subarray(s.offset, s.offset + s.size) }));
  writeSafetensors(join(dir, 'model.safetensors'), tensors, { format: 'pt', producer: 'ja-bert' });
  writeFileAtomic(join(dir, 'config.json'), (write) => write(JSON.stringify({ ...configToJson(model.cfg), ...extraConfig }, null, 2) + '\n'));
}
