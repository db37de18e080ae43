/**
 * encode: run a BERT over JSONL lines and write pooled output, logits (when
 * the checkpoint has a classifier) and optionally per-token sequence output.
 * Input lines are raw {"text": ..., "text_b": ...?} (tokenized with the model
 * folder's tokenizer, or --tokenizer, as run_classifier builds inputs) or
 * pre-tokenized {"input_ids": [...], "token_type_ids": [...]?, "attention_mask": [...]?}.
 */
import { maxSequenceLength } from './model/config.js';
import { checkOutputFile, writeFileAtomic } from './io/atomic.js';
import { Progress } from './core/progress.js';
import { jsonErrorReason, readTextFile } from './io/text.js';
import { checkOutputPath } from './io/files.js';
import { choiceOption, intOption, OptionError } from './core/options.js';
import { POOLINGS, type Pooling } from './infer/embed.js';
import type { Kernels } from './core/kernels.js';
import { resolveDtype, type DTypeOption } from './core/dtype.js';
import { loadBert } from './model/load.js';
import type { Batch } from './model/bert.js';
import { loadTokenizer } from './tokenize/index.js';
import { InputBuilder } from './tokenize/inputs.js';

/** an input file that cannot be used (the same class as the strict readers' error) */
export { InputFileError as InputError } from './io/text.js';
import { InputFileError as InputError } from './io/text.js';

export interface EncodeOptions {
  model: string;
  input: string;
  output: string;
  kernels: Kernels;
  allTokens?: boolean;
  batchSize?: number;
  /** auto (default): bf16 where the CPU runs it natively, else f32 */
  dtype?: DTypeOption;
  /** tokenizer path for text lines (default: the model folder) */
  tokenizer?: string;
  maxSeqLength?: number;
  lowercase?: boolean;
  /** progress lines (core/progress.ts: throttled) */
  log?: (line: string) => void;
  /** add "embedding": a sentence vector by this pooling (mean over the real tokens, the [CLS] vector, or the pooler output) */
  pooling?: Pooling;
  /** scale each embedding to unit length */
  normalize?: boolean;
}

interface Row { ids: number[]; tt: number[]; mask: number[] }
type Line = Row | { text: string; textB?: string; where: string };

function parseLine(line: string, file: string, lineNo: number, maxLen: number, vocab: { size: number; types: number }): Line {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch (e) {
    throw new InputError(`${file}:${lineNo}: not valid JSON (${jsonErrorReason(e)})`);
  }
  if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new InputError(`${file}:${lineNo}: each line must be a JSON object`);
  if (!('input_ids' in o)) {
    if (typeof o.text !== 'string') throw new InputError(`${file}:${lineNo}: needs "text" (a string) or "input_ids"`);
    if (o.text_b !== undefined && typeof o.text_b !== 'string') throw new InputError(`${file}:${lineNo}: "text_b" must be a string`);
    return { text: o.text, textB: o.text_b as string | undefined, where: `${file}:${lineNo}` };
  }
  const ints = (k: string): number[] | undefined => {
    const v = o[k];
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || !v.every((x) => Number.isInteger(x))) throw new InputError(`${file}:${lineNo}: "${k}" must be an array of integers`);
    return v as number[];
  };
  const ids = ints('input_ids')!;
  // ids are checked as the JSON numbers they are, before any narrowing to 32 bits (2^32 + 100 is not id 100)
  const badId = ids.findIndex((x) => x < 0 || x >= vocab.size);
  if (badId >= 0) throw new InputError(`${file}:${lineNo}: input_ids[${badId}] = ${ids[badId]} is outside the vocabulary [0, ${vocab.size})`);
  if (ids.length === 0) throw new InputError(`${file}:${lineNo}: "input_ids" is empty`);
  if (ids.length > maxLen) throw new InputError(`${file}:${lineNo}: ${ids.length} tokens exceed the model's ${maxLen} positions`);
  const tt = ints('token_type_ids') ?? new Array<number>(ids.length).fill(0);
  const mask = ints('attention_mask') ?? new Array<number>(ids.length).fill(1);
  if (tt.length !== ids.length || mask.length !== ids.length) throw new InputError(`${file}:${lineNo}: token_type_ids / attention_mask must have as many entries as input_ids`);
  const badTt = tt.findIndex((x) => x < 0 || x >= vocab.types);
  if (badTt >= 0) throw new InputError(`${file}:${lineNo}: token_type_ids[${badTt}] = ${tt[badTt]} is outside [0, ${vocab.types}) (the model's type_vocab_size)`);
  const badMask = mask.findIndex((x) => x !== 0 && x !== 1);
  if (badMask >= 0) throw new InputError(`${file}:${lineNo}: attention_mask[${badMask}] = ${mask[badMask]}: must be 0 or 1`);
  return { ids, tt, mask };
}

