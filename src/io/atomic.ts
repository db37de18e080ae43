/**
 * Nothing written half-way: output goes to a temp file beside the target and is
 * renamed over it only when complete; on any error the temp file is removed.
 * The target's folder is created when missing. `-` is standard output; a
 * target that is a device or a FIFO (or a symlink to one, such as /dev/stdout)
 * is written to directly, and a symlink to a file is followed, so a rename
 * never replaces either with a plain file. A folder is refused.
 */
import { JaBertError, registerError } from '../core/errors.js';
import { closeSync, fstatSync, fsyncSync, lstatSync, mkdirSync, openSync, readdirSync, realpathSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export class OutputPathError extends JaBertError { override readonly code = 'ERR_JA_BERT_OUTPUT'; }
registerError(OutputPathError);

/** how `path` is to be written: 'stdout' (-), 'direct' (a device or FIFO), or 'atomic' at the returned (symlink-resolved) path */
export function outputTarget(path: string): { kind: 'stdout' | 'direct' | 'atomic'; path: string } {
  if (path === '-') return { kind: 'stdout', path };
  // the file this process's standard output or error already writes (/dev/stdout with `>> log`, or `--output log > log`):
  // written through that descriptor, so the shell's append or truncation holds; a rename would replace what fd 1 is not ours to replace
  if (ownStream(path) >= 0) return { kind: 'direct', path };
  let st;
  try { st = lstatSync(path); } catch { st = undefined; }
  if (st?.isSymbolicLink()) {
    let target;
    try { target = statSync(path); } catch { throw new OutputPathError(`${path}: a symbolic link to nothing; give a file path to write`); }
    if (target.isFile()) return outputTarget(realpathSync(path)); // replace the file it names, keep the link
    if (target.isDirectory()) throw new OutputPathError(`${path}: is a folder; give a file path to write`);
    return { kind: 'direct', path }; // /dev/stdout, a link to a FIFO or a device
  }
  if (st?.isDirectory()) throw new OutputPathError(`${path}: is a folder; give a file path to write`);
  if (st && !st.isFile()) return { kind: 'direct', path };
  try { mkdirSync(dirname(path), { recursive: true }); } catch (e) { throw new OutputPathError(`${dirname(path)}: cannot create the output folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`); }
  return { kind: 'atomic', path };
}

/** 1 or 2 when `path` is this process's standard output or error (/dev/stdout, /proc/self/fd/1: a socket cannot be reopened), else -1 */
function ownStream(path: string): number {
  try {
    const st = statSync(path);
    for (const fd of [1, 2]) { const s = fstatSync(fd); if (s.dev === st.dev && s.ino === st.ino) return fd; }
  } catch { /* not ours */ }
  return -1;
}

/** temp files `<path>.<pid>.tmp` that a killed writer left (its pid no longer running) */
export function removeStaleTemps(path: string): void {
  const dir = dirname(path), base = basename(path);
  let names: string[];
  try { names = readdirSync(dir); } catch { return; }
  for (const f of names) {
    if (!f.startsWith(base + '.') || !f.endsWith('.tmp')) continue;
    const pid = Number(f.slice(base.length + 1, -4));
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) continue;
    try { process.kill(pid, 0); continue; } catch (e) { if ((e as NodeJS.ErrnoException).code === 'EPERM') continue; }
    rmSync(join(dir, f), { force: true });
  }
}

/** throws OutputPathError when `path` cannot be an output file (a folder, a dangling link); creates its folder */
export function checkOutputFile(path: string): void {
  outputTarget(path);
}

/** an error of the file system, naming the file it happened to (ENOSPC, EFBIG, EACCES, EROFS ...) */
function writeError(path: string, e: unknown): Error {
  const code = (e as NodeJS.ErrnoException).code;
  return code ? new OutputPathError(`${path}: cannot write (${code}${code === 'ENOSPC' ? ': the disk is full' : code === 'EFBIG' ? ': file too large' : code === 'EACCES' || code === 'EPERM' ? ': permission denied' : code === 'EROFS' ? ': read-only file system' : ''})`) : e as Error;
}

/**
 * Appends to a log that is meant to be read while it grows (metrics.csv, a TensorBoard event file):
 * a kill leaves whole earlier appends and at most one cut short at the end, which readers of such
 * logs skip (TensorBoard checks each record's CRC); the file is written by the run that owns its folder.
 */
export function appendToFile(path: string, data: string | Uint8Array): void {
  let fd: number;
  try { fd = openSync(path, 'a'); } catch (e) { throw writeError(path, e); }
  const b = typeof data === 'string' ? Buffer.from(data) : data;
  try { for (let off = 0; off < b.length;) off += writeSync(fd, b, off, b.length - off); } catch (e) { throw writeError(path, e); } finally { closeSync(fd); }
}

/** `fill` writes the content through `write` (strings or bytes, in order) */
export function writeFileAtomic(target: string, fill: (write: (chunk: string | Uint8Array) => void) => void): void {
  const t = outputTarget(target);
  if (t.kind !== 'atomic') {
    // standard output, a terminal, a pipe: written as it comes
    let fd = t.kind === 'direct' ? ownStream(t.path) : 1;
    try { if (fd < 0) fd = openSync(t.path, 'w'); } catch (e) { throw new OutputPathError(`${target}: cannot open for writing (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`); }
    try {
      fill((chunk) => { if (typeof chunk === 'string') writeSync(fd, chunk); else writeSync(fd, chunk); });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw code ? new OutputPathError(`${target}: cannot write (${code})`) : e;
    } finally {
      if (fd > 2) closeSync(fd);
    }
    return;
  }
  const path = t.path;
  removeStaleTemps(path);
  const tmp = `${path}.${process.pid}.tmp`;
  const named = (e: unknown): Error => writeError(path, e);
  let fd: number;
  try { fd = openSync(tmp, 'w'); } catch (e) { throw named(e); }
  try {
    fill((chunk) => { if (typeof chunk === 'string') writeSync(fd, chunk); else writeSync(fd, chunk); });
    fsyncSync(fd);
    closeSync(fd);
  } catch (e) {
    try { closeSync(fd); } catch { /* already closed */ }
    rmSync(tmp, { force: true });
    throw named(e);
  }
  try { renameSync(tmp, path); } catch (e) { rmSync(tmp, { force: true }); throw named(e); }
}
