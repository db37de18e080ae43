/**
 * An output folder that a long command (finetune, pretrain, baseline) owns.
 *
 * - Identity: run.json holds what identifies the run. The same command on the
 *   same folder resumes it (from the newest checkpoint) or, when it has
 *   finished, says so; another run's folder is refused unless --overwrite.
 * - Nothing before validation: `inspectRun` only reads (beyond finishing a killed
 *   run's cleanup). The caller validates
 *   its options and data, then `begin` takes the lock and writes run.json.
 * - One writer: `.ja-bert.lock` holds the owner's pid, created exclusively; a
 *   second run gets one line naming the folder and the pid; the lock of a dead
 *   process is taken over, and that process's temp files are removed.
 * - Never lost: the caller writes its final model and reports (each temp file
 *   + rename), then `finish` writes the finished marker last, and only then are
 *   the checkpoints removed. A kill at any moment leaves either a resumable
 *   folder or a finished one.
 */
import { JaBertError, registerError } from '../core/errors.js';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, rmdirSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { checkOutputPath } from '../io/files.js';
import { writeFileAtomic } from '../io/atomic.js';
import { latestCheckpoint } from '../train/trainer.js';

export class RunDirError extends JaBertError { override readonly code = 'ERR_JA_BERT_RUN_DIR'; }
registerError(RunDirError);

const LOCK = '.ja-bert.lock';

export interface RunPlan {
  dir: string;
  /** the checkpoint to resume from, or null for a fresh start */
  resumeFrom: string | null;
  /** true when run.json already names this run (resume or restart of the same run) */
  sameRun: boolean;
  /** the same run has already finished (only with `reuseFinished`) */
  finished?: boolean;
  /** how the plan was made, to check it again under the lock */
  identity: string;
  options: RunOptions;
}

export interface RunOptions {
  overwrite?: boolean; finished: string; reuseFinished?: boolean;
  /** the files this kind of run writes: only these are removed when the run starts afresh, and with --overwrite a folder holding anything else is refused (ja-bert deletes only what it wrote) */
  ownFiles: RegExp;
  /** the run's inputs and model folder: the output folder may be none of them, nor hold one */
  inputs?: Array<{ flag: string; path: string | undefined }>;
  model?: string;
}

/** what any run folder may hold besides the kind's own files: its records, lock, temp files, checkpoints */
const RUN_RECORDS = /^(run\.json|\.ja-bert\.lock|.*\.\d+\.tmp|checkpoint-\d+(\.tmp)?|best-model|runs)$/;

/**
 * What a command may do with `dir`, decided by reading it: fresh start, resume, or
 * refusal. `finished`: the file whose presence means the run completed. The one write:
 * a finished run's leftovers (checkpoints, a dead writer's lock and temp files) are
 * removed, completing the cleanup a kill interrupted.
 */
export function inspectRun(dir: string, identity: string, o: RunOptions): RunPlan {
  checkOutputPath('--output', dir, { inputs: o.inputs, model: o.model, folder: true });
  if (!existsSync(dir)) return inspectLocked(dir, identity, o); // nothing to read; beginRun creates and locks it
  if (!statSync(dir).isDirectory()) throw new RunDirError(`${dir}: exists and is not a folder; give a folder path for --output`);
  // the lock first: nothing in the folder is read for resuming while another run may be writing it
  const release = lockRun(dir);
  try { return inspectLocked(dir, identity, o); } finally { release(); }
}

