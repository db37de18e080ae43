/**
 * Cache builds spread over workers by a BullMQ queue on Redis (issue 16).
 *
 * `cache build --queue redis://HOST:PORT`: the coordinator decides what to
 * encode exactly as a single-process build does (texts already in the cache, same
 * model and storage, are kept), cuts the rest into chunks (in corpus order) and
 * puts one job per chunk on the queue. `ja-bert worker --queue …` takes jobs,
 * encodes the chunk's texts with the model the job names (a path both can read)
 * and writes the result as a chunk file, itself a cache of the same format, into
 * CACHE.chunks/. The build is done when every chunk file is there and checks out;
 * the coordinator then merges them, in corpus order, into CACHE (atomically) and
 * removes the folder.
 *
 *   - A crashed worker's job is retried: the worker renews its lock between batches;
 *     when it stops doing so, BullMQ marks the job stalled and another worker takes it.
 *   - A rerun resumes: chunk files already written are checked and kept, and only the
 *     missing chunks are queued again.
 *   - Chunks of a whole number of batches are encoded in the same batches as a
 *     single-process build, so the values are the same (bit for bit with the same
 *     thread count and ISA; oneDNN splits reductions by thread, which can change
 *     the last bit otherwise).
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { Progress } from '../core/progress.js';
import { Queue, QueueEvents, Worker, type Job } from 'bullmq';
import { loadFeature } from '../core/optional.js';
import type { Kernels } from '../core/kernels.js';
import { DTYPE_OPTIONS, type DTypeOption } from '../core/dtype.js';
import { choiceOption, intOption, OptionError } from '../core/options.js';
import { DataError } from '../data/processors.js';
import { readCorpusTexts, type BuildResult } from './build.js';
import { CACHE_STORAGES, CacheError, checkCacheTarget, closeCache, entryValues, readCache, textHash, writeCacheFile, type CacheRecord, type CacheStorage } from './format.js';
import { cacheHeaderFor, indexField, checkCacheFor, encodeTexts, loadScoringModel, type ScoringModel } from './scoring.js';

export const QUEUE_NAME = 'ja-bert-cache';

/** redis://HOST:PORT[/DB] → ioredis options (BullMQ needs maxRetriesPerRequest null for its blocking calls) */
export function redisConnection(url: string): { host: string; port: number; db: number; maxRetriesPerRequest: null } {
  let u: URL;
  try { u = new URL(url); } catch { throw new OptionError(`--queue must be redis://HOST:PORT, got ${JSON.stringify(url)}`); }
  if (u.protocol !== 'redis:' || !u.hostname) throw new OptionError(`--queue must be redis://HOST:PORT, got ${JSON.stringify(url)}`);
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0) throw new OptionError(`--queue: database "${u.pathname.slice(1)}" is not a number`);
  return { host: u.hostname, port: u.port ? Number(u.port) : 6379, db, maxRetriesPerRequest: null };
}

interface ChunkJob {
  model: string;
  storage: CacheStorage;
  dtype?: DTypeOption;
  batchSize: number;
  /** the cache being built (absolute): chunks go into CACHE.chunks/, which the coordinator made and marked */
  cache: string;
  /** the chunk file's name in that folder (chunk-NNNNNN-<hash>.jabc) */
  chunk: string;
  /** the build's token, in CACHE.chunks/.ja-bert-chunks: a worker writes only into a folder that holds it */
  token: string;
  items: Array<{ id: string; text: string }>;
}

const CHUNK_NAME = /^chunk-\d{6}-[0-9a-f]{24}\.jabc$/;
const CHUNKS_MARKER = '.ja-bert-chunks';

/**
 * a job's fields checked as the CLI checks flags, and its file confined to its build's chunk folder: anyone who
 * can write to the Redis queue can make a worker encode texts, never write outside a chunk folder a coordinator marked
 */
