/**
 * L2-regularised logistic regression, solved to convergence by L-BFGS, with
 * scikit-learn's objective: C * sum(log loss) + 0.5 * ||W||^2 (intercept not
 * penalised). Two classes: one sigmoid (as sklearn fits binary problems);
 * more: multinomial softmax. Float64 throughout.
 */

export interface LogRegOptions { C?: number; maxIter?: number; tol?: number }

export interface LogRegModel {
  /** [K, D] weights (K = 1 for binary) and [K] intercepts */
  W: Float64Array;
  b: Float64Array;
  K: number;
  D: number;
  classes: number;
  iterations: number;
  /** final objective divided by C * N: mean training log loss plus the penalty share */
  objective: number;
}

/** class probabilities [N, classes] */
export function predictProba(m: LogRegModel, X: Float64Array, N: number): Float64Array {
  const P = new Float64Array(N * m.classes);
  const z = new Float64Array(m.K);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < m.K; k++) {
      let s = m.b[k]!;
      for (let d = 0; d < m.D; d++) s += m.W[k * m.D + d]! * X[n * m.D + d]!;
      z[k] = s;
    }
    if (m.K === 1) {
      const p1 = 1 / (1 + Math.exp(-z[0]!));
      P[n * 2] = 1 - p1; P[n * 2 + 1] = p1;
    } else {
      let mx = -Infinity;
      for (let k = 0; k < m.K; k++) mx = Math.max(mx, z[k]!);
      let sum = 0;
      for (let k = 0; k < m.K; k++) sum += Math.exp(z[k]! - mx);
      for (let k = 0; k < m.K; k++) P[n * m.classes + k] = Math.exp(z[k]! - mx) / sum;
    }
  }
  return P;
}

export function fitLogReg(X: Float64Array, y: Int32Array, N: number, D: number, classes: number, o: LogRegOptions = {}): LogRegModel {
  const C = o.C ?? 1.0, maxIter = o.maxIter ?? 1000, tol = o.tol ?? 1e-6;
  const K = classes === 2 ? 1 : classes;
  const nParams = K * (D + 1); // weights then intercepts
  const m: LogRegModel = { W: new Float64Array(K * D), b: new Float64Array(K), K, D, classes, iterations: 0, objective: 0 };
  const unpack = (w: Float64Array) => { m.W = w.subarray(0, K * D); m.b = w.subarray(K * D); };
  // objective and gradient
  const fg = (w: Float64Array, g: Float64Array): number => {
    unpack(w);
    g.fill(0);
    let f = 0;
    const P = predictProba(m, X, N);
    for (let n = 0; n < N; n++) {
      const t = y[n]!;
      f -= C * Math.log(Math.max(P[n * classes + t]!, 1e-300));
      for (let k = 0; k < K; k++) {
        // d(-log p_t)/dz_k = p_k - [k == t]  (binary: p_1 - [t == 1])
        const r = K === 1 ? P[n * 2 + 1]! - (t === 1 ? 1 : 0) : P[n * classes + k]! - (t === k ? 1 : 0);
        const cr = C * r;
        for (let d = 0; d < D; d++) g[k * D + d] += cr * X[n * D + d]!;
        g[K * D + k] += cr;
      }
    }
    for (let i = 0; i < K * D; i++) { f += 0.5 * w[i]! * w[i]!; g[i] += w[i]!; }
    return f;
  };
  const w = new Float64Array(nParams), g = new Float64Array(nParams);
  let f = fg(w, g);
  const mem = 10, S: Float64Array[] = [], Y: Float64Array[] = [], rho: number[] = [];
  const dot = (a: Float64Array, b: Float64Array) => { let s = 0; for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!; return s; };
  const gmax = (v: Float64Array) => v.reduce((a, x) => Math.max(a, Math.abs(x)), 0);
  let it = 0;
  for (; it < maxIter && gmax(g) > tol * Math.max(1, C * N / 1000); it++) {
    // two-loop recursion: d = -H g
    const q = Float64Array.from(g, (v) => v);
    const alpha: number[] = [];
    for (let i = S.length - 1; i >= 0; i--) { const a = rho[i]! * dot(S[i]!, q); alpha[i] = a; for (let j = 0; j < nParams; j++) q[j] -= a * Y[i]![j]!; }
    if (S.length) { const gamma = dot(S[S.length - 1]!, Y[Y.length - 1]!) / dot(Y[Y.length - 1]!, Y[Y.length - 1]!); for (let j = 0; j < nParams; j++) q[j] *= gamma; }
    else { const s = 1 / Math.max(1, Math.sqrt(dot(g, g))); for (let j = 0; j < nParams; j++) q[j] *= s; }
    for (let i = 0; i < S.length; i++) { const bb = rho[i]! * dot(Y[i]!, q); for (let j = 0; j < nParams; j++) q[j] += S[i]![j]! * (alpha[i]! - bb); }
    const dir = q.map((v) => -v);
    let gd = dot(g, dir);
    if (gd >= 0) { for (let j = 0; j < nParams; j++) dir[j] = -g[j]!; gd = -dot(g, g); S.length = 0; Y.length = 0; rho.length = 0; }
    // backtracking line search (Armijo)
    let step = 1;
    const wNew = new Float64Array(nParams), gNew = new Float64Array(nParams);
    let fNew = 0;
    for (let ls = 0; ls < 40; ls++) {
      for (let j = 0; j < nParams; j++) wNew[j] = w[j]! + step * dir[j]!;
      fNew = fg(wNew, gNew);
      if (fNew <= f + 1e-4 * step * gd) break;
      step *= 0.5;
    }
    const s = wNew.map((v, j) => v - w[j]!), yv = gNew.map((v, j) => v - g[j]!);
    const sy = dot(s, yv);
    if (sy > 1e-12) { S.push(s); Y.push(yv); rho.push(1 / sy); if (S.length > mem) { S.shift(); Y.shift(); rho.shift(); } }
    const rel = Math.abs(f - fNew) / Math.max(Math.abs(f), Math.abs(fNew), 1);
    w.set(wNew); g.set(gNew); f = fNew;
    if (rel < 1e-12) { it++; break; }
  }
  unpack(Float64Array.from(w));
  m.iterations = it;
  m.objective = f / (C * N);
  return m;
}
