/**
 * SentencePiece, read from the `.model` file itself (a protobuf ModelProto),
 * encoding exactly as Debian's spm_encode does:
 *
 *   normalizer: precompiled charsmap (a Darts double-array trie of byte
 *   sequences -> replacement strings, longest match), user-defined pieces kept
 *   as they are, leading/trailing/duplicate whitespace removed, spaces -> "▁",
 *   a dummy "▁" prefix;
 *   unigram: Viterbi over all piece matches with float32 path scores; a
 *   character no piece covers becomes UNK (score min_score - 10); consecutive
 *   UNKs merge;
 *   BPE: repeatedly merge the adjacent pair whose merged piece scores highest
 *   (leftmost on ties);
 *   byte fallback: an UNK becomes one <0xXX> piece per UTF-8 byte.
 *
 * Everything works on UTF-8 bytes, as the C++ library does.
 */
import { JaBertError, registerError } from '../core/errors.js';
import { readFileChecked } from '../io/files.js';
import { MAX_TEXT_BYTES } from '../io/text.js';
import { Proto } from '../io/protobuf.js';

export class TokenizerError extends JaBertError { override readonly code = 'ERR_JA_BERT_TOKENIZER'; }
registerError(TokenizerError);

export const enum PieceType { NORMAL = 1, UNKNOWN = 2, CONTROL = 3, USER_DEFINED = 4, UNUSED = 5, BYTE = 6 }
export type ModelType = 'unigram' | 'bpe' | 'word' | 'char';

export interface SentencePieceModel {
  pieces: string[];
  scores: Float32Array;
  types: Uint8Array;
  modelType: ModelType;
  byteFallback: boolean;
  unkId: number;
  bosId: number;
  eosId: number;
  padId: number;
  treatWhitespaceAsSuffix: boolean;
  addDummyPrefix: boolean;
  removeExtraWhitespaces: boolean;
  escapeWhitespaces: boolean;
  /** Darts double-array units of the normalisation trie, or null (identity) */
  charsmapTrie: Uint32Array | null;
  /** NUL-separated replacement strings the trie's values point into */
  charsmapNormalized: Uint8Array;
  normalizerName: string;
}

const MODEL_TYPES: Record<number, ModelType> = { 1: 'unigram', 2: 'bpe', 3: 'word', 4: 'char' };

