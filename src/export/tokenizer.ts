/**
 * A model folder's tokenizer in the forms other toolkits load: tokenizer.json
 * (Hugging Face tokenizers' format, which transformers.js, HF's fast tokenizers
 * and the Rust tokenizers read), tokenizer_config.json and
 * special_tokens_map.json.
 *
 *   SentencePiece unigram  Unigram model with SentencePiece's own normaliser (its
 *                          precompiled charsmap), SentencePiece's whitespace rules
 *                          (strip, collapse runs, a "▁" before the text) and byte
 *                          fallback; user-defined and control pieces as added tokens
 *   WordPiece, basic split BertNormalizer + BertPreTokenizer + WordPiece
 *   MeCab + WordPiece      not expressible in tokenizer.json (no MeCab there): vocab.txt
 *                          and BertJapaneseTokenizer's tokenizer_config.json instead
 *
 * The post-processor in every tokenizer.json is the framing the model's inputs get (tokenize/framing.ts) as a
 * TemplateProcessing: [CLS] A [SEP] (B [SEP]) for BERT's, the model's own otherwise.
 */
import type { Tokenizer } from '../tokenize/index.js';
import { SentencePieceTokenizer, WordPieceTokenizer } from '../tokenize/index.js';
import { PieceType } from '../tokenize/sentencepiece.js';
import { type FramePiece, type Framing, vocabularyFraming } from '../tokenize/framing.js';

export interface TokenizerExport {
  /** file name -> contents */
  files: Record<string, string | Uint8Array>;
  /** why there is no tokenizer.json, when there is none */
  note?: string;
}

/** the special tokens by role: as the model's tokenizer files name them, else as its vocabulary has them */
function specials(tok: Tokenizer): Record<'cls_token' | 'sep_token' | 'pad_token' | 'unk_token' | 'mask_token', string> {
  const pick = (...names: string[]) => names.find((n) => tok.tokenId(n) !== undefined) ?? names[0]!;
  const f = framingOf(tok), ends = f.single.flatMap((p) => ('special' in p && p.ids.length === 1 ? [p.special] : []));
  const named = tok.specialTokens ?? {};
  return { cls_token: named.cls_token ?? ends[0] ?? pick('[CLS]', '<cls>', '<s>'), sep_token: named.sep_token ?? ends[ends.length - 1] ?? pick('[SEP]', '<sep>', '</s>'),
    pad_token: named.pad_token ?? pick('[PAD]', '<pad>'), unk_token: named.unk_token ?? pick('[UNK]', '<unk>'), mask_token: named.mask_token ?? pick('[MASK]', '<mask>') };
}

const framingOf = (tok: Tokenizer): Framing => tok.framing ?? vocabularyFraming(tok);

/** the framing's shape, for the tokenizer class HF and transformers.js should load: BERT's ([CLS] a [SEP] b [SEP], type ids 0 then 1), RoBERTa's, or another */
function framingKind(f: Framing): 'bert' | 'roberta' | 'other' {
  const shape = (ps: FramePiece[]) => ps.map((p) => ('special' in p ? `${p.special}:${p.typeId}` : `$${p.seq}:${p.typeId}`)).join(' ');
  const [c, s] = [f.single[0], f.single[2]];
  if (f.single.length !== 3 || !c || !s || !('special' in c) || !('special' in s)) return 'other';
  if (f.typeIds && shape(f.pair) === `${c.special}:0 $A:0 ${s.special}:0 $B:1 ${s.special}:1`) return 'bert';
  if (!f.typeIds && shape(f.pair) === `${c.special}:0 $A:0 ${s.special}:0 ${s.special}:0 $B:0 ${s.special}:0`) return 'roberta';
  return 'other';
}

