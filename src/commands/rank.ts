/** `ja-bert rank` */
import { openRanker } from '../cache/index.js';
import { nativeKernels } from '../core/native.js';
import { type Command, need, flagOptions } from './command.js';

export const command: Command = {
  name: 'rank',
  help: `  ja-bert rank --model M --cache C (--id TITLE | --text TEXT) [--top 10 --dtype auto|f32|bf16|int8 --chunked --retrieve 200 --nprobes N --json]
      A cache that names an index: the top --retrieve K by the index, reranked by the head (--retrieve 0: every candidate);
      --nprobes: the index partitions a search visits (default 5 % of them, at least 8).
      --chunked: read the candidates from the file 4,096 at a time instead of all into memory (automatic for a cache
      larger than a quarter of RAM).
      score A against every cached B; prints the top K with P(label 1) and the latency.`,
  api: 'PairScorer',
  flags: { model: 'string', cache: 'string', id: 'string', text: 'string', top: 'number', dtype: 'string', chunked: 'boolean', retrieve: 'number', nprobes: 'number', json: 'boolean' },
  async run({ flags, log }) {
    // a cache that names an index is ranked by retrieve-then-rerank (--retrieve 0: every candidate)
    const { id, text, top, json, ...o } = flagOptions(flags);
    const rk = await openRanker({ ...o, model: need(flags, 'model'), cache: need(flags, 'cache'), kernels: nativeKernels() });
    try {
      const r = await rk.rank({ id: id as string | undefined, text: text as string | undefined, top: (top as number | undefined) ?? 10 });
      // --json: one JSON object (results best first, with the counts and timings) instead of the table
      if (json === true) console.log(JSON.stringify({ results: r.results, candidates: r.candidates, ...(r.retrieved !== undefined ? { retrieved: r.retrieved } : {}), encode_ms: r.encodeMs, score_ms: r.scoreMs }));
      else r.results.forEach((x, i) => console.log(`${String(i + 1).padStart(3)}  ${x.score.toFixed(6)}  ${x.id}`));
      log(rk.kind === 'retrieve' ? `retrieved ${r.retrieved} of ${r.candidates} cached candidates by the LanceDB index in ${r.retrieveMs!.toFixed(1)} ms, reranked by the head in ${r.scoreMs.toFixed(1)} ms (encoding A ${r.encodeMs.toFixed(1)} ms)`
        : `ranked ${r.candidates} cached candidates: encoding A ${r.encodeMs.toFixed(1)} ms, scoring ${r.scoreMs.toFixed(1)} ms (cache laid out for scoring in ${r.loadMs.toFixed(0)} ms)`);
    } finally { rk.close(); }
    return 0;
  },
};