/** parse a ModelProto; `path` names the file in errors */
export function parseSentencePieceModel(buf: Uint8Array, path = 'model'): SentencePieceModel {
  const dec = new TextDecoder('utf-8', { fatal: true });
  const pieces: string[] = [];
  const scores: number[] = [];
  const types: number[] = [];
  const m: SentencePieceModel = {
    pieces, scores: new Float32Array(0), types: new Uint8Array(0), modelType: 'unigram', byteFallback: false,
    unkId: 0, bosId: 1, eosId: 2, padId: -1, treatWhitespaceAsSuffix: false,
    addDummyPrefix: true, removeExtraWhitespaces: true, escapeWhitespaces: true,
    charsmapTrie: null, charsmapNormalized: new Uint8Array(0), normalizerName: '',
  };
  try {
    const r = new Proto(buf);
    for (let f = r.field(); f; f = r.field()) {
      const [num, wire] = f;
      if (num === 1 && wire === 2) {
        const p = new Proto(r.bytes());
        let piece = '', score = 0, type = PieceType.NORMAL;
        for (let g = p.field(); g; g = p.field()) {
          if (g[0] === 1 && g[1] === 2) piece = dec.decode(p.bytes());
          else if (g[0] === 2 && g[1] === 5) score = p.float32();
          else if (g[0] === 3 && g[1] === 0) type = p.varint();
          else p.skip(g[1]);
        }
        pieces.push(piece);
        scores.push(score);
        types.push(type);
      } else if (num === 2 && wire === 2) {
        const t = new Proto(r.bytes());
        for (let g = t.field(); g; g = t.field()) {
          const [k, w] = g;
          if (w !== 0) { t.skip(w); continue; }
          const v = t.varint();
          if (k === 3) m.modelType = MODEL_TYPES[v] ?? 'unigram';
          else if (k === 24) m.treatWhitespaceAsSuffix = v !== 0;
          else if (k === 35) m.byteFallback = v !== 0;
          else if (k === 40) m.unkId = v | 0;
          else if (k === 41) m.bosId = v | 0;
          else if (k === 42) m.eosId = v | 0;
          else if (k === 43) m.padId = v | 0;
        }
      } else if (num === 3 && wire === 2) {
        const n = new Proto(r.bytes());
        for (let g = n.field(); g; g = n.field()) {
          const [k, w] = g;
          if (k === 1 && w === 2) m.normalizerName = dec.decode(n.bytes());
          else if (k === 2 && w === 2) {
            const blob = n.bytes();
            if (blob.length >= 4) {
              const size = new DataView(blob.buffer, blob.byteOffset, 4).getUint32(0, true);
              if (size % 4 !== 0 || 4 + size > blob.length) throw new TokenizerError(`${path}: corrupt precompiled_charsmap (trie size ${size})`);
              // copies (Uint8Array.from), since a Node Buffer's slice is a view into a shared pool
              m.charsmapTrie = new Uint32Array(Uint8Array.from(blob.subarray(4, 4 + size)).buffer);
              m.charsmapNormalized = Uint8Array.from(blob.subarray(4 + size));
            }
          } else if (k === 3 && w === 0) m.addDummyPrefix = n.varint() !== 0;
          else if (k === 4 && w === 0) m.removeExtraWhitespaces = n.varint() !== 0;
          else if (k === 5 && w === 0) m.escapeWhitespaces = n.varint() !== 0;
          else n.skip(w);
        }
      } else {
        r.skip(wire);
      }
    }
  } catch (e) {
    if (e instanceof TokenizerError) throw e;
    throw new TokenizerError(`${path}: not a SentencePiece model (${(e as Error).message})`);
  }
  if (pieces.length === 0) throw new TokenizerError(`${path}: not a SentencePiece model (no pieces)`);
  if (m.unkId < 0 || m.unkId >= pieces.length || types[m.unkId] !== PieceType.UNKNOWN) {
    throw new TokenizerError(`${path}: unk_id ${m.unkId} does not name an UNKNOWN piece`);
  }
  m.scores = Float32Array.from(scores);
  m.types = Uint8Array.from(types);
  return m;
}

// ---- Darts double-array (darts-clone unit layout) ------------------------------
function dartsLongestPrefix(units: Uint32Array, key: Uint8Array, start: number, end: number): [number, number] | null {
  let unit = units[0]!;
  let pos = (unit >>> 10) * (unit & 0x200 ? 256 : 1);
  let best: [number, number] | null = null;
  for (let i = start; i < end; i++) {
    const c = key[i]!;
    if (c === 0) break;
    pos ^= c;
    unit = units[pos]!;
    if (unit === undefined || (unit & 0x800000ff) >>> 0 !== c) break;
    pos ^= (unit >>> 10) * (unit & 0x200 ? 256 : 1);
    if ((unit >>> 8) & 1) best = [units[pos]! & 0x7fffffff, i - start + 1];
  }
  return best;
}

/** byte length of the UTF-8 sequence starting with byte b (1 for invalid lead bytes) */
function charLen(b: number): number {
  return b < 0x80 ? 1 : b < 0xc0 ? 1 : b < 0xe0 ? 2 : b < 0xf0 ? 3 : b < 0xf8 ? 4 : 1;
}

/** a valid UTF-8 sequence at i? returns its length, or 0 */
function validCharAt(s: Uint8Array, i: number): number {
  const n = charLen(s[i]!);
  if (n === 1) return s[i]! < 0x80 ? 1 : 0;
  if (i + n > s.length) return 0;
  for (let k = 1; k < n; k++) if ((s[i + k]! & 0xc0) !== 0x80) return 0;
  return n;
}