/** the framing as tokenizers' TemplateProcessing (type ids as the model gets them) */
function template(f: Framing): Record<string, unknown> {
  const piece = (p: FramePiece) => ('special' in p ? { SpecialToken: { id: p.special, type_id: f.typeIds ? p.typeId : 0 } } : { Sequence: { id: p.seq, type_id: f.typeIds ? p.typeId : 0 } });
  const sp = [...f.single, ...f.pair].flatMap((p) => ('special' in p ? [p] : []));
  return {
    type: 'TemplateProcessing',
    single: f.single.map(piece),
    pair: f.pair.map(piece),
    special_tokens: Object.fromEntries(sp.map((p) => [p.special, { id: p.special, ids: p.ids, tokens: p.ids.length === 1 ? [p.special] : p.ids.map(() => p.special) }])),
  };
}

const added = (id: number, content: string, special: boolean) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special });

function sentencePieceJson(tok: SentencePieceTokenizer, sp: ReturnType<typeof specials>): Record<string, unknown> | string {
  const m = tok.model;
  if (m.modelType !== 'unigram') return `a SentencePiece ${m.modelType} model: tokenizer.json is written for unigram models (the .model file is exported for SentencePiece itself)`;
  if (tok.fairseq && (m.unkId !== 0 || m.pieces[1] !== '<s>' || m.pieces[2] !== '</s>')) return 'fairseq ids over a SentencePiece model whose first pieces are not <unk> <s> </s>';
  if (!tok.fairseq && !tok.idsArePiecePositions) return 'the ids come from a .vocab file in another order than the model\'s pieces';
  if (m.treatWhitespaceAsSuffix || !m.escapeWhitespaces || !m.addDummyPrefix || !m.removeExtraWhitespaces) return 'the SentencePiece model\'s whitespace options (suffix, no escaping, no dummy prefix or keeping extra spaces) have no tokenizer.json equivalent';
  const normalizers: Array<Record<string, unknown>> = [];
  if (tok.lowercase) normalizers.push({ type: 'Lowercase' });
  if (m.charsmapTrie) {
    const blob = new Uint8Array(4 + m.charsmapTrie.byteLength + m.charsmapNormalized.length);
    new DataView(blob.buffer).setUint32(0, m.charsmapTrie.byteLength, true);
    blob.set(new Uint8Array(m.charsmapTrie.buffer, m.charsmapTrie.byteOffset, m.charsmapTrie.byteLength), 4);
    blob.set(m.charsmapNormalized, 4 + m.charsmapTrie.byteLength);
    normalizers.push({ type: 'Precompiled', precompiled_charsmap: Buffer.from(blob).toString('base64') });
  }
  // SentencePiece's remove_extra_whitespaces: no leading or trailing spaces, runs collapsed to one
  normalizers.push({ type: 'Strip', strip_left: true, strip_right: true }, { type: 'Replace', pattern: { Regex: ' {2,}' }, content: ' ' });
  const metaspace = { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true };
  // control pieces and the special tokens are added tokens (split out of the text before normalisation). Other
  // user-defined pieces stay in the unigram vocabulary only: as added tokens they would cut the text into
  // sections, each stripped and given its own "▁" (HF's converter does so, and loses the space before a "-"),
  // while SentencePiece segments them inside the normalised text, where their score of 0 always wins
  const addedTokens = m.pieces.flatMap((p, id) => (m.types[id] === PieceType.CONTROL || (m.types[id] === PieceType.USER_DEFINED && Object.values(sp).includes(p)) ? [added(id, p, true)] : []));
  // XLM-R: fairseq's ids, as HF's XLMRobertaConverter writes them: <s> <pad> </s> <unk>, the pieces after the model's first three, <mask>
  const unigram = tok.fairseq
    ? { type: 'Unigram', unk_id: 3, byte_fallback: m.byteFallback, vocab: [['<s>', 0], ['<pad>', 0], ['</s>', 0], ['<unk>', 0], ...m.pieces.slice(3).map((p, i) => [p, m.scores[i + 3]!]), ['<mask>', 0]] }
    : { type: 'Unigram', unk_id: m.unkId, vocab: m.pieces.map((p, i) => [p, m.scores[i]!]), byte_fallback: m.byteFallback };
  if (tok.fairseq) addedTokens.splice(0, addedTokens.length, ...['<s>', '<pad>', '</s>', '<unk>', '<mask>'].map((t) => added(tok.tokenId(t)!, t, true)));
  return {
    version: '1.0', truncation: null, padding: null, added_tokens: addedTokens,
    normalizer: { type: 'Sequence', normalizers },
    pre_tokenizer: metaspace,
    post_processor: template(framingOf(tok)),
    decoder: m.byteFallback ? { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: '▁' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }] } : metaspace,
    model: unigram,
  };
}

