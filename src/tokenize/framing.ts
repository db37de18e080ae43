/**
 * How special tokens frame one text or a pair, read from the model's own tokenizer files the way Hugging Face
 * does, so that `[CLS] a [SEP] b [SEP]`, `<s> a </s></s> b </s>` or `<s> a </s><s> b </s>` is whatever the
 * model was trained with:
 *
 *   1. tokenizer.json's post_processor (what HF's fast tokenizers, transformers.js and the Rust tokenizers
 *      apply): TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel (no tokens), a Sequence of
 *      these, or none (no special tokens; the pair's B gets type id 1). A LlamaTokenizer(Fast) config's
 *      add_bos_token / add_eos_token rebuild the template, as LlamaTokenizerFast.update_post_processor does.
 *   2. Without tokenizer.json, tokenizer_config.json's tokenizer_class, as the slow tokenizer's
 *      build_inputs_with_special_tokens frames: BERT-like ([CLS] a [SEP] b [SEP], type ids 0 then 1),
 *      RoBERTa-like (<s> a </s></s> b </s>), Llama-like (bos/eos by add_bos_token/add_eos_token), T5-like
 *      (a </s> b </s>), with the token names from tokenizer_config.json or special_tokens_map.json.
 *   3. Otherwise the vocabulary: [CLS]/[SEP] where it has them (run_classifier), else <s>/</s> as RoBERTa.
 *
 * Token type ids reach the model only where the tokenizer returns them (model_input_names); elsewhere every
 * type id is 0, as a model called with HF's tokenizer output gets none.
 */
import { existsSync, statSync } from 'node:fs';
import { readJsonChecked } from '../io/text.js';
import { basename, dirname, join } from 'node:path';
import { TokenizerError } from './sentencepiece.js';

/** one element of a template: special tokens (ids) or the text A / B, each with its token type id */
export type FramePiece = { special: string; ids: number[]; typeId: number } | { seq: 'A' | 'B'; typeId: number };

export interface Framing {
  single: FramePiece[];
  pair: FramePiece[];
  /** whether token_type_ids reach the model; false: all 0 */
  typeIds: boolean;
  /** where the framing was read, for messages and `info` */
  source: string;
}

/** the ids a tokenizer gives a token, for checking that the files agree */
interface Vocabulary { tokenId(token: string): number | undefined }

const sp = (special: string, ids: number[], typeId = 0): FramePiece => ({ special, ids, typeId });
const A = (typeId = 0): FramePiece => ({ seq: 'A', typeId });
const B = (typeId: number): FramePiece => ({ seq: 'B', typeId });

/** number of special tokens a framing adds to one text or a pair */
export function specialCount(f: Framing, pair: boolean): number {
  return (pair ? f.pair : f.single).reduce((n, p) => n + ('special' in p ? p.ids.length : 0), 0);
}

/** the ids and type ids of `a` (and `b`) framed */
export function applyFraming(f: Framing, a: number[], b?: number[]): { inputIds: number[]; tokenTypeIds: number[] } {
  const inputIds: number[] = [], tokenTypeIds: number[] = [];
  for (const p of b === undefined ? f.single : f.pair) {
    const ids = 'special' in p ? p.ids : p.seq === 'A' ? a : b!;
    for (const id of ids) { inputIds.push(id); tokenTypeIds.push(f.typeIds ? p.typeId : 0); }
  }
  return { inputIds, tokenTypeIds };
}

/** BERT's framing from two tokens: [CLS] a [SEP] / [CLS] a [SEP] b [SEP], type ids 0 then 1 */
export function bertFraming(cls: [string, number], sep: [string, number], source: string, typeIds = true): Framing {
  return { single: [sp(cls[0], [cls[1]]), A(), sp(sep[0], [sep[1]])], pair: [sp(cls[0], [cls[1]]), A(), sp(sep[0], [sep[1]]), B(1), sp(sep[0], [sep[1]], 1)], typeIds, source };
}

/** RoBERTa's framing: <s> a </s> / <s> a </s></s> b </s>, every type id 0 (tokenizers' RobertaProcessing) */
export function robertaFraming(cls: [string, number], sep: [string, number], source: string): Framing {
  const c = () => sp(cls[0], [cls[1]]), s = () => sp(sep[0], [sep[1]]);
  return { single: [c(), A(), s()], pair: [c(), A(), s(), s(), B(0), s()], typeIds: false, source };
}

