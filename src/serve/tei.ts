/**
 * Text Embeddings Inference's routes and OpenAI's embeddings route beside ja-bert's own, so existing
 * clients work unchanged (TEI's OpenAPI document, docs/openapi.json in huggingface/text-embeddings-inference):
 *
 *   POST /embed       {"inputs": "…" | ["…"], "normalize": true, "truncate": false} → [[…]]
 *   POST /predict     {"inputs": "…" | ["a", "b"] | [["…"], ["a", "b"]], "raw_scores": false} → [{label, score}] (best first; a batch: [[…]])
 *   POST /rerank      {"query": "…", "texts": ["…"], "raw_scores": false, "return_text": false} → [{index, score, text?}] (best first)
 *   POST /similarity  {"inputs": {"source_sentence": "…", "sentences": ["…"]}} → [cosine, …]
 *   GET  /info        model id, dtype, type (classifier / embedding / reranker), limits, version
 *   GET  /health      200 while the engine answers
 *   POST /v1/embeddings  OpenAI's request {input, model?, encoding_format: float|base64, user?} →
 *                     {object: "list", data: [{object: "embedding", embedding, index}], model, usage: {prompt_tokens, total_tokens}}
 *
 * Errors are TEI's: {"error", "error_type"} (Validation 413/422, Tokenizer 422, Backend 424, Overloaded 429,
 * Unhealthy 503); /v1/embeddings answers TEI's OpenAI-compatible {"message", "code", "error_type"}. Responses carry
 * TEI's timing headers (x-compute-type, x-compute-time, x-compute-characters, x-compute-tokens, x-total-time,
 * x-tokenization-time, x-queue-time, x-inference-time; milliseconds).
 *
 * Scores: /predict gives each label's probability (softmax; a multi-label model's sigmoid) and, with raw_scores,
 * its log-probability, which equals the logit up to one constant per input. /rerank scores (query, text) with the
 * model's classifier (the cross-encoder, or a pair head: no cache needed) as the probability of the positive label,
 * with raw_scores its log-odds (for two labels, z_pos − z_neg exactly); a one-output (regression) model's score as is.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Classification, Classifier, Encoder } from '../api/index.js';
import { positiveLabelIndex } from '../data/processors.js';
import type { Batcher } from './batcher.js';

/** a refusal in TEI's vocabulary */
export class TeiError extends Error {
  constructor(readonly status: number, readonly errorType: 'Validation' | 'Tokenizer' | 'Backend' | 'Overloaded' | 'Unhealthy', message: string) { super(message); }
}

/** the routes whose errors are TEI's {error, error_type} (and /v1/embeddings' OpenAI-compatible form) */
export const TEI_ROUTES = new Set(['/embed', '/predict', '/rerank', '/similarity', '/info', '/health', '/v1/embeddings']);

export interface TeiContext {
  clf: Classifier;
  enc: Encoder;
  /** the served model as /info and OpenAI's "model" name it */
  modelId: string;
  dtype: string;
  version: string;
  classifyBatcher: Batcher<{ text: string; textB?: string }, Classification>;
  /** pooling undefined: the model's own (a sentence-transformers folder's declared pooling, else mean) */
  encodeBatcher: (pooling: 'mean' | 'cls' | 'pooled' | undefined, normalize: boolean) => Batcher<string, Float32Array>;
  admit: (n: number) => void;
  maxInputs: number;
  maxTextLength: number;
  maxConcurrent: number;
}

interface Timing { t0: number; tok: number; inf: number; chars: number; tokens: number }

