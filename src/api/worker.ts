/**
 * The engine thread: every native computation of the async API runs here,
 * one at a time (the native engine and its OpenMP team serve one caller), so
 * the caller's event loop (a server) stays free during a forward pass. Loaded
 * models stay here, addressed by handle. Errors go back as plain objects and
 * are rebuilt as their own classes on the other side.
 */
import { serializeError } from '../core/errors.js';
import { engineInfo, nativeKernels } from '../core/native.js';
import { openRanker, type OpenRanker } from '../cache/index.js';
import { TextClassifier, TextEncoder } from '../infer/models.js';
import type { Pooling } from '../infer/embed.js';
import { JOBS } from '../jobs.js';
import type { Reply, Task } from './protocol.js';

/** a loaded cache ranker (exhaustive or retrieve-then-rerank, as openRanker chose) */
interface Scorer { ranker: OpenRanker }
const handles = new Map<number, TextClassifier | TextEncoder | Scorer>();
const isScorer = (h: unknown): h is Scorer => typeof h === 'object' && h !== null && 'ranker' in h;
let nextHandle = 1;

function get<T>(handle: number, C: { prototype: T; name: string }): T {
  const h = handles.get(handle);
  if (!(h instanceof (C as unknown as new () => T))) throw new Error(`engine: no ${C.name} with handle ${handle} (closed?)`);
  return h;
}


async function run(t: Task): Promise<{ value: unknown }> {
  const kernels = nativeKernels();
  switch (t.op) {
    case 'info':
      return { value: { ...engineInfo(), autoDtype: kernels.autoDtype } };
    case 'load': {
      const o = { ...t.options, kernels } as never;
      if (t.kind === 'scorer') {
        // a cache that names an index retrieves, then reranks (retrieve: 0 scores every candidate); a loaded scorer
        // serves many queries, so its ANN index is read into memory once, now
        const ranker = await openRanker({ ...(t.options as { cache: string; dtype?: never; chunked?: boolean; retrieve?: number }), model: t.dir, kernels, prewarm: true });
        const handle = nextHandle++;
        handles.set(handle, { ranker });
        return { value: { handle, size: ranker.size, head: ranker.head, ...(ranker.retrieve !== null ? { retrieve: ranker.retrieve } : {}) } };
      }
      const from = typeof t.options.from === 'number' ? get(t.options.from, TextClassifier) : null;
      const m = t.kind === 'classifier' ? TextClassifier.load(t.dir, o)
        : from ? TextEncoder.fromModel(from.model, from.tokenizer, from.dir, t.options.maxSeqLength as number | undefined) : TextEncoder.load(t.dir, o);
      const handle = nextHandle++;
      handles.set(handle, m);
      const about = m instanceof TextClassifier ? { labels: m.labels, head: m.head, needsPairs: m.needsPairs } : { dimension: m.dimension };
      return { value: { handle, ...about } };
    }
    case 'tokens': {
      const h = handles.get(t.handle);
      if (h instanceof TextClassifier) return { value: { counts: h.tokenCounts(t.inputs), maxLength: h.maxLength } };
      const enc = get(t.handle, TextEncoder);
      return { value: { counts: enc.tokenCounts(t.inputs.map((x) => x.text)), maxLength: enc.maxLength } };
    }
    case 'classify':
      return { value: get(t.handle, TextClassifier).classify(t.inputs, t.batchSize) };
    case 'encode': {
      const enc = get(t.handle, TextEncoder);
      const v = enc.embed(t.texts, { ...t.options, pooling: t.options.pooling as Pooling | undefined });
      // one block (texts × dimension): one copy across the thread boundary
      const flat = new Float32Array(v.length * enc.dimension);
      v.forEach((x, i) => flat.set(x, i * enc.dimension));
      return { value: flat };
    }
    case 'rank': {
      const h = handles.get(t.handle);
      if (!isScorer(h)) throw new Error(`engine: no ranker with handle ${t.handle} (closed?)`);
      return { value: await h.ranker.rank(t.query) };
    }
    case 'dispose': {
      const h = handles.get(t.handle);
      if (isScorer(h)) h.ranker.close();
      handles.delete(t.handle);
      return { value: null };
    }
    case 'job': {
      const port = t.port, abort = t.abort;
      const options: Record<string, unknown> = { ...t.options, kernels };
      if (port) options.log = (line: string) => port.postMessage(line);
      if (abort) options.signal = { get aborted() { return Atomics.load(abort, 0) !== 0; } };
      try {
        return { value: await (JOBS[t.name] as (o: unknown) => unknown)(options) };
      } finally {
        port?.close();
      }
    }
  }
}

/** piscina's entry point */
export default async function handle(t: Task): Promise<Reply> {
  try {
    const r = await run(t);
    return { ok: r.value };
  } catch (e) {
    return { error: serializeError(e) };
  }
}
