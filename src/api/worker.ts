/**
 * The engine thread: every native computation of the async API runs here,
 * one at a time (the native engine and its OpenMP team serve one caller), so
 * the caller's event loop (a server) stays free during a forward pass. Loaded
 * models stay here, addressed by handle. Errors go back as plain objects and
 * are rebuilt as their own classes on the other side.
 */
import { serializeError } from '../core/errors.js';
import { engineInfo, nativeKernels } from '../core/native.js';
import { Ranker, buildCache } from '../cache.js';
import { compare } from '../compare.js';
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

const handles = new Map<number, TextClassifier | TextEncoder | Ranker>();
let nextHandle = 1;

function get<T>(handle: number, C: { prototype: T; name: string }): T {
  const h = handles.get(handle);
  if (!(h instanceof (C as unknown as new () => T))) throw new Error(`engine: no ${C.name} with handle ${handle} (closed?)`);
  return h;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const JOBS: Record<JobName, (o: any) => unknown> = {
  finetune, pretrain, baseline, compare, buildCache, predict, encodeFile, tokenizeFile, buildCorpus, exportModel,
};

function run(t: Task): { value: unknown } {
  const kernels = nativeKernels();
  switch (t.op) {
    case 'info':
      return { value: { ...engineInfo(), autoDtype: kernels.autoDtype } };
    case 'load': {
      const o = { ...t.options, kernels } as never;
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
    case 'rank':
      return { value: get(t.handle, Ranker).rank(t.query) };
    case 'dispose':
      handles.delete(t.handle);
      return { value: null };
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
export default function handle(t: Task): Reply {
  try {
    const r = run(t);
    return { ok: r.value };
  } catch (e) {
    return { error: serializeError(e) };
  }
}
