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
import type { BaselineOptions, BaselineResult } from '../baseline/baseline.js';
import type { BuildResult, RankResult } from '../cache.js';
import type { CompareOptions, CompareRow } from '../compare.js';
import type { DTypeOption } from '../core/dtype.js';
import type { EncodeOptions } from '../encode.js';
import type { FinetuneOptions, FinetuneResult, PredictOptions } from '../finetune.js';
import type { ExportOptions, ExportResult } from '../export/export.js';
import type { Pooling } from '../infer/embed.js';
import type { Classification, ClassifyInput } from '../infer/models.js';
import { intOption } from '../core/options.js';
import { DEFAULT_MODEL, modelOrDefault } from '../model/default.js';
import type { PretrainOptions, PretrainResult } from '../pretrain/pretrain.js';
import type { SourceReport } from '../pretrain/corpus.js';
import type { TokenizeFileOptions } from '../tokenize/file.js';
import { call, closeEngine, job, type JobControl } from './engine.js';
import type { EngineInfo } from '../core/native.js';

export { closeEngine, type JobControl };
export type { Classification, ClassifyInput, Pooling, RankResult };
export { DEFAULT_MODEL };

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
    if (this.closed) throw new Error(`${this.constructor.name}: closed`);
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
    const list = (Array.isArray(inputs) ? inputs : [inputs]).map((x) => (typeof x === 'string' ? { text: x } : x));
    return call<Classification[]>({ op: 'classify', handle: this.handle, inputs: list, batchSize: o.batchSize });
  }
}

/** sentence embeddings (sentence-transformers' model.encode) */
export class Encoder extends Loaded {
  private constructor(handle: number, dir: string, readonly dimension: number) {
    super(handle, dir);
  }

  static async load(dir?: string, o: ModelOptions = {}): Promise<Encoder> {
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
    const flat = await call<Float32Array>({ op: 'encode', handle: this.handle, texts, options: { ...o } });
    const D = this.dimension;
    return Array.from({ length: flat.length / D }, (_, i) => flat.subarray(i * D, (i + 1) * D));
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
    if (o.retrieve !== undefined) intOption('retrieve', o.retrieve, 200, 0);
    const r = await call<{ handle: number; size: number; head: string; retrieve?: number }>({ op: 'load', kind: 'scorer', dir, options: { ...o } });
    return new PairScorer(r.handle, dir, o.cache, r.size, r.head, r.retrieve ?? null);
  }

  /** the top K cached texts for a new text, or for a cached text by id (itself left out) */
  async rank(query: string | { id: string }, o: { top?: number } = {}): Promise<RankResult & { retrieved?: number; retrieveMs?: number }> {
    this.check();
    const q = typeof query === 'string' ? { text: query } : { id: query.id };
    return call<RankResult>({ op: 'rank', handle: this.handle, query: { ...q, top: o.top } });
  }
}

/** the options of a job as a library caller gives them: the engine supplies the kernels, progress goes to onProgress */
type JobOptions<T> = Omit<T, 'kernels' | 'log' | 'signal'>;

/** `ja-bert finetune`: fine-tune a model (cross-encoder or a pair head) and write the run folder; model defaults to the default model */
export function finetune(o: Omit<JobOptions<FinetuneOptions>, 'model'> & { model?: string }, c?: JobControl): Promise<FinetuneResult> {
  return job('finetune', { ...o, model: modelOrDefault(o.model) }, c);
}
/** `ja-bert pretrain`: masked-LM (+ NSP/SOP) pretraining from a corpus */
export function pretrain(o: JobOptions<PretrainOptions>, c?: JobControl): Promise<PretrainResult> {
  return job('pretrain', o, c);
}
/** `ja-bert baseline`: frozen vectors + logistic regression */
export function baseline(o: Omit<JobOptions<BaselineOptions>, 'model'> & { model?: string }, c?: JobControl): Promise<BaselineResult> {
  return job('baseline', { ...o, model: modelOrDefault(o.model) }, c);
}
/** `ja-bert compare`: every head on the same split, accuracy and speed */
export function compare(o: Omit<JobOptions<CompareOptions>, 'model'> & { model?: string }, c?: JobControl): Promise<CompareRow[]> {
  return job('compare', { ...o, model: modelOrDefault(o.model) }, c);
}
/** `ja-bert cache build`: encode every text once with a pair-head model */
export function buildCache(o: { model: string; texts?: string; fromEmbeddings?: string; cache: string; batchSize?: number; dtype?: DTypeOption; partialEverySeconds?: number; cacheDtype?: 'f32' | 'bf16' | 'int8' }, c?: JobControl): Promise<BuildResult> {
  return job('buildCache', o, c);
}
/** `ja-bert predict`: probabilities for a JSONL file; returns the number of examples */
export function predict(o: Omit<JobOptions<PredictOptions>, 'model'> & { model?: string }, c?: JobControl): Promise<number> {
  return job('predict', { ...o, model: modelOrDefault(o.model) }, c);
}
/** `ja-bert encode`: pooled output, logits, token vectors for a JSONL file */
export function encodeFile(o: Omit<JobOptions<EncodeOptions>, 'model'> & { model?: string }, c?: JobControl): Promise<{ lines: number }> {
  return job('encodeFile', { ...o, model: modelOrDefault(o.model) }, c);
}
/** `ja-bert tokenize`: ids and tokens for a file of texts; returns the number of texts */
export function tokenize(o: TokenizeFileOptions, c?: JobControl): Promise<number> {
  return job('tokenizeFile', o, c);
}
/** `ja-bert corpus`: the pretraining corpus from Debian's documentation packages */
export function buildCorpus(o: { output: string }, c?: JobControl): Promise<{ sources: SourceReport[]; total: SourceReport }> {
  return job('buildCorpus', o, c);
}
/** `ja-bert export`: ONNX (+ int8) and tokenizer.json for transformers.js and onnxruntime, or HF's PyTorch layout; model defaults to the default model */
export function exportModel(o: Omit<JobOptions<ExportOptions>, 'model'> & { model?: string }, c?: JobControl): Promise<ExportResult> {
  return job('exportModel', { ...o, model: modelOrDefault(o.model) }, c);
}
/** the engine's facts: oneDNN version, ISA, bf16, threads (as `ja-bert info`) */
export function info(): Promise<EngineInfo & { autoDtype: string }> {
  return call({ op: 'info' });
}