/** the framing run_classifier and ja-bert's own models use, from the vocabulary alone */
export function vocabularyFraming(v: Vocabulary): Framing {
  const id = (t: string) => v.tokenId(t);
  if (id('[CLS]') === undefined && id('<s>') !== undefined && id('</s>') !== undefined) return robertaFraming(['<s>', id('<s>')!], ['</s>', id('</s>')!], 'the vocabulary (<s> and </s>, no [CLS])');
  const need = (t: string) => { const i = id(t); if (i === undefined) throw new TokenizerError(`the vocabulary has no ${t} token, and no tokenizer.json or tokenizer_config.json says how to frame the input`); return i; };
  return bertFraming(['[CLS]', need('[CLS]')], ['[SEP]', need('[SEP]')], 'the vocabulary ([CLS] and [SEP])');
}

function readObject(path: string): Record<string, unknown> | undefined {
  if (!existsSync(path)) return undefined;
  const v = readJsonChecked(path, 'tokenizer file', TokenizerError);
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new TokenizerError(`${path}: expected a JSON object`);
  return v as Record<string, unknown>;
}

/** a special token's text in tokenizer_config.json / special_tokens_map.json: a string or an AddedToken {content} */
function tokenText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return undefined;
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

/** a [token, id] pair of BertProcessing / RobertaProcessing */
function tokenPair(v: unknown, where: string): [string, number] {
  if (!Array.isArray(v) || v.length !== 2 || typeof v[0] !== 'string' || !isInt(v[1])) throw new TokenizerError(`${where}: expected [token, id], got ${JSON.stringify(v)}`);
  return [v[0], v[1]];
}

/** TemplateProcessing's single or pair template: [{SpecialToken: {id, type_id}} | {Sequence: {id: 'A'|'B', type_id}}], or the
 *  string form "[CLS]:0 $A:0 [SEP]:0" the Python constructor takes */
function templatePieces(v: unknown, specials: Record<string, unknown>, where: string): FramePiece[] {
  const special = (name: string, typeId: number): FramePiece => {
    const s = specials[name] as { ids?: unknown } | undefined;
    if (!s || !Array.isArray(s.ids) || !s.ids.every(isInt)) throw new TokenizerError(`${where}: the special token ${JSON.stringify(name)} is not in special_tokens (with its ids)`);
    return sp(name, s.ids as number[], typeId);
  };
  const seqId = (id: unknown): 'A' | 'B' => {
    if (id === 'A' || id === 'B') return id;
    throw new TokenizerError(`${where}: a Sequence's id must be "A" or "B", got ${JSON.stringify(id)}`);
  };
  const typeOf = (t: unknown): number => {
    if (t === undefined) return 0;
    if (!isInt(t)) throw new TokenizerError(`${where}: type_id must be a non-negative integer, got ${JSON.stringify(t)}`);
    return t;
  };
  const items = typeof v === 'string' ? v.split(/\s+/).filter(Boolean) : v;
  if (!Array.isArray(items)) throw new TokenizerError(`${where}: expected a list of pieces, got ${JSON.stringify(v)}`);
  const out = items.map((it): FramePiece => {
    if (typeof it === 'string') {
      const m = /^(.*?)(?::(\d+))?$/.exec(it)!;
      const name = m[1]!, typeId = m[2] === undefined ? 0 : Number(m[2]);
      if (name === '$' || name === '$A' || name === '$a') return A(typeId);
      if (name === '$B' || name === '$b') return B(typeId);
      if (/^\$\d*$/.test(name)) return A(name === '$' ? typeId : Number(name.slice(1)));
      return special(name, typeId);
    }
    if (it && typeof it === 'object' && 'SpecialToken' in it) { const s = (it as { SpecialToken: { id?: unknown; type_id?: unknown } }).SpecialToken; if (typeof s?.id !== 'string') throw new TokenizerError(`${where}: a SpecialToken without an id`); return special(s.id, typeOf(s.type_id)); }
    if (it && typeof it === 'object' && 'Sequence' in it) { const s = (it as { Sequence: { id?: unknown; type_id?: unknown } }).Sequence; return { seq: seqId(s?.id), typeId: typeOf(s?.type_id) }; }
    throw new TokenizerError(`${where}: not a template piece: ${JSON.stringify(it)}`);
  });
  return out;
}