// ---- byte trie over pieces ---------------------------------------------------------
/** transitions in one flat map keyed by node * 256 + byte; ids[node] = piece id or -1 */
class ByteTrie {
  readonly next = new Map<number, number>();
  ids: number[] = [-1];
  insert(bytes: Uint8Array, id: number): void {
    let n = 0;
    for (const b of bytes) {
      let c = this.next.get(n * 256 + b);
      if (c === undefined) { c = this.ids.length; this.ids.push(-1); this.next.set(n * 256 + b, c); }
      n = c;
    }
    this.ids[n] = id;
  }
  /** visit every piece that is a prefix of s[start..end): (id, byte length) */
  prefixes(s: Uint8Array, start: number, end: number, visit: (id: number, len: number) => void): void {
    let n = 0;
    for (let i = start; i < end; i++) {
      const c = this.next.get(n * 256 + s[i]!);
      if (c === undefined) return;
      n = c;
      if (this.ids[n]! >= 0) visit(this.ids[n]!, i - start + 1);
    }
  }
}

const SPACE = new Uint8Array([0xe2, 0x96, 0x81]); // U+2581 "▁"
const REPLACEMENT = new Uint8Array([0xef, 0xbf, 0xbd]); // U+FFFD

export interface SentencePieceOptions {
  /** lowercase text before encoding (yoheikikuta/bert-japanese models) */
  lowercase?: boolean;
  /** take ids from this `.vocab` file's line numbers instead of the model's order */
  vocabFile?: string;
  /**
   * fairseq's ids, as XLMRobertaTokenizer maps them: <s> 0, <pad> 1, </s> 2, <unk> 3, every other piece its
   * SentencePiece id + 1, <mask> after the last (the model's own <unk>, <s>, </s> at 0-2 are replaced)
   */
  fairseq?: boolean;
}

export interface Encoding {
  ids: number[];
  tokens: string[];
}

export class SentencePieceTokenizer {
  readonly model: SentencePieceModel;
  /** lowercase text before encoding (yoheikikuta/bert-japanese models were trained so) */
  lowercase: boolean;
  private trie = new ByteTrie();
  private userTrie: ByteTrie | null = null;
  private pieceToId = new Map<string, number>();
  private byteIds = new Int32Array(256).fill(-1);
  private minScore = Infinity;
  private maxScore = -Infinity;
  private enc = new TextEncoder();
  private dec = new TextDecoder();

  /** piece -> id from a `.vocab` file (line number), as the seed's tokenizer maps them, or fairseq's ids */
  private vocabIds: Map<string, number> | null = null;
  /** ids are fairseq's (XLM-R): <s> <pad> </s> <unk>, then the pieces shifted by one, <mask> last */
  readonly fairseq: boolean;

  constructor(model: SentencePieceModel, opts: SentencePieceOptions = {}) {
    this.model = model;
    this.lowercase = opts.lowercase ?? false;
    this.fairseq = !opts.vocabFile && (opts.fairseq ?? false);
    if (opts.vocabFile) {
      const lines = readFileChecked(opts.vocabFile, 'vocabulary', MAX_TEXT_BYTES, TokenizerError).toString('utf8').split('\n').filter((l) => l !== '');
      this.vocabIds = new Map();
      lines.forEach((l, i) => {
        const piece = l.split('\t')[0]!;
        if (!this.vocabIds!.has(piece)) this.vocabIds!.set(piece, i);
      });
      if (!this.vocabIds.has(model.pieces[model.unkId]!)) throw new TokenizerError(`${opts.vocabFile}: no ${model.pieces[model.unkId]} line`);
    } else if (opts.fairseq) {
      const unk = model.pieces[model.unkId]!;
      this.vocabIds = new Map([['<s>', 0], ['<pad>', 1], ['</s>', 2], [unk, 3]]);
      model.pieces.forEach((p, i) => { if (i !== model.unkId && !this.vocabIds!.has(p)) this.vocabIds!.set(p, i + 1); });
      this.vocabIds.set('<mask>', model.pieces.length + 1);
    }
    model.pieces.forEach((p, id) => {
      const t = model.types[id]!;
      if (t === PieceType.BYTE) {
        const m = /^<0x([0-9A-F]{2})>$/.exec(p);
        if (m) this.byteIds[parseInt(m[1]!, 16)] = id;
        return;
      }
      if (t === PieceType.NORMAL || t === PieceType.USER_DEFINED || t === PieceType.UNUSED) {
        if (!this.pieceToId.has(p)) this.pieceToId.set(p, id);
        this.trie.insert(this.enc.encode(p), id);
      }
      if (t === PieceType.USER_DEFINED) {
        this.userTrie ??= new ByteTrie();
        this.userTrie.insert(this.enc.encode(p), id);
      }
      if (t === PieceType.NORMAL) {
        this.minScore = Math.min(this.minScore, model.scores[id]!);
        this.maxScore = Math.max(this.maxScore, model.scores[id]!);
      }
    });
    if (model.byteFallback && this.byteIds.some((v) => v < 0)) throw new TokenizerError('byte_fallback is on but the model lacks some <0xXX> pieces');
  }

