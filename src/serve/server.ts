/**
 * `ja-bert serve`: an HTTP JSON server (fastify) over the async API, with
 * dynamic batching, Prometheus metrics (prom-client) and bounded requests.
 *
 *   POST /v1/classify {"inputs": [{"text": "…", "text_b": "…"}]} → {"results": [{label, score, probabilities}]}
 *   POST /v1/encode   {"inputs": ["…"], "pooling": "mean", "normalize": false} → {"embeddings": [[…]]}
 *   POST /v1/rank     {"text": "…" | "id": "…", "top": 10} → {"results": [{id, score}], "candidates": N}
 *   GET  /healthz, GET /metrics
 *   and Text Embeddings Inference's routes with OpenAI's /v1/embeddings (tei.ts): /embed, /predict, /rerank,
 *   /similarity, /info, /health, /v1/embeddings, with TEI's request fields, defaults, errors and headers
 *
 * Every error is a JSON body {"error": {"code", "message"}} with a 4xx status, the code snake_case
 * for a bad request (400 shape, 404 route, 409 rank without a cache, 413 body,
 * 415 content type) and 500 for a failure of the server itself; no request
 * can end the process. close() stops accepting, finishes the requests in
 * flight, then releases the models.
 */
import { STATUS_CODES } from 'node:http';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { Classifier, info, PairScorer, type Classification, type Pooling } from '../api/index.js';
import { JaBertError } from '../core/errors.js';
import { packageInfo } from '../core/native.js';
import { EngineThreadError } from '../api/engine.js';
import type { DTypeOption } from '../core/dtype.js';
import { intOption, OptionError } from '../core/options.js';
import { jsonErrorReason } from '../io/text.js';
import { basename, resolve } from 'node:path';
import { Batcher } from './batcher.js';
import { registerTeiRoutes, TEI_ROUTES, TeiError } from './tei.js';

export interface ServeOptions {
  /** model folder (default: the embedded default model) */
  model?: string;
  /** a B cache built for the model (enables /v1/rank) */
  cache?: string;
  /** for a cache that names an index: candidates retrieved per /v1/rank, reranked by the head (default 200; 0: every candidate) */
  retrieve?: number;
  host?: string;
  /** 0: any free port */
  port?: number;
  dtype?: DTypeOption;
  /** dynamic batching (default on) */
  batching?: boolean;
  /** most inputs per batch (default 32) */
  maxBatchSize?: number;
  /** how long a lone input waits for company while the engine is idle (default 0: an idle engine starts at once) */
  maxWaitMs?: number;
  /** largest request body in bytes (default 1 MiB) */
  bodyLimit?: number;
  /** most inputs per request (default 64) */
  maxInputs?: number;
  /** longest text in characters (default 10,000) */
  maxTextLength?: number;
  /** most inputs waiting for the engine before new requests get 503 (default 4,096) */
  maxQueue?: number;
  log?: (line: string) => void;
}

export interface Server {
  app: FastifyInstance;
  /** http://host:port */
  url: string;
  /** K of retrieve-then-rerank for /v1/rank; null when it scores every candidate */
  retrieve: number | null;
  close(): Promise<void>;
}

/** an HTTP status as a snake_case code: 413 payload_too_large, 415 unsupported_media_type */
const statusCode = (status: number): string => (STATUS_CODES[status] ?? 'bad request').toLowerCase().replace(/[^a-z]+/g, '_').replace(/^_|_$/g, '');

class HttpError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) { super(message); }
}

