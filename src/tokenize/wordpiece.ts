/**
 * BertJapaneseTokenizer's algorithm (Hugging Face tokenization_bert_japanese):
 * NFKC, a word splitter (MeCab surface forms through libmecab, or none), then
 * a subword splitter: WordPiece (greedy longest match first, "##" for
 * continuations, words over 100 characters -> [UNK]) or one token per
 * character. Special tokens ([CLS], [SEP], ...) in the text are never split.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { MecabTagger } from './mecab.js';
import { InputFileError, readJsonChecked, readTextFile } from '../io/text.js';
import { type Encoding, TokenizerError } from './sentencepiece.js';

export type WordSplitter = 'mecab' | 'basic' | 'none';
export type SubwordSplitter = 'wordpiece' | 'character';

export interface WordPieceOptions {
  wordTokenizer: WordSplitter;
  subwordTokenizer: SubwordSplitter;
  doLowerCase: boolean;
  /** dictionary folder for MeCab */
  mecabDicDir?: string;
  unkToken?: string;
  maxInputCharsPerWord?: number;
}

export const SPECIAL_TOKENS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];

const isCjk = (cp: number) =>
  (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3400 && cp <= 0x4dbf) || (cp >= 0x20000 && cp <= 0x2a6df) || (cp >= 0x2a700 && cp <= 0x2b73f) ||
  (cp >= 0x2b740 && cp <= 0x2b81f) || (cp >= 0x2b820 && cp <= 0x2ceaf) || (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0x2f800 && cp <= 0x2fa1f);
const isPunct = (c: string, cp: number) =>
  (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126) || /\p{P}/u.test(c);

/**
 * BERT's basic splitter (google-research/bert BasicTokenizer): drop control
 * characters, whitespace -> space, space out CJK ideographs, optionally
 * lowercase and strip accents, then split off punctuation.
 */
export function basicSplit(text: string, lower: boolean): string[] {
  let clean = '';
  for (const c of text) {
    const cp = c.codePointAt(0)!;
    if (cp === 0 || cp === 0xfffd) continue;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || /\p{Zs}/u.test(c)) { clean += ' '; continue; }
    if (/\p{C}/u.test(c)) continue;
    clean += isCjk(cp) ? ` ${c} ` : c;
  }
  const out: string[] = [];
  for (let tok of clean.split(' ').filter(Boolean)) {
    if (lower) tok = tok.toLowerCase().normalize('NFD').replace(/\p{Mn}/gu, '');
    let cur = '';
    for (const c of tok) {
      if (isPunct(c, c.codePointAt(0)!)) { if (cur) out.push(cur); out.push(c); cur = ''; }
      else cur += c;
    }
    if (cur) out.push(cur);
  }
  return out;
}

/** Debian's dictionaries for the names BertJapaneseTokenizer configs use */
export function mecabDicDir(name: string): string {
  const dirs: Record<string, string> = {
    ipadic: '/var/lib/mecab/dic/ipadic-utf8',
    unidic_lite: '/var/lib/mecab/dic/unidic',
    unidic: '/var/lib/mecab/dic/unidic',
  };
  const d = dirs[name];
  if (!d) throw new TokenizerError(`mecab_dic "${name}" is not known (ipadic, unidic_lite, unidic); give a dictionary folder with --mecab-dic`);
  if (!existsSync(join(d, 'sys.dic'))) throw new TokenizerError(`MeCab dictionary ${d} is missing: install Debian's ${name === 'ipadic' ? 'mecab-ipadic-utf8' : 'unidic-mecab'} (scripts/setup.sh does)`);
  return d;
}

export function readVocab(path: string): string[] {
  let text: string;
  try { text = readTextFile(path); } catch (e) { if (e instanceof InputFileError) throw new TokenizerError(e.message); throw e; }
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  if (lines.length === 0) throw new TokenizerError(`${path}: the vocabulary is empty`);
  return lines.map((l) => l.replace(/\r$/, ''));
}

export class WordPieceTokenizer {
  readonly vocab: Map<string, number>;
  readonly tokens: string[];
  readonly opts: Required<Omit<WordPieceOptions, 'mecabDicDir'>> & { mecabDicDir?: string };
  private mecab: MecabTagger | null = null;
  /** longest vocabulary entry in code points (a "##" prefix not counted): no match can be longer */
  private maxPieceChars = 1;
  private specialRe: RegExp;

  constructor(tokens: string[], opts: WordPieceOptions, source = 'vocab') {
    this.tokens = tokens;
    this.vocab = new Map();
    tokens.forEach((t, i) => { if (!this.vocab.has(t)) this.vocab.set(t, i); });
    this.opts = { unkToken: '[UNK]', maxInputCharsPerWord: 100, ...opts };
    for (const t of tokens) this.maxPieceChars = Math.max(this.maxPieceChars, [...(t.startsWith('##') ? t.slice(2) : t)].length);
    if (!this.vocab.has(this.opts.unkToken)) throw new TokenizerError(`${source}: no ${this.opts.unkToken} token in the vocabulary`);
    if (opts.wordTokenizer === 'mecab') {
      const dir = opts.mecabDicDir;
      if (!dir || !existsSync(dir)) throw new TokenizerError(`MeCab dictionary folder ${dir ?? '(none)'} does not exist`);
      try { this.mecab = new MecabTagger(dir); } catch (e) { throw new TokenizerError((e as Error).message); }
    }
    const specials = SPECIAL_TOKENS.filter((t) => this.vocab.has(t)).map((t) => t.replace(/[[\]]/g, '\\$&'));
    this.specialRe = new RegExp(`(${specials.join('|')})`);
  }