  static fromFile(path: string, opts: SentencePieceOptions = {}): SentencePieceTokenizer {
    return new SentencePieceTokenizer(parseSentencePieceModel(readFileChecked(path, 'SentencePiece model', 256 * 2 ** 20, TokenizerError), path), opts);
  }

  get vocabSize(): number {
    return this.vocabIds ? this.vocabIds.size : this.model.pieces.length;
  }

  /** whether ids are the pieces' positions in the model (no .vocab file reordering them) */
  get idsArePiecePositions(): boolean {
    return !this.vocabIds || (this.vocabIds.size === this.model.pieces.length && this.model.pieces.every((p, i) => this.vocabIds!.get(p) === i));
  }

  /** id of any piece, control pieces ([CLS], [SEP]) included */
  tokenId(piece: string): number | undefined {
    if (this.vocabIds) return this.vocabIds.get(piece);
    const i = this.model.pieces.indexOf(piece);
    return i < 0 ? undefined : i;
  }

  idToPiece(id: number): string {
    return this.model.pieces[id] ?? '';
  }

  /** the normalized byte string that the subword model segments */
  normalize(text: string): Uint8Array {
    const m = this.model;
    const input = this.enc.encode(this.lowercase ? text.toLowerCase() : text);
    const n = input.length;
    // output grows as needed: NFKC can expand (e.g. ㍿ -> 株式会社)
    let out = new Uint8Array(n * 3 + 8);
    let len = 0;
    const put = (b: number) => {
      if (len === out.length) { const o = new Uint8Array(out.length * 2); o.set(out); out = o; }
      out[len++] = b;
    };
    // one normalisation step at pos: the replacement is src[rs, re); returns bytes consumed
    let src: Uint8Array = input, rs = 0, re = 0;
    const step = (pos: number): number => {
      if (this.userTrie) {
        let best = 0;
        this.userTrie.prefixes(input, pos, n, (_id, l) => { best = l; });
        if (best) { src = input; rs = pos; re = pos + best; return best; }
      }
      if (m.charsmapTrie) {
        const hit = dartsLongestPrefix(m.charsmapTrie, input, pos, n);
        if (hit) {
          const off = hit[0];
          let e = off;
          const nm = m.charsmapNormalized;
          while (e < nm.length && nm[e] !== 0) e++;
          src = nm; rs = off; re = e;
          return hit[1];
        }
      }
      const l = validCharAt(input, pos);
      if (l) { src = input; rs = pos; re = pos + l; return l; }
      src = REPLACEMENT; rs = 0; re = 3;
      return 1;
    };
    let pos = 0;
    if (m.removeExtraWhitespaces) {
      while (pos < n) {
        const c = step(pos);
        if (!(re - rs === 1 && src[rs] === 0x20)) break;
        pos += c;
      }
    }
    if (pos >= n) return new Uint8Array(0);
    const space = m.escapeWhitespaces ? SPACE : new Uint8Array([0x20]);
    if (m.addDummyPrefix && !m.treatWhitespaceAsSuffix) for (const b of space) put(b);
    let prevSpace = m.removeExtraWhitespaces;
    while (pos < n) {
      const c = step(pos);
      let i = rs;
      if (prevSpace) while (i < re && src[i] === 0x20) i++;
      if (i < re) {
        for (; i < re; i++) {
          const b = src[i]!;
          if (m.escapeWhitespaces && b === 0x20) { put(0xe2); put(0x96); put(0x81); }
          else put(b);
        }
        prevSpace = src[re - 1] === 0x20;
      }
      pos += c;
      prevSpace = prevSpace && m.removeExtraWhitespaces;
    }
    if (m.removeExtraWhitespaces) {
      const k = space.length;
      while (len >= k && space.every((b, j) => out[len - k + j] === b)) len -= k;
    }
    if (m.addDummyPrefix && m.treatWhitespaceAsSuffix && len) for (const b of space) put(b);
    return out.slice(0, len);
  }

