/**
 * ja-bert's async library API: the classes an application keeps (Classifier,
 * Encoder, PairScorer) and one function per CLI command, with the CLI's
 * options, defaults and validation. All native work runs in the engine
 * thread (src/api/engine.ts), so the caller's event loop stays free.
 *
 *   const clf = await Classifier.load();            // the default model
 *   const [r] = await clf.classify([{ text: 'A', textB: 'B' }]);
 *   console.log(r.label, r.score, r.probabilities);
 */
import type { RankResult } from '../cache/index.js';
import { MODEL_DEFAULTED, type JobName, type JobOptions, type JobResult, type ModelDefaulted } from '../jobs.js';
import type { DTypeOption } from '../core/dtype.js';
import type { Pooling } from '../infer/embed.js';
import type { Classification, ClassifyInput } from '../infer/models.js';
import { intOption, OptionError } from '../core/options.js';
import { JaBertError, registerError } from '../core/errors.js';
import { parseDtype } from '../core/dtype.js';
import { DataError } from '../data/processors.js';
import { DEFAULT_MODEL, modelOrDefault } from '../model/default.js';
import { call, closeEngine, job, type JobControl } from './engine.js';
import type { EngineInfo } from '../core/native.js';

export { closeEngine, type JobControl };
export type { Classification, ClassifyInput, Pooling, RankResult };
export { DEFAULT_MODEL };

/** a call on a Classifier, Encoder or PairScorer after its close() */
export class ClosedError extends JaBertError { override readonly code = 'ERR_JA_BERT_CLOSED'; }
registerError(ClosedError);

/** the library's options checked as the CLI checks its flags, before anything reaches the engine */
function checkModelOptions(o: ModelOptions | undefined): ModelOptions {
  if (o === undefined || o === null) return {};
  if (typeof o !== 'object' || Array.isArray(o)) throw new OptionError('options must be an object');
  parseDtype(o.dtype);
  if (o.maxSeqLength !== undefined) intOption('max-seq-length', o.maxSeqLength, 128, 2, 65536);
  if (o.lowercase !== undefined && typeof o.lowercase !== 'boolean') throw new OptionError(`lowercase must be true or false, got ${JSON.stringify(o.lowercase)}`);
  return o;
}

function checkDir(dir: unknown, what = 'dir'): void {
  if (dir !== undefined && (typeof dir !== 'string' || dir === '')) throw new OptionError(`${what} must be a model folder path (a string)`);
}

function checkBatchSize(o: { batchSize?: number } | undefined): void {
  if (o !== undefined && (o === null || typeof o !== 'object')) throw new OptionError('options must be an object');
  if (o?.batchSize !== undefined) intOption('batch-size', o.batchSize, 64, 1, 4096);
}

/** what loading a model takes: the compute dtype, the longest input, lowercasing */
export interface ModelOptions {
  /** auto (default): bf16 where the CPU runs it natively, else f32 */
  dtype?: DTypeOption;
  maxSeqLength?: number;
  lowercase?: boolean;
}

/** the model's handle in the engine thread, released by close() or when the engine closes */
abstract class Loaded {
  protected closed = false;
  protected constructor(protected readonly handle: number, readonly dir: string) {}
  protected check(): void {
    if (this.closed) throw new ClosedError(`${this.constructor.name}: closed (load it again)`);
  }
  /** release the model in the engine thread */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await call({ op: 'dispose', handle: this.handle });
  }
}

/**
 * A text or text-pair classifier: a fine-tuned cross-encoder, a pair-head
 * model, or a pretrained model's next-sentence head (the default model).
 */
export class Classifier extends Loaded {
  private constructor(handle: number, dir: string, readonly labels: string[], readonly head: string, readonly needsPairs: boolean) {
    super(handle, dir);
  }

  /** load a model folder (the embedded default model when omitted) */
  static async load(dir?: string, o: ModelOptions = {}): Promise<Classifier> {
    checkDir(dir);
    o = checkModelOptions(o);
    const d = modelOrDefault(dir);
    const r = await call<{ handle: number; labels: string[]; head: string; needsPairs: boolean }>({ op: 'load', kind: 'classifier', dir: d, options: { ...o } });
    return new Classifier(r.handle, d, r.labels, r.head, r.needsPairs);
  }

  /** an Encoder on this classifier's weights (no second copy of the model) */
  async encoder(o: { maxSeqLength?: number } = {}): Promise<Encoder> {
    this.check();
    return Encoder.fromHandle(this.handle, this.dir, o.maxSeqLength);
  }

