/** `ja-bert worker` */
import { loadFeature } from '../core/optional.js';
import { nativeKernels } from '../core/native.js';
import { type Command, need, flagOptions } from './command.js';

export const command: Command = {
  name: 'worker',
  help: `  ja-bert worker --queue redis://HOST:PORT [--concurrency 1 --lock-seconds 30]
      encode cache chunks from the queue until SIGTERM/SIGINT (the chunk in hand is finished first).`,
  api: 'runWorker',
  flags: { queue: 'string', concurrency: 'number', 'lock-seconds': 'number' },
  async run({ flags, log }) {
    const { runWorker } = await loadFeature('queue', () => import('../cache/queue.js'));
    const ac = new AbortController();
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => { log(`ja-bert worker: ${sig}: finishing the chunk in hand`); ac.abort(); });
    const r = await runWorker({ ...flagOptions(flags), queue: need(flags, 'queue'), kernels: nativeKernels(), log, signal: ac.signal });
    log(`ja-bert worker: stopped after ${r.jobs} chunks`);
    return 0;
  },
};