export function checkChunkJob(d: unknown, id: string): ChunkJob & { file: string } {
  const bad = (why: string): never => { throw new DataError(`job ${id}: ${why}; not a ja-bert cache chunk, refused`); };
  if (!d || typeof d !== 'object' || Array.isArray(d)) bad('no job data');
  const j = d as Record<string, unknown>;
  if (typeof j.model !== 'string' || j.model === '' || j.model.includes('\0')) bad('"model" must be a path');
  if (!(CACHE_STORAGES as readonly unknown[]).includes(j.storage)) bad(`"storage" must be one of ${CACHE_STORAGES.join(', ')}`);
  if (j.dtype !== undefined && !(DTYPE_OPTIONS as readonly unknown[]).includes(j.dtype)) bad(`"dtype" must be one of ${DTYPE_OPTIONS.join(', ')}`);
  if (!Number.isSafeInteger(j.batchSize) || (j.batchSize as number) < 1 || (j.batchSize as number) > 4096) bad('"batchSize" must be an integer from 1 to 4096');
  if (typeof j.cache !== 'string' || !isAbsolute(j.cache) || j.cache.includes('\0')) bad('"cache" must be an absolute path');
  if (typeof j.chunk !== 'string' || !CHUNK_NAME.test(j.chunk)) bad('"chunk" must be a chunk file name');
  if (typeof j.token !== 'string' || !/^[0-9a-f]{32}$/.test(j.token)) bad('"token" must be 32 hex digits');
  if (!Array.isArray(j.items) || j.items.length < 1 || j.items.length > 1_000_000 || !j.items.every((x) => x && typeof x === 'object' && typeof (x as { id?: unknown }).id === 'string' && typeof (x as { text?: unknown }).text === 'string')) bad('"items" must be 1 to 1,000,000 objects {id, text} of strings');
  const dir = `${j.cache as string}.chunks`;
  let marker = '';
  try {
    if (!lstatSync(dir).isDirectory()) bad('its chunk folder is not a folder');
    const m = join(dir, CHUNKS_MARKER);
    if (!lstatSync(m).isFile()) bad('its chunk folder has no build marker');
    marker = readFileSync(m, 'utf8').trim();
  } catch (e) { if (e instanceof DataError) throw e; bad('its chunk folder does not exist or has no build marker'); }
  if (marker !== j.token) bad("its token is not the one its chunk folder's build holds");
  return { ...(j as unknown as ChunkJob), file: join(dir, j.chunk as string) };
}

/** connect once, with a bounded retry, so a missing Redis is one line (ioredis alone retries forever) */
async function probeRedis(url: string, connection: ReturnType<typeof redisConnection>): Promise<void> {
  const { Redis } = await loadFeature('queue', () => import('ioredis'));
  let last = '';
  const client = new Redis({ ...connection, lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 3000,
    retryStrategy: (n: number) => (n > 4 ? null : 250 * n) });
  client.on('error', (e: Error & { code?: string }) => { last = e.code ?? e.message; });
  try {
    await client.connect();
    await client.ping();
  } catch (e) {
    client.disconnect();
    throw new CacheError(`--queue ${url}: cannot reach Redis (${last || (e as Error).message.replace(/\s+/g, ' ')}) after 5 tries; is redis-server running there?`);
  }
  await client.quit();
}

export interface QueueBuildOptions {
  model: string; texts: string; cache: string; kernels: Kernels; queue: string;
  /** texts per job (default 256; a multiple of --batch-size keeps the batches of a single-process build) */
  chunkSize?: number; batchSize?: number; dtype?: DTypeOption; cacheDtype?: CacheStorage;
  /** give up (the chunks done so far stay for a rerun) after this many seconds without progress (default 600) */
  stallSeconds?: number;
  /** the folder of the LanceDB index the merged cache will name (written next, by retrieve.ts' writeIndex) */
  index?: string;
  /** replace a file at `cache` that is not a ja-bert cache */
  overwrite?: boolean;
  log?: (line: string) => void;
}

/** does `file` hold exactly these texts, for this model and storage? */
function chunkReady(file: string, m: ScoringModel, storage: CacheStorage, items: Array<{ id: string; hash: string }>): boolean {
  if (!existsSync(file)) return false;
  try {
    const c = readCache(file);
    try {
      checkCacheFor(c, m);
      return c.header.storage === storage && c.header.entries.length === items.length && c.header.entries.every((e, i) => e.id === items[i]!.id && e.hash === items[i]!.hash);
    } finally { closeCache(c); }
  } catch { return false; }
}