  /** one result per input, in order: the best label, its probability and every label's probability */
  async classify(inputs: Array<ClassifyInput | string>, o: { batchSize?: number } = {}): Promise<Classification[]> {
    this.check();
    checkBatchSize(o);
    const list = (Array.isArray(inputs) ? inputs : [inputs]).map((x) => (typeof x === 'string' ? { text: x } : x));
    list.forEach((x, i) => {
      if (!x || typeof x !== 'object' || typeof x.text !== 'string') throw new DataError(`inputs[${i}]: must be a string or {text, textB?} of strings`);
      if (x.textB !== undefined && typeof x.textB !== 'string') throw new DataError(`inputs[${i}]: textB must be a string`);
    });
    return call<Classification[]>({ op: 'classify', handle: this.handle, inputs: list, batchSize: o.batchSize });
  }

  /** each input's length in tokens before truncation, and the most the model takes (TEI's usage and limits) */
  async tokens(inputs: ClassifyInput[]): Promise<{ counts: number[]; maxLength: number }> {
    this.check();
    return call<{ counts: number[]; maxLength: number }>({ op: 'tokens', handle: this.handle, inputs: inputs.map((x) => ({ text: x.text, textB: x.textB })) });
  }
}

/** sentence embeddings (sentence-transformers' model.encode) */
export class Encoder extends Loaded {
  private constructor(handle: number, dir: string, readonly dimension: number) {
    super(handle, dir);
  }

  static async load(dir?: string, o: ModelOptions = {}): Promise<Encoder> {
    checkDir(dir);
    o = checkModelOptions(o);
    const d = modelOrDefault(dir);
    const r = await call<{ handle: number; dimension: number }>({ op: 'load', kind: 'encoder', dir: d, options: { ...o } });
    return new Encoder(r.handle, d, r.dimension);
  }

  /** @internal an encoder sharing a loaded classifier's model */
  static async fromHandle(from: number, dir: string, maxSeqLength?: number): Promise<Encoder> {
    const r = await call<{ handle: number; dimension: number }>({ op: 'load', kind: 'encoder', dir, options: { from, maxSeqLength } });
    return new Encoder(r.handle, dir, r.dimension);
  }

  /** one vector per text; pooling mean (default), cls or pooled; normalize: unit length */
  async encode(texts: string[], o: { pooling?: Pooling; normalize?: boolean; batchSize?: number } = {}): Promise<Float32Array[]> {
    this.check();
    checkBatchSize(o);
    if (!Array.isArray(texts) || !texts.every((t) => typeof t === 'string')) throw new DataError('texts must be an array of strings');
    if (o.pooling !== undefined && !['mean', 'cls', 'pooled'].includes(o.pooling)) throw new OptionError(`pooling must be mean, cls or pooled, got ${JSON.stringify(o.pooling)}`);
    const flat = await call<Float32Array>({ op: 'encode', handle: this.handle, texts, options: { ...o } });
    const D = this.dimension;
    return Array.from({ length: flat.length / D }, (_, i) => flat.subarray(i * D, (i + 1) * D));
  }

  /** each text's length in tokens with [CLS] and [SEP] before truncation, and the most the encoder takes */
  async tokens(texts: string[]): Promise<{ counts: number[]; maxLength: number }> {
    this.check();
    if (!Array.isArray(texts) || !texts.every((t) => typeof t === 'string')) throw new DataError('texts must be an array of strings');
    return call<{ counts: number[]; maxLength: number }>({ op: 'tokens', handle: this.handle, inputs: texts.map((text) => ({ text })) });
  }
}

/** a pair-head model with its cache of B texts, loaded once and kept warm for ranking */
export class PairScorer extends Loaded {
  private constructor(handle: number, dir: string, readonly cache: string, readonly size: number, readonly head: string, readonly retrieve: number | null) {
    super(handle, dir);
  }

  /**
   * a model and its B cache. A cache that names a LanceDB index (cache build --index) is ranked by
   * retrieve-then-rerank: the top `retrieve` (default 200) by the index, scored by the head;
   * `retrieve: 0` scores every candidate, as for a cache without one.
   */
  static async load(dir: string, o: { cache: string; dtype?: DTypeOption; chunked?: boolean; retrieve?: number }): Promise<PairScorer> {
    checkDir(dir);
    if (!o || typeof o !== 'object' || typeof o.cache !== 'string' || o.cache === '') throw new OptionError('PairScorer.load needs { cache: PATH }');
    parseDtype(o.dtype);
    if (o.retrieve !== undefined) intOption('retrieve', o.retrieve, 200, 0);
    const r = await call<{ handle: number; size: number; head: string; retrieve?: number }>({ op: 'load', kind: 'scorer', dir, options: { ...o } });
    return new PairScorer(r.handle, dir, o.cache, r.size, r.head, r.retrieve ?? null);
  }

