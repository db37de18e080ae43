/**
 * Model folders: config (config.json or TF bert_config.json) + weights in one
 * of safetensors, pytorch_model.bin, or a TF1 tensor bundle. Every format is
 * mapped by name onto the Hugging Face names of params.ts; problems (missing,
 * unexpected, mis-shaped tensors) are gathered and reported in one error.
 */
import { resolveCachedModel } from './hub.js';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { writeFileAtomic } from './atomic.js';
import { dirname, join } from 'node:path';
import { readSafetensors } from './safetensors.js';
import { CheckpointError, type RawTensor } from './tensor.js';
import { readJsonChecked } from './text.js';
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
  path = resolveCachedModel(path); // org/name[@revision] from the Hugging Face cache (io/hub.ts)
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
export function readWeights(files: ModelFiles, prefix = 'bert', bareModules: readonly string[] = ['embeddings', 'encoder', 'pooler']): Map<string, RawTensor> {
  if (files.format === 'safetensors') return normaliseHfNames(damagedAsError(files.weightsPath, () => readSafetensors(files.weightsPath).tensors), prefix, bareModules);
  if (files.format === 'bin') return normaliseHfNames(damagedAsError(files.weightsPath, () => readTorchBin(files.weightsPath)), prefix, bareModules);
  const tf = damagedAsError(files.weightsPath, () => readTf1Checkpoint(files.weightsPath));
  const out = new Map<string, RawTensor>();
  for (const [name, t] of tf) {
    const hf = tfNameToHf(name);
    if (hf) out.set(hf.name, hf.transpose ? transpose2d(t) : t);
  }
  return out;
}

/**
 * Older HF files use gamma/beta; a bare encoder's save (BertModel, XLMRobertaModel as sentence-transformers
 * writes it, DistilBertModel, ElectraModel) lacks the family's prefix ("bert.", "roberta.", ...), which is added
 */
function normaliseHfNames(m: Map<string, RawTensor>, prefix: string, bareModules: readonly string[]): Map<string, RawTensor> {
  const out = new Map<string, RawTensor>();
  for (const [k, v] of m) {
    let name = k.replace(/\.gamma$/, '.weight').replace(/\.beta$/, '.bias');
    const top = name.slice(0, name.indexOf('.'));
    if (name.includes('.') && bareModules.includes(top)) name = `${prefix}.${name}`;
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

/** copy the tokenizer files of a model folder (tokenizer.json, tokenizer_config.json, vocab.txt, special_tokens_map.json, *.model, *.vocab) into another */
export function copyTokenizerFiles(from: string, to: string): void {
  for (const f of readdirSync(from)) {
    if (/^(tokenizer\.json|tokenizer_config\.json|vocab\.txt|special_tokens_map\.json)$/.test(f) || /\.(model|vocab)$/.test(f)) writeFileAtomic(join(to, f), (w) => w(readFileSync(join(from, f))));
  }
}

/** what a sentence-transformers folder declares after its Transformer module: the pooling and whether vectors are normalised */
export interface SentenceTransformersSpec { pooling: 'mean' | 'cls'; normalize: boolean }

/**
 * modules.json with a Pooling module (1_Pooling/config.json) and optionally Normalize, as sentence-transformers
 * saves an embedding model (multilingual-e5, ruri, ...): null when the folder has no modules.json. A pooling mode
 * ja-bert does not compute (max, mean of sqrt length, weighted mean, last token) or a module after the pooling other
 * than Normalize (a Dense projection) is one line naming it, not a silently different vector.
 */
export function readSentenceTransformers(dir: string): SentenceTransformersSpec | null {
  const path = join(dir, 'modules.json');
  if (!existsSync(path)) return null;
  const modules = readJsonChecked(path, 'sentence-transformers modules', CheckpointError);
  if (!Array.isArray(modules)) throw new CheckpointError(`${path}: expected a list of modules`);
  let pooling: SentenceTransformersSpec['pooling'] | null = null, normalize = false;
  for (const m of modules as Array<{ type?: unknown; path?: unknown }>) {
    const type = String(m?.type ?? ''), name = type.split('.').pop() ?? '';
    if (name === 'Transformer' || name === 'XLMRoBERTa' || name === 'BERT') continue;
    if (name === 'Normalize') { normalize = true; continue; }
    if (name === 'Pooling') {
      const cfgPath = join(dir, String(m.path ?? '1_Pooling'), 'config.json');
      const c = readJsonChecked(cfgPath, 'pooling config', CheckpointError) as Record<string, unknown>;
      const on = Object.entries(c).filter(([k, v]) => k.startsWith('pooling_mode_') && v === true).map(([k]) => k.slice('pooling_mode_'.length));
      if (on.length === 1 && on[0] === 'mean_tokens') pooling = 'mean';
      else if (on.length === 1 && on[0] === 'cls_token') pooling = 'cls';
      else throw new CheckpointError(`${cfgPath}: pooling ${on.join(' + ') || 'none'} is not one ja-bert computes (mean_tokens or cls_token)`);
      continue;
    }
    throw new CheckpointError(`${path}: module ${type || '(no type)'} after the encoder is not one ja-bert applies (Pooling, Normalize)`);
  }
  if (!pooling) throw new CheckpointError(`${path}: no Pooling module`);
  return { pooling, normalize };
}
