/**
 * The engine thread: every native computation of the async API runs here,
 * one at a time (the native engine and its OpenMP team serve one caller), so
 * the caller's event loop (a server) stays free during a forward pass. Loaded
 * models stay here, addressed by handle. Errors go back as plain objects and
 * are rebuilt as their own classes on the other side.
 */
import { existsSync } from 'node:fs';
import { serializeError } from '../core/errors.js';
import { OptionError } from '../core/options.js';
import { engineInfo, nativeKernels } from '../core/native.js';
import { Ranker, buildCache, readCacheHeaderIndex } from '../cache.js';
import type { RetrieveRanker } from '../retrieve.js';
import { compare } from '../compare.js';
import { crossValidate } from '../crossval.js';
import { encodeFile } from '../encode.js';
import { finetune, predict } from '../finetune.js';
import { baseline } from '../baseline/baseline.js';
import { pretrain } from '../pretrain/pretrain.js';
import { buildCorpus } from '../pretrain/corpus.js';
import { exportModel } from '../export/export.js';
import { tokenizeFile } from '../tokenize/file.js';
import { TextClassifier, TextEncoder } from '../infer/models.js';
import type { Pooling } from '../infer/embed.js';
import type { JobName, Reply, Task } from './protocol.js';

/** a retrieving ranker and the K it retrieves */
interface Retrieving { rr: RetrieveRanker; retrieve: number }
const handles = new Map<number, TextClassifier | TextEncoder | Ranker | Retrieving>();
const isRetrieving = (h: unknown): h is Retrieving => typeof h === 'object' && h !== null && 'rr' in h;
let nextHandle = 1;

function get<T>(handle: number, C: { prototype: T; name: string }): T {
  const h = handles.get(handle);
  if (!(h instanceof (C as unknown as new () => T))) throw new Error(`engine: no ${C.name} with handle ${handle} (closed?)`);
  return h;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const JOBS: Record<JobName, (o: any) => unknown> = {
  finetune, pretrain, baseline, crossValidate, compare, buildCache, predict, encodeFile, tokenizeFile, buildCorpus, exportModel,
};

async function run(t: Task): Promise<{ value: unknown }> {
  const kernels = nativeKernels();
  switch (t.op) {
    case 'info':
      return { value: { ...engineInfo(), autoDtype: kernels.autoDtype } };
    case 'load': {
      const o = { ...t.options, kernels } as never;
      // a scorer on a cache that names an index retrieves, then reranks (retrieve: 0 scores every candidate)
      const named = t.kind === 'scorer' && t.options.retrieve !== 0 && readCacheHeaderIndex(t.options.cache);
      if (t.kind === 'scorer' && typeof t.options.retrieve === 'number' && t.options.retrieve > 0 && !named && existsSync(t.options.cache)) {
        throw new OptionError(`retrieve: ${t.options.cache} names no index (build it with cache build --index lancedb://PATH)`);
      }
      if (named) {
        process.env.LANCEDB_LOG ??= 'error';
        const { RetrieveRanker, DEFAULT_RETRIEVE } = await import('../retrieve.js');
        // a loaded scorer serves many queries: its ANN index is read into memory once, now
        const rr = await RetrieveRanker.load({ ...(t.options as { cache: string; dtype?: never; chunked?: boolean }), model: t.dir, kernels, prewarm: true });
        const handle = nextHandle++, retrieve = (t.options.retrieve as number | undefined) ?? DEFAULT_RETRIEVE;
        handles.set(handle, { rr, retrieve });
        return { value: { handle, size: rr.size, head: rr.model.pm.head.cfg.type, retrieve } };
      }
      const from = typeof t.options.from === 'number' ? get(t.options.from, TextClassifier) : null;
      const m = t.kind === 'classifier' ? TextClassifier.load(t.dir, o)
        : t.kind === 'encoder' ? (from ? TextEncoder.fromModel(from.model, from.tokenizer, from.dir, t.options.maxSeqLength as number | undefined) : TextEncoder.load(t.dir, o))
          : Ranker.load({ ...(t.options as { cache: string }), model: t.dir, kernels } as never);
      const handle = nextHandle++;
      handles.set(handle, m);
      const about = m instanceof TextClassifier ? { labels: m.labels, head: m.head, needsPairs: m.needsPairs }
        : m instanceof TextEncoder ? { dimension: m.dimension } : { size: m.size, head: m.model.pm.head.cfg.type };
      return { value: { handle, ...about } };
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
      if (isRetrieving(h)) return { value: await h.rr.rank({ ...t.query, retrieve: h.retrieve }) };
      return { value: get(t.handle, Ranker).rank(t.query) };
    }
    case 'dispose': {
      const h = handles.get(t.handle);
      if (isRetrieving(h)) h.rr.close();
      handles.delete(t.handle);
      return { value: null };
    }
    case 'job': {
      const port = t.port, abort = t.abort;
      const options: Record<string, unknown> = { ...t.options, kernels };
      if (port) options.log = (line: string) => port.postMessage(line);
      if (abort) options.signal = { get aborted() { return Atomics.load(abort, 0) !== 0; } };
      try {
        return { value: JOBS[t.name](options) };
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