  get vocabSize(): number {
    return this.tokens.length;
  }

  tokenId(token: string): number | undefined {
    return this.vocab.get(token);
  }

  /** the word splitter's output for one stretch of text without special tokens */
  private words(text: string): string[] {
    if (this.opts.wordTokenizer === 'basic') return basicSplit(text, this.opts.doLowerCase);
    const t = text.normalize('NFKC');
    let words: string[];
    if (this.opts.wordTokenizer === 'mecab') {
      words = this.mecab!.words(t);
    }
    else words = t.split(/\s+/).filter(Boolean);
    return this.opts.doLowerCase ? words.map((w) => w.toLowerCase()) : words;
  }

  private subwords(word: string): string[] {
    const unk = this.opts.unkToken;
    if (this.opts.subwordTokenizer === 'character') {
      return Array.from(word, (c) => (this.vocab.has(c) ? c : unk));
    }
    const out: string[] = [];
    for (const token of word.split(/\s+/).filter(Boolean)) {
      // UTF-16 offsets of code-point boundaries, so that candidates are cheap slices
      const at: number[] = [];
      for (let i = 0; i < token.length; i++) {
        at.push(i);
        const c = token.charCodeAt(i);
        if (c >= 0xd800 && c < 0xdc00 && i + 1 < token.length) i++;
      }
      const n = at.length;
      at.push(token.length);
      if (n > this.opts.maxInputCharsPerWord) { out.push(unk); continue; }
      const pieces: string[] = [];
      let start = 0, bad = false;
      while (start < n) {
        // greedy longest match first; nothing longer than the longest entry can match
        let end = Math.min(n, start + this.maxPieceChars), cur: string | null = null;
        while (start < end) {
          const sub = (start > 0 ? '##' : '') + token.slice(at[start], at[end]);
          if (this.vocab.has(sub)) { cur = sub; break; }
          end--;
        }
        if (cur === null) { bad = true; break; }
        pieces.push(cur);
        start = end;
      }
      if (bad) out.push(unk); else out.push(...pieces);
    }
    return out;
  }

  encode(text: string): Encoding {
    const tokens: string[] = [];
    for (const part of text.split(this.specialRe)) {
      if (!part) continue;
      if (this.vocab.has(part) && SPECIAL_TOKENS.includes(part)) { tokens.push(part); continue; }
      for (const w of this.words(part)) tokens.push(...this.subwords(w));
    }
    return { ids: tokens.map((t) => this.vocab.get(t)!), tokens };
  }
}

/** a folder with tokenizer_config.json (BertJapaneseTokenizer fields) and vocab.txt */
export function wordPieceFromFolder(dir: string, overrides: { mecabDic?: string; lowercase?: boolean } = {}): WordPieceTokenizer {
  const cfgPath = join(dir, 'tokenizer_config.json');
  let cfg: Record<string, unknown> = {};
  if (existsSync(cfgPath)) {
    const v = readJsonChecked(cfgPath, 'tokenizer config', TokenizerError);
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new TokenizerError(`${cfgPath}: expected a JSON object`);
    cfg = v as Record<string, unknown>;
  }
  const japanese = cfg.tokenizer_class === 'BertJapaneseTokenizer';
  const word = String(cfg.word_tokenizer_type ?? (japanese ? 'mecab' : 'basic'));
  const sub = String(cfg.subword_tokenizer_type ?? 'wordpiece');
  if (word !== 'mecab' && word !== 'basic' && word !== 'none') throw new TokenizerError(`${cfgPath}: word_tokenizer_type "${word}" is not supported (mecab, basic, none)`);
  if (sub !== 'wordpiece' && sub !== 'character') throw new TokenizerError(`${cfgPath}: subword_tokenizer_type "${sub}" is not supported (wordpiece, character)`);
  const kw = (cfg.mecab_kwargs ?? {}) as Record<string, unknown>;
  const dic = word === 'mecab' ? (overrides.mecabDic ?? (typeof kw.mecab_dic === 'string' ? mecabDicDir(kw.mecab_dic) : mecabDicDir('ipadic'))) : undefined;
  return new WordPieceTokenizer(readVocab(join(dir, 'vocab.txt')), {
    // BertTokenizer lowercases unless told otherwise; BertJapaneseTokenizer's configs say
    wordTokenizer: word, subwordTokenizer: sub, mecabDicDir: dic,
    doLowerCase: overrides.lowercase ?? (typeof cfg.do_lower_case === 'boolean' ? cfg.do_lower_case : !japanese),
  }, join(dir, 'vocab.txt'));
}