/** TEI's response headers, in milliseconds (x-queue-time: what the request waited beyond tokenizing and the engine's work) */
function timingHeaders(reply: FastifyReply, t: Timing): void {
  const total = performance.now() - t.t0;
  reply.header('x-compute-type', 'cpu');
  reply.header('x-compute-time', String(Math.round(total)));
  reply.header('x-compute-characters', String(t.chars));
  reply.header('x-compute-tokens', String(t.tokens));
  reply.header('x-total-time', String(Math.round(total)));
  reply.header('x-tokenization-time', String(Math.round(t.tok)));
  reply.header('x-queue-time', String(Math.max(0, Math.round(total - t.tok - t.inf))));
  reply.header('x-inference-time', String(Math.round(t.inf)));
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function registerTeiRoutes(app: FastifyInstance, c: TeiContext): void {
  const { clf, enc } = c;
  const labels = clf.labels;
  const positive = positiveLabelIndex(labels.length ? labels : ['0', '1']);

  const body = (req: FastifyRequest, allowed: string[]): Record<string, unknown> => {
    if (!isObject(req.body)) throw new TeiError(422, 'Validation', 'the body must be a JSON object');
    const extra = Object.keys(req.body).filter((k) => !allowed.includes(k));
    if (extra.length) throw new TeiError(422, 'Validation', `unknown field${extra.length > 1 ? 's' : ''} ${extra.map((k) => `\`${k}\``).join(', ')}`);
    return req.body;
  };
  const bool = (b: Record<string, unknown>, k: string, dflt: boolean): boolean => {
    const v = b[k];
    if (v === undefined || v === null) return dflt;
    if (typeof v !== 'boolean') throw new TeiError(422, 'Validation', `\`${k}\` must be a boolean`);
    return v;
  };
  const str = (v: unknown, where: string): string => {
    if (typeof v !== 'string') throw new TeiError(422, 'Validation', `${where} must be a string`);
    if (v.length === 0) throw new TeiError(422, 'Validation', `${where} cannot be empty`);
    if (v.length > c.maxTextLength) throw new TeiError(413, 'Validation', `${where} is ${v.length} characters long; the most is ${c.maxTextLength}`);
    return v;
  };
  const batch = (n: number) => {
    if (n === 0) throw new TeiError(422, 'Validation', '`inputs` cannot be empty');
    if (n > c.maxInputs) throw new TeiError(413, 'Validation', `batch size ${n} > maximum allowed batch size ${c.maxInputs}`);
  };
  const noPrompt = (b: Record<string, unknown>) => {
    if (b.prompt_name !== undefined && b.prompt_name !== null) throw new TeiError(422, 'Validation', '`prompt_name`: this model has no sentence-transformers prompts');
  };
  /** TEI refuses inputs longer than the model takes unless `truncate` (then they are cut, as ja-bert always cuts) */
  const checkLength = (counts: number[], max: number, truncate: boolean) => {
    const i = counts.findIndex((n) => n > max);
    if (i >= 0 && !truncate) throw new TeiError(413, 'Validation', `Input validation error: \`inputs\` must have less than ${max} tokens. Given: ${counts[i]}`);
  };
  const embedTexts = async (texts: string[], normalize: boolean, truncate: boolean, t: Timing): Promise<Float32Array[]> => {
    let t1 = performance.now();
    const { counts, maxLength } = await enc.tokens(texts);
    t.tok = performance.now() - t1;
    checkLength(counts, maxLength, truncate);
    t.tokens = counts.reduce((a, n) => a + Math.min(n, maxLength), 0);
    t.chars = texts.reduce((a, s) => a + s.length, 0);
    c.admit(texts.length);
    t1 = performance.now();
    const v = await c.encodeBatcher(undefined, normalize).submit(texts);
    t.inf = performance.now() - t1;
    return v;
  };
  const classifyPairs = async (items: Array<{ text: string; textB?: string }>, truncate: boolean, t: Timing): Promise<Classification[]> => {
    let t1 = performance.now();
    const { counts, maxLength } = await clf.tokens(items);
    t.tok = performance.now() - t1;
    checkLength(counts, maxLength, truncate);
    t.tokens = counts.reduce((a, n) => a + Math.min(n, maxLength), 0);
    t.chars = items.reduce((a, x) => a + x.text.length + (x.textB?.length ?? 0), 0);
    c.admit(items.length);
    t1 = performance.now();
    const r = await c.classifyBatcher.submit(items);
    t.inf = performance.now() - t1;
    return r;
  };
  const timing = (): Timing => ({ t0: performance.now(), tok: 0, inf: 0, chars: 0, tokens: 0 });
  const stringList = (v: unknown, where: string): string[] => {
    if (typeof v === 'string') return [str(v, where)];
    if (!Array.isArray(v)) throw new TeiError(422, 'Validation', `${where} must be a string or an array of strings`);
    if (v.some((x) => typeof x !== 'string')) throw new TeiError(422, 'Validation', `${where}: token ids as input are not supported; send text`);
    return v.map((x, i) => str(x, `${where}[${i}]`));
  };

  app.post('/embed', async (req, reply) => {
    const b = body(req, ['inputs', 'normalize', 'truncate', 'truncation_direction', 'prompt_name']);
    noPrompt(b);
    if (b.truncation_direction !== undefined && b.truncation_direction !== 'right' && b.truncation_direction !== 'Right') throw new TeiError(422, 'Validation', '`truncation_direction`: only right truncation is supported');
    const texts = stringList(b.inputs, '`inputs`');
    batch(texts.length);
    const t = timing();
    const v = await embedTexts(texts, bool(b, 'normalize', true), bool(b, 'truncate', false), t);
    timingHeaders(reply, t);
    return v.map((x) => Array.from(x));
  });

  app.post('/v1/embeddings', async (req, reply) => {
    const b = body(req, ['input', 'model', 'encoding_format', 'user', 'dimensions']);
    if (b.dimensions !== undefined && b.dimensions !== null && b.dimensions !== enc.dimension) throw new TeiError(422, 'Validation', `\`dimensions\`: this model's embeddings have ${enc.dimension}`);
    const format = b.encoding_format ?? 'float';
    if (format !== 'float' && format !== 'base64') throw new TeiError(422, 'Validation', '`encoding_format` must be "float" or "base64"');
    const texts = stringList(b.input, '`input`');
    batch(texts.length);
    const t = timing();
    // OpenAI's embeddings are unit length; TEI's OpenAI route normalises too
    const v = await embedTexts(texts, true, true, t);
    timingHeaders(reply, t);
    const data = v.map((x, index) => ({
      object: 'embedding', index,
      embedding: format === 'base64' ? Buffer.from(Float32Array.from(x).buffer).toString('base64') : Array.from(x),
    }));
    return { object: 'list', data, model: typeof b.model === 'string' && b.model ? b.model : c.modelId, usage: { prompt_tokens: t.tokens, total_tokens: t.tokens } };
  });

  app.post('/predict', async (req, reply) => {
    const b = body(req, ['inputs', 'raw_scores', 'truncate', 'truncation_direction']);
    const raw = bool(b, 'raw_scores', false), truncate = bool(b, 'truncate', false);
    // a string, a pair of strings, or a batch of one-string and two-string arrays (TEI's PredictInput)
    const input = b.inputs;
    let single: boolean, items: Array<{ text: string; textB?: string }>;
    if (typeof input === 'string') { single = true; items = [{ text: str(input, '`inputs`') }]; }
    else if (Array.isArray(input) && input.length === 2 && input.every((x) => typeof x === 'string')) { single = true; items = [{ text: str(input[0], '`inputs`[0]'), textB: str(input[1], '`inputs`[1]') }]; }
    else if (Array.isArray(input) && input.every((x) => Array.isArray(x))) {
      single = false;
      items = (input as unknown[][]).map((x, i) => {
        if (x.length !== 1 && x.length !== 2) throw new TeiError(422, 'Validation', `\`inputs\`[${i}] must hold one string or a pair of strings`);
        return { text: str(x[0], `\`inputs\`[${i}][0]`), ...(x.length === 2 ? { textB: str(x[1], `\`inputs\`[${i}][1]`) } : {}) };
      });
    } else throw new TeiError(422, 'Validation', '`inputs` must be a string, a pair of strings, or a batch of one-string and two-string arrays');
    batch(items.length);
    if (clf.needsPairs) {
      const i = items.findIndex((x) => x.textB === undefined);
      if (i >= 0) throw new TeiError(422, 'Validation', `\`inputs\`${single ? '' : `[${i}]`}: this model scores text pairs; send ["text a", "text b"]`);
    }
    const t = timing();
    const results = await classifyPairs(items, truncate, t);
    timingHeaders(reply, t);
    const scored = results.map((r) => {
      const entries = Object.keys(r.probabilities).length ? Object.entries(r.probabilities) : [[r.label, r.score] as [string, number]];
      return entries.map(([label, p]) => ({ label, score: raw && Object.keys(r.probabilities).length ? Math.log(p) : p })).sort((x, y) => y.score - x.score);
    });
    return single ? scored[0] : scored;
  });

  app.post('/rerank', async (req, reply) => {
    const b = body(req, ['query', 'texts', 'raw_scores', 'return_text', 'truncate', 'truncation_direction']);
    const query = str(b.query, '`query`');
    if (!Array.isArray(b.texts)) throw new TeiError(422, 'Validation', '`texts` must be an array of strings');
    const texts = (b.texts as unknown[]).map((x, i) => str(x, `\`texts\`[${i}]`));
    batch(texts.length);
    const raw = bool(b, 'raw_scores', false), withText = bool(b, 'return_text', false);
    const t = timing();
    const results = await classifyPairs(texts.map((x) => ({ text: query, textB: x })), bool(b, 'truncate', false), t);
    timingHeaders(reply, t);
    const score = (r: Classification): number => {
      const ps = Object.values(r.probabilities);
      if (ps.length === 0) return raw ? r.score : 1 / (1 + Math.exp(-r.score)); // one output: its score, squashed as TEI squashes a one-class reranker
      const p = r.probabilities[labels[positive]!]!;
      return raw ? Math.log(p) - Math.log1p(-p) : p;
    };
    return results.map((r, index) => ({ index, score: score(r), ...(withText ? { text: texts[index] } : {}) })).sort((x, y) => y.score - x.score || x.index - y.index);
  });

  app.post('/similarity', async (req, reply) => {
    const b = body(req, ['inputs', 'parameters']);
    if (!isObject(b.inputs)) throw new TeiError(422, 'Validation', '`inputs` must be an object {source_sentence, sentences}');
    const source = str(b.inputs.source_sentence, '`inputs.source_sentence`');
    if (!Array.isArray(b.inputs.sentences)) throw new TeiError(422, 'Validation', '`inputs.sentences` must be an array of strings');
    const sentences = (b.inputs.sentences as unknown[]).map((x, i) => str(x, `\`inputs.sentences\`[${i}]`));
    batch(sentences.length + 1);
    const p = b.parameters;
    if (p !== undefined && p !== null && !isObject(p)) throw new TeiError(422, 'Validation', '`parameters` must be an object');
    if (isObject(p)) noPrompt(p);
    const t = timing();
    const [s, ...rest] = await embedTexts([source, ...sentences], true, isObject(p) ? bool(p, 'truncate', false) : false, t);
    timingHeaders(reply, t);
    return rest.map((v) => { let d = 0; for (let k = 0; k < v.length; k++) d += v[k]! * s![k]!; return d; });
  });

  app.get('/info', async () => {
    const { maxLength } = await enc.tokens(['']);
    return {
      model_id: c.modelId, model_sha: null, model_dtype: c.dtype,
      model_type: clf.head === 'nsp' ? { embedding: { pooling: 'mean' } } : { [clf.needsPairs ? 'reranker' : 'classifier']: { id2label: Object.fromEntries(labels.map((l, i) => [String(i), l])), label2id: Object.fromEntries(labels.map((l, i) => [l, i])) } },
      max_concurrent_requests: c.maxConcurrent, max_input_length: maxLength, max_batch_tokens: c.maxInputs * maxLength,
      max_batch_requests: null, max_client_batch_size: c.maxInputs, auto_truncate: false, tokenization_workers: 1, version: c.version, sha: null, docker_label: null,
    };
  });

  app.get('/health', async (_req, reply) => {
    try { await enc.tokens(['ok']); } catch { throw new TeiError(503, 'Unhealthy', 'unhealthy'); }
    return reply.status(200).send();
  });
}
