/** `ja-bert manpage-pairs` */
import { manpagePairs } from '../data/manpages.js';
import { type Command, need, flagOptions } from './command.js';

export const command: Command = {
  name: 'manpage-pairs',
  help: `  ja-bert manpage-pairs --output DIR [--man-dir /usr/share/man/ja --max-pairs N --max-chars 500 --seed 42]
      Link pairs from Debian's manpages-ja in the seed's honbun_data.json / negaposi.json format.`,
  api: 'manpagePairs',
  flags: { 'man-dir': 'string', output: 'string', 'max-pairs': 'number', 'max-chars': 'number', seed: 'number' },
  job: 'manpagePairs',
  run({ flags }) {
    const r = manpagePairs({ ...flagOptions(flags), output: need(flags, 'output') });
    console.log(`${r.pages} pages read; ${r.texts} texts, ${r.pairs} pairs (${r.linked} linked) -> ${r.output}`);
    return 0;
  },
};
