/**
 * Model inputs as google-research/bert run_classifier builds them:
 * `[CLS] a [SEP]` or `[CLS] a [SEP] b [SEP]`, segment ids 0 then 1; a pair is
 * truncated by popping the last token of the longer side (b when equal) until
 * it fits max_seq_length - 3, a single text is cut to max_seq_length - 2.
 * A vocabulary with `<s>` and `</s>` and no [CLS] (RoBERTa, XLM-R) is framed as
 * their tokenizers do: `<s> a </s>` or `<s> a </s></s> b </s>`, every segment id 0,
 * the pair fitted into max_seq_length - 4 the same way.
 * Batches are padded to their longest row, not to max_seq_length.
 */
import { notice } from '../core/notices.js';
import { TokenizerError } from './sentencepiece.js';
import type { Tokenizer } from './index.js';

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
  readonly cls: number;
  readonly sep: number;
  readonly pad: number;
  /** bert: [CLS] a [SEP] b [SEP] with segment ids 0 then 1; roberta: <s> a </s></s> b </s>, segment ids 0 */
  readonly framing: 'bert' | 'roberta';
  constructor(readonly tokenizer: Tokenizer, readonly maxSeqLength: number) {
    const id = (t: string, alt?: string) => {
      const v = tokenizer.tokenId(t) ?? (alt ? tokenizer.tokenId(alt) : undefined);
      if (v === undefined) throw new TokenizerError(`the vocabulary has no ${t} token${alt ? ` (nor ${alt})` : ''}`);
      return v;
    };
    this.framing = tokenizer.tokenId('[CLS]') === undefined && tokenizer.tokenId('<s>') !== undefined && tokenizer.tokenId('</s>') !== undefined ? 'roberta' : 'bert';
    this.cls = this.framing === 'roberta' ? id('<s>') : id('[CLS]');
    this.sep = this.framing === 'roberta' ? id('</s>') : id('[SEP]');
    this.pad = id('[PAD]', '<pad>');
    if (maxSeqLength < (this.framing === 'roberta' ? 4 : 3)) throw new TokenizerError(`max_seq_length must be at least ${this.framing === 'roberta' ? 4 : 3}, got ${maxSeqLength}`);
  }

  features(textA: string, textB?: string): Features {
    if (this.tokenizer.segmenter) { checkSegmented(this.tokenizer.segmenter, textA); if (textB !== undefined) checkSegmented(this.tokenizer.segmenter, textB); }
    const a = this.tokenizer.encode(textA).ids;
    if (textB === undefined) {
      if (a.length > this.maxSeqLength - 2) a.length = this.maxSeqLength - 2;
      return { inputIds: [this.cls, ...a, this.sep], tokenTypeIds: new Array<number>(a.length + 2).fill(0) };
    }
    const b = this.tokenizer.encode(textB).ids;
    if (this.framing === 'roberta') {
      truncateSeqPair(a, b, this.maxSeqLength - 4);
      const ids = [this.cls, ...a, this.sep, this.sep, ...b, this.sep];
      return { inputIds: ids, tokenTypeIds: new Array<number>(ids.length).fill(0) };
    }
    truncateSeqPair(a, b, this.maxSeqLength - 3);
    return {
      inputIds: [this.cls, ...a, this.sep, ...b, this.sep],
      tokenTypeIds: [...new Array<number>(a.length + 2).fill(0), ...new Array<number>(b.length + 1).fill(1)],
    };
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
