/**
 * Sentence-pair pretraining data, as google-research/bert's
 * create_pretraining_data.py builds it, and whole-word masking as tohoku BERT
 * v2/v3 do it (word boundaries from MeCab with UniDic).
 *
 * Documents are split into chunks of consecutive sentences up to the target
 * length (10 % of chunks get a shorter random target). At each step a chunk
 * becomes one `[CLS] A [SEP] B [SEP]` instance, seeded by the step: A is its
 * first 1..n-1 sentences and B the rest; for NSP B is replaced half the time
 * by a span of another document (label 1), for SOP A and B are swapped half
 * the time (label 1). The longer side is trimmed at a random end until the
 * pair fits. Pairing and masking are decided per step from the step's seed,
 * so every epoch sees new pairs and masks and a resumed run sees the same.
 */
import { Rng } from '../core/random.js';
import { MecabTagger } from '../tokenize/mecab.js';
import type { Tokenizer } from '../tokenize/index.js';
import { SentencePieceTokenizer } from '../tokenize/sentencepiece.js';
import { mecabDicDir } from '../tokenize/wordpiece.js';

export type PairObjective = 'nsp' | 'sop';

/** one sentence: its token ids and, per token, 1 where a word starts (whole-word masking groups) */
export interface Sentence { ids: number[]; starts: Uint8Array }
export type Doc = Sentence[];

/** the ids pretraining treats specially: the framing's ends (cls, sep; -1 where the framing has none), [MASK], padding, every special
 *  token (never a random replacement) and, in `frame`, any other token the framing adds (never masked) */
export interface Special { cls: number; sep: number; mask: number; pad: number; vocab: number; special: Set<number>; frame?: Set<number> }

/**
 * Word starts for a tokenizer's pieces. SentencePiece pieces are aligned with
 * MeCab's words (UniDic) over the normalised text; WordPiece tokens start a
 * word unless they begin with `##`. Without a splitter every token is a word
 * (plain per-token masking).
 */
export class WordStarts {
  private tagger: MecabTagger | null = null;
  private dic: string | null;
  /** sentences whose pieces could not be aligned with MeCab's words (each piece is then its own word) */
  unaligned = 0;
  /** dic: MeCab's dictionary for SentencePiece alignment (default UniDic); null: no word splitting, every token its own word */
  constructor(private tok: Tokenizer, dic?: string | null) {
    this.dic = dic === undefined ? mecabDicDir('unidic') : dic;
    if (this.dic !== null && tok instanceof SentencePieceTokenizer) this.tagger = new MecabTagger(this.dic);
  }

  encode(text: string): Sentence {
    if (this.dic === null) {
      const e = this.tok.encode(text);
      return { ids: e.ids, starts: new Uint8Array(e.ids.length).fill(1) };
    }
    if (!(this.tok instanceof SentencePieceTokenizer)) {
      const e = this.tok.encode(text);
      return { ids: e.ids, starts: Uint8Array.from(e.tokens, (t) => (t.startsWith('##') ? 0 : 1)) };
    }
    const e = this.tok.encodeSpans(text);
    const starts = new Uint8Array(e.ids.length).fill(1);
    const s = e.normalized;
    const wordStart = this.wordStartBytes(s);
    if (!wordStart) { this.unaligned++; return { ids: e.ids, starts }; }
    e.spans.forEach(([st, end], i) => {
      let p = st;
      while (p < end && isSpaceAt(s, p)) p += s[p] === 0x20 ? 1 : 3;
      // a piece of only ▁ stands alone; otherwise it starts a word where its first character does
      starts[i] = p >= end || wordStart[p] ? 1 : 0;
    });
    return { ids: e.ids, starts };
  }

  /** 1 at each byte offset of the normalised text where a MeCab word begins; null when the words do not line up */
  private wordStartBytes(s: Uint8Array): Uint8Array | null {
    const text = new TextDecoder().decode(s).replace(/\u2581/g, ' ');
    const words = this.tagger!.words(text);
    const out = new Uint8Array(s.length + 1);
    const enc = new TextEncoder();
    let pos = 0;
    for (const w of words) {
      while (pos < s.length && isSpaceAt(s, pos)) pos += s[pos] === 0x20 ? 1 : 3;
      const b = enc.encode(w);
      if (pos + b.length > s.length) return null;
      for (let i = 0; i < b.length; i++) if (s[pos + i] !== b[i]) return null;
      out[pos] = 1;
      pos += b.length;
    }
    return out;
  }
}

/** a space or ▁ (U+2581, E2 96 81 in UTF-8) at byte p */
function isSpaceAt(s: Uint8Array, p: number): boolean {
  return s[p] === 0x20 || (s[p] === 0xe2 && s[p + 1] === 0x96 && s[p + 2] === 0x81);
}

/** documents (blank-line separated, one sentence per line) as tokenised sentences with word starts */
export function readDocuments(words: WordStarts, corpus: string, maxLen: number): Doc[] {
  const docs: Doc[] = [];
  for (const doc of corpus.split(/\n\s*\n/)) {
    const sents: Doc = [];
    for (const line of doc.split('\n')) {
      if (!line.trim()) continue;
      const s = words.encode(line);
      if (s.ids.length === 0) continue;
      sents.push({ ids: s.ids.slice(0, maxLen - 2), starts: s.starts.slice(0, maxLen - 2) });
    }
    if (sents.length) docs.push(sents);
  }
  return docs;
}

export interface Chunk { doc: number; first: number; end: number }

