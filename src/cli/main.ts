#!/usr/bin/env node
/** ja-bert command line: a loop over the command table (src/commands/), each command a library call. */
import { packageInfo } from '../core/native.js';
import { JaBertError } from '../core/errors.js';
import { parseHubId, resolveModel } from '../io/hub.js';
import { closest, commandHelp, parseArgs, UsageError, wantsHelp, withConfig } from '../commands/args.js';
import { COMMANDS, HELP, type CommandContext } from '../commands/index.js';
import { currentComm, DistributedError } from '../train/distributed.js';

function packageVersion(): string {
  const pkg = packageInfo();
  return `${pkg.name} ${pkg.version}`;
}

/** progress lines (throttled by core/progress.ts): rewritten in place on a terminal, one per line otherwise */
const progress = (l: string) => process.stderr.write((process.stderr.isTTY ? '\r\x1b[K' : '') + l + (process.stderr.isTTY ? '' : '\n'));

const NAMES = COMMANDS.map((c) => c.name);

function unknownCommand(cmd: string): never {
  const near = closest(cmd, NAMES);
  throw new UsageError(`unknown command "${cmd}"${near ? ` (did you mean "${near}"?)` : ''} (try: ja-bert help)`);
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === '-v') { console.log(packageVersion()); return 0; }
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    // help, help --help, help CMD
    const topic = rest.find((a) => !a.startsWith('-'));
    console.log(topic === undefined ? HELP : commandHelp(HELP, topic) ?? unknownCommand(topic));
    return 0;
  }
  const cmd = COMMANDS.find((c) => c.name === name) ?? unknownCommand(name);
  if (wantsHelp(rest)) { console.log(commandHelp(HELP, name)); return 0; }
  if (rest.includes('--version')) { console.log(packageVersion()); return 0; }
  // --model org/name[@revision]: from the Hugging Face cache, or downloaded into it (io/hub.ts), before the command runs
  for (let i = 0; i < rest.length; i++) {
    const eq = rest[i]!.startsWith('--model=') ? rest[i]!.slice('--model='.length) : null;
    const value = eq ?? (rest[i] === '--model' ? rest[i + 1] : undefined);
    if (value === undefined || !parseHubId(value)) continue;
    const dir = await resolveModel(value, { log: progress });
    if (eq !== null) rest[i] = `--model=${dir}`; else rest[i + 1] = dir;
  }
  const parsed = parseArgs(rest, cmd.flags);
  const c: CommandContext = {
    flags: cmd.config ? withConfig(parsed.flags, cmd.flags) : parsed.flags, positional: parsed.positional,
    progress, log: (l) => console.error(l), endProgress: () => { if (process.stderr.isTTY) process.stderr.write('\n'); }, version: packageVersion(),
  };
  return cmd.run(c);
}

main(process.argv.slice(2)).then(
  (code) => { currentComm()?.finalize(); process.exit(code); },
  (e: unknown) => {
    // a rank of a data-parallel run names itself, and ends the whole job: the others would wait for it in a collective
    const comm = currentComm(), who = comm ? `rank ${comm.rank} of ${comm.size} (${comm.processor}): ` : '';
    const code = e instanceof JaBertError ? e.exitCode : 1;
    // an error every rank found the same (a collective's verdict): rank 0 says it and ends the job, the others wait to be ended
    if (comm && comm.rank !== 0 && e instanceof DistributedError && e.everyRank) { comm.barrier(); process.exit(code); }
    // ja-bert's own errors are one line; anything else is a bug and shows its stack
    if (e instanceof JaBertError) console.error(`ja-bert: ${who}${e.message}`);
    else console.error(`ja-bert: ${who}internal error: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
    comm?.abort(code);
    process.exit(code);
  },
);
