/**
 * Nothing written half-way: output goes to a temp file beside the target and is
 * renamed over it only when complete; on any error the temp file is removed.
 * The target's folder is created when missing; a target that exists and is not
 * a regular file (a device, a folder, a link to one) is refused, so that an
 * atomic rename never replaces `/dev/stdout` or a symlink with a plain file.
 */
import { closeSync, fsyncSync, lstatSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export class OutputPathError extends Error {}

/** throws OutputPathError unless `path` is absent or a regular file; creates its folder */
export function checkOutputFile(path: string): void {
  let st;
  try { st = lstatSync(path); } catch { st = undefined; }
  if (st && !st.isFile()) throw new OutputPathError(`${path}: exists and is not a regular file (${st.isSymbolicLink() ? 'a symbolic link' : st.isDirectory() ? 'a folder' : 'a device or special file'}); give a file path to write`);
  try { mkdirSync(dirname(path), { recursive: true }); } catch (e) { throw new OutputPathError(`${dirname(path)}: cannot create the output folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`); }
}

/** `fill` writes the content through `write` (strings or bytes, in order) */
export function writeFileAtomic(path: string, fill: (write: (chunk: string | Uint8Array) => void) => void): void {
  checkOutputFile(path);
  const tmp = `${path}.${process.pid}.tmp`;
  // an error of the file system names the file it happened to (ENOSPC, EFBIG, EACCES, EROFS ...)
  const named = (e: unknown): Error => {
    const code = (e as NodeJS.ErrnoException).code;
    return code ? new OutputPathError(`${path}: cannot write (${code}${code === 'ENOSPC' ? ': the disk is full' : code === 'EFBIG' ? ': file too large' : code === 'EACCES' || code === 'EPERM' ? ': permission denied' : code === 'EROFS' ? ': read-only file system' : ''})`) : e as Error;
  };
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