  /** the top K cached texts for a new text, or for a cached text by id (itself left out) */
  async rank(query: string | { id: string }, o: { top?: number } = {}): Promise<RankResult & { retrieved?: number; retrieveMs?: number }> {
    this.check();
    if (typeof query !== 'string' && !(query && typeof query === 'object' && typeof query.id === 'string')) throw new DataError('rank: the query must be a text or { id }');
    if (o.top !== undefined) intOption('top', o.top, 10, 1, 10_000);
    const q = typeof query === 'string' ? { text: query } : { id: query.id };
    return call<RankResult>({ op: 'rank', handle: this.handle, query: { ...q, top: o.top } });
  }
}

/** Omit over each member of a union (crossValidate's options are one per method) */
type OmitEach<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
/** a job's options as a library caller gives them: the engine supplies the kernels, progress goes to onProgress, `model` defaults where the job's does */
export type ApiOptions<K extends JobName> = K extends ModelDefaulted
  ? OmitEach<JobOptions<K>, 'kernels' | 'log' | 'signal' | 'model'> & { model?: string }
  : OmitEach<JobOptions<K>, 'kernels' | 'log' | 'signal'>;

/** the API's function for a job of the table (jobs.ts): its options and result are the job's, run in the engine thread */
function jobFunction<K extends JobName>(name: K): (o: ApiOptions<K>, c?: JobControl) => Promise<JobResult<K>> {
  return (o, c) => job<JobResult<K>>(name, MODEL_DEFAULTED.has(name) && o !== null && typeof o === 'object' ? { ...o, model: modelOrDefault((o as { model?: string }).model) } : o, c);
}

/** `ja-bert finetune`: fine-tune a model (cross-encoder or a pair head) and write the run folder; model defaults to the default model */
export const finetune = jobFunction('finetune');
/** `ja-bert pretrain`: masked-LM (+ NSP/SOP, or ELECTRA's replaced-token detection) pretraining from a corpus */
export const pretrain = jobFunction('pretrain');
/** `ja-bert baseline`: frozen vectors + logistic regression */
export const baseline = jobFunction('baseline');
/** `ja-bert finetune|baseline --folds K`: k-fold cross-validation (grouped with split: 'group'), mean ± std per metric; model defaults to the default model */
export const crossValidate = jobFunction('crossValidate');
/** `ja-bert compare`: every head on the same split, accuracy and speed */
export const compare = jobFunction('compare');
/**
 * `ja-bert cache build`: encode every text once with a pair-head model; `queue` (redis://HOST:PORT) has `ja-bert worker`s
 * encode the chunks; `index` (lancedb://PATH) then writes the LanceDB index the cache names, which PairScorer retrieves from
 */
export const buildCache = jobFunction('buildCache');
/** `ja-bert predict`: probabilities for a JSONL file; returns the number of examples */
export const predict = jobFunction('predict');
/** `ja-bert encode`: pooled output, logits, token vectors for a JSONL file */
export const encodeFile = jobFunction('encodeFile');
/** `ja-bert tokenize`: ids and tokens for a file of texts; returns the number of texts */
export const tokenize = jobFunction('tokenizeFile');
/** `ja-bert corpus`: the pretraining corpus from Debian's documentation packages (and its report) */
export const buildCorpus = jobFunction('buildCorpus');
/** `ja-bert export`: ONNX (+ int8) and tokenizer.json for transformers.js and onnxruntime, or HF's PyTorch layout; model defaults to the default model */
export const exportModel = jobFunction('exportModel');
/** `ja-bert manpage-pairs`: link pairs of Japanese man pages in the seed's honbun_data.json / negaposi.json format */
export const manpagePairs = jobFunction('manpagePairs');
/** `ja-bert bench`: the engine's training or inference throughput on a random BERT, with the PyTorch twin's beside it (vsTorch) */
export const bench = jobFunction('bench');
/** the engine's facts: oneDNN version, ISA, bf16, threads (as `ja-bert info`) */
export function info(): Promise<EngineInfo & { autoDtype: string }> {
  return call({ op: 'info' });
}