/** the coordinator: plan, queue the missing chunks, wait, merge */
export async function buildCacheQueued(o: QueueBuildOptions): Promise<BuildResult> {
  const t0 = Date.now();
  const connection = redisConnection(o.queue);
  const chunkSize = intOption('chunk-size', o.chunkSize, 256);
  const batchSize = intOption('batch-size', o.batchSize, 32);
  const storage = choiceOption('cache-dtype', o.cacheDtype, CACHE_STORAGES, 'f32');
  const stallSeconds = o.stallSeconds ?? 600;
  checkCacheTarget(o.cache, { inputs: [{ flag: '--texts', path: o.texts }], model: o.model, overwrite: o.overwrite, index: o.index });
  const m = loadScoringModel(o.model, o.kernels, o.dtype);
  const texts = readCorpusTexts(o.texts);
  const header = { ...cacheHeaderFor(m, storage), ...indexField(m, o.index, o.cache) };
  // what a single-process build would reuse: the existing cache's rows of the same model, storage and text
  const records: CacheRecord[] = texts.map(({ id, text }) => ({ id, text, hash: textHash(text), rows: 0, data: new Float32Array(0) }));
  if (existsSync(o.cache)) {
    try {
      const c = readCache(o.cache);
      try {
        checkCacheFor(c, m);
        if (c.header.storage === storage) for (const r of records) { const e = c.byId.get(r.id); if (e && e.hash === r.hash) { r.rows = e.rows; r.data = entryValues(c, e); } }
      } finally { closeCache(c); }
    } catch (e) { o.log?.(`${(e as Error).message.split(';')[0]}: not reused`); }
  }
  const todo = records.map((_, i) => i).filter((i) => records[i]!.rows === 0);
  const dir = `${o.cache}.chunks`;
  // the chunk folder is ja-bert's: new, or marked by an earlier build of this cache (whose chunks a rerun keeps)
  if (existsSync(dir)) {
    if (!lstatSync(dir).isDirectory()) throw new CacheError(`${dir}: exists and is not a folder; ja-bert keeps a queue build's chunks there: move it away`);
    const foreign = readdirSync(dir).filter((f) => f !== CHUNKS_MARKER && !CHUNK_NAME.test(f) && !/\.\d+\.tmp$/.test(f));
    if (foreign.length || (!existsSync(join(dir, CHUNKS_MARKER)) && readdirSync(dir).length)) throw new CacheError(`${dir}: holds files a queue build did not write (${foreign.slice(0, 3).join(', ') || 'no build marker'}); move them away`);
  }
  await probeRedis(o.queue, connection);
  mkdirSync(dir, { recursive: true });
  const token = randomBytes(16).toString('hex');
  writeFileAtomic(join(dir, CHUNKS_MARKER), (w) => w(token + '\n'));
  const chunks: Array<{ idx: number[]; name: string; file: string }> = [];
  for (let s = 0; s < todo.length; s += chunkSize) {
    const idx = todo.slice(s, s + chunkSize);
    // a chunk's file is named by what it holds: a changed corpus or model never reuses a stale chunk
    const key = createHash('sha256').update(m.hash).update(storage).update(idx.map((i) => `${records[i]!.id}\0${records[i]!.hash}`).join('\n')).digest('hex').slice(0, 24);
    const name = `chunk-${String(chunks.length).padStart(6, '0')}-${key}.jabc`;
    chunks.push({ idx, name, file: join(dir, name) });
  }
  const missing = chunks.filter((c) => !chunkReady(c.file, m, storage, c.idx.map((i) => records[i]!)));
  o.log?.(`queue build: ${texts.length} texts, ${todo.length} to encode in ${chunks.length} chunks of ${chunkSize}; ${chunks.length - missing.length} chunks already done, ${missing.length} queued on ${o.queue}`);
  if (missing.length) {
    const queue = new Queue<ChunkJob>(QUEUE_NAME, { connection });
    const events = new QueueEvents(QUEUE_NAME, { connection });
    try {
      await events.waitUntilReady();
      const nonce = `${process.pid}-${Date.now()}`;
      const jobs = await queue.addBulk(missing.map((c, k) => ({
        name: 'encode',
        data: { model: resolve(o.model), storage, dtype: o.dtype, batchSize, cache: resolve(o.cache), chunk: c.name, token, items: c.idx.map((i) => ({ id: records[i]!.id, text: records[i]!.text })) },
        // retried after a worker's crash (its lock lapses) or failure; kept briefly for inspection
        opts: { jobId: `${nonce}-${k}`, attempts: 3, backoff: { type: 'fixed', delay: 1000 }, removeOnComplete: { age: 3600 }, removeOnFail: { age: 86400 } },
      })));
      // the jobs seen completed, by id: the event stream and the state poll below both report a job, often both
      // (a count incremented by one and raised by the other would count a job twice and merge before it is done)
      const completed = new Set<string>();
      let last = Date.now();
      const failed: string[] = [];
      const bar = new Progress(o.log, 'cache', jobs.length, 'chunks');
      // the wait settles once, by whichever path sees the end first; settling stops the poll, and the
      // queue is closed only after a poll or a failure lookup in flight has returned (a command sent on a
      // closed connection rejects outside this function and takes the process down)
      let settled = false;
      const inFlight = new Set<Promise<unknown>>();
      const track = <T>(p: Promise<T>): Promise<T> => { inFlight.add(p); void p.then(() => inFlight.delete(p), () => inFlight.delete(p)); return p; };
      try {
        await new Promise<void>((resolve, reject) => {
          const ids = new Set(jobs.map((j) => j.id!));
          let timer: NodeJS.Timeout | undefined;
          const settle = (e?: Error) => { if (settled) return; settled = true; clearInterval(timer); if (e) reject(e); else resolve(); };
          const finish = () => { if (completed.size + failed.length === ids.size) settle(failed.length ? new CacheError(`${o.cache}: ${failed.length} chunk(s) failed on the workers: ${failed[0]}; rerun to retry them`) : undefined); };
          const complete = (jobId: string) => {
            if (!ids.has(jobId) || completed.has(jobId)) return;
            completed.add(jobId); last = Date.now();
            bar.update(completed.size);
          };
          events.on('completed', ({ jobId }) => { if (settled) return; complete(jobId); finish(); });
          events.on('failed', ({ jobId, failedReason }) => {
            if (settled || !ids.has(jobId)) return;
            // a failure with attempts left is retried; only the last one counts
            track(queue.getJob(jobId)).then((job) => {
              if (settled || (job && job.attemptsMade < (job.opts.attempts ?? 1))) return;
              failed.push(`${jobId}: ${failedReason}`); last = Date.now(); finish();
            }, (e: unknown) => settle(e instanceof Error ? e : new Error(String(e))));
          });
          let polling = false;
          timer = setInterval(() => {
            if (settled || polling) return;
            polling = true;
            // jobs finished before this listener existed count too
            track(Promise.all(jobs.map((j) => queue.getJobState(j.id!)))).then((states) => {
              polling = false;
              if (settled) return;
              states.forEach((st, k) => { if (st === 'completed') complete(jobs[k]!.id!); });
              if (completed.size === ids.size) settle();
              else if (Date.now() - last > stallSeconds * 1000) {
                settle(new CacheError(`${o.cache}: no chunk finished for ${stallSeconds} s (${completed.size} of ${ids.size} done): is a worker running (ja-bert worker --queue ${o.queue})? The chunks done stay in ${dir}; rerun to resume`));
              }
            }, (e: unknown) => { polling = false; settle(e instanceof Error ? e : new Error(String(e))); });
          }, 1000);
          events.on('error', (e: Error) => settle(e));
        });
      } finally {
        settled = true;
        await Promise.allSettled([...inFlight]);
      }
    } finally {
      await events.close();
      await queue.close();
    }
  }
  // merge: every chunk must now be there, complete and of this model
  for (const c of chunks) {
    const items = c.idx.map((i) => records[i]!);
    if (!chunkReady(c.file, m, storage, items)) throw new CacheError(`${c.file}: missing or not this chunk's texts after the workers finished; rerun to rebuild it`);
    const f = readCache(c.file);
    try { c.idx.forEach((i, k) => { const e = f.header.entries[k]!; records[i]!.rows = e.rows; records[i]!.data = entryValues(f, e); }); } finally { closeCache(f); }
  }
  const bytes = writeCacheFile(o.cache, header, records);
  // only what the build wrote goes: its chunks and marker, then the folder if nothing else is in it
  for (const f of readdirSync(dir)) if (CHUNK_NAME.test(f) || f === CHUNKS_MARKER) rmSync(join(dir, f), { force: true });
  try { rmdirSync(dir); } catch { /* something else is in it: kept */ }
  return { entries: records.length, encoded: todo.length, reused: records.length - todo.length, bytes, seconds: (Date.now() - t0) / 1000 };
}

