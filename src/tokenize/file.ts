/** tokenize: texts from a .txt (one per line) or .jsonl (one JSON string per line) file to JSONL ids/tokens. */
import { checkOutputFile, writeFileAtomic } from '../io/atomic.js';
import { checkOutputPath } from '../io/files.js';
import { InputFileError as InputError, parseJsonText, readTextFile } from '../io/text.js';
import { loadTokenizer, TokenizerError } from './index.js';
import { type Framing, vocabularyFraming } from './framing.js';

export interface TokenizeFileOptions {
  tokenizer: string;
  input: string;
  output: string;
  lowercase?: boolean;
  /** frame each text with the model's special tokens ([CLS] ... [SEP], or as its tokenizer files say) */
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
  // the model's own framing of one text (tokenize/framing.ts): [CLS] … [SEP], <s> … </s>, or what its tokenizer files say
  let framing: Framing | undefined;
  if (o.special) {
    try { framing = tok.framing ?? vocabularyFraming(tok); } catch (e) { throw e instanceof TokenizerError ? new TokenizerError(`${o.tokenizer}: ${e.message}`) : e; }
  }
  writeFileAtomic(o.output, (write) => {
    let buf = '';
    for (const t of texts) {
      const e = tok.encode(t);
      if (framing) {
        const ids: number[] = [], tokens: string[] = [];
        for (const p of framing.single) {
          if ('special' in p) for (const id of p.ids) { ids.push(id); tokens.push(p.special); }
          else { ids.push(...e.ids); tokens.push(...e.tokens); }
        }
        e.ids = ids; e.tokens = tokens;
      }
      buf += JSON.stringify({ ids: e.ids, tokens: e.tokens }) + '\n';
      if (buf.length > 1 << 20) { write(buf); buf = ''; }
    }
    write(buf);
  });
  return texts.length;
}
