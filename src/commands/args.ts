/**
 * Flags through Node's own parser (node:util parseArgs, strict): --name value,
 * --name=value, boolean --flag, positional words; unknown flags are errors.
 * Numbers are checked to be numbers here; their ranges are checked by the
 * library functions (core/options.ts), so library callers get the same errors.
 */
import { JaBertError, registerError } from '../core/errors.js';
import { parseArgs as utilParseArgs } from 'node:util';
import { InputFileError, parseJsonText, readTextFile } from '../io/text.js';

export class UsageError extends JaBertError { override readonly code = 'ERR_JA_BERT_USAGE'; override readonly exitCode = 2; }
registerError(UsageError);

export interface FlagSpec {
  [name: string]: 'string' | 'number' | 'boolean';
}

export function parseArgs(argv: string[], spec: FlagSpec): { flags: Record<string, string | number | boolean>; positional: string[] } {
  const options: Record<string, { type: 'string' | 'boolean' }> = {};
  for (const [k, v] of Object.entries(spec)) options[k] = { type: v === 'boolean' ? 'boolean' : 'string' };
  let parsed;
  try {
    parsed = utilParseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (e) {
    // Node's messages name the option; keep their first sentence
    const msg = (e as Error).message.replace(/\s+/g, ' ');
    const amb = /^Option '(--[^ ']+)[^']*' argument is ambiguous/.exec(msg);
    if (amb) throw new UsageError(`${amb[1]}: a value that starts with "-" must be written ${amb[1]}=VALUE`);
    const unknown = /^Unknown option '(-{1,2})([^']+)'/.exec(msg);
    if (unknown) {
      const near = closest(unknown[2]!, Object.keys(spec));
      throw new UsageError(`unknown option ${unknown[1]}${unknown[2]}${near ? ` (did you mean --${near}?)` : ''}`);
    }
    throw new UsageError(msg.split(' To specify')[0]!.trim());
  }
  const flags: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(parsed.values)) {
    if (v === undefined) continue;
    const value = Array.isArray(v) ? v[v.length - 1]! : v;
    if (spec[k] === 'number') {
      const s = String(value).trim();
      const n = s === '' ? NaN : Number(s);
      if (!Number.isFinite(n)) throw new UsageError(`--${k} must be a number, got "${String(value)}"`);
      flags[k] = n;
    } else flags[k] = value;
  }
  return { flags, positional: parsed.positionals };
}

/**
 * Edit distance with adjacent transpositions (optimal string alignment): "epoch" → "epochs" 1,
 * "fintune" → "finetune" 1, "lenght" → "length" 1.
 */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The name among `names` that `typed` most likely meant, or undefined: compared as flags are spelled
 * (snake_case and camelCase read as kebab-case, case ignored), the nearest within a third of its length
 * (at least 1, at most 3 edits); else the only name that starts with it.
 */
export function closest(typed: string, names: readonly string[]): string | undefined {
  const norm = (x: string) => x.replace(/([a-z0-9])([A-Z])/g, '$1-$2').replace(/_/g, '-').toLowerCase();
  const t = norm(typed);
  let best: string | undefined, bestD = Math.min(3, Math.max(1, Math.floor(t.length / 3))) + 1;
  for (const n of names) {
    const dist = editDistance(t, norm(n));
    if (dist < bestD) { best = n; bestD = dist; }
  }
  if (best !== undefined) return best;
  const starts = names.filter((n) => t.length >= 2 && norm(n).startsWith(t));
  return starts.length === 1 ? starts[0] : undefined;
}

/** --help / -h anywhere among a command's arguments */
export function wantsHelp(argv: string[]): boolean {
  return argv.some((a) => a === '--help' || a === '-h');
}

/** the usage lines of one command, cut from the full help text (each command's block starts with "  ja-bert <cmd>") */
export function commandHelp(help: string, cmd: string): string | null {
  const lines = help.split('\n');
  const out: string[] = [];
  let inside = false;
  for (const l of lines) {
    const m = /^ {2}ja-bert (\S+)/.exec(l);
    if (m) inside = m[1] === cmd;
    else if (!/^ {3,}/.test(l)) inside = false;
    if (inside) out.push(l);
  }
  return out.length ? `Usage:\n${out.join('\n')}` : null;
}

/**
 * Names of Hugging Face's TrainingArguments (and run_glue's model/data arguments) that are ja-bert
 * flags under another name, so a TrainingArguments JSON works as --config.
 */
