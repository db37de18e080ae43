/**
 * The main-thread side of the engine thread: one piscina pool with one
 * worker (the native engine computes for one caller at a time and uses every
 * core itself), started on first use. Idle, it does not keep the process
 * alive; `closeEngine()` ends it at once.
 */
import { MessageChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { AbortedError, deserializeError, JaBertError, registerError } from '../core/errors.js';
import { OptionError } from '../core/options.js';
import type { JobName, Reply, Task } from './protocol.js';
import { resolveModel } from '../io/hub.js';

/** the engine thread could not start or died */
export class EngineThreadError extends JaBertError { override readonly code = 'ERR_JA_BERT_ENGINE_THREAD'; }
registerError(EngineThreadError);

let pool: Piscina | null = null;

function engine(): Piscina {
  pool ??= new Piscina({
    filename: new URL('./worker.js', import.meta.url).href,
    minThreads: 1, maxThreads: 1, concurrentTasksPerWorker: 1,
    // an idle engine thread is kept (models stay loaded) but never holds the process open
    idleTimeout: Number.MAX_SAFE_INTEGER,
  });
  return pool;
}

async function send<T>(task: Task, transferList?: Array<import('node:worker_threads').MessagePort>): Promise<T> {
  let reply: Reply;
  try {
    reply = await engine().run(task, transferList ? { transferList } : undefined) as Reply;
  } catch (e) {
    throw new EngineThreadError(`the engine thread failed: ${(e as Error).message}`);
  }
  if ('error' in reply) throw deserializeError(reply.error);
  return reply.ok as T;
}

/** a model call: load, classify, encode, rank, dispose */
export async function call<T>(task: Exclude<Task, { op: 'job' }>): Promise<T> {
  // a model named by hub id (org/name[@revision]) is resolved here, downloading it if needed, before the engine loads it
  if (task.op === 'load' && !(task.kind === 'encoder' && typeof task.options.from === 'number')) task = { ...task, dir: await resolveModel(task.dir) };
  return send<T>(task);
}

export interface JobControl {
  /** each progress line (the CLI's progress bar text, with ETA) */
  onProgress?: (line: string) => void;
  /** cancels training between steps; the run's folder is left as a kill leaves it, and the same call resumes it */
  signal?: AbortSignal;
}

/** a long job (finetune, pretrain, ...) in the engine thread, with progress lines and cancellation */
export async function job<T>(name: JobName, options: object, control: JobControl = {}): Promise<T> {
  if (control.signal?.aborted) throw new AbortedError(`${name}: cancelled before it started (the signal was already aborted)`);
  if (control.onProgress !== undefined && typeof control.onProgress !== 'function') throw new OptionError(`${name}: onProgress must be a function`);
  const abort = new Int32Array(new SharedArrayBuffer(4));
  const onAbort = () => Atomics.store(abort, 0, 1);
  control.signal?.addEventListener('abort', onAbort, { once: true });
  const channel = control.onProgress ? new MessageChannel() : null;
  if (channel) {
    channel.port1.on('message', (l: string) => control.onProgress!(l));
    channel.port1.unref();
  }
  try {
    const model = (options as { model?: unknown }).model;
    if (typeof model === 'string') options = { ...options, model: await resolveModel(model, { log: control.onProgress }) };
    const task: Task = { op: 'job', name, options: options as Record<string, unknown>, abort, port: channel?.port2 };
    return await send<T>(task, channel ? [channel.port2] : undefined);
  } finally {
    control.signal?.removeEventListener('abort', onAbort);
    channel?.port1.close();
  }
}

/** stop the engine thread now (loaded models are released); a later call starts a new one */
export async function closeEngine(): Promise<void> {
  const p = pool;
  pool = null;
  if (p) await p.destroy();
}