export async function startServer(o: ServeOptions = {}): Promise<Server> {
  const maxBatchSize = intOption('max-batch-size', o.maxBatchSize, 32, 1, 4096);
  const maxWaitMs = intOption('max-wait-ms', o.maxWaitMs, 0, 0, 10_000);
  const bodyLimit = intOption('body-limit', o.bodyLimit, 1 << 20, 64, 1 << 30);
  const maxInputs = intOption('max-inputs', o.maxInputs, 64, 1, 100_000);
  const maxTextLength = intOption('max-text-length', o.maxTextLength, 10_000, 1, 10_000_000);
  const maxQueue = intOption('max-queue', o.maxQueue, 4096, 1, 10_000_000);
  const port = intOption('port', o.port, 8080, 0, 65535);
  const host = o.host ?? '127.0.0.1';
  if (typeof host !== 'string' || host === '') throw new OptionError('--host must be a host name or address');

  const clf = await Classifier.load(o.model, { dtype: o.dtype });
  const enc = await clf.encoder();
  const scorer = o.cache ? await PairScorer.load(clf.dir, { cache: o.cache, dtype: o.dtype, retrieve: o.retrieve }) : null;

  const registry = new Registry();
  const requests = new Counter({ name: 'ja_bert_requests_total', help: 'HTTP requests by route and status', labelNames: ['route', 'status'] as const, registers: [registry] });
  const latency = new Histogram({ name: 'ja_bert_request_duration_seconds', help: 'request latency by route', labelNames: ['route'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [registry] });
  const batchSizes = new Histogram({ name: 'ja_bert_batch_size', help: 'inputs per engine batch', labelNames: ['route'] as const,
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256], registers: [registry] });
  const depth = new Gauge({ name: 'ja_bert_queue_depth', help: 'inputs waiting for a batch', labelNames: ['route'] as const, registers: [registry] });
  new Gauge({ name: 'ja_bert_model_info', help: 'the model served', labelNames: ['model', 'head'] as const, registers: [registry] }).set({ model: clf.dir, head: clf.head }, 1);

  const batching = { enabled: o.batching ?? true, maxBatchSize, maxWaitMs };
  const classifyBatcher = new Batcher<{ text: string; textB?: string }, Classification>((items) => clf.classify(items),
    { ...batching, onBatch: (n) => batchSizes.observe({ route: 'classify' }, n) });
  const encodeBatchers = new Map<string, Batcher<string, Float32Array>>();
  const encodeBatcher = (pooling: Pooling | undefined, normalize: boolean) => {
    const key = `${pooling ?? 'model'}/${normalize}`;
    let b = encodeBatchers.get(key);
    if (!b) {
      b = new Batcher<string, Float32Array>((texts) => enc.encode(texts, { pooling, normalize }), { ...batching, onBatch: (n) => batchSizes.observe({ route: 'encode' }, n) });
      encodeBatchers.set(key, b);
    }
    return b;
  };
  let rankWaiting = 0;
  const queued = () => classifyBatcher.depth + [...encodeBatchers.values()].reduce((a, b) => a + b.depth, 0) + rankWaiting;
  const refreshDepth = () => {
    depth.set({ route: 'classify' }, classifyBatcher.depth);
    depth.set({ route: 'encode' }, [...encodeBatchers.values()].reduce((a, b) => a + b.depth, 0));
    depth.set({ route: 'rank' }, rankWaiting);
  };

  // no type coercion: a number or boolean where text belongs is a 400, not the text "true" (Fastify's default coerces)
  const app = Fastify({ bodyLimit, logger: false, return503OnClosing: true, forceCloseConnections: 'idle', ajv: { customOptions: { coerceTypes: false } } });
  // JSON only (any other content type is 415), in UTF-8: a declared other charset is 415, invalid UTF-8 is 400 (as the CLI refuses it)
  app.removeAllContentTypeParsers();
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body, done) => {
    const cs = /;\s*charset\s*=\s*"?([^";\s]+)"?/i.exec(String(req.headers['content-type'] ?? ''))?.[1]?.toLowerCase();
    if (cs !== undefined && cs !== 'utf-8' && cs !== 'utf8') { done(new HttpError(415, 'unsupported_charset', `charset ${cs} is not supported: send the JSON body in UTF-8`), undefined); return; }
    let s: string;
    try { s = utf8.decode(body as Buffer); } catch { done(new HttpError(400, 'bad_request', 'the body is not valid UTF-8'), undefined); return; }
    if (s.trim() === '') { done(new HttpError(400, 'bad_request', 'the body is empty: send a JSON object'), undefined); return; }
    try { done(null, JSON.parse(s)); } catch (e) { done(new HttpError(400, 'bad_request', `the body is not valid JSON (${jsonErrorReason(e)})`), undefined); }
  });
  // an error message never shows where the server's files are
  const hidden: Array<[string, string]> = [o.cache, scorer?.cache].filter((p) => p).flatMap((p) => [[p!, '<cache>'], [resolve(p!), '<cache>']] as Array<[string, string]>)
    .concat([o.model, clf.dir].filter((p) => p).flatMap((p) => [[p!, '<model>'], [resolve(p!), '<model>']] as Array<[string, string]>))
    .sort((a, b) => b[0].length - a[0].length); // the longest first, so a cache inside the model folder is named as the cache
  const redact = (m: string) => hidden.reduce((s, [p, name]) => s.split(p).join(name), m);
  const text = { type: 'string', minLength: 1, maxLength: maxTextLength };

  app.addHook('onRequest', async (req) => { (req as unknown as { t0: number }).t0 = performance.now(); });
  // while closing, a response in flight also closes its connection (else a keep-alive client holds close() for its timeout)
  let stopping = false;
  app.addHook('onSend', async (_req, reply) => { if (stopping) reply.header('connection', 'close'); });
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unknown';
    requests.inc({ route, status: String(reply.statusCode) });
    latency.observe({ route }, (performance.now() - (req as unknown as { t0: number }).t0) / 1000);
  });
  const admit = (n: number) => {
    if (queued() + n > maxQueue) throw new HttpError(503, 'overloaded', `the server has ${queued()} inputs waiting; try again later`);
  };

  app.setErrorHandler((err: FastifyError | HttpError | Error, req, reply) => {
    // TEI's routes answer in TEI's vocabulary: {error, error_type}; /v1/embeddings in TEI's OpenAI-compatible {message, code, error_type}
    const route = req.routeOptions.url ?? '';
    if (TEI_ROUTES.has(route)) {
      const f = err as FastifyError;
      const [status, type, message] = err instanceof TeiError ? [err.status, err.errorType, err.message]
        : err instanceof HttpError ? (err.status === 503 ? [429, 'Overloaded', err.message] : [err.status, 'Validation', err.message])
          : err instanceof EngineThreadError ? [424, 'Backend', err.message]
            : err instanceof JaBertError ? [422, 'Validation', redact(err.message)]
              : f.statusCode && f.statusCode >= 400 && f.statusCode < 500 ? [f.statusCode === 400 ? 422 : f.statusCode, 'Validation', f.message]
                : [424, 'Backend', 'Inference failed'];
      if (!(err instanceof TeiError || err instanceof HttpError || err instanceof JaBertError || (f.statusCode && f.statusCode < 500))) o.log?.(`internal error: ${err.stack ?? err.message}`);
      return reply.status(status as number).send(route === '/v1/embeddings' ? { message, code: status, error_type: type } : { error: message, error_type: type });
    }
    // ja-bert's own routes: {"error": {"code", "message"}}, the code always snake_case (bad_request, no_cache, overloaded,
    // payload_too_large, unsupported_media_type, not_found, internal), whoever refused: the route, the model, or fastify
    if (err instanceof HttpError) return reply.status(err.status).send({ error: { code: err.code, message: err.message } });
    if (err instanceof EngineThreadError) return reply.status(500).send({ error: { code: 'internal', message: err.message } });
    // the request's own content was refused by the model (empty after trimming, no text_b for a pair model, ...)
    if (err instanceof JaBertError) return reply.status(400).send({ error: { code: 'bad_request', message: redact(err.message) } });
    const f = err as FastifyError;
    if (f.validation) return reply.status(400).send({ error: { code: 'bad_request', message: `request ${f.message}` } });
    if (f.statusCode && f.statusCode >= 400 && f.statusCode < 500) return reply.status(f.statusCode).send({ error: { code: statusCode(f.statusCode), message: f.message } });
    o.log?.(`internal error: ${err.stack ?? err.message}`);
    return reply.status(500).send({ error: { code: 'internal', message: 'internal server error' } });
  });
  app.setNotFoundHandler((req, reply) => reply.status(404).send({ error: { code: 'not_found', message: `no route ${req.method} ${req.url.split('?')[0]}` } }));

  app.get('/healthz', async () => ({ status: 'ok', model: clf.dir, head: clf.head, labels: clf.labels, pairs: clf.needsPairs, rank: scorer ? { cache: scorer.cache, size: scorer.size, retrieve: scorer.retrieve } : null }));
  app.get('/metrics', async (_req, reply) => {
    refreshDepth();
    reply.header('content-type', registry.contentType);
    return registry.metrics();
  });

  app.post('/v1/classify', {
    schema: { body: { type: 'object', required: ['inputs'], additionalProperties: false, properties: {
      inputs: { type: 'array', minItems: 1, maxItems: maxInputs, items: { anyOf: [text, { type: 'object', required: ['text'], additionalProperties: false, properties: { text, text_b: text } }] } },
    } } },
  }, async (req) => {
    const body = req.body as { inputs: Array<string | { text: string; text_b?: string }> };
    const items = body.inputs.map((x) => (typeof x === 'string' ? { text: x } : { text: x.text, textB: x.text_b }));
    if (clf.needsPairs) {
      const i = items.findIndex((x) => x.textB === undefined);
      if (i >= 0) throw new HttpError(400, 'bad_request', `inputs[${i}] has no "text_b"; this model scores text pairs`);
    }
    admit(items.length);
    const results = await classifyBatcher.submit(items);
    return { results };
  });

  app.post('/v1/encode', {
    schema: { body: { type: 'object', required: ['inputs'], additionalProperties: false, properties: {
      inputs: { type: 'array', minItems: 1, maxItems: maxInputs, items: text },
      pooling: { type: 'string', enum: ['mean', 'cls', 'pooled'] }, normalize: { type: 'boolean' },
    } } },
  }, async (req) => {
    const body = req.body as { inputs: string[]; pooling?: Pooling; normalize?: boolean };
    admit(body.inputs.length);
    const v = await encodeBatcher(body.pooling ?? 'mean', body.normalize ?? false).submit(body.inputs);
    return { embeddings: v.map((x) => Array.from(x)) };
  });

  app.post('/v1/rank', {
    schema: { body: { type: 'object', additionalProperties: false, properties: {
      text, id: { type: 'string', minLength: 1, maxLength: maxTextLength }, top: { type: 'integer', minimum: 1, maximum: 10_000 },
    }, oneOf: [{ required: ['text'] }, { required: ['id'] }] } },
  }, async (req) => {
    if (!scorer) throw new HttpError(409, 'no_cache', 'this server has no B cache: start it with --cache C (built by ja-bert cache build) to rank');
    const body = req.body as { text?: string; id?: string; top?: number };
    admit(1);
    rankWaiting++;
    try {
      const r = await scorer.rank(body.text !== undefined ? body.text : { id: body.id! }, { top: body.top ?? 10 });
      return { results: r.results, candidates: r.candidates, ...(r.retrieved !== undefined ? { retrieved: r.retrieved } : {}) };
    } finally {
      rankWaiting--;
    }
  });

  registerTeiRoutes(app, {
    clf, enc, modelId: basename(clf.dir), dtype: o.dtype === 'int8' ? 'int8' : (await info()).autoDtype === 'bf16' && (o.dtype ?? 'auto') !== 'f32' ? 'bfloat16' : 'float32', version: packageInfo().version,
    classifyBatcher, encodeBatcher, admit, maxInputs, maxTextLength, maxConcurrent: maxQueue,
  });

  try { await app.listen({ host, port }); } catch (e) {
    // a busy port, an address not on this machine, a host that does not resolve: one line, and what was loaded is released
    await Promise.all([clf.close(), enc.close(), scorer?.close()]).catch(() => undefined);
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'EADDRINUSE' ? 'the port is in use' : code === 'ENOTFOUND' || code === 'EAI_AGAIN' ? 'the host name does not resolve' : code === 'EADDRNOTAVAIL' ? 'the address is not one of this machine\'s' : code === 'EACCES' ? 'permission denied (a port below 1024?)' : (e as Error).message;
    throw new OptionError(`--host ${host} --port ${port}: cannot listen (${code ? `${code}: ` : ''}${why})`);
  }
  const addr = app.server.address();
  const url = typeof addr === 'object' && addr ? `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}` : String(addr);
  let closing: Promise<void> | null = null;
  return {
    app, url, retrieve: scorer?.retrieve ?? null,
    close: () => closing ??= (async () => {
      stopping = true;
      await app.close();
      await Promise.all([clf.close(), enc.close(), scorer?.close()]);
    })(),
  };
}