function inspectLocked(dir: string, identity: string, o: RunOptions): RunPlan {
  const plan = (resumeFrom: string | null, sameRun: boolean, finished?: boolean): RunPlan => ({ dir, resumeFrom, sameRun, ...(finished ? { finished } : {}), identity, options: o });
  const runPath = join(dir, 'run.json');
  if (!existsSync(dir)) return plan(null, false);
  let entries: string[];
  try { entries = readdirSync(dir); } catch (e) { throw new RunDirError(`${dir}: cannot read the output folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`); }
  if (o.overwrite) {
    // --overwrite replaces a run of ja-bert's, never a folder that holds files it did not write
    // a file counts as ja-bert's only in a folder that a run of ja-bert's claimed (its run.json): without one, an entry named
    // like an output (config.json, model.safetensors, generator/) is still the user's, e.g. a downloaded model folder
    const claimed = existsSync(runPath);
    const foreign = entries.filter((f) => (claimed ? !o.ownFiles.test(f) && !RUN_RECORDS.test(f) : f !== LOCK && !/\.\d+\.tmp$/.test(f)));
    if (foreign.length) throw new RunDirError(`${dir}: holds files ja-bert did not write (${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? `, … ${foreign.length} in all` : ''}); --overwrite replaces only a ja-bert run folder: give another folder`);
    return plan(null, false);
  }
  if (existsSync(runPath)) {
    let prev = '';
    try { prev = readFileSync(runPath, 'utf8'); } catch { /* unreadable: treated as another run */ }
    if (prev !== identity + '\n') throw new RunDirError(`${dir}: holds another run (its run.json differs from this command's); use --overwrite or another folder`);
    if (existsSync(join(dir, o.finished))) {
      // a run killed after its finished marker, before its checkpoints were removed: finish the cleanup (unless it is still running)
      if (entries.some((f) => /^checkpoint-\d+|^best-model$|^\.ja-bert\.lock$|\.\d+\.tmp$/.test(f)) && !lockedByLiveProcess(dir)) {
        rmSync(join(dir, LOCK), { force: true });
        for (const f of entries) if (/\.\d+\.tmp$/.test(f)) rmSync(join(dir, f), { force: true });
        finishRun(dir);
      }
      if (o.reuseFinished) return plan(null, true, true);
    }
    if (existsSync(join(dir, o.finished))) throw new RunDirError(`${dir}: this run has already finished; use --overwrite to run it again`);
    return plan(latestCheckpoint(dir), true);
  }
  if (entries.some((f) => f !== LOCK && !/\.\d+\.tmp$/.test(f))) throw new RunDirError(`${dir}: the output folder already holds files (a different run?); use --overwrite or another folder`);
  return plan(null, false);
}

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
}

function lockOwner(dir: string): number | null {
  try { const pid = Number(readFileSync(join(dir, LOCK), 'utf8').trim()); return Number.isInteger(pid) && pid > 0 ? pid : null; } catch { return null; }
}

function lockedByLiveProcess(dir: string): boolean {
  const pid = lockOwner(dir);
  return pid !== null && pid !== process.pid && alive(pid);
}

/** take the folder's lock (creating the folder); returns the release function */
export function lockRun(dir: string): () => void {
  const created = !existsSync(dir);
  try { mkdirSync(dir, { recursive: true }); } catch (e) { throw new RunDirError(`${dir}: cannot create the output folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`); }
  const lock = join(dir, LOCK);
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(lock, 'wx');
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new RunDirError(`${dir}: cannot write a lock file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      const pid = lockOwner(dir);
      if (pid !== null && pid !== process.pid && alive(pid)) throw new RunDirError(`${dir}: another ja-bert run (pid ${pid}) is writing to this folder`);
      if (attempt > 3) throw new RunDirError(`${dir}: cannot take the lock ${lock}`);
      rmSync(lock, { force: true }); // a dead owner's lock
    }
  }
  // what a dead writer left half-done: temp files and unfinished checkpoint folders
  for (const f of readdirSync(dir)) if (/\.\d+\.tmp$|^checkpoint-\d+\.tmp$/.test(f)) rmSync(join(dir, f), { recursive: true, force: true });
  return () => {
    rmSync(lock, { force: true });
    if (created) { try { rmdirSync(dir); } catch { /* not empty: keep */ } }
  };
}

/**
 * Lock the folder and record the run: with --overwrite (or a fresh folder) the
 * files an earlier run wrote (the plan's `ownFiles`) are removed first. Returns the release function.
 */
export function beginRun(plan: RunPlan, identity: string): () => void {
  const release = lockRun(plan.dir);
  try {
    // the folder may have changed between the plan and the lock (another run started, or finished, meanwhile)
    let now: RunPlan | null = null;
    try { now = inspectLocked(plan.dir, plan.identity, plan.options); } catch { now = null; }
    if (!now || now.resumeFrom !== plan.resumeFrom || now.sameRun !== plan.sameRun || now.finished !== plan.finished) {
      throw new RunDirError(`${plan.dir}: the folder changed while this run was starting (another run wrote to it); run the command again`);
    }
    if (!plan.sameRun) for (const f of readdirSync(plan.dir)) if (plan.options.ownFiles.test(f) || f === 'run.json') rmSync(join(plan.dir, f), { recursive: true, force: true });
    if (!plan.sameRun || !existsSync(join(plan.dir, 'run.json'))) writeFileAtomic(join(plan.dir, 'run.json'), (w) => w(identity + '\n'));
  } catch (e) { release(); throw e; }
  return release;
}

/** the last step of a run, after its finished marker is written: checkpoints and the best-model folder go */
export function finishRun(dir: string): void {
  for (const f of readdirSync(dir)) if (/^checkpoint-\d+(\.tmp)?$|^best-model$/.test(f)) rmSync(join(dir, f), { recursive: true, force: true });
}
