/**
 * Nothing written half-way: output goes to a temp file beside the target and is
 * renamed over it only when complete; on any error the temp file is removed.
 */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';

/** `fill` writes the content through `write` (strings or bytes, in order) */
export function writeFileAtomic(path: string, fill: (write: (chunk: string | Uint8Array) => void) => void): void {
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    fill((chunk) => { if (typeof chunk === 'string') writeSync(fd, chunk); else writeSync(fd, chunk); });
    fsyncSync(fd);
    closeSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  renameSync(tmp, path);
}
