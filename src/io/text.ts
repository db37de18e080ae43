/**
 * Strict reading of text inputs: UTF-8 only (a BOM is accepted and skipped),
 * a bad byte reported with file, line and byte offset; no NUL characters (a
 * C library would stop there); JSON with duplicate keys refused; JSON Lines
 * and TSV/CSV (RFC 4180 quoting, through csv-parse) with line numbers.
 */
import { JaBertError, registerError } from '../core/errors.js';
import { constants, closeSync, openSync, statSync } from 'node:fs';
import { readFileChecked, readStreamBounded, kindOf } from './files.js';
import { parse as parseCsv } from 'csv-parse/sync';
import { jsonDuplicateKey, jsonErrorWhere } from '../data/jsonpos.js';

export class InputFileError extends JaBertError { override readonly code = 'ERR_JA_BERT_INPUT'; }
registerError(InputFileError);

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/** the 1-based line of a byte offset */
function lineOf(bytes: Uint8Array, offset: number): number {
  let n = 1;
  for (let i = 0; i < offset && i < bytes.length; i++) if (bytes[i] === 0x0a) n++;
  return n;
}

/** the offset of the first byte that does not start or continue a valid UTF-8 sequence */
function firstBadUtf8(b: Uint8Array): number {
  for (let i = 0; i < b.length;) {
    const c = b[i]!;
    const n = c < 0x80 ? 0 : c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : -1;
    if (n < 0) return i;
    for (let k = 1; k <= n; k++) if (i + k >= b.length || (b[i + k]! & 0xc0) !== 0x80) return i;
    try { decoder.decode(b.subarray(i, i + n + 1)); } catch { return i; } // overlong, surrogate, > U+10FFFF
    i += n + 1;
  }
  return b.length;
}

/** decode bytes as strict UTF-8; `path` names them in errors */
export function decodeUtf8(bytes: Uint8Array, path: string, allowNul = false): string {
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    const off = firstBadUtf8(bytes);
    const looksSjis = bytes.some((c) => c >= 0x81 && c <= 0x9f);
    throw new InputFileError(`${path}:${lineOf(bytes, off)}: not valid UTF-8 (byte offset ${off}, 0x${bytes[off]?.toString(16).padStart(2, '0') ?? '??'})${looksSjis ? '; the file looks like Shift_JIS: convert it, e.g. iconv -f SHIFT_JIS -t UTF-8' : '; save the file as UTF-8'}`);
  }
  if (!allowNul) {
    const z = text.indexOf('\0');
    if (z >= 0) throw new InputFileError(`${path}:${text.slice(0, z).split('\n').length}: contains a NUL character`);
  }
  return text;
}

/** the most bytes one text input may have (a JavaScript string holds at most 2^29 UTF-16 units) */
export const MAX_TEXT_BYTES = 2 ** 29;

/**
 * a text file read strictly (see decodeUtf8); `-` reads standard input to its end. A regular file,
 * or a pipe (`<(cmd)`, a FIFO: opened without blocking); a folder or device is refused; at most
 * MAX_TEXT_BYTES either way, so /dev/zero behind a pipe ends in one line
 */
