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
    throw new UsageError(msg.replace(/^Unknown option '([^']+)'.*$/, 'unknown option $1').split(' To specify')[0]!.trim());
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
 * `--config run.json`: the same options from a JSON object, keys as the flags
 * are spelled (learning-rate), or in snake_case (learning_rate, as HF's
 * TrainingArguments JSON) or camelCase; flags given on the command line win.
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
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    const name = key.replace(/_/g, '-').replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    const type = spec[name];
    if (!type || name === 'config') throw new UsageError(`${path}: unknown option "${key}"`);
    if (type === 'string' && typeof v === 'boolean') { out[name] = String(v); continue; } // "greater_is_better": true
    if (type === 'string' && Array.isArray(v) && v.every((x) => typeof x === 'number')) { out[name] = v.join(','); continue; } // "class_weights": [1, 3]
    if (type === 'number' ? typeof v !== 'number' || !Number.isFinite(v) : typeof v !== type) {
      throw new UsageError(`${path}: "${key}" must be a ${type}, got ${JSON.stringify(v)}`);
    }
    out[name] = v as string | number | boolean;
  }
  return { ...out, ...Object.fromEntries(Object.entries(flags).filter(([k]) => k !== 'config')) };
}
