/**
 * Range checks for the numeric options of every command, applied by the
 * library entry points before anything is read or written, so that a library
 * caller and the CLI get the same one-line error. Names are the CLI's flags.
 */
import { JaBertError, registerError } from './errors.js';
export class OptionError extends JaBertError { override readonly code = 'ERR_JA_BERT_OPTION'; override readonly exitCode = 2; }
registerError(OptionError);

const show = (v: unknown) => (typeof v === 'number' ? String(v) : JSON.stringify(v));

/** an integer ≥ min (default 1), or the default when undefined */
export function intOption(name: string, v: number | undefined, dflt: number, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new OptionError(`--${name} must be an integer ${max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `from ${min} to ${max}`}, got ${show(v)}`);
  return v;
}

/** a finite number > 0 (or ≥ 0 with allowZero), or the default */
export function positiveOption(name: string, v: number | undefined, dflt: number, allowZero = false): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) throw new OptionError(`--${name} must be a number ${allowZero ? '≥' : '>'} 0, got ${show(v)}`);
  return v;
}

/** a ratio in (0, 1) — or [0, 1) with allowZero */
export function ratioOption(name: string, v: number | undefined, dflt: number, allowZero = false): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !(allowZero ? v >= 0 : v > 0) || !(v < 1)) throw new OptionError(`--${name} must be a number in ${allowZero ? '[0' : '(0'}, 1), got ${show(v)}`);
  return v;
}

/** one of a fixed set of strings */
export function choiceOption<T extends string>(name: string, v: string | undefined, choices: readonly T[], dflt: T): T {
  if (v === undefined) return dflt;
  if (!(choices as readonly string[]).includes(v)) throw new OptionError(`--${name} must be ${choices.slice(0, -1).join(', ')} or ${choices[choices.length - 1]}, got ${show(v)}`);
  return v as T;
}

/** the smallest max_seq_length that holds [CLS] a [SEP] b [SEP] with a token of each */
export const MIN_SEQ_LENGTH = 8;