const round = (x: number) => Math.round(x * 1e7) / 1e7;

/** row b's sentence vector: the mean of its real tokens' vectors, its [CLS] vector, or the pooler output; unit length with normalize */
function embedding(out: { sequenceOutput: Float32Array; pooledOutput: Float32Array }, b: number, S: number, D: number, mask: number[], pooling: Pooling, normalize: boolean): Float64Array {
  const v = new Float64Array(D);
  if (pooling === 'pooled') for (let d = 0; d < D; d++) v[d] = out.pooledOutput[b * D + d]!;
  else {
    const rows = pooling === 'cls' ? [0] : mask.flatMap((m, s) => (m ? [s] : []));
    for (const s of rows) for (let d = 0; d < D; d++) v[d] += out.sequenceOutput[(b * S + s) * D + d]! / rows.length;
  }
  if (normalize) {
    const n = Math.sqrt(v.reduce((a, x) => a + x * x, 0));
    if (n > 0) for (let d = 0; d < D; d++) v[d] = v[d]! / n;
  }
  return v;
}

export function encodeFile(o: EncodeOptions): { lines: number } {
  const dtype = resolveDtype(o.dtype, o.kernels);
  checkOutputFile(o.output);
  checkOutputPath('--output', o.output, { inputs: [{ flag: '--input', path: o.input }, { flag: '--tokenizer', path: o.tokenizer }], model: o.model });
  const bs = intOption('batch-size', o.batchSize, 16);
  const pooling = o.pooling === undefined ? undefined : choiceOption('pooling', o.pooling, POOLINGS, 'mean');
  if (o.normalize && !pooling) throw new OptionError('--normalize needs --pooling mean|cls|pooled');
  const maxSeqLength = intOption('max-seq-length', o.maxSeqLength, 512, 2, 65536);
  const raw = readTextFile(o.input);
  const { model, files } = loadBert(o.model, { kernels: o.kernels, dtype });
  const lines: Line[] = [];
  raw.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    lines.push(parseLine(line, o.input === '-' ? '<stdin>' : o.input, i + 1, maxSequenceLength(model.cfg), { size: model.cfg.vocab_size, types: model.cfg.type_vocab_size }));
  });
  let builder: InputBuilder | null = null;
  const rows: Row[] = lines.map((l) => {
    if (!('text' in l)) return l;
    builder ??= new InputBuilder(loadTokenizer(o.tokenizer ?? files.dir, { lowercase: o.lowercase }),
      Math.min(maxSeqLength, maxSequenceLength(model.cfg)));
    const f = builder.features(l.text, l.textB);
    return { ids: f.inputIds, tt: f.tokenTypeIds, mask: f.inputIds.map(() => 1) };
  });
  const D = model.cfg.hidden_size, C = model.numLabels;
  const bar = new Progress(o.log, 'encode', rows.length, 'lines');
  writeFileAtomic(o.output, (write) => {
    for (let start = 0; start < rows.length; start += bs) {
      const part = rows.slice(start, start + bs);
      const B = part.length, S = part.reduce((a, r) => Math.max(a, r.ids.length), 0);
      const batch: Batch = { B, S, inputIds: new Int32Array(B * S), tokenTypeIds: new Int32Array(B * S), attentionMask: new Uint8Array(B * S) };
      part.forEach((r, b) => {
        batch.inputIds.set(r.ids, b * S);
        batch.tokenTypeIds.set(r.tt, b * S);
        batch.attentionMask.set(r.mask.map((m) => (m ? 1 : 0)), b * S);
      });
      const out = model.forward(batch, { train: false, grad: false });
      let text = '';
      part.forEach((r, b) => {
        const rec: Record<string, unknown> = { pooled_output: Array.from(out.pooledOutput.subarray(b * D, b * D + D), round) };
        if (out.logits) rec.logits = Array.from(out.logits.subarray(b * C, b * C + C), round);
        if (pooling) rec.embedding = Array.from(embedding(out, b, S, D, r.mask, pooling, o.normalize === true), round);
        if (o.allTokens) {
          const seq: number[][] = [];
          for (let s = 0; s < r.ids.length; s++) seq.push(Array.from(out.sequenceOutput.subarray((b * S + s) * D, (b * S + s + 1) * D), round));
          rec.sequence_output = seq;
        }
        text += JSON.stringify(rec) + '\n';
      });
      write(text);
      bar.update(Math.min(start + bs, rows.length));
    }
  });
  return { lines: rows.length };
}