export function readTextFile(path: string): string {
  if (path === '-') return decodeUtf8(readStreamBounded(0, '<stdin>', MAX_TEXT_BYTES, InputFileError), '<stdin>');
  let st;
  try { st = statSync(path); } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new InputFileError(`${path}: ${code === 'ENOENT' ? 'no such file' : `cannot read (${code ?? (e as Error).message})`}`);
  }
  if (st.isFIFO() || st.isSocket()) {
    let fd: number;
    try { fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK); } catch (e) { throw new InputFileError(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`); }
    try { return decodeUtf8(readStreamBounded(fd, path, MAX_TEXT_BYTES, InputFileError), path); } finally { closeSync(fd); }
  }
  if (!st.isFile()) throw new InputFileError(`${path}: is ${kindOf(st)}, not a file`);
  return decodeUtf8(readFileChecked(path, 'text input', MAX_TEXT_BYTES, InputFileError), path);
}

/**
 * why JSON.parse failed, without the file's text: V8 quotes the text around the error
 * ("Unexpected token 'r', "root:x:0:0:"... is not valid JSON"), and an error message must never
 * show what a file holds (a config.json linked to a secret would print it)
 */
export function jsonErrorReason(e: unknown): string {
  const m = String((e as Error)?.message ?? e);
  const pos = /at position (\d+)/.exec(m);
  const kind = /^Unexpected end of JSON input/.test(m) ? 'unexpected end of input'
    : /^Unexpected token/.test(m) ? 'unexpected character'
    : /^Unexpected non-whitespace/.test(m) ? 'text after the JSON value'
    : /^(Expected [^']*?)(?: after| in JSON|$)/.exec(m)?.[1]?.replace(/^Expected/, 'expected') ?? (/^Bad control character/.test(m) ? 'a control character in a string' : /^Bad (escaped|Unicode)/.test(m) ? 'a bad escape in a string' : 'syntax error');
  return pos ? `${kind} at character ${pos[1]}` : kind;
}

/** a JSON file of a model folder (config, tokenizer files): a regular file of bounded size, strict UTF-8, parsed; errors never quote it */
export function readJsonChecked(path: string, what: string, E: new (m: string) => JaBertError): unknown {
  const text = decodeUtf8Named(readFileChecked(path, what, MAX_TEXT_BYTES, E), path, E);
  try { return JSON.parse(text); } catch (e) { throw new E(`${path}: not valid JSON (${jsonErrorReason(e)})`); }
}

function decodeUtf8Named(b: Uint8Array, path: string, E: new (m: string) => JaBertError): string {
  try { return decodeUtf8(b, path); } catch (e) { throw e instanceof InputFileError ? new E(e.message) : e; }
}

/** parse a JSON document; errors name the file and line; duplicate keys are an error */
export function parseJsonText(text: string, path: string): unknown {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    const line = jsonErrorWhere(text);
    throw new InputFileError(`${path}${line ? `:${line}` : ''}: not valid JSON (${jsonErrorReason(e)})`);
  }
  const dup = jsonDuplicateKey(text);
  if (dup) throw new InputFileError(`${path}:${dup.line}: duplicate key ${JSON.stringify(dup.key)} in one object`);
  return v;
}

export function readJsonFile(path: string): unknown {
  return parseJsonText(readTextFile(path), path);
}

/** each non-blank line of a JSON Lines file, parsed, with its 1-based line number */
export function readJsonLines(path: string): Array<{ value: unknown; line: number }> {
  const out: Array<{ value: unknown; line: number }> = [];
  const name = path === '-' ? '<stdin>' : path;
  readTextFile(path).split('\n').forEach((l, i) => {
    if (l.trim() === '') return;
    out.push({ value: parseJsonText(l.replace(/\r$/, ''), `${name}:${i + 1}`.replace(/:(\d+):(\d+)$/, ':$1')), line: i + 1 });
  });
  return out;
}

/** rows of a TSV or CSV file with RFC 4180 quoting; each with the line it starts on */
export function readDelimited(path: string, delimiter: '\t' | ','): Array<{ fields: string[]; line: number }> {
  const text = readTextFile(path);
  let records: Array<{ record: string[]; info: { lines: number }; raw: string }>;
  try {
    records = parseCsv(text, { delimiter, bom: true, relax_quotes: true, relax_column_count: true, skip_empty_lines: true, info: true, raw: true }) as unknown as typeof records;
  } catch (e) {
    const m = /at line (\d+)/.exec((e as Error).message);
    throw new InputFileError(`${path}${m ? `:${m[1]}` : ''}: ${(e as Error).message.replace(/\s+/g, ' ').replace(/^Invalid /, 'invalid ')}`);
  }
  // info.lines is where a record ends; it starts that many lines earlier as its own text spans
  return records.map((r) => ({ fields: r.record, line: r.info.lines - (r.raw.replace(/^[\r\n]+/, '').replace(/\r?\n$/, '').match(/\n/g) ?? []).length }));
}
