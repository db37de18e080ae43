/**
 * Model inputs as google-research/bert run_classifier builds them: a pair is
 * truncated by popping the last token of the longer side (b when equal) until
 * it fits max_seq_length less the special tokens, a single text is cut to fit.
 * The special tokens and token type ids are the model's own (tokenize/framing.ts:
 * tokenizer.json's post-processor, tokenizer_config.json's class, else the
 * vocabulary: `[CLS] a [SEP] b [SEP]` with segment ids 0 then 1, or RoBERTa's
 * `<s> a </s></s> b </s>`).
 * Batches are padded to their longest row, not to max_seq_length.
 */
import { notice } from '../core/notices.js';
import { TokenizerError } from './sentencepiece.js';
import type { Tokenizer } from './index.js';
import { applyFraming, type Framing, specialCount, vocabularyFraming } from './framing.js';

/** one padded batch: row-major [B, S] */
export interface Batch {
  B: number;
  S: number;
  inputIds: Int32Array;
  tokenTypeIds: Int32Array;
  /** 1 = real token, 0 = padding */
  attentionMask: Uint8Array;
}

export interface Features {
  inputIds: number[];
  tokenTypeIds: number[];
}

/** run_classifier's _truncate_seq_pair, in place */
export function truncateSeqPair(a: number[], b: number[], maxLength: number): void {
  while (a.length + b.length > maxLength) {
    if (a.length > b.length) a.pop();
    else b.pop();
  }
}

export class InputBuilder {
  readonly pad: number;
  /** how special tokens frame one text and a pair: the model's own tokenizer files (tokenize/framing.ts), else the vocabulary */
  readonly framing: Framing;
  /** the special tokens the framing adds to one text and to a pair */
  private readonly added: { single: number; pair: number };
  constructor(readonly tokenizer: Tokenizer, readonly maxSeqLength: number) {
    this.framing = tokenizer.framing ?? vocabularyFraming(tokenizer);
    this.added = { single: specialCount(this.framing, false), pair: specialCount(this.framing, true) };
    const named = tokenizer.specialTokens?.pad_token;
    const pad = named !== undefined ? tokenizer.tokenId(named) : tokenizer.tokenId('[PAD]') ?? tokenizer.tokenId('<pad>');
    if (pad === undefined) throw new TokenizerError(`the vocabulary has no ${named ?? '[PAD]'} token${named ? ' (the pad_token of tokenizer_config.json)' : ' (nor <pad>)'}`);
    this.pad = pad;
    const least = Math.max(1, this.added.single, this.added.pair);
    if (maxSeqLength < least) throw new TokenizerError(`max_seq_length must be at least ${least} (the framing from ${this.framing.source} adds ${this.added.pair} special tokens to a pair), got ${maxSeqLength}`);
  }

  features(textA: string, textB?: string): Features {
    if (this.tokenizer.segmenter) { checkSegmented(this.tokenizer.segmenter, textA); if (textB !== undefined) checkSegmented(this.tokenizer.segmenter, textB); }
    const a = this.tokenizer.encode(textA).ids;
    if (textB === undefined) {
      const room = this.maxSeqLength - this.added.single;
      if (a.length > room) a.length = room;
      return applyFraming(this.framing, a);
    }
    const b = this.tokenizer.encode(textB).ids;
    truncateSeqPair(a, b, this.maxSeqLength - this.added.pair);
    return applyFraming(this.framing, a, b);
  }

  /** pad a group of features to its longest row */
  batch(rows: Features[]): Batch {
    return padBatch(rows, this.pad);
  }
}

export function padBatch(rows: Features[], padId = 0, padTo?: number): Batch {
  const B = rows.length, S = Math.max(padTo ?? 1, ...rows.map((r) => r.inputIds.length));
  const batch: Batch = { B, S, inputIds: new Int32Array(B * S).fill(padId), tokenTypeIds: new Int32Array(B * S), attentionMask: new Uint8Array(B * S) };
  rows.forEach((r, b) => {
    batch.inputIds.set(r.inputIds, b * S);
    batch.tokenTypeIds.set(r.tokenTypeIds, b * S);
    batch.attentionMask.fill(1, b * S, b * S + r.inputIds.length);
  });
  return batch;
}

/** a run of 12 Japanese characters without a space: text no word segmenter has been through */
const UNSEGMENTED = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}ー]{12}/u;

/** the model expects words separated by spaces (Juman++'s output); say once, in one line, when an input has none */
function checkSegmented(segmenter: 'juman++', text: string): void {
  if (!UNSEGMENTED.test(text)) return;
  notice(`segmenter:${segmenter}`, `this model was trained on text segmented into words by Juman++ and expects its input segmented the same way (words separated by spaces); Debian does not package Juman++, so segment the text beforehand (jumanpp --segment) — this input is not: "${text.slice(0, 24)}${text.length > 24 ? '…' : ''}"`);
}
