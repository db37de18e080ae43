/**
 * Loaded-once inference models, synchronous, on the kernels they are given:
 * the cores of `predict`, `encode` and `rank` and of the async library API
 * (src/api/), which runs them in its engine thread.
 */
import { maxSequenceLength } from '../model/config.js';
import type { Kernels } from '../core/kernels.js';
import { resolveDtype, type DTypeOption } from '../core/dtype.js';
import { choiceOption, intOption, MIN_SEQ_LENGTH } from '../core/options.js';
import { DataError } from '../data/processors.js';
import { loadBert } from '../model/load.js';
import { readSentenceTransformers, type SentenceTransformersSpec } from '../io/checkpoint.js';
import type { Bert } from '../model/bert.js';
import { taskModel } from '../model/crossmodel.js';
import type { TaskInputs, TaskModel } from '../model/taskmodel.js';
import { loadTokenizer, type Tokenizer } from '../tokenize/index.js';
import { InputBuilder, padBatch } from '../tokenize/inputs.js';
import { evaluate, evaluateBatches, evaluateLogits, evaluateScores, type EvalResult } from './evaluate.js';
import { sigmoid } from '../train/loss.js';
import { embedTexts, POOLINGS, type Pooling } from './embed.js';

export interface LoadOptions {
  kernels: Kernels;
  /** auto (default): bf16 where the CPU runs it natively, else f32 */
  dtype?: DTypeOption;
  /** longest input in tokens (default 128 for the cross-encoder, the model's own for pair heads and encoders: 512 capped by its positions) */
  maxSeqLength?: number;
  lowercase?: boolean;
}

/** one input of a classifier: a text, or a text pair */
export interface ClassifyInput { text: string; textB?: string }

/** a label, its probability and every class's probability (label → p) */
export interface Classification { label: string; score: number; probabilities: Record<string, number> }

/** check a list of inputs: non-empty strings, text_b where the model needs pairs */
function checkInputs(inputs: ClassifyInput[], pairs: boolean, what: string): void {
  if (!Array.isArray(inputs)) throw new DataError('inputs must be an array of { text, textB? }');
  inputs.forEach((x, i) => {
    if (x === null || typeof x !== 'object') throw new DataError(`input ${i}: expected { text, textB? }`);
    if (typeof x.text !== 'string' || x.text.trim() === '') throw new DataError(`input ${i}: "text" must be a non-empty string`);
    if (x.textB !== undefined && typeof x.textB !== 'string') throw new DataError(`input ${i}: "textB" must be a string`);
    if (pairs && x.textB === undefined) throw new DataError(`input ${i}: no "textB"; ${what} scores text pairs`);
  });
}

/** the labels of a pretrained model's next-sentence head (HF BertForNextSentencePrediction: 0 = B follows A) */
export const NSP_LABELS = ['is_next', 'not_next'];

/**
 * A classifier: a fine-tuned cross-encoder, a pair-head model, or a pretrained
 * model's next-sentence head (the default model has one: is B the text that
 * follows A?).
 */
export class TextClassifier {
  readonly labels: string[];
  /** the fine-tuned classifier (null: the next-sentence head) */
  private readonly tm: TaskModel | null;
  private constructor(readonly model: Bert, private readonly builder: InputBuilder, readonly dir: string, private readonly nsp: boolean) {
    this.tm = nsp ? null : taskModel(model);
    this.labels = nsp ? NSP_LABELS : model.cfg.labels;
  }

  static load(dir: string, o: LoadOptions): TextClassifier {
    const dtype = resolveDtype(o.dtype, o.kernels);
    const requested = intOption('max-seq-length', o.maxSeqLength, 128, MIN_SEQ_LENGTH, 4096);
    const { model, files, initialised } = loadBert(dir, { kernels: o.kernels, dtype, nspHead: true });
    const nsp = model.numLabels === 0 && !model.cfg.pair_head;
    if (nsp && (!model.family.nsp || initialised.includes(model.family.nsp.dense.w))) {
      throw new DataError(`${dir}: the model has no classifier and no next-sentence head (fine-tune it first)`);
    }
    const maxLen = model.cfg.pair_head
      ? Math.min(model.cfg.pair_head.side_length, maxSequenceLength(model.cfg))
      : Math.min(requested, maxSequenceLength(model.cfg));
    return new TextClassifier(model, new InputBuilder(loadTokenizer(files.dir, { lowercase: o.lowercase }), maxLen), dir, nsp);
  }

