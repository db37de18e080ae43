/**
 * One entry point for tokenizers: given a model folder or a file, pick the
 * tokenizer from what is there, or say in one error what is missing.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type Encoding, SentencePieceTokenizer, TokenizerError } from './sentencepiece.js';
import { TokenizerJsonTokenizer } from './tokenizerjson.js';
import { WordPieceTokenizer, wordPieceFromFolder } from './wordpiece.js';
import { type Framing, readFraming, readSpecialTokens, type SpecialTokens } from './framing.js';

export type { Framing, SpecialTokens };
export { SentencePieceTokenizer, TokenizerError, TokenizerJsonTokenizer, WordPieceTokenizer, type Encoding };

export interface Tokenizer {
  encode(text: string): Encoding;
  readonly vocabSize: number;
  /** id of a vocabulary entry ([CLS], a piece), or undefined */
  tokenId(token: string): number | undefined;
  /** the word segmenter the model's training text went through, which its input should go through too (ku-nlp's DeBERTa-v2: Juman++) */
  readonly segmenter?: 'juman++';
  /** how special tokens frame a text and a pair, where the model's tokenizer files say (tokenize/framing.ts); else the vocabulary decides */
  readonly framing?: Framing;
  /** the special tokens by role as tokenizer_config.json / special_tokens_map.json name them */
  readonly specialTokens?: SpecialTokens;
}

/** ku-nlp's DeBERTa-v2 models (deberta-v2-{tiny,base,large}-japanese) were trained on text segmented into words by Juman++, and their model
 *  cards ask for input segmented the same way; ku-nlp's DeBERTa-v3 and the other Japanese DeBERTas take raw text */
const JUMANPP_MODELS = /ku-nlp(\/|--)deberta-v2-[a-z-]*japanese/i;

/** whether the model in `dir` expects Juman++-segmented input: its path in the Hugging Face cache (models--ku-nlp--deberta-v2-…), its config's
 *  _name_or_path, or the word_segmentation ja-bert writes into a model it trained from one */
export function expectsSegmenter(dir: string): 'juman++' | undefined {
  if (JUMANPP_MODELS.test(dir)) return 'juman++';
  try {
    const v = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { word_segmentation?: unknown; _name_or_path?: unknown };
    if (v.word_segmentation === 'juman++' || (typeof v._name_or_path === 'string' && JUMANPP_MODELS.test(v._name_or_path))) return 'juman++';
  } catch { /* no config: no expectation */ }
  return undefined;
}

/** the class a folder's tokenizer_config.json maps AutoTokenizer to through auto_map (custom code), if any */
function customTokenizer(dir: string): string | null {
  try {
    const v = JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8')) as { auto_map?: { AutoTokenizer?: unknown }; tokenizer_class?: unknown };
    const a = v.auto_map?.AutoTokenizer;
    if (a === undefined || a === null) return null;
    return typeof v.tokenizer_class === 'string' ? v.tokenizer_class : JSON.stringify(a);
  } catch { return null; }
}

/** config.json's model_type in a model folder, if any */
function modelType(dir: string): string | undefined {
  try {
    const v = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { model_type?: unknown };
    return typeof v.model_type === 'string' ? v.model_type : undefined;
  } catch { return undefined; }
}

export interface TokenizerOptions {
  lowercase?: boolean;
  /** MeCab dictionary folder, overriding tokenizer_config.json */
  mecabDic?: string;
}

/**
 * A SentencePiece `.model` file or a folder holding one (preferred over a
 * tokenizer.json beside it), a tokenizer.json (Hugging Face fast tokenizers) (the seed's layout:
 * bert_config.json + wiki-ja.model); a `vocab.txt` file or a folder with
 * tokenizer_config.json + vocab.txt (BertJapaneseTokenizer: MeCab or
 * character splitting + WordPiece).
 */
export function loadTokenizer(path: string, opts: TokenizerOptions = {}): Tokenizer {
  const tok = loadTokenizerFiles(path, opts);
  const isDir = existsSync(path) && statSync(path).isDirectory();
  const seg = isDir ? expectsSegmenter(path) : undefined;
  if (seg) Object.defineProperty(tok, 'segmenter', { value: seg, enumerable: true });
  // the framing and special tokens the model's own files declare (a folder, or a tokenizer.json with its folder's config beside it)
  if (isDir || path.endsWith('.json')) {
    const framing = readFraming(path, tok);
    if (framing) Object.defineProperty(tok, 'framing', { value: framing, enumerable: true });
    const named = readSpecialTokens(isDir ? path : dirname(path), tok);
    if (Object.keys(named).length) Object.defineProperty(tok, 'specialTokens', { value: named, enumerable: true });
  }
  return tok;
}

function loadTokenizerFiles(path: string, opts: TokenizerOptions): Tokenizer {
  if (!existsSync(path)) throw new TokenizerError(`${path}: no such file or folder`);
  if (statSync(path).isFile()) {
    if (path.endsWith('.json')) return new TokenizerJsonTokenizer(path);
    if (path.endsWith('.model')) return SentencePieceTokenizer.fromFile(path, opts);
    if (path.endsWith('.txt')) return wordPieceFromFolder(dirname(path), opts);
    throw new TokenizerError(`${path}: not a tokenizer file this build reads (a SentencePiece .model or a WordPiece vocab.txt)`);
  }
  // a tokenizer that is custom code (tokenizer_config.json's auto_map, trust_remote_code in HF): ja-bert cannot know what it does
  // before the files it would read (LINE's DistilBERT splits words with MeCab before SentencePiece, for one)
  const custom = customTokenizer(path);
  if (custom) throw new TokenizerError(`${path}: tokenizer_config.json names ${custom}, a tokenizer defined by the model's own Python code (auto_map); ja-bert cannot reproduce it`);
  // a SentencePiece .model first: ja-bert applies its normaliser exactly, where tokenizer.json readers in
  // JavaScript approximate it (ja-bert export writes both); then tokenizer.json, then vocab.txt
  const models = readdirSync(path).filter((f) => f.endsWith('.model')).sort();
  if (models.length === 0 && existsSync(join(path, 'tokenizer.json'))) return new TokenizerJsonTokenizer(join(path, 'tokenizer.json'));
  if (models.length === 1) {
    // the seed's layout (bert_config.json + wiki-ja.model + wiki-ja.vocab) maps ids through the .vocab file
    const vocab = join(path, models[0]!.replace(/\.model$/, '.vocab'));
    const seed = existsSync(join(path, 'bert_config.json')) && existsSync(vocab);
    // XLM-R's sentencepiece.bpe.model: fairseq's ids (the model's config.json names the family)
    const fairseq = !seed && modelType(path) === 'xlm-roberta';
    return SentencePieceTokenizer.fromFile(join(path, models[0]!), { ...opts, vocabFile: seed ? vocab : undefined, fairseq });
  }
  if (models.length > 1) throw new TokenizerError(`${path}: several SentencePiece models (${models.join(', ')}); name one file`);
  if (existsSync(join(path, 'vocab.txt'))) return wordPieceFromFolder(path, opts);
  throw new TokenizerError(`${path}: no tokenizer files (tokenizer.json, a SentencePiece *.model, or vocab.txt with tokenizer_config.json)`);
}
