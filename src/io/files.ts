/**
 * What a path is, checked before it is opened, and who owns what may be
 * written. Every reader of ja-bert goes through `readFileChecked` (a regular
 * file of a bounded size: a folder, FIFO, device or socket is refused by a stat,
 * so no open ever blocks or reads forever), and every command that writes
 * checks its outputs with `checkOutputPath` (an output never is, or contains,
 * one of the command's inputs or the model's files). Hand-written: this is the
 * safety of users' files, and no library states these rules.
 */
import { JaBertError, registerError } from '../core/errors.js';
import { closeSync, fstatSync, openSync, readSync, realpathSync, statSync, type Stats } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';

export class FileKindError extends JaBertError { override readonly code = 'ERR_JA_BERT_FILE'; }
export class OwnershipError extends JaBertError { override readonly code = 'ERR_JA_BERT_OWNERSHIP'; }
registerError(FileKindError, OwnershipError);

/** what a non-regular file is, in words */
export function kindOf(st: Stats): string {
  return st.isDirectory() ? 'a folder' : st.isFIFO() ? 'a FIFO (named pipe)' : st.isCharacterDevice() ? 'a character device' : st.isBlockDevice() ? 'a block device' : st.isSocket() ? 'a socket' : 'not a regular file';
}

/** the size a checked read may take at most unless told: 4 GiB (the largest weight files users load) */
export const MAX_READ_BYTES = 4 * 2 ** 30;

/**
 * stat `path` and require a regular file (following symbolic links) of at most `maxBytes`;
 * `what` names it in the one-line error ("model weights", "cache", ...)
 */
export function checkRegularFile(path: string, what: string, maxBytes = MAX_READ_BYTES, E: new (m: string) => JaBertError = FileKindError): Stats {
  let st: Stats;
  try { st = statSync(path); } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new E(`${path}: ${code === 'ENOENT' ? 'no such file' : `cannot read the ${what} (${code ?? (e as Error).message})`}`);
  }
  if (!st.isFile()) throw new E(`${path}: is ${kindOf(st)}, not a file (the ${what})`);
  if (st.size > maxBytes) throw new E(`${path}: ${st.size} bytes, more than the ${maxBytes} a ${what} may have`);
  return st;
}

/** a regular file's bytes (see checkRegularFile); the read stops at the size stat reported */
export function readFileChecked(path: string, what: string, maxBytes = MAX_READ_BYTES, E: new (m: string) => JaBertError = FileKindError): Buffer {
  const st = checkRegularFile(path, what, maxBytes, E);
  let fd: number;
  try { fd = openSync(path, 'r'); } catch (e) { throw new E(`${path}: cannot read the ${what} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`); }
  try {
    const size = Math.min(fstatSync(fd).size, st.size);
    if (size > 2 ** 31 - 1) throw new E(`${path}: ${size} bytes; a ${what} over 2 GiB is not read in one piece`);
    const buf = Buffer.allocUnsafe(size);
    let got = 0;
    while (got < size) { const n = readSync(fd, buf, got, size - got, got); if (n === 0) break; got += n; }
    return got === size ? buf : buf.subarray(0, got);
  } catch (e) {
    if (e instanceof JaBertError) throw e;
    throw new E(`${path}: cannot read the ${what} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  } finally { closeSync(fd); }
}

/**
 * a stream's bytes to its end (standard input, a pipe), refusing more than `maxBytes`
 * (an endless source such as /dev/zero behind a pipe ends in one line, not in exhausted memory)
 */
export function readStreamBounded(fd: number, name: string, maxBytes: number, E: new (m: string) => JaBertError = FileKindError): Buffer {
  const parts: Buffer[] = [];
  let total = 0;
  const chunk = Buffer.allocUnsafe(1 << 20);
  for (;;) {
    let n: number;
    try { n = readSync(fd, chunk, 0, chunk.length, null); } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5); continue; }
      if (code === 'EOF') break;
      throw new E(`${name}: cannot read (${code ?? (e as Error).message})`);
    }
    if (n === 0) break;
    total += n;
    if (total > maxBytes) throw new E(`${name}: more than ${maxBytes} bytes; an input this large is refused (split it)`);
    parts.push(Buffer.from(chunk.subarray(0, n)));
  }
  return Buffer.concat(parts, total);
}

/** the real path of `p`, or, when it does not exist yet, its nearest existing ancestor's real path joined with the rest */
export function realish(p: string): string {
  const abs = resolve(p);
  const rest: string[] = [];
  let cur = abs;
  for (;;) {
    try { return join(realpathSync(cur), ...rest.reverse()); } catch { /* not there (yet) */ }
    const up = dirname(cur);
    if (up === cur) return abs;
    rest.push(basename(cur));
    cur = up;
  }
}

/** a is b, or a folder holding b */
export function isSameOrAncestor(a: string, b: string): boolean {
  const r = relative(a, b);
  return r === '' || (!r.startsWith('..') && !isAbsolute(r));
}

/** the files a model folder is made of: what loading it reads, and the run records beside them */
export const MODEL_FILE = /^(config\.json|bert_config\.json|.*\.safetensors|.*\.bin|.*\.ckpt.*|checkpoint|.*\.index|.*\.data-\d+-of-\d+|vocab\.txt|.*\.model|.*\.vocab|tokenizer.*\.json|special_tokens_map\.json|added_tokens\.json|modules\.json|config_sentence_transformers\.json|sentence_bert_config\.json|run\.json|pair_head\.json|trainer_state\.json|.*\.onnx|\.ja-bert\.lock)$/;

export interface OutputChecks {
  /** the command's input files (data, texts, corpus): the output may be none of them nor a folder holding one */
  inputs?: Array<{ flag: string; path: string | undefined }>;
  /** the model folder read: the output may not be it, a folder holding it, or one of its files */
  model?: string;
  /** the output is a folder (a run folder, an export, an index): then writing inside the model folder is refused too */
  folder?: boolean;
}

/**
 * refuse an output that would replace or delete what the command reads: `--output X` equal to an input,
 * a folder holding an input or the model, or a file of the model folder. Paths are compared real
 * (symbolic links resolved), so a link or `./a/../a` is no way around it.
 */
export function checkOutputPath(flag: string, output: string, c: OutputChecks): void {
  if (output === '-') return;
  const out = realish(output);
  for (const i of c.inputs ?? []) {
    if (i.path === undefined || i.path === '-' || i.path === '') continue;
    const inp = realish(i.path);
    if (out === inp) throw new OwnershipError(`${flag} ${output}: is the input file (${i.flag}); writing it would replace it: give another path`);
    if (isSameOrAncestor(out, inp)) throw new OwnershipError(`${flag} ${output}: holds the input ${i.path} (${i.flag}); give an output path outside it`);
  }
  if (c.model !== undefined) {
    const md = realish(c.model);
    let modelDir = md;
    try { if (statSync(md).isFile()) modelDir = dirname(md); } catch { /* a prefix such as DIR/model.ckpt-N */ modelDir = dirname(md); }
    if (isSameOrAncestor(out, modelDir)) throw new OwnershipError(`${flag} ${output}: ${out === modelDir ? 'is' : 'holds'} the model folder ${c.model}; writing there would destroy the model: give another path`);
    if (isSameOrAncestor(modelDir, out)) {
      const own = MODEL_FILE.test(basename(out));
      if (c.folder || own) throw new OwnershipError(`${flag} ${output}: is inside the model folder ${c.model}${own ? ' (one of its files)' : ''}; give a path outside it`);
    }
  }
}