/** consecutive sentences of one document up to maxLen - 3 tokens; 10 % of chunks aim at a shorter random length */
export function makeChunks(docs: Doc[], maxLen: number, seed: number, shortSeqProb = 0.1): Chunk[] {
  const rng = new Rng(seed);
  const maxTokens = maxLen - 3, out: Chunk[] = [];
  docs.forEach((d, doc) => {
    let target = rng.next() < shortSeqProb ? 2 + rng.int(Math.max(1, maxTokens - 1)) : maxTokens;
    let first = 0, len = 0;
    for (let i = 0; i < d.length; i++) {
      len += d[i]!.ids.length;
      if (len >= target || i === d.length - 1) {
        out.push({ doc, first, end: i + 1 });
        first = i + 1; len = 0;
        target = rng.next() < shortSeqProb ? 2 + rng.int(Math.max(1, maxTokens - 1)) : maxTokens;
      }
    }
  });
  return out;
}

export interface PairInstance {
  input: number[];
  tokenTypes: number[];
  /** per position: 1 where a word starts (special tokens count as their own words) */
  starts: Uint8Array;
  /** NSP: 1 = B is a random span; SOP: 1 = swapped */
  label: number;
}

/** sentences joined into one token run */
export const concatSentences = (ss: Sentence[]): Sentence => ({ ids: ss.flatMap((s) => s.ids), starts: Uint8Array.from(ss.flatMap((s) => Array.from(s.starts))) });

/** one pair instance from a chunk (see the file comment); rng decides the split, the pair label and the trimming */
export function pairInstance(docs: Doc[], c: Chunk, objective: PairObjective, maxLen: number, rng: Rng, sp: Special): PairInstance {
  const d = docs[c.doc]!, sents = d.slice(c.first, c.end);
  let a: Sentence, b: Sentence;
  if (sents.length >= 2) {
    const aEnd = 1 + rng.int(sents.length - 1);
    a = concatSentences(sents.slice(0, aEnd)); b = concatSentences(sents.slice(aEnd));
  } else {
    // one sentence: split it between two tokens so that both sides exist
    const s = sents[0]!, cut = s.ids.length >= 2 ? 1 + rng.int(s.ids.length - 1) : s.ids.length;
    a = { ids: s.ids.slice(0, cut), starts: s.starts.slice(0, cut) };
    b = { ids: s.ids.slice(cut), starts: s.starts.slice(cut) };
  }
  let label = 0;
  if (rng.next() < 0.5) {
    label = 1;
    if (objective === 'sop') [a, b] = [b, a];
    else if (docs.length > 1) {
      // B from another document: a random start, sentences up to the room A leaves
      let other = rng.int(docs.length - 1);
      if (other >= c.doc) other++;
      const od = docs[other]!, room = maxLen - 3 - a.ids.length;
      const picked: Sentence[] = [];
      let n = 0;
      for (let i = rng.int(od.length); i < od.length && n < Math.max(1, room); i++) { picked.push(od[i]!); n += od[i]!.ids.length; }
      b = concatSentences(picked);
    } else label = 0;
  }
  // google-research/bert's truncate_seq_pair: drop from the longer side, at the front or the back at random
  const A = { ids: [...a.ids], starts: Array.from(a.starts) }, B = { ids: [...b.ids], starts: Array.from(b.starts) };
  while (A.ids.length + B.ids.length > maxLen - 3) {
    const t = A.ids.length > B.ids.length ? A : B;
    if (rng.next() < 0.5) { t.ids.shift(); t.starts.shift(); if (t.starts.length) t.starts[0] = 1; } else { t.ids.pop(); t.starts.pop(); }
  }
  const input = [sp.cls, ...A.ids, sp.sep, ...B.ids, sp.sep];
  const tokenTypes = input.map((_, i) => (i < A.ids.length + 2 ? 0 : 1));
  const starts = Uint8Array.from([1, ...A.starts, 1, ...B.starts, 1]);
  return { input, tokenTypes, starts, label };
}

/**
 * BERT's masking over the non-special positions of `input`, whole words at a
 * time: the words (a start position and the non-start positions after it) are
 * shuffled and taken while the masked total stays within 15 % of the
 * positions (at least one word); each masked position becomes [MASK] (80 %), a
 * random non-special token (10 %) or stays (10 %). With every position a word
 * start this is per-token masking.
 */
export function maskWords(input: number[], starts: ArrayLike<number>, sp: Special, rng: Rng, prob = 0.15): { input: number[]; positions: number[]; targets: number[] } {
  const out = [...input];
  const structural = (t: number) => t === sp.cls || t === sp.sep || t === sp.pad || (sp.frame?.has(t) ?? false);
  const words: number[][] = [];
  let n = 0;
  for (let i = 0; i < input.length; i++) {
    if (structural(input[i]!)) continue;
    n++;
    if (starts[i] || i === 0 || structural(input[i - 1]!)) words.push([i]);
    else words[words.length - 1]!.push(i);
  }
  for (let i = words.length - 1; i > 0; i--) { const j = rng.int(i + 1); [words[i], words[j]] = [words[j]!, words[i]!]; }
  const k = Math.max(1, Math.round(n * prob));
  const chosen: number[] = [];
  for (const w of words) {
    if (chosen.length >= k) break;
    if (chosen.length > 0 && chosen.length + w.length > k) continue;
    chosen.push(...w);
  }
  chosen.sort((x, y) => x - y);
  const targets = chosen.map((p) => input[p]!);
  for (const p of chosen) {
    const r = rng.next();
    if (r < 0.8) out[p] = sp.mask;
    else if (r < 0.9) { let t: number; do { t = rng.int(sp.vocab); } while (sp.special.has(t)); out[p] = t; }
  }
  return { input: out, positions: chosen, targets };
}