/**
 * `ja-bert worker`: encode the queue's chunks until stopped (SIGTERM/SIGINT: the job in hand is
 * finished first). Models are loaded once per path. Between batches the worker yields to the event
 * loop, so BullMQ renews its lock while it encodes; a worker that dies stops renewing, and after
 * `lockSeconds` its job goes to another worker.
 */
export async function runWorker(o: { queue: string; kernels: Kernels; concurrency?: number; lockSeconds?: number; log?: (line: string) => void; signal?: AbortSignal }): Promise<{ jobs: number }> {
  const connection = redisConnection(o.queue);
  const lockMs = (o.lockSeconds ?? 30) * 1000;
  if (!(lockMs >= 1000)) throw new OptionError(`--lock-seconds must be at least 1, got ${o.lockSeconds}`);
  const models = new Map<string, ScoringModel>();
  let jobs = 0;
  await probeRedis(o.queue, connection);
  if (o.signal?.aborted) return { jobs };
  const worker = new Worker<ChunkJob>(QUEUE_NAME, async (job: Job<ChunkJob>) => {
    const d = checkChunkJob(job.data, String(job.id));
    const key = `${d.model}\0${d.dtype ?? 'auto'}`;
    if (!models.has(key)) models.set(key, loadScoringModel(d.model, o.kernels, d.dtype));
    const m = models.get(key)!;
    const items = d.items.map((x) => ({ ...x, hash: textHash(x.text) }));
    if (chunkReady(d.file, m, d.storage, items)) return { entries: items.length, skipped: true };
    const out: CacheRecord[] = [];
    for (let s = 0; s < items.length; s += d.batchSize) {
      const part = items.slice(s, s + d.batchSize);
      encodeTexts(m, part.map((x) => x.text), d.batchSize).forEach((v, k) => out.push({ ...part[k]!, rows: v.rows, data: v.data }));
      await job.updateProgress(Math.round((100 * out.length) / items.length));
      await new Promise((r) => setImmediate(r)); // let the lock renewal run
    }
    writeCacheFile(d.file, cacheHeaderFor(m, d.storage), out);
    jobs++;
    o.log?.(`worker: ${job.id}: ${items.length} texts -> ${d.file}`);
    return { entries: items.length };
  }, { connection, concurrency: intOption('concurrency', o.concurrency, 1), lockDuration: lockMs, stalledInterval: Math.max(500, lockMs / 2), maxStalledCount: 3 });
  worker.on('failed', (job, err) => o.log?.(`worker: ${job?.id}: failed: ${err.message}`));
  // Redis going away later: one line per outage, not a stack every retry
  let down = false;
  worker.on('error', (e: Error & { code?: string }) => { if (!down) { down = true; o.log?.(`worker: Redis at ${o.queue}: ${e.code ?? e.message}; retrying (SIGTERM stops)`); } });
  worker.on('ready', () => { down = false; });
  await worker.waitUntilReady();
  o.log?.(`worker: waiting for jobs on ${o.queue} (queue ${QUEUE_NAME})`);
  await new Promise<void>((resolve) => {
    if (o.signal?.aborted) resolve();
    o.signal?.addEventListener('abort', () => resolve(), { once: true });
  });
  // the chunk in hand is finished first; with Redis gone, closing cannot finish, so it is bounded
  await Promise.race([worker.close(), new Promise((r) => setTimeout(r, 15000).unref())]);
  if (down) await worker.disconnect();
  return { jobs };
}

/** the chunk files of an unfinished queue build (for tests and inspection) */
export const chunkFiles = (cache: string): string[] => (existsSync(`${cache}.chunks`) ? readdirSync(`${cache}.chunks`).sort() : []);