function wordPieceJson(tok: WordPieceTokenizer, sp: ReturnType<typeof specials>): Record<string, unknown> | string {
  const o = tok.opts;
  if (o.wordTokenizer === 'mecab') return 'MeCab word splitting has no tokenizer.json equivalent (BertJapaneseTokenizer: vocab.txt + tokenizer_config.json are exported instead)';
  if (o.wordTokenizer !== 'basic' || o.subwordTokenizer !== 'wordpiece') return `word_tokenizer_type ${o.wordTokenizer} with ${o.subwordTokenizer} subwords has no tokenizer.json equivalent`;
  return {
    version: '1.0', truncation: null, padding: null,
    added_tokens: ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'].filter((t) => tok.vocab.has(t)).map((t) => added(tok.vocab.get(t)!, t, true)),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: o.doLowerCase },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: template(framingOf(tok)),
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: o.unkToken, continuing_subword_prefix: '##', max_input_chars_per_word: o.maxInputCharsPerWord, vocab: Object.fromEntries(tok.vocab) },
  };
}

/** tokenizer.json (where expressible), tokenizer_config.json and special_tokens_map.json for `tok`; `maxLength` is model_max_length */
export function exportTokenizer(tok: Tokenizer, maxLength: number): TokenizerExport {
  const sp = specials(tok);
  const json = tok instanceof SentencePieceTokenizer ? sentencePieceJson(tok, sp)
    : tok instanceof WordPieceTokenizer ? wordPieceJson(tok, sp)
    : 'the model folder\'s own tokenizer.json is copied as it is';
  const files: Record<string, string | Uint8Array> = {};
  files['special_tokens_map.json'] = JSON.stringify(sp, null, 2) + '\n';
  const f = framingOf(tok), kind = framingKind(f);
  const named = tok.specialTokens ?? {};
  const bosEos = { ...(named.bos_token ? { bos_token: named.bos_token } : kind === 'roberta' ? { bos_token: '<s>' } : {}), ...(named.eos_token ? { eos_token: named.eos_token } : kind === 'roberta' ? { eos_token: '</s>' } : {}) };
  const common = { ...sp, ...bosEos, model_max_length: maxLength, clean_up_tokenization_spaces: false,
    model_input_names: f.typeIds ? ['input_ids', 'token_type_ids', 'attention_mask'] : ['input_ids', 'attention_mask'] };
  if (typeof json !== 'string') {
    files['tokenizer.json'] = JSON.stringify(json) + '\n';
    // BertTokenizerFast: HF loads it from tokenizer.json, and transformers.js then returns token_type_ids (its generic class does not);
    // XLMRobertaTokenizerFast for RoBERTa's framing (no token types); any other framing (a Llama-style bos/eos template, none) is
    // the generic PreTrainedTokenizerFast, which applies tokenizer.json's post-processor as it is
    const cls = kind === 'bert' ? 'BertTokenizerFast' : kind === 'roberta' ? 'XLMRobertaTokenizerFast' : 'PreTrainedTokenizerFast';
    files['tokenizer_config.json'] = JSON.stringify({ tokenizer_class: cls, ...common,
      do_lower_case: tok instanceof WordPieceTokenizer ? tok.opts.doLowerCase : (tok as SentencePieceTokenizer).lowercase }, null, 2) + '\n';
    return { files };
  }
  // no tokenizer.json: the folder's own files (vocab.txt, tokenizer_config.json, a .model) are what HF's slow tokenizers read
  return { files, note: json };
}
