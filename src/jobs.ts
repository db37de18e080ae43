/**
 * The library's long-running jobs, one table: what the async API runs in its engine thread (api/worker.ts),
 * the API's job functions (api/index.ts derives each one's name, options and result from here) and the
 * commands that run them (commands/: a command names its job here and calls it in-process).
 * A job takes its options object (with the engine's `kernels`, a `log` for progress lines and, for the
 * training jobs, an abort `signal`) and returns its result.
 */
import { baseline } from './baseline/baseline.js';
import { bench } from './bench.js';
import { buildCache } from './cache/index.js';
import { compare } from './compare.js';
import { crossValidate } from './crossval.js';
import { manpagePairs } from './data/manpages.js';
import { encodeFile } from './encode.js';
import { exportModel } from './export/export.js';
import { finetune, predict } from './finetune.js';
import { buildCorpus } from './pretrain/corpus.js';
import { pretrain } from './pretrain/pretrain.js';
import { tokenizeFile } from './tokenize/file.js';

export const JOBS = {
  finetune, pretrain, baseline, crossValidate, compare, buildCache, predict, encodeFile, tokenizeFile, buildCorpus, exportModel, manpagePairs, bench,
} as const;

export type JobName = keyof typeof JOBS;
const MODEL_DEFAULTED_JOBS = ['finetune', 'baseline', 'crossValidate', 'compare', 'predict', 'encodeFile', 'exportModel'] as const;
/** the jobs whose `model` defaults to the embedded default model */
export type ModelDefaulted = (typeof MODEL_DEFAULTED_JOBS)[number];
export const MODEL_DEFAULTED: ReadonlySet<JobName> = new Set<JobName>(MODEL_DEFAULTED_JOBS);
export type JobOptions<K extends JobName> = Parameters<(typeof JOBS)[K]>[0];
export type JobResult<K extends JobName> = Awaited<ReturnType<(typeof JOBS)[K]>>;
