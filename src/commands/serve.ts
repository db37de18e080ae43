/** `ja-bert serve` */
import type { ServeOptions } from '../serve/server.js';
import { type Command, flagOptions } from './command.js';

export const command: Command = {
  name: 'serve',
  help: `  ja-bert serve [--model DIR --cache C --retrieve 200 --host 127.0.0.1 --port 8080 --dtype auto|f32|bf16|int8]
      [--max-batch-size 32 --max-wait-ms 0 --no-batching --body-limit 1048576 --max-inputs 64 --max-text-length 10000 --max-queue 4096]
      HTTP JSON server: POST /v1/classify {"inputs": [{"text": ..., "text_b": ...}]}, POST /v1/encode {"inputs": [...], "pooling": "mean"},
      POST /v1/rank {"text": ... | "id": ..., "top": 10} (with --cache; a cache that names an index: the top --retrieve K by it,
      reranked by the head; --retrieve 0: every candidate), GET /healthz, GET /metrics (Prometheus).
      Text Embeddings Inference's routes too (POST /embed, /predict, /rerank, /similarity, GET /info, /health, TEI's errors and
      headers) and OpenAI's POST /v1/embeddings (float or base64, usage in tokens), so their clients work unchanged.
      Requests arriving together run as one batch (dynamic batching); SIGTERM stops accepting, finishes what is in flight, exits 0.`,
  api: 'startServer',
  flags: { model: 'string', cache: 'string', retrieve: 'number', host: 'string', port: 'number', dtype: 'string', 'max-batch-size': 'number',
    'max-wait-ms': 'number', 'no-batching': 'boolean', 'body-limit': 'number', 'max-inputs': 'number', 'max-text-length': 'number', 'max-queue': 'number' },
  async run({ flags, log }) {
    // loaded only here: fastify, prom-client and the engine thread are for the server alone
    const { startServer } = await import('../serve/server.js');
    const { closeEngine } = await import('../api/engine.js');
    const { noBatching, ...o } = flagOptions(flags);
    const server = await startServer({ ...o, batching: noBatching !== true, log } as ServeOptions);
    log(`ja-bert serve: listening on ${server.url} (model ${(flags.model as string | undefined) ?? 'default'}${flags.cache ? `, cache ${flags.cache as string}${server.retrieve ? `, retrieving ${server.retrieve} by its index` : ''}` : ''}, batching ${noBatching ? 'off' : 'on'})`);
    await new Promise<void>((resolve) => {
      const stop = (sig: string) => {
        log(`ja-bert serve: ${sig}: finishing requests in flight`);
        server.close().then(async () => { await closeEngine(); resolve(); }, (e: unknown) => { log(`ja-bert serve: ${(e as Error).message}`); resolve(); });
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
    log('ja-bert serve: stopped');
    return 0;
  },
};