export const TRAINING_ARGUMENTS: Readonly<Record<string, string>> = {
  per_device_train_batch_size: 'batch-size', num_train_epochs: 'epochs', warmup_ratio: 'warmup-proportion',
  label_smoothing_factor: 'label-smoothing', output_dir: 'output', overwrite_output_dir: 'overwrite',
  model_name_or_path: 'model', train_file: 'train', validation_file: 'eval',
};

/** TrainingArguments options ja-bert has no knob for: refused by name, never ignored */
export const TRAINING_ARGUMENTS_LACKING: ReadonlySet<string> = new Set([
  'fp16', 'fp16_opt_level', 'tf32', 'per_device_eval_batch_size', 'warmup_steps', 'lr_scheduler_type', 'lr_scheduler_kwargs',
  'logging_steps', 'logging_dir', 'logging_strategy', 'logging_first_step', 'save_total_limit', 'save_strategy', 'eval_strategy',
  'evaluation_strategy', 'load_best_model_at_end', 'adam_beta1', 'adam_beta2', 'adam_epsilon', 'optim', 'dataloader_num_workers',
  'push_to_hub', 'hub_model_id', 'gradient_checkpointing', 'run_name', 'do_train', 'do_eval', 'do_predict', 'eval_accumulation_steps',
  'use_cpu', 'no_cuda', 'torch_compile', 'resume_from_checkpoint', 'deepspeed', 'fsdp', 'ddp_backend', 'local_rank',
  'auto_find_batch_size', 'group_by_length', 'remove_unused_columns', 'label_names', 'disable_tqdm', 'log_level', 'data_seed',
]);

/**
 * `--config run.json`: the same options from a JSON object, keys as the flags
 * are spelled (learning-rate), or in snake_case (learning_rate, as HF's
 * TrainingArguments JSON) or camelCase; TrainingArguments' own names where
 * they differ (TRAINING_ARGUMENTS; bf16: true|false as --dtype); the
 * TrainingArguments options ja-bert lacks are named; flags given on the
 * command line win.
 */
export function withConfig(flags: Record<string, string | number | boolean>, spec: FlagSpec): Record<string, string | number | boolean> {
  const path = flags.config;
  if (path === undefined) return flags;
  if (typeof path !== 'string' || path === '') throw new UsageError('--config needs a JSON file');
  let value: unknown;
  try {
    value = parseJsonText(readTextFile(path), path);
  } catch (e) {
    if (e instanceof InputFileError) throw new UsageError(e.message);
    throw e;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new UsageError(`${path}: must be a JSON object of options`);
  const out: Record<string, string | number | boolean> = {};
  const entries = Object.entries(value as Record<string, unknown>);
  const lacking = entries.map(([k]) => k).filter((k) => TRAINING_ARGUMENTS_LACKING.has(k) && !(k.replace(/_/g, '-') in spec));
  if (lacking.length) throw new UsageError(`${path}: ${lacking.map((k) => `"${k}"`).join(', ')}: Hugging Face TrainingArguments option${lacking.length > 1 ? 's' : ''} that ja-bert does not have; remove ${lacking.length > 1 ? 'them' : 'it'} (ja-bert's options: ja-bert <command> --help)`);
  for (let [key, v] of entries) {
    if (key === 'bf16' && typeof v === 'boolean' && spec.dtype) { key = 'dtype'; v = v ? 'bf16' : 'f32'; } // TrainingArguments' bf16: true|false
    const name = TRAINING_ARGUMENTS[key] && spec[TRAINING_ARGUMENTS[key]!] ? TRAINING_ARGUMENTS[key]! : key.replace(/_/g, '-').replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    const type = spec[name];
    if (!type || name === 'config') {
      const near = closest(key, Object.keys(spec).filter((k) => k !== 'config'));
      throw new UsageError(`${path}: unknown option "${key}"${near ? ` (did you mean "${near}"?)` : ''}`);
    }
    if (type === 'string' && typeof v === 'boolean') { out[name] = String(v); continue; } // "greater_is_better": true
    if (type === 'string' && Array.isArray(v) && v.every((x) => typeof x === 'number')) { out[name] = v.join(','); continue; } // "class_weights": [1, 3]
    if (type === 'number' ? typeof v !== 'number' || !Number.isFinite(v) : typeof v !== type) {
      throw new UsageError(`${path}: "${key}" must be a ${type}, got ${JSON.stringify(v)}`);
    }
    out[name] = v as string | number | boolean;
  }
  return { ...out, ...Object.fromEntries(Object.entries(flags).filter(([k]) => k !== 'config')) };
}
