/**
 * Dynamic batching, as text-embeddings-inference and TorchServe do it: the
 * inputs of requests that arrive while the engine is busy (or within
 * `maxWaitMs` of each other) run as one padded batch, and each request gets
 * its own slice of the results back. A request is never split; one larger
 * than `maxBatchSize` runs alone. With batching off every request is its own
 * batch (the engine thread still runs them one at a time).
 */
export interface BatcherOptions {
  /** most inputs per batch (default 32) */
  maxBatchSize?: number;
  /** how long the first queued input may wait for others while the engine is idle (default 0: an idle engine starts at once; inputs that arrive while it is busy form the next batch) */
  maxWaitMs?: number;
  /** false: every request runs alone */
  enabled?: boolean;
  /** called with the number of inputs of each batch run */
  onBatch?: (inputs: number) => void;
}

interface Pending<I, O> { items: I[]; resolve: (o: O[]) => void; reject: (e: unknown) => void; at: number }

export class Batcher<I, O> {
  private readonly queue: Array<Pending<I, O>> = [];
  private busy = false;
  private timer: NodeJS.Timeout | null = null;
  private queued = 0;
  readonly maxBatchSize: number;
  readonly maxWaitMs: number;
  readonly enabled: boolean;

  constructor(private readonly run: (items: I[]) => Promise<O[]>, private readonly o: BatcherOptions = {}) {
    this.maxBatchSize = o.maxBatchSize ?? 32;
    this.maxWaitMs = o.maxWaitMs ?? 0;
    this.enabled = o.enabled ?? true;
  }

  /** inputs waiting for a batch */
  get depth(): number { return this.queued; }

  submit(items: I[]): Promise<O[]> {
    return new Promise<O[]>((resolve, reject) => {
      this.queue.push({ items, resolve, reject, at: performance.now() });
      this.queued += items.length;
      this.pump();
    });
  }

  private pump(): void {
    if (this.busy || this.queue.length === 0) return;
    const full = !this.enabled || this.queued >= this.maxBatchSize;
    const waited = performance.now() - this.queue[0]!.at;
    if (!full && waited < this.maxWaitMs) {
      this.timer ??= setTimeout(() => { this.timer = null; this.pump(); }, Math.max(0, this.maxWaitMs - waited));
      return;
    }
    if (this.timer) { clearTimeout(this.timer); this.timer = null; }
    // whole requests, oldest first, up to maxBatchSize inputs (at least one request)
    const take: Array<Pending<I, O>> = [this.queue.shift()!];
    let n = take[0]!.items.length;
    while (this.enabled && this.queue.length && n + this.queue[0]!.items.length <= this.maxBatchSize) {
      const p = this.queue.shift()!;
      n += p.items.length;
      take.push(p);
    }
    this.queued -= n;
    this.busy = true;
    this.o.onBatch?.(n);
    this.run(take.flatMap((p) => p.items)).then((out) => {
      let k = 0;
      for (const p of take) { p.resolve(out.slice(k, k + p.items.length)); k += p.items.length; }
    }, (e: unknown) => {
      if (take.length === 1) { take[0]!.reject(e); return; }
      // one bad input must not fail its neighbours: run each request of the batch alone
      for (const p of take) this.run(p.items).then(p.resolve, p.reject);
    }).finally(() => {
      this.busy = false;
      this.pump();
    });
  }
}