  /** the head's name: cross, nsp, or the pair head's type */
  get head(): string { return this.model.cfg.pair_head?.type ?? (this.nsp ? 'nsp' : 'cross'); }

  /** the classifier's tokenizer */
  get tokenizer(): Tokenizer { return this.builder.tokenizer; }

  /** whether every input needs a textB */
  get needsPairs(): boolean { return this.pairHead || this.nsp; }

  private get pairHead(): boolean { return this.model.cfg.pair_head !== undefined; }

  /** the longest input the model takes, in tokens with [CLS]/[SEP] (longer inputs are truncated) */
  get maxLength(): number { return this.builder.maxSeqLength; }

  /**
   * each input's length in tokens before truncation, as the model sees it: [CLS] a [SEP] (b [SEP]) for the
   * cross-encoder, the longer side's [CLS] text [SEP] for a pair head (each side is encoded alone)
   */
  tokenCounts(inputs: ClassifyInput[]): number[] {
    const n = (t: string) => this.builder.tokenizer.encode(t).ids.length;
    return inputs.map((r) => (this.pairHead ? Math.max(n(r.text), r.textB === undefined ? 0 : n(r.textB)) + 2 : n(r.text) + 2 + (r.textB === undefined ? 0 : n(r.textB) + 1)));
  }

  /** multi-label (problem_type multi_label_classification): independent sigmoid probabilities per label */
  get multiLabel(): boolean { return this.model.cfg.problem_type === 'multi_label_classification'; }

  /** a regressor (problem_type regression): one score per input instead of class probabilities */
  get regression(): boolean { return this.model.cfg.problem_type === 'regression'; }

  /** a regressor's scores, in input order */
  scores(inputs: ClassifyInput[], batchSize = 64): Float32Array {
    checkInputs(inputs, this.needsPairs, `the ${this.head} head`);
    return evaluateScores(this.tm!, this.inputs(inputs), null, batchSize, this.builder.pad).scores;
  }

  /** class probabilities per input, in input order (run_classifier's test_results) */
  probabilities(inputs: ClassifyInput[], batchSize = 64): EvalResult {
    if (this.regression) throw new DataError(`${this.dir}: a regression model gives scores, not class probabilities`);
    if (this.multiLabel) {
      // sigmoid per label; the best label as the prediction
      checkInputs(inputs, this.needsPairs, `the ${this.head} head`);
      const z = evaluateLogits(this.tm!, this.inputs(inputs), batchSize, this.builder.pad);
      const C = this.labels.length;
      const probs = inputs.map((_, i) => Float32Array.from(z.subarray(i * C, (i + 1) * C), sigmoid));
      return { probs, predictions: probs.map((p) => p.indexOf(p.reduce((a, b) => Math.max(a, b), -Infinity))), evalLoss: NaN, loss: NaN };
    }
    checkInputs(inputs, this.needsPairs, this.nsp ? 'the next-sentence head' : `the ${this.head} head`);
    if (this.nsp) {
      const feats = inputs.map((r) => this.builder.features(r.text, r.textB));
      return evaluateBatches(feats.length, (i) => feats[i]!.inputIds.length, 2, null, batchSize, (idx) => {
        this.model.forward(padBatch(idx.map((i) => feats[i]!), this.builder.pad), { grad: false });
        return { loss: NaN, probs: this.model.nspProbs() };
      });
    }
    return evaluate(this.tm!, this.inputs(inputs), null, batchSize, this.builder.pad);
  }

