/** tokenize: texts from a .txt (one per line) or .jsonl (one JSON string per line) file to JSONL ids/tokens. */
import { checkOutputFile, writeFileAtomic } from '../io/atomic.js';
import { checkOutputPath } from '../io/files.js';
import { InputFileError as InputError, parseJsonText, readTextFile } from '../io/text.js';
import { loadTokenizer, TokenizerError } from './index.js';

export interface TokenizeFileOptions {
  tokenizer: string;
  input: string;
  output: string;
  lowercase?: boolean;
  /** add [CLS] ... [SEP] around each text */
  special?: boolean;
  mecabDic?: string;
}

export function readTexts(path: string): string[] {
  const raw = readTextFile(path);
  const lines = raw.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  if (!path.endsWith('.jsonl')) return lines.map((l) => l.replace(/\r$/, ''));
  const name = path === '-' ? '<stdin>' : path;
  return lines.map((l, i) => {
    const v = parseJsonText(l, `${name}:${i + 1}`);
    if (typeof v === 'string') return v;
    if (v && typeof v === 'object' && typeof (v as { text?: unknown }).text === 'string') return (v as { text: string }).text;
    throw new InputError(`${name}:${i + 1}: expected a JSON string or {"text": ...}`);
  });
}

export function tokenizeFile(o: TokenizeFileOptions): number {
  checkOutputFile(o.output);
  checkOutputPath('--output', o.output, { inputs: [{ flag: '--input', path: o.input }], model: o.tokenizer });
  const tok = loadTokenizer(o.tokenizer, { lowercase: o.lowercase, mecabDic: o.mecabDic });
  const texts = readTexts(o.input);
  let cls = -1, sep = -1;
  if (o.special) {
    cls = tok.tokenId('[CLS]') ?? -1;
    sep = tok.tokenId('[SEP]') ?? -1;
    if (cls < 0 || sep < 0) throw new TokenizerError(`${o.tokenizer}: the vocabulary has no [CLS] or [SEP] piece`);
  }
  writeFileAtomic(o.output, (write) => {
    let buf = '';
    for (const t of texts) {
      const e = tok.encode(t);
      if (o.special) {
        e.ids = [cls, ...e.ids, sep];
        e.tokens = ['[CLS]', ...e.tokens, '[SEP]'];
      }
      buf += JSON.stringify({ ids: e.ids, tokens: e.tokens }) + '\n';
      if (buf.length > 1 << 20) { write(buf); buf = ''; }
    }
    write(buf);
  });
  return texts.length;
}
