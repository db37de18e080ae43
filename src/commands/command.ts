/**
 * A command of the `ja-bert` CLI, declared once: its name, its block of the help text, its flags, the
 * library job it runs (jobs.ts) and how it maps flags to that job's options and prints the result.
 * cli/main.ts is a loop over the table (commands/index.ts); everything a command does is a library call.
 */
import { parseDtype, resolveDtype } from '../core/dtype.js';
import type { DType } from '../core/kernels.js';
import { nativeKernels } from '../core/native.js';
import type { JobName } from '../jobs.js';
import { type FlagSpec, UsageError } from './args.js';

export type Flags = Record<string, string | number | boolean>;

export interface CommandContext {
  flags: Flags;
  positional: string[];
  /** a progress line: rewritten in place on a terminal, one per line otherwise (throttled by the jobs, core/progress.ts) */
  progress(line: string): void;
  /** a plain log line on stderr */
  log(line: string): void;
  /** ends the progress line on a terminal, before the result is printed */
  endProgress(): void;
  /** "ja-bert 1.2.3" */
  version: string;
}

export interface Command {
  name: string;
  /** the command's block of `ja-bert --help`: lines starting "  ja-bert <name>", continued by deeper-indented lines */
  help: string;
  /** the export of the package (src/index.ts) that does the command's work for a library caller */
  api: string;
  flags: FlagSpec;
  /** accepts --config run.json (the same options from a JSON object, flags given too win) */
  config?: boolean;
  /** the library job (jobs.ts, and the async API's function of the same name) the command runs; commands without one
   *  call the library's classes and functions directly (rank: openRanker, serve: startServer, worker: runWorker, ...) */
  job?: JobName;
  /** runs the command; returns the exit code */
  run(c: CommandContext): Promise<number> | number;
}

/** a required string flag */
export function need(flags: Flags, name: string): string {
  const v = flags[name];
  if (typeof v !== 'string' || v === '') throw new UsageError(`--${name} is required`);
  return v;
}

/** --name true|false */
export function boolFlag(name: string, v: unknown): boolean | undefined {
  if (v === undefined) return undefined;
  if (v === 'true' || v === 'false') return v === 'true';
  throw new UsageError(`--${name} must be true or false, got "${String(v)}"`);
}

/** --dtype auto|f32|bf16|int8 (absent: auto), resolved against this CPU before anything runs: the dtype the job runs in */
export function dtypeOf(v: unknown): DType {
  return resolveDtype(parseDtype(v), nativeKernels());
}

const camel = (flag: string) => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/**
 * The flags given, as a job's options: each under its camelCase name (max-seq-length → maxSeqLength) or the name
 * `rename` gives it; --config is consumed already; --dtype is checked against this CPU. Options a job reads
 * differently (a parsed list, a negated switch) are set by the command after.
 */
export function flagOptions(flags: Flags, rename: Record<string, string> = {}): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(flags)) {
    if (k === 'config') continue;
    o[rename[k] ?? camel(k)] = k === 'dtype' ? dtypeOf(v) : v;
  }
  return o;
}
