import { Rng } from '../src/core/random.js';

export function randn(n: number, rng: Rng, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal() * scale;
  return a;
}

/** max over i of |a-b| / (|b| + floor) with floor = atol-ish scale of b */
export function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let maxAbsB = 0;
  for (let i = 0; i < b.length; i++) maxAbsB = Math.max(maxAbsB, Math.abs(b[i]!));
  const floor = Math.max(maxAbsB * 1e-3, 1e-12);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const e = Math.abs(a[i]! - b[i]!) / (Math.abs(b[i]!) + floor);
    if (!(e <= worst)) worst = Number.isNaN(e) ? Infinity : e;
  }
  return worst;
}

export function assertClose(name: string, a: ArrayLike<number>, b: ArrayLike<number>, tol: number): void {
  const e = maxRelErr(a, b);
  if (!(e <= tol)) throw new Error(`${name}: max relative error ${e.toExponential(3)} > ${tol}`);
}
