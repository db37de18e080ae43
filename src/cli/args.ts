/**
 * Flags through Node's own parser (node:util parseArgs, strict): --name value,
 * --name=value, boolean --flag, positional words; unknown flags are errors.
 * Numbers are checked to be numbers here; their ranges are checked by the
 * library functions (core/options.ts), so library callers get the same errors.
 */
import { parseArgs as utilParseArgs } from 'node:util';

export class UsageError extends Error {}

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