  /** segment normalized bytes into [byteStart, byteEnd, id] pieces (before byte fallback) */
  private segment(s: Uint8Array): Array<[number, number, number]> {
    return this.model.modelType === 'bpe' ? this.segmentBpe(s) : this.segmentUnigram(s);
  }

  private segmentUnigram(s: Uint8Array): Array<[number, number, number]> {
    const size = s.length;
    const unk = this.model.unkId;
    const unkScore = Math.fround(this.minScore - 10);
    const best = new Float32Array(size + 1);
    const ids = new Int32Array(size + 1).fill(-1);
    const starts = new Int32Array(size + 1).fill(-1);
    const scores = this.model.scores, types = this.model.types, maxScore = this.maxScore;
    for (let at = 0; at < size;) {
      const here = best[at]!;
      const mblen = Math.min(charLen(s[at]!), size - at);
      let single = false;
      // the trie walk, inlined: every piece that is a prefix of s[at..]
      const next = this.trie.next, tids = this.trie.ids;
      for (let i = at, node = 0; i < size; i++) {
        const c = next.get(node * 256 + s[i]!);
        if (c === undefined) break;
        node = c;
        const id = tids[node]!;
        if (id < 0 || types[id] === PieceType.UNUSED) continue;
        const len = i - at + 1;
        const end = at + len;
        // as in sentencepiece's EncodeOptimized: the piece score is a double
        // there (its conditional mixes double and float), so the candidate is
        // summed and compared in double and rounded to float only when stored
        const score = types[id] === PieceType.USER_DEFINED ? len * maxScore - 0.1 : scores[id]!;
        const cand = here + score;
        if (starts[end] === -1 || cand > best[end]!) { best[end] = cand; ids[end] = id; starts[end] = at; }
        if (len === mblen) single = true;
      }
      if (!single) {
        const end = at + mblen;
        const cand = Math.fround(here + unkScore); // float + float there
        if (starts[end] === -1 || cand > best[end]!) { best[end] = cand; ids[end] = unk; starts[end] = at; }
      }
      at += mblen;
    }
    const out: Array<[number, number, number]> = [];
    for (let end = size; end > 0; end = starts[end]!) {
      const st = starts[end]!;
      const last = out[out.length - 1];
      if (ids[end] === unk && last && last[2] === unk) last[0] = st; // consecutive UNKs merge
      else out.push([st, end, ids[end]!]);
    }
    return out.reverse();
  }

