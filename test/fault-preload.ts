/**
 * Fault injection for the kill-at-every-phase tests, loaded with
 * `node --import` (through NODE_OPTIONS) so that production code carries no
 * hook. Every file-system step that changes the disk (open for writing, write,
 * rename, remove, mkdir) is an event; at event JA_BERT_FAULT_AT the process
 * is SIGKILLed (JA_BERT_FAULT=kill) or that step fails with ENOSPC
 * (JA_BERT_FAULT=enospc), as a full disk would; single writes into an open file
 * are events only in enospc mode. JA_BERT_FAULT_COUNT=FILE
 * writes the number of events at exit instead. JA_BERT_KILL_ON_MKDIR=NAME SIGKILLs the process when it creates a folder whose
 * path ends with NAME (a checkpoint about to be written, say), whatever the event count.
 */
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';

const at = Number(process.env.JA_BERT_FAULT_AT ?? 0);
const mode = process.env.JA_BERT_FAULT ?? 'kill';
const countFile = process.env.JA_BERT_FAULT_COUNT;
let events = 0;
const real = { openSync: fs.openSync, writeSync: fs.writeSync, renameSync: fs.renameSync, rmSync: fs.rmSync, mkdirSync: fs.mkdirSync, unlinkSync: fs.unlinkSync, writeFileSync: fs.writeFileSync, copyFileSync: fs.copyFileSync };
const { openSync, writeSync, renameSync, rmSync, mkdirSync, unlinkSync, writeFileSync, copyFileSync } = real;
const writeCountOnExit = (): void => { if (countFile) writeFileSync.call(fs, countFile, String(events)); };

function event(): void {
  events++;
  if (events !== at) return;
  if (mode === 'kill') process.kill(process.pid, 'SIGKILL');
  const e = new Error('ENOSPC: no space left on device, write') as NodeJS.ErrnoException;
  e.code = 'ENOSPC';
  throw e;
}

const writing = (flags: unknown) => typeof flags === 'string' ? /[wa+]/.test(flags) : typeof flags === 'number' && (flags & (fs.constants.O_WRONLY | fs.constants.O_RDWR)) !== 0;
Object.assign(fs, {
  openSync(...a: Parameters<typeof openSync>) { if (writing(a[1])) event(); return openSync.apply(fs, a); },
  writeSync(...a: unknown[]) { if (mode === 'enospc') event(); return (writeSync as (...x: unknown[]) => number).apply(fs, a); },
  // a full disk fails writes and creations, not renames or removals
  renameSync(...a: Parameters<typeof renameSync>) { if (mode === 'kill') event(); return renameSync.apply(fs, a); },
  rmSync(...a: Parameters<typeof rmSync>) { if (mode === 'kill') event(); return rmSync.apply(fs, a); },
  mkdirSync(...a: Parameters<typeof mkdirSync>) {
    if (process.env.JA_BERT_KILL_ON_MKDIR && String(a[0]).endsWith(process.env.JA_BERT_KILL_ON_MKDIR)) process.kill(process.pid, 'SIGKILL');
    event();
    return mkdirSync.apply(fs, a);
  },
  unlinkSync(...a: Parameters<typeof unlinkSync>) { if (mode === 'kill') event(); return unlinkSync.apply(fs, a); },
  writeFileSync(...a: Parameters<typeof writeFileSync>) { event(); return writeFileSync.apply(fs, a); },
  copyFileSync(...a: Parameters<typeof copyFileSync>) { event(); return copyFileSync.apply(fs, a); },
});
syncBuiltinESMExports();
process.on('exit', writeCountOnExit);
