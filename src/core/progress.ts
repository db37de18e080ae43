/**
 * One progress line for long work, the same on every command: `label [####................] done/total unit,
 * rate unit/s, elapsed 1m02s, ETA 3m10s`. It is throttled: at most every 250 ms when standard error is a
 * terminal (the CLI rewrites the line in place), every 10 s otherwise (a log file gets a line per 10 s, not
 * per batch), and always for the first and the last update. JA_BERT_PROGRESS_SECONDS sets the interval.
 */

/** 1m02s, 45s; '?' when not finite */
export function formatDuration(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const m = Math.floor(s / 60), sec = Math.round(s % 60);
  return m ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

/** milliseconds between progress lines: JA_BERT_PROGRESS_SECONDS, else 250 ms on a terminal and 10 s otherwise */
export function progressInterval(): number {
  const env = Number(process.env.JA_BERT_PROGRESS_SECONDS);
  if (process.env.JA_BERT_PROGRESS_SECONDS !== undefined && Number.isFinite(env) && env >= 0) return env * 1000;
  return process.stderr.isTTY ? 250 : 10_000;
}

export class Progress {
  private readonly t0 = Date.now();
  private last = -Infinity;
  private started = false;

  constructor(private readonly log: ((line: string) => void) | undefined, private readonly label: string, private readonly total: number,
    private readonly unit: string, private readonly everyMs = progressInterval()) {}

  /** `done` of `total` finished; `extra` is appended (a loss, a count) */
  update(done: number, extra = ''): void {
    if (!this.log) return;
    const now = Date.now();
    if (this.started && done < this.total && now - this.last < this.everyMs) return;
    this.started = true;
    this.last = now;
    const el = (now - this.t0) / 1000, rate = done / el;
    const bar = '#'.repeat(Math.floor((20 * done) / Math.max(1, this.total))).padEnd(20, '.');
    this.log(`${this.label} [${bar}] ${done}/${this.total} ${this.unit}, ${done > 0 && el > 0 ? rate.toFixed(1) : '?'} ${this.unit}/s, elapsed ${formatDuration(el)}, ETA ${done > 0 ? formatDuration((this.total - done) / rate) : '?'}${extra ? `, ${extra}` : ''}`);
  }
}

/** the shortest decimal that reads back as the same float32: a loss or learning rate the kernels computed in float32, printed at its precision */
export function float32Decimal(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const f = Math.fround(x);
  for (let p = 1; p < 17; p++) {
    const d = Number(f.toPrecision(p));
    if (Math.fround(d) === f) return d;
  }
  return f;
}
