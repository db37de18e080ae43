/** `ja-bert corpus` */
import { buildCorpus } from '../pretrain/corpus.js';
import { type Command, need } from './command.js';

export const command: Command = {
  name: 'corpus',
  help: `  ja-bert corpus --output corpus.txt [--report corpus.json]
      Japanese pretraining text from Debian's documentation packages (never man pages or chABSA).`,
  api: 'buildCorpus',
  flags: { output: 'string', report: 'string' },
  job: 'buildCorpus',
  run({ flags, log }) {
    const output = need(flags, 'output');
    const r = buildCorpus({ output, report: flags.report as string | undefined, log });
    log(`corpus: ${r.total.documents} documents, ${r.total.sentences} sentences, ${r.total.japaneseChars} Japanese characters -> ${output}`);
    return 0;
  },
};
