/**
 * What a head computes with: the kernels, its parameters and their gradients by
 * role (typed: `c.w.query`, resolved to the model's arena once: ParamViews),
 * dense helpers, and the scoring-only state (A-side results memoised for one
 * query across chunks of candidates, reusable work buffers), kept apart from
 * what a training forward saves for its backward.
 */
import type { F32, Kernels } from '../../core/kernels.js';
import { DTYPE_F32 } from '../../core/kernels.js';
import { linear, linearBackward } from '../linear.js';
import type { Spec } from '../spec.js';

/** where a head's parameters live: the model's arena, by name (resolved once per role) */
export interface ParamAccess { param(name: string): F32; grad(name: string): F32 }

/** parameters declared by role, as views into the model's arena: resolved by name once, gradients on first use */
export class ParamViews<R extends string = string> {
  /** the parameters by role */
  readonly w: Readonly<Record<R, F32>>;
  private grads: Readonly<Record<R, F32>> | null = null;

  constructor(private readonly access: ParamAccess, private readonly specs: Readonly<Record<R, Spec>>) {
    this.w = this.resolve((n) => access.param(n));
  }

  /** the gradients by role (views into the model's gradient arena, which the first call allocates: a training backward's) */
  get dw(): Readonly<Record<R, F32>> {
    return (this.grads ??= this.resolve((n) => this.access.grad(n)));
  }

  private resolve(at: (name: string) => F32): Record<R, F32> {
    return Object.fromEntries(Object.entries<Spec>(this.specs).map(([role, s]) => [role, at(s[0])])) as Record<R, F32>;
  }
}

export class HeadContext<R extends string = string> extends ParamViews<R> {
  private query: object | null = null;
  private memoVals = new Map<string, F32>();
  private bufs = new Map<string, F32>();
  private bf16Buf = new Uint16Array(0);
  private bf16Memo = new Map<string, Uint16Array>();
  private argBuf = new Int32Array(0);

  constructor(readonly K: Kernels, access: ParamAccess, specs: Readonly<Record<R, Spec>>, readonly D: number, readonly dim: number, readonly codes: number) {
    super(access, specs);
  }

  /** start scoring for a query (an object standing for one A); another object, or none, drops the memoised A-side values */
  setQuery(query: object | undefined): void {
    if (query !== this.query || !query) { this.query = query ?? null; this.memoVals.clear(); this.bf16Memo.clear(); }
  }
  /** a training forward memoises nothing */
  clearQuery(): void { this.setQuery(undefined); }

  /** Y[R, k] = X[R, D] Wᵀ, f32 (the model's one dense layer, linear.ts) into a fresh array */
  linear(X: F32, W: F32, R: number, k: number, D: number): F32 {
    return linear(this.K, new Float32Array(R * k), X, W, null, R, k, D, DTYPE_F32);
  }
  /** dW += dYᵀ X; returns dX = dY W (or accumulates into dXacc) */
  linearBack(dY: F32, X: F32, W: F32, dW: F32, R: number, k: number, D: number, dXacc?: F32): F32 {
    const dX = dXacc ?? new Float32Array(R * D);
    linearBackward(this.K, dY, X, W, dW, null, R, k, D, DTYPE_F32, dX, dXacc !== undefined);
    return dX;
  }

  /** A-side value for the current query (computed once per query; always fresh when training or without a query) */
  memo(key: string, keep: boolean, make: () => F32): F32 {
    if (keep || !this.query) return make();
    let v = this.memoVals.get(key);
    if (!v) { v = make(); this.memoVals.set(key, v); }
    return v;
  }
  /** bf16 copy of an A-side array for the current query */
  memoBf16(key: string, x: F32): Uint16Array {
    let v = this.bf16Memo.get(key);
    if (!v) { v = new Uint16Array(x.length); this.K.f32ToBf16(v, x, x.length); this.bf16Memo.set(key, v); }
    return v;
  }
  /** a work buffer of n floats: fresh when training (backward keeps it), reused when only scoring */
  buf(name: string, n: number, keep: boolean): F32 {
    if (keep) return new Float32Array(n);
    let b = this.bufs.get(name);
    if (!b || b.length < n) { b = new Float32Array(n); this.bufs.set(name, b); }
    return b.subarray(0, n);
  }
  bf16buf(n: number): Uint16Array {
    if (this.bf16Buf.length < n) this.bf16Buf = new Uint16Array(n);
    return this.bf16Buf.subarray(0, n);
  }
  i32buf(n: number): Int32Array {
    if (this.argBuf.length < n) this.argBuf = new Int32Array(n);
    return this.argBuf.subarray(0, n);
  }
}

/** x [Pa, n] -> [P, n]; Pa must be 1 (broadcast) or P */
export function expand(x: F32, Pa: number, P: number, n: number): F32 {
  if (Pa === P) return x.subarray(0, P * n);
  if (Pa !== 1) throw new Error(`pair head: A has ${Pa} rows for ${P} B rows`);
  const out = new Float32Array(P * n);
  for (let p = 0; p < P; p++) out.set(x.subarray(0, n), p * n);
  return out;
}

/** x [R, C] -> [C, R] */
export function transpose(x: F32, R: number, C: number): F32 {
  const out = new Float32Array(R * C);
  for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) out[c * R + r] = x[r * C + c]!;
  return out;
}

/** in-place L2 normalisation of R rows of width k; returns the norms */
export function normalizeRows(x: F32, R: number, k: number): F32 {
  const norms = new Float32Array(R);
  for (let r = 0; r < R; r++) {
    let s = 0;
    for (let c = 0; c < k; c++) s += x[r * k + c]! ** 2;
    const n = Math.sqrt(s) + 1e-12;
    norms[r] = n;
    for (let c = 0; c < k; c++) x[r * k + c] = x[r * k + c]! / n;
  }
  return norms;
}

/** d/dx of x/|x| given dy, y = x/|x| and |x| */
export function normalizeBackward(dy: F32, y: F32, norms: F32, R: number, k: number): F32 {
  const dx = new Float32Array(R * k);
  for (let r = 0; r < R; r++) {
    let dot = 0;
    for (let c = 0; c < k; c++) dot += dy[r * k + c]! * y[r * k + c]!;
    for (let c = 0; c < k; c++) dx[r * k + c] = (dy[r * k + c]! - dot * y[r * k + c]!) / norms[r]!;
  }
  return dx;
}

/** softmax over the last axis (length S) of [P, m, S] logits, positions with mask[p, j] = 0 excluded */
export function maskedSoftmaxRows(out: F32, logits: F32, P: number, m: number, S: number, mask: Uint8Array): void {
  for (let p = 0; p < P; p++) for (let c = 0; c < m; c++) {
    const o = (p * m + c) * S;
    let mx = -Infinity;
    for (let j = 0; j < S; j++) if (mask[p * S + j] && logits[o + j]! > mx) mx = logits[o + j]!;
    let sum = 0;
    for (let j = 0; j < S; j++) { const e = mask[p * S + j] ? Math.exp(logits[o + j]! - mx) : 0; out[o + j] = e; sum += e; }
    for (let j = 0; j < S; j++) out[o + j] = out[o + j]! / sum;
  }
}
