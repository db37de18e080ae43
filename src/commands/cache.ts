/** `ja-bert cache` */
import { buildCache, type CacheBuildOptions } from '../cache/index.js';
import { UsageError } from './args.js';
import { nativeKernels } from '../core/native.js';
import { type Command, need, flagOptions } from './command.js';

export const command: Command = {
  name: 'cache',
  help: `  ja-bert cache build --model M --texts honbun.json|texts.jsonl --cache C [--batch-size 32 --dtype auto|f32|bf16|int8 --save-seconds 30 --cache-dtype f32|bf16|int8 --overwrite]
      encode every text once with a pair-head model and store its B representation (keyed by id, text hash, model hash);
      rerunning re-encodes only new or changed texts. Progress is saved to C.partial every --save-seconds;
      a killed build, rerun, resumes from it. --from-embeddings F.jsonl instead of --texts: the encoder's outputs computed
      elsewhere (the exported onnx/model.onnx), one line {"id", "text", "last_hidden_state": [[...]], "pooler_output": [...]}
      per text; the head's B side is computed from them (docs/EXPORT.md). An existing C that is not a ja-bert cache is refused
      (--overwrite replaces it); C may not be the texts or a file of the model.
      --cache-dtype: how the representations are stored: f32 (default), bf16 (half the size) or int8 (a quarter, one scale
      per row); --dtype is the encoder's compute dtype.
      --index lancedb://PATH: also an approximate-nearest-neighbour index (LanceDB) of the texts' keys, named in the cache,
      for retrieve-then-rerank (dot, additive, bi, cosine, poly heads); written after the cache, with or without --queue.
      PATH is a folder inside the cache's folder: new, empty, or an index ja-bert wrote (marked by .ja-bert-index).
      --index-type ivf_flat|ivf_pq: beyond 4,096 keys, IVF over the keys themselves (default) or product-quantised
      (D/8 bytes a key, candidates re-scored on the stored keys: a much smaller index).
      --queue redis://HOST:PORT [--chunk-size 256 --stall-seconds 600]: the texts to encode go as chunks on a BullMQ queue,
      encoded by \`ja-bert worker\`s (which must read the same model path and cache folder); a crashed worker's chunk is
      retried, and a rerun keeps the chunks done (CACHE.chunks/).`,
  api: 'buildCache',
  flags: {
    model: 'string', texts: 'string', 'from-embeddings': 'string', cache: 'string', 'batch-size': 'number', dtype: 'string', 'save-seconds': 'number', 'cache-dtype': 'string',
    queue: 'string', 'chunk-size': 'number', 'stall-seconds': 'number', index: 'string', 'index-type': 'string', overwrite: 'boolean' },
  job: 'buildCache',
  async run({ flags, positional, progress, endProgress }) {
    if (positional[0] !== 'build') throw new UsageError('usage: ja-bert cache build --model M (--texts F | --from-embeddings F.jsonl) --cache C');
    const cache = need(flags, 'cache');
    const r = await buildCache({ ...flagOptions(flags, { 'save-seconds': 'partialEverySeconds' }), model: need(flags, 'model'),
      texts: flags['from-embeddings'] !== undefined ? flags.texts : need(flags, 'texts'), cache, kernels: nativeKernels(), log: progress } as CacheBuildOptions);
    endProgress();
    console.log(`cache: ${r.entries} texts (${r.encoded} encoded${r.queued ? " by the queue's workers" : ''}, ${r.reused} reused), ${r.bytes} bytes, ${r.seconds.toFixed(1)} s -> ${cache}`);
    const ix = r.index;
    if (ix) console.log(`index: ${ix.keys} keys for ${ix.rows} texts${ix.type ? ` (${ix.type === 'ivf_pq' ? 'IVF-PQ' : 'IVF-flat'})` : ' (searched exhaustively)'}, ${ix.seconds.toFixed(1)} s -> lancedb://${ix.path}`);
    return 0;
  },
};