/** a tokenizer.json post_processor as a framing; null: none that adds tokens */
function fromPostProcessor(pp: unknown, where: string): Framing | null {
  if (pp === null || pp === undefined) return { single: [A()], pair: [A(), B(1)], typeIds: true, source: `${where}: no post_processor` };
  if (typeof pp !== 'object' || Array.isArray(pp)) throw new TokenizerError(`${where}: post_processor must be an object or null`);
  const p = pp as Record<string, unknown>;
  const w = `${where}: post_processor ${String(p.type)}`;
  switch (p.type) {
    case 'TemplateProcessing': {
      const specials = (p.special_tokens && typeof p.special_tokens === 'object' ? p.special_tokens : {}) as Record<string, unknown>;
      const single = templatePieces(p.single, specials, `${w} single`), pair = templatePieces(p.pair, specials, `${w} pair`);
      if (single.filter((x) => 'seq' in x).length !== 1 || single.some((x) => 'seq' in x && x.seq !== 'A')) throw new TokenizerError(`${w}: the single template must hold $A once`);
      if (pair.filter((x) => 'seq' in x && x.seq === 'A').length !== 1 || pair.filter((x) => 'seq' in x && x.seq === 'B').length !== 1) throw new TokenizerError(`${w}: the pair template must hold $A and $B once each`);
      return { single, pair, typeIds: true, source: w };
    }
    case 'BertProcessing': return bertFraming(tokenPair(p.cls, `${w} cls`), tokenPair(p.sep, `${w} sep`), w);
    case 'RobertaProcessing': return robertaFraming(tokenPair(p.cls, `${w} cls`), tokenPair(p.sep, `${w} sep`), w);
    case 'ByteLevel': return null;
    case 'Sequence': {
      if (!Array.isArray(p.processors)) throw new TokenizerError(`${w}: no processors list`);
      const framings = p.processors.map((q, i) => fromPostProcessor(q, `${w}[${i}]`)).filter((f): f is Framing => f !== null);
      if (framings.length > 1) throw new TokenizerError(`${w}: ${framings.length} processors that add special tokens; ja-bert frames with one`);
      return framings[0] ?? null;
    }
    default: throw new TokenizerError(`${w}: a post-processor ja-bert does not know (it knows TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel and Sequence)`);
  }
}

/** tokenizer classes (without "Fast") by how their build_inputs_with_special_tokens frames, and whether model_input_names has token_type_ids */
const BERT_LIKE = /^(Bert|BertJapanese|DebertaV2|Deberta|Electra|Albert|MobileBert|Funnel|Layoutlm|Squeezebert|Splinter|Rembert|BigBird|Nezha|RoFormer|ConvBert)$/;
const NO_TYPE_IDS = /^(DistilBert|Deberta)$/;
const ROBERTA_LIKE = /^(XLMRoberta|Roberta|Camembert|MPNet|Longformer|Bartpho|Phobert)$/;
const LLAMA_LIKE = /^(Llama|CodeLlama|Gemma)$/;
const T5_LIKE = /^(T5|MT5)$/;

/** tokenizer_config.json's model_input_names, if it names them */
function inputNames(cfg: Record<string, unknown>): boolean | undefined {
  const n = cfg.model_input_names;
  return Array.isArray(n) ? n.includes('token_type_ids') : undefined;
}

/**
 * The framing of the tokenizer in `path` (a model folder or a tokenizer.json), or null where the files say nothing
 * (the vocabulary decides). `vocab` is the tokenizer that gives the text's ids: a special token whose id there differs
 * from the one the files frame with is an error, not a silent mix of two vocabularies.
 */