  private segmentBpe(s: Uint8Array): Array<[number, number, number]> {
    // symbols: a doubly linked list of byte ranges, initially one per character
    const starts: number[] = [], ends: number[] = [];
    for (let i = 0; i < s.length;) {
      let len = 0;
      if (this.userTrie) this.userTrie.prefixes(s, i, s.length, (_id, l) => { len = l; });
      if (!len) len = Math.min(charLen(s[i]!), s.length - i);
      starts.push(i); ends.push(i + len);
      i += len;
    }
    const n = starts.length;
    const prev = Array.from({ length: n }, (_, i) => i - 1), next = Array.from({ length: n }, (_, i) => (i + 1 < n ? i + 1 : -1));
    const alive = new Uint8Array(n).fill(1);
    // max-heap of candidate merges: higher score first, then leftmost
    type Cand = { left: number; right: number; score: number; size: number };
    const heap: Cand[] = [];
    const better = (a: Cand, b: Cand) => a.score > b.score || (a.score === b.score && a.left < b.left);
    const push = (c: Cand) => {
      heap.push(c);
      for (let i = heap.length - 1; i > 0;) {
        const p = (i - 1) >> 1;
        if (!better(heap[i]!, heap[p]!)) break;
        [heap[i], heap[p]] = [heap[p]!, heap[i]!];
        i = p;
      }
    };
    const pop = (): Cand => {
      const top = heap[0]!;
      const last = heap.pop()!;
      if (heap.length) {
        heap[0] = last;
        for (let i = 0; ;) {
          const l = 2 * i + 1, r = l + 1;
          let m = i;
          if (l < heap.length && better(heap[l]!, heap[m]!)) m = l;
          if (r < heap.length && better(heap[r]!, heap[m]!)) m = r;
          if (m === i) break;
          [heap[i], heap[m]] = [heap[m]!, heap[i]!];
          i = m;
        }
      }
      return top;
    };
    const consider = (l: number, r: number) => {
      if (l < 0 || r < 0) return;
      const piece = this.dec.decode(s.subarray(starts[l]!, ends[r]!));
      const id = this.pieceToId.get(piece);
      if (id === undefined) return;
      push({ left: l, right: r, score: this.model.scores[id]!, size: ends[r]! - starts[l]! });
    };
    for (let i = 0; i + 1 < n; i++) consider(i, i + 1);
    while (heap.length) {
      const c = pop();
      if (!alive[c.left] || !alive[c.right] || next[c.left] !== c.right || ends[c.right]! - starts[c.left]! !== c.size) continue;
      ends[c.left] = ends[c.right]!;
      alive[c.right] = 0;
      next[c.left] = next[c.right]!;
      if (next[c.right]! >= 0) prev[next[c.right]!] = c.left;
      consider(prev[c.left]!, c.left);
      consider(c.left, next[c.left]!);
    }
    const out: Array<[number, number, number]> = [];
    for (let i = 0; i >= 0 && i < n; i = next[i]!) {
      const id = this.pieceToId.get(this.dec.decode(s.subarray(starts[i]!, ends[i]!)));
      const useId = id === undefined || this.model.types[id] === PieceType.UNUSED ? this.model.unkId : id;
      const last = out[out.length - 1];
      if (useId === this.model.unkId && last && last[2] === this.model.unkId) last[1] = ends[i]!;
      else out.push([starts[i]!, ends[i]!, useId]);
    }
    return out;
  }

  /** ids and pieces of a text, without special tokens */
  encode(text: string): Encoding {
    const { ids, tokens } = this.encodeSpans(text);
    return { ids, tokens };
  }

  /**
   * encode(), plus the normalised text (UTF-8) and each piece's [start, end)
   * byte range in it: what whole-word masking aligns word boundaries with.
   */
  encodeSpans(text: string): Encoding & { normalized: Uint8Array; spans: Array<[number, number]> } {
    const s = this.normalize(text);
    const ids: number[] = [], tokens: string[] = [], spans: Array<[number, number]> = [];
    for (const [st, end, id] of this.segment(s)) {
      if (id === this.model.unkId && this.model.byteFallback) {
        for (let i = st; i < end; i++) {
          ids.push(this.byteIds[s[i]!]!);
          tokens.push(this.model.pieces[this.byteIds[s[i]!]!]!);
          spans.push([i, i + 1]);
        }
      } else {
        ids.push(id);
        tokens.push(this.model.pieces[id]!);
        spans.push([st, end]);
      }
    }
    if (this.vocabIds) {
      const unk = this.vocabIds.get(this.model.pieces[this.model.unkId]!)!;
      return { ids: tokens.map((t) => this.vocabIds!.get(t) ?? unk), tokens, normalized: s, spans };
    }
    return { ids, tokens, normalized: s, spans };
  }
}
