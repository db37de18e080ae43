/**
 * A run's live log: metrics.csv and (with `--report-to tensorboard`) a TensorBoard event file in
 * OUT/runs/, appended while training runs, so `tail -f` and TensorBoard follow it as HF Trainer's
 * logs are followed: one row and one event per optimizer step (its loss and learning rate), one per
 * evaluation, and the final evaluation of the saved model (kind `final` in the CSV), each event with
 * the wall time it happened at. Each step's row is appended when the step ends (one small write
 * per file: nothing next to a training step, and the same writes on every run, which the
 * kill-at-every-file-step tests rely on).
 *
 * metrics.csv's columns are step, kind, loss, learning_rate and the evaluation metrics in name
 * order; the first evaluation names them, so the file is rewritten (temp file + rename) once when
 * it brings new columns, and appended to otherwise. A resumed run rewrites it from its checkpoint's
 * history (the interrupted process may have logged steps past its last checkpoint) and opens a new
 * event file that starts with TensorFlow's SessionLog START at the first step it will log, which
 * makes TensorBoard drop those steps from the earlier file.
 */
import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { appendToFile, writeFileAtomic } from '../io/atomic.js';
import { scalarRecord, sessionStartRecord, versionRecord } from './tfevents.js';

export interface LogPoint { step: number; loss: number; lr?: number }
export interface LogEval { step: number; [metric: string]: number | undefined }

type Row = { step: number; kind: 'train' | 'eval' | 'final'; values: Record<string, number | undefined> };

let eventFiles = 0;

const cell = (v: number | undefined): string => (v === undefined || Number.isNaN(v) ? '' : String(v));

export class RunLog {
  private readonly csvPath: string;
  private rows: Row[] = [];
  private evalKeys: string[] = [];
  private pending: Row[] = [];
  private rewrite = true;
  private events: string | null = null;
  private pendingEvents: Buffer[] = [];

  /** `tensorboard`: also write OUT/runs/events.out.tfevents.* */
  constructor(readonly dir: string, readonly tensorboard: boolean) {
    this.csvPath = join(dir, 'metrics.csv');
  }

  /** the history so far (a resumed run's, from its checkpoint; empty on a fresh start): metrics.csv written anew, a new event file opened */
  begin(curve: LogPoint[], evals: LogEval[]): void {
    this.rows = [];
    this.evalKeys = [];
    for (const r of mergeHistory(curve, evals)) this.add(r);
    this.pending = [];
    this.rewrite = true;
    if (this.tensorboard) {
      const dir = join(this.dir, 'runs');
      mkdirSync(dir, { recursive: true });
      const now = Date.now() / 1000;
      // the pid and a count, as TensorFlow's writer names its files: a resumed run in the same second must not append to the interrupted one's file
      this.events = join(dir, `events.out.tfevents.${Math.floor(now)}.${hostname()}.${process.pid}.${eventFiles++}.ja-bert`);
      // a resumed run's earlier steps stay in the earlier files; what they hold past the checkpoint, START purges
      const last = curve.length ? curve[curve.length - 1]!.step : 0;
      this.pendingEvents = last > 0 ? [versionRecord(now), sessionStartRecord(last + 1, now)] : [versionRecord(now)];
    }
    this.flush();
  }

  step(p: LogPoint): void {
    this.add({ step: p.step, kind: 'train', values: { loss: p.loss, learning_rate: p.lr } });
    this.event(p.step, 'train/loss', p.loss);
    if (p.lr !== undefined) this.event(p.step, 'train/learning_rate', p.lr);
    this.flush();
  }

  /** an evaluation during training (kind eval) or the final one of the saved model (kind final) */
  eval(e: LogEval, kind: 'eval' | 'final' = 'eval'): void {
    const values: Record<string, number | undefined> = {};
    for (const [k, v] of Object.entries(e)) if (k !== 'step') values[k] = v;
    this.add({ step: e.step, kind, values });
    for (const [k, v] of Object.entries(values)) if (v !== undefined) this.event(e.step, `eval/${k.replace(/^eval_/, '')}`, v);
    this.flush();
  }

  /** write what is buffered */
  flush(): void {
    if (this.rewrite) {
      writeFileAtomic(this.csvPath, (w) => w(this.header() + this.rows.map((r) => this.line(r)).join('')));
      this.rewrite = false;
    } else if (this.pending.length) appendToFile(this.csvPath, this.pending.map((r) => this.line(r)).join(''));
    this.pending = [];
    if (this.events && this.pendingEvents.length) {
      appendToFile(this.events, Buffer.concat(this.pendingEvents));
      this.pendingEvents = [];
    }
  }

  private add(r: Row): void {
    this.rows.push(r);
    this.pending.push(r);
    if (r.kind !== 'train') {
      const fresh = Object.keys(r.values).filter((k) => !this.evalKeys.includes(k));
      if (fresh.length) { this.evalKeys = [...this.evalKeys, ...fresh].sort(); this.rewrite = true; }
    }
  }

  private event(step: number, tag: string, value: number): void {
    if (!this.events) return;
    const rec = scalarRecord({ step, tag, value }, Date.now() / 1000);
    if (rec) this.pendingEvents.push(rec);
  }

  private header(): string {
    return ['step', 'kind', 'loss', 'learning_rate', ...this.evalKeys].join(',') + '\n';
  }

  private line(r: Row): string {
    const v = r.values;
    return (r.kind === 'train'
      ? [r.step, 'train', cell(v.loss), cell(v.learning_rate), ...this.evalKeys.map(() => '')]
      : [r.step, r.kind, '', '', ...this.evalKeys.map((k) => cell(v[k]))]).join(',') + '\n';
  }
}

/** the train rows and evaluations of a history in the order they were logged: by step, a step's training row before its evaluation */
function mergeHistory(curve: LogPoint[], evals: LogEval[]): Row[] {
  const rows: Array<[number, number, Row]> = [];
  for (const c of curve) rows.push([c.step, 0, { step: c.step, kind: 'train', values: { loss: c.loss, learning_rate: c.lr } }]);
  evals.forEach((e, i) => {
    const values: Record<string, number | undefined> = {};
    for (const [k, v] of Object.entries(e)) if (k !== 'step') values[k] = v;
    rows.push([e.step, 1 + i / (evals.length + 1), { step: e.step, kind: 'eval', values }]);
  });
  rows.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  return rows.map((r) => r[2]);
}