export function readFraming(path: string, vocab: Vocabulary): Framing | null {
  const isDir = existsSync(path) && statSync(path).isDirectory();
  const dir = isDir ? path : dirname(path);
  const tjPath = isDir ? join(dir, 'tokenizer.json') : path.endsWith('.json') ? path : null;
  const cfgPath = join(dir, 'tokenizer_config.json'), mapPath = join(dir, 'special_tokens_map.json');
  const cfg = readObject(cfgPath) ?? {};
  const map = readObject(mapPath) ?? {};
  const cls = String(cfg.tokenizer_class ?? '').replace(/Fast$/, '').replace(/Tokenizer$/, '');
  const tokenName = (role: string, dflt: string) => tokenText(cfg[role]) ?? tokenText(map[role]) ?? dflt;
  const idOf = (t: string, role: string): number => {
    const i = vocab.tokenId(t);
    if (i === undefined) throw new TokenizerError(`${existsSync(cfgPath) ? cfgPath : path}: the ${role} ${JSON.stringify(t)} is not in the vocabulary`);
    return i;
  };
  let f: Framing | null;
  if (tjPath && existsSync(tjPath)) {
    const tj = readObject(tjPath)!;
    if (!('post_processor' in tj)) throw new TokenizerError(`${tjPath}: no "post_processor" key; not a tokenizers file`);
    f = fromPostProcessor(tj.post_processor, basename(tjPath)) ?? { single: [A()], pair: [A(), B(1)], typeIds: true, source: `${basename(tjPath)}: a post_processor that adds no tokens` };
    // LlamaTokenizerFast rebuilds its template from add_bos_token / add_eos_token when it loads
    if (LLAMA_LIKE.test(cls) && ('add_bos_token' in cfg || 'add_eos_token' in cfg)) f = llamaFraming(cfg, tokenName, idOf, `${basename(cfgPath)} (${String(cfg.tokenizer_class)}: add_bos_token / add_eos_token)`);
    f.typeIds = inputNames(cfg) ?? (ROBERTA_LIKE.test(cls) || LLAMA_LIKE.test(cls) || T5_LIKE.test(cls) || NO_TYPE_IDS.test(cls) ? false : f.typeIds);
  } else if (cls) {
    const where = `${basename(cfgPath)} (tokenizer_class ${String(cfg.tokenizer_class)})`;
    if (BERT_LIKE.test(cls) || NO_TYPE_IDS.test(cls)) {
      const c = tokenName('cls_token', '[CLS]'), s = tokenName('sep_token', '[SEP]');
      f = bertFraming([c, idOf(c, 'cls_token')], [s, idOf(s, 'sep_token')], where, !NO_TYPE_IDS.test(cls));
    } else if (ROBERTA_LIKE.test(cls)) {
      const c = tokenName('cls_token', '<s>'), s = tokenName('sep_token', '</s>');
      f = robertaFraming([c, idOf(c, 'cls_token')], [s, idOf(s, 'sep_token')], where);
    } else if (LLAMA_LIKE.test(cls)) {
      f = llamaFraming(cfg, tokenName, idOf, where);
    } else if (T5_LIKE.test(cls)) {
      const e = tokenName('eos_token', '</s>'), eos = () => sp(e, [idOf(e, 'eos_token')]);
      f = { single: [A(), eos()], pair: [A(), eos(), B(0), eos()], typeIds: false, source: where };
    } else return null;
    const n = inputNames(cfg);
    if (n !== undefined) f.typeIds = n;
  } else return null;
  // the files' special tokens must be the vocabulary's
  for (const p of [...f.single, ...f.pair]) {
    if (!('special' in p) || p.ids.length !== 1) continue;
    const v = vocab.tokenId(p.special);
    if (v !== undefined && v !== p.ids[0]) throw new TokenizerError(`${f.source}: frames with ${p.special} as id ${p.ids[0]}, but the tokenizer gives it id ${v}`);
  }
  return f;
}

/** LlamaTokenizer(Fast): bos a eos / bos a eos bos b eos with b's pieces type id 1, bos and eos as add_bos_token (default true) and add_eos_token (default false) say */
function llamaFraming(cfg: Record<string, unknown>, tokenName: (role: string, d: string) => string, idOf: (t: string, role: string) => number, source: string): Framing {
  const bos = cfg.add_bos_token ?? true, eos = cfg.add_eos_token ?? false;
  if (typeof bos !== 'boolean' || typeof eos !== 'boolean') throw new TokenizerError(`${source}: add_bos_token and add_eos_token must be true or false`);
  const b = tokenName('bos_token', '<s>'), e = tokenName('eos_token', '</s>');
  const part = (seq: FramePiece, t: number): FramePiece[] => [...(bos ? [sp(b, [idOf(b, 'bos_token')], t)] : []), seq, ...(eos ? [sp(e, [idOf(e, 'eos_token')], t)] : [])];
  return { single: part(A(), 0), pair: [...part(A(), 0), ...part(B(1), 1)], typeIds: false, source };
}

export type SpecialRole = 'cls_token' | 'sep_token' | 'pad_token' | 'unk_token' | 'mask_token' | 'bos_token' | 'eos_token';
export type SpecialTokens = Partial<Record<SpecialRole, string>>;
const ROLES: SpecialRole[] = ['cls_token', 'sep_token', 'pad_token', 'unk_token', 'mask_token', 'bos_token', 'eos_token'];

/** the special tokens by role that tokenizer_config.json (first) or special_tokens_map.json in `dir` name and the vocabulary has */
export function readSpecialTokens(dir: string, vocab: Vocabulary): SpecialTokens {
  const cfg = readObject(join(dir, 'tokenizer_config.json')) ?? {}, map = readObject(join(dir, 'special_tokens_map.json')) ?? {};
  const out: SpecialTokens = {};
  for (const r of ROLES) {
    const t = tokenText(cfg[r]) ?? tokenText(map[r]);
    if (t !== undefined && vocab.tokenId(t) !== undefined) out[r] = t;
  }
  return out;
}