  /** the task model's inputs (checked by the caller) */
  private inputs(inputs: ClassifyInput[]): TaskInputs {
    return this.tm!.inputs(this.builder, inputs.map((r) => ({ textA: r.text, textB: r.textB })), 'inputs');
  }

  classify(inputs: ClassifyInput[], batchSize = 64): Classification[] {
    // a regressor answers as HF's pipeline does: its one label with the raw score
    if (this.regression) return Array.from(this.scores(inputs, batchSize), (score) => ({ label: this.labels[0]!, score, probabilities: {} }));
    const r = this.probabilities(inputs, batchSize);
    return r.probs.map((p, i) => ({
      label: this.labels[r.predictions[i]!]!, score: p[r.predictions[i]!]!,
      probabilities: Object.fromEntries(this.labels.map((l, c) => [l, p[c]!])),
    }));
  }
}

export interface EmbedOptions { pooling?: Pooling; normalize?: boolean; batchSize?: number }

/** sentence embeddings from any BERT (pretrained or fine-tuned) */
export class TextEncoder {
  /**
   * @param declared what a sentence-transformers folder declares (modules.json: its pooling, Normalize), the defaults of
   * embed(); null: mean pooling, not normalised
   */
  private constructor(readonly model: Bert, private readonly builder: InputBuilder, readonly dir: string, readonly declared: SentenceTransformersSpec | null) {}

  static load(dir: string, o: LoadOptions): TextEncoder {
    const dtype = resolveDtype(o.dtype, o.kernels);
    const { model, files } = loadBert(dir, { kernels: o.kernels, dtype });
    const maxLen = Math.min(intOption('max-seq-length', o.maxSeqLength, 512, MIN_SEQ_LENGTH, 65536), maxSequenceLength(model.cfg));
    return new TextEncoder(model, new InputBuilder(loadTokenizer(files.dir, { lowercase: o.lowercase }), maxLen), dir, readSentenceTransformers(files.dir));
  }

  /** sentence embeddings from an already loaded model (a server's classifier), sharing its weights; `dir` its folder */
  static fromModel(model: Bert, tokenizer: Tokenizer, dir: string, maxSeqLength?: number): TextEncoder {
    const maxLen = Math.min(intOption('max-seq-length', maxSeqLength, 512, MIN_SEQ_LENGTH, 65536), maxSequenceLength(model.cfg));
    return new TextEncoder(model, new InputBuilder(tokenizer, maxLen), dir, readSentenceTransformers(dir));
  }

  get dimension(): number { return this.model.cfg.hidden_size; }

  /** the longest text the encoder takes, in tokens with [CLS] and [SEP] (longer texts are truncated) */
  get maxLength(): number { return this.builder.maxSeqLength; }

  /** each text's length in tokens with [CLS] and [SEP], before truncation */
  tokenCounts(texts: string[]): number[] { return texts.map((t) => this.builder.tokenizer.encode(t).ids.length + 2); }

  /**
   * one vector per text; `normalize` scales each to unit length (cosine similarity = dot product). Unset, pooling and
   * normalize are what a sentence-transformers folder declares, else mean pooling, not normalised
   */
  embed(texts: string[], o: EmbedOptions = {}): Float32Array[] {
    const pooling = choiceOption('pooling', o.pooling, POOLINGS, this.declared?.pooling ?? 'mean');
    const normalize = o.normalize ?? this.declared?.normalize ?? false;
    const bs = intOption('batch-size', o.batchSize, 32);
    if (!Array.isArray(texts)) throw new DataError('texts must be an array of strings');
    texts.forEach((t, i) => { if (typeof t !== 'string' || t.trim() === '') throw new DataError(`text ${i}: must be a non-empty string`); });
    return embedTexts(this.model, this.builder, texts, pooling, undefined, bs).map((v) => {
      const out = Float32Array.from(v);
      if (normalize) {
        let n = 0;
        for (const x of v) n += x * x;
        n = Math.sqrt(n);
        if (n > 0) for (let d = 0; d < out.length; d++) out[d] = v[d]! / n;
      }
      return out;
    });
  }
}
