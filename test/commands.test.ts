// The command table (src/commands/): one declaration per command that the CLI loops over and the library mirrors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COMMANDS, HELP } from '../src/commands/index.js';
import { JOBS } from '../src/jobs.js';
import * as lib from '../src/index.js';

test('every command: its help block opens with its name, documents every flag it parses, and names a library export that does its work', () => {
  const names = COMMANDS.map((c) => c.name);
  assert.equal(new Set(names).size, names.length, 'command names are unique');
  for (const c of COMMANDS) {
    assert.match(c.help, new RegExp(`^ {2}ja-bert ${c.name}\\b`), c.name);
    assert.ok(HELP.includes(c.help), `${c.name}: its block is in ja-bert --help`);
    for (const flag of Object.keys(c.flags)) assert.ok(new RegExp(`--${flag}\\b`).test(c.help), `${c.name}: --${flag} is parsed but not in its help`);
    assert.equal(typeof (lib as Record<string, unknown>)[c.api], 'function', `${c.name}: the library exports ${c.api}`);
    if (c.job !== undefined) assert.ok(c.job in JOBS, `${c.name}: job ${c.job}`);
  }
  // every job of the table is run by a command and has its async API function
  const jobs = new Set(COMMANDS.map((c) => c.job).filter((j) => j !== undefined));
  for (const j of Object.keys(JOBS)) {
    if (j === 'crossValidate') continue; // finetune and baseline run it for --folds
    assert.ok(jobs.has(j as keyof typeof JOBS), `job ${j} has a command`);
  }
  for (const f of ['finetune', 'pretrain', 'baseline', 'crossValidate', 'compare', 'buildCache', 'predict', 'encodeFile', 'tokenize', 'buildCorpus', 'exportModel', 'manpagePairs', 'bench']) {
    assert.equal(typeof (lib as Record<string, unknown>)[f], 'function', f);
  }
});
