/**
 * Plain TypeScript reference for every native kernel: same names, same
 * argument order, written for clarity rather than speed. Tests compare the
 * native engine against these; tiny models can run on them end to end.
 */
import type { BF16, F32, Kernels } from './kernels.js';

const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);

/** round one f32 to bf16 bits (nearest, ties to even), as the native side does */
export function toBf16Bits(x: number): number {
  f32buf[0] = x;
  const u = u32buf[0]!;
  if ((u & 0x7fffffff) > 0x7f800000) return ((u >>> 16) | 0x40) & 0xffff;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}
export function fromBf16Bits(h: number): number {
  u32buf[0] = (h & 0xffff) << 16;
  return f32buf[0]!;
}

function operand(x: F32 | BF16, n: number, dtype: number): F32 {
  const out = new Float32Array(n);
  if (x instanceof Uint16Array) {
    for (let i = 0; i < n; i++) out[i] = fromBf16Bits(x[i]!);
  } else if (dtype === 1) {
    for (let i = 0; i < n; i++) out[i] = fromBf16Bits(toBf16Bits(x[i]!));
  } else {
    out.set(x.subarray(0, n));
  }
  return out;
}

export function hash32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** the native dropout generator: lowbias32 over (seed, index mod 2^32) */
function uniform01(seed: number, i: number): number {
  const seedMix = hash32(((seed >>> 0) ^ Math.floor(seed / 4294967296) ^ 0x9e3779b9) >>> 0);
  return (hash32((Math.imul(i >>> 0, 0x9e3779b9) + seedMix) >>> 0) >>> 8) / 16777216;
}

const SQRT2_OVER_PI = Math.sqrt(2 / Math.PI);

/** erf with |error| < 1.2e-7 (Numerical Recipes erfc, Chebyshev fit) */
export function erf(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
    t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
  return x >= 0 ? 1 - r : r - 1;
}

/** GELU, exact (erf) or the tanh approximation */
function gelu(x: number, tanh: boolean): number {
  return tanh ? 0.5 * x * (1 + Math.tanh(SQRT2_OVER_PI * (x + 0.044715 * x ** 3))) : 0.5 * x * (1 + erf(x / Math.SQRT2));
}
/** its derivative */
function geluGrad(x: number, tanh: boolean): number {
  if (!tanh) return 0.5 * (1 + erf(x / Math.SQRT2)) + x * Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
  const t = Math.tanh(SQRT2_OVER_PI * (x + 0.044715 * x ** 3));
  return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * SQRT2_OVER_PI * (1 + 3 * 0.044715 * x * x);
}

/** the relative-position kernels' index check (the native binding's too): every idx[i, j] within [0, R) */
function relIdxCheck(op: string, idx: Int32Array, S: number, R: number): void {
  for (let t = 0; t < S * S; t++) if (!(idx[t]! >= 0 && idx[t]! < R)) throw new Error(`${op}: idx[${t}] = ${idx[t]} is outside [0, ${R})`);
}

/** round half to even, as C's nearbyint in the default rounding mode */
function roundEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** quantizeRowsS8 of one row into q at o */
function quantizeRow(q: Int8Array, scale: F32, x: F32, r: number, cols: number, qmax: number): void {
  const o = r * cols;
  let mx = 0, finite = true;
  for (let c = 0; c < cols; c++) { const a = Math.abs(x[o + c]!); if (!(a <= 3.4028234663852886e38)) finite = false; else if (a > mx) mx = a; }
  if (!finite) { scale[r] = NaN; q.fill(0, o, o + cols); return; }
  const s = mx > 0 ? Math.fround(mx / qmax) : 1, inv = Math.fround(1 / s);
  scale[r] = s;
  for (let c = 0; c < cols; c++) q[o + c] = Math.max(-qmax, Math.min(qmax, roundEven(Math.fround(x[o + c]! * inv))));
}

export const refKernels: Kernels = {
  name: 'reference',
  isa: 'typescript',
  // the reference emulates bf16 exactly (inputs rounded, f32 accumulation) but slowly, so auto stays f32
  autoDtype: 'f32',
  bf16Supported: true,
  // the reference sums in exact integers
  int8WeightMax: 127,

  matmul(C, A, B, bias, batch, M, N, K, transA, transB, accumulate, dtype) {
    const a = operand(A, batch * M * K, dtype);
    const b = operand(B, batch * K * N, dtype);
    for (let bt = 0; bt < batch; bt++) {
      const ao = bt * M * K, bo = bt * K * N, co = bt * M * N;
      for (let i = 0; i < M; i++) {
        for (let j = 0; j < N; j++) {
          let s = 0;
          for (let k = 0; k < K; k++) {
            const av = transA ? a[ao + k * M + i]! : a[ao + i * K + k]!;
            const bv = transB ? b[bo + j * K + k]! : b[bo + k * N + j]!;
            s += av * bv;
          }
          if (bias) s += bias[j]!;
          C[co + i * N + j] = accumulate ? C[co + i * N + j]! + s : s;
        }
      }
    }
  },
  quantizeRowsS8(q, scale, x, rows, cols, qmax) { for (let r = 0; r < rows; r++) quantizeRow(q, scale, x, r, cols, qmax); },
  packInt8Weights() { return new Int8Array(0); },
  packDenseWeights() { return new Uint8Array(0); },
  linearPacked(out, x, W, _packed, bias, R, O, In, dtype) { refKernels.matmul(out, x, W, bias, 1, R, O, In, false, true, false, dtype); },
  linearInt8(out, x, wq, wscale, bias, R, O, In) {
    const q = new Int8Array(R * In), xs = new Float32Array(R);
    for (let r = 0; r < R; r++) quantizeRow(q, xs, x, r, In, 127);
    for (let r = 0; r < R; r++) {
      for (let o = 0; o < O; o++) {
        let acc = 0; // exact: |acc| ≤ 127² · In < 2^31
        for (let k = 0; k < In; k++) acc += q[r * In + k]! * wq[o * In + k]!;
        const y = Math.fround(Math.fround(acc) * Math.fround(xs[r]! * wscale[o]!));
        out[r * O + o] = bias ? y + bias[o]! : y;
      }
    }
  },
  f32ToBf16(dst, src, n) { for (let i = 0; i < n; i++) dst[i] = toBf16Bits(src[i]!); },
  bf16ToF32(dst, src, n) { for (let i = 0; i < n; i++) dst[i] = fromBf16Bits(src[i]!); },
  addForward(out, a, b, n) { for (let i = 0; i < n; i++) out[i] = a[i]! + b[i]!; },
  accumulate(dst, src, n) { for (let i = 0; i < n; i++) dst[i] = dst[i]! + src[i]!; },
  scale(x, s, n) { for (let i = 0; i < n; i++) x[i] = x[i]! * s; },
  sumSquares(x, n) { let s = 0; for (let i = 0; i < n; i++) s += x[i]! * x[i]!; return s; },
  geluForward(out, inp, n, tanh) { for (let i = 0; i < n; i++) out[i] = gelu(inp[i]!, tanh); },
  geluBackward(dinp, inp, dout, n, tanh) { for (let i = 0; i < n; i++) dinp[i] = dout[i]! * geluGrad(inp[i]!, tanh); },
  tanhForward(out, inp, n) { for (let i = 0; i < n; i++) out[i] = Math.tanh(inp[i]!); },
  attnPoolFeatures(f, a, c, maskA, P, Pa, S, dv) {
    for (let p = 0; p < P; p++) {
      const pa = Pa === 1 ? 0 : p, o = p * 2 * dv;
      let n = 0;
      f.fill(0, o, o + 2 * dv);
      for (let i = 0; i < S; i++) {
        if (!maskA[pa * S + i]) continue;
        n++;
        for (let d = 0; d < dv; d++) {
          const x = a[(pa * S + i) * dv + d]!, y = c[(p * S + i) * dv + d]!;
          f[o + d] = f[o + d]! + x * y; f[o + dv + d] = f[o + dv + d]! + Math.abs(x - y);
        }
      }
      for (let d = 0; d < 2 * dv; d++) f[o + d] = f[o + d]! / Math.max(1, n);
    }
  },
  maxSim(f, arg, sim, maskA, maskB, P, Pa, S, Sb) {
    for (let p = 0; p < P; p++) {
      const pa = Pa === 1 ? 0 : p;
      let total = 0;
      for (let i = 0; i < S; i++) {
        arg[p * S + i] = -1;
        if (!maskA[pa * S + i]) continue;
        let best = -Infinity, bj = -1;
        for (let j = 0; j < Sb; j++) if (maskB[p * Sb + j] && sim[(p * S + i) * Sb + j]! > best) { best = sim[(p * S + i) * Sb + j]!; bj = j; }
        if (bj >= 0) { total += best; arg[p * S + i] = bj; }
      }
      f[p] = total;
    }
  },
  additiveScores(e, wa, ub, v, P, Pa, S, Sb, k) {
    for (let p = 0; p < P; p++) for (let i = 0; i < S; i++) {
      const w = ((Pa === 1 ? 0 : p) * S + i) * k;
      for (let j = 0; j < Sb; j++) {
        const u = (p * Sb + j) * k;
        let s = 0;
        for (let c = 0; c < k; c++) s += v[c]! * Math.tanh(wa[w + c]! + ub[u + c]!);
        e[(p * S + i) * Sb + j] = s;
      }
    }
  },
  tanhBackward(dinp, out, dout, n) { for (let i = 0; i < n; i++) dinp[i] = dout[i]! * (1 - out[i]! * out[i]!); },
  dropoutForward(out, mask, inp, n, p, seed) {
    const s = 1 / (1 - p);
    for (let i = 0; i < n; i++) {
      const keep = uniform01(seed, i) >= p;
      mask[i] = keep ? 1 : 0;
      out[i] = keep ? inp[i]! * s : 0;
    }
  },
  dropoutRowsForward(out, mask, inp, rows, rowLen, rowSeeds, p) {
    const s = 1 / (1 - p);
    for (let r = 0; r < rows; r++) {
      const mix = rowSeeds[r]! >>> 0;
      for (let j = 0; j < rowLen; j++) {
        const keep = (hash32((Math.imul(j, 0x9e3779b9) + mix) >>> 0) >>> 8) / 16777216 >= p;
        mask[r * rowLen + j] = keep ? 1 : 0;
        out[r * rowLen + j] = keep ? inp[r * rowLen + j]! * s : 0;
      }
    }
  },
  dropoutBackward(dinp, dout, mask, n, p) {
    const s = 1 / (1 - p);
    for (let i = 0; i < n; i++) dinp[i] = mask[i] ? dout[i]! * s : 0;
  },
  colSumAccumulate(dbias, dout, rows, N) {
    for (let r = 0; r < rows; r++) for (let c = 0; c < N; c++) dbias[c] = dbias[c]! + dout[r * N + c]!;
  },
  layernormForward(out, mean, rstd, inp, gamma, beta, N, C, eps) {
    for (let n = 0; n < N; n++) {
      let m = 0;
      for (let c = 0; c < C; c++) m += inp[n * C + c]!;
      m /= C;
      let v = 0;
      for (let c = 0; c < C; c++) v += (inp[n * C + c]! - m) ** 2;
      v /= C;
      const rs = 1 / Math.sqrt(v + eps);
      for (let c = 0; c < C; c++) out[n * C + c] = (inp[n * C + c]! - m) * rs * gamma[c]! + beta[c]!;
      mean[n] = m;
      rstd[n] = rs;
    }
  },
  layernormBackward(dinp, dgamma, dbeta, dout, inp, gamma, mean, rstd, N, C) {
    for (let n = 0; n < N; n++) {
      const m = mean[n]!, rs = rstd[n]!;
      let sumDn = 0, sumDnX = 0;
      for (let c = 0; c < C; c++) {
        const xhat = (inp[n * C + c]! - m) * rs;
        const dn = dout[n * C + c]! * gamma[c]!;
        sumDn += dn;
        sumDnX += dn * xhat;
        dgamma[c] = dgamma[c]! + dout[n * C + c]! * xhat;
        dbeta[c] = dbeta[c]! + dout[n * C + c]!;
      }
      sumDn /= C;
      sumDnX /= C;
      for (let c = 0; c < C; c++) {
        const xhat = (inp[n * C + c]! - m) * rs;
        dinp[n * C + c] = (dout[n * C + c]! * gamma[c]! - sumDn - xhat * sumDnX) * rs;
      }
    }
  },
  embeddingForward(out, ids, table, N, D, vocab, accumulate) {
    for (let n = 0; n < N; n++) {
      const id = ids[n]!;
      if (id < 0 || id >= vocab) throw new RangeError(`embeddingForward: id ${id} at position ${n} is outside [0, ${vocab})`);
      for (let d = 0; d < D; d++) out[n * D + d] = (accumulate ? out[n * D + d]! : 0) + table[id * D + d]!;
    }
  },
  embeddingBackward(dtable, dout, ids, N, D, vocab) {
    for (let n = 0; n < N; n++) {
      const id = ids[n]!;
      if (id < 0 || id >= vocab) throw new RangeError(`embeddingBackward: id ${id} at position ${n} is outside [0, ${vocab})`);
      for (let d = 0; d < D; d++) dtable[id * D + d] = dtable[id * D + d]! + dout[n * D + d]!;
    }
  },
  splitHeads(q, k, v, qkv, B, S, H, dh) {
    const D = H * dh;
    for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let s = 0; s < S; s++) for (let j = 0; j < dh; j++) {
      const row = (b * S + s) * 3 * D + h * dh + j;
      const o = ((b * H + h) * S + s) * dh + j;
      q[o] = qkv[row]!; k[o] = qkv[row + D]!; v[o] = qkv[row + 2 * D]!;
    }
  },
  mergeHeads3(dqkv, dq, dk, dv, B, S, H, dh) {
    const D = H * dh;
    for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let s = 0; s < S; s++) for (let j = 0; j < dh; j++) {
      const row = (b * S + s) * 3 * D + h * dh + j;
      const o = ((b * H + h) * S + s) * dh + j;
      dqkv[row] = dq[o]!; dqkv[row + D] = dk[o]!; dqkv[row + 2 * D] = dv[o]!;
    }
  },
  headsToRows(out, x, B, S, H, dh) {
    for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let s = 0; s < S; s++) for (let j = 0; j < dh; j++)
      out[((b * S + s) * H + h) * dh + j] = x[((b * H + h) * S + s) * dh + j]!;
  },
  rowsToHeads(out, x, B, S, H, dh) {
    for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let s = 0; s < S; s++) for (let j = 0; j < dh; j++)
      out[((b * H + h) * S + s) * dh + j] = x[((b * S + s) * H + h) * dh + j]!;
  },
  attnSoftmaxForward(P, scores, maskAdd, B, H, S, scale) {
    for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let i = 0; i < S; i++) {
      const o = ((b * H + h) * S + i) * S;
      let mx = -Infinity;
      for (let j = 0; j < S; j++) mx = Math.max(mx, scores[o + j]! * scale + maskAdd[b * S + j]!);
      let sum = 0;
      for (let j = 0; j < S; j++) sum += Math.exp(scores[o + j]! * scale + maskAdd[b * S + j]! - mx);
      for (let j = 0; j < S; j++) P[o + j] = Math.exp(scores[o + j]! * scale + maskAdd[b * S + j]! - mx) / sum;
    }
  },
  attnSoftmaxShared(out, scores, maskAdd, P, S, Sb, scale) {
    for (let p = 0; p < P; p++) for (let i = 0; i < S; i++) {
      const x = (j: number) => scores[(p * Sb + j) * S + i]! * scale + maskAdd[p * Sb + j]!, o = (p * S + i) * Sb;
      let mx = -Infinity;
      for (let j = 0; j < Sb; j++) mx = Math.max(mx, x(j));
      let sum = 0;
      for (let j = 0; j < Sb; j++) sum += Math.exp(x(j) - mx);
      for (let j = 0; j < Sb; j++) out[o + j] = Math.exp(x(j) - mx) / sum;
    }
  },
  attnSoftmaxWindow(P, scores, maskAdd, B, H, S, scale, half) {
    for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let i = 0; i < S; i++) {
      const o = ((b * H + h) * S + i) * S, lo = Math.max(0, i - half), hi = Math.min(S, i + half + 1);
      const x = (j: number) => scores[o + j]! * scale + maskAdd[b * S + j]!;
      let mx = -Infinity;
      for (let j = lo; j < hi; j++) mx = Math.max(mx, x(j));
      let sum = 0;
      for (let j = lo; j < hi; j++) sum += Math.exp(x(j) - mx);
      for (let j = 0; j < S; j++) P[o + j] = j >= lo && j < hi ? Math.exp(x(j) - mx) / sum : 0;
    }
  },
  attnBlocked(ctx, q, k, v, maskAdd, lse, B, H, S, dh, scale, half) {
    // the plain two-pass softmax over each query's visible keys (what the native tiles compute with a running max)
    const p = new Float64Array(S);
    for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let i = 0; i < S; i++) {
      const o = (b * H + h) * S, lo = Math.max(0, i - half), hi = Math.min(S, i + half + 1);
      let mx = -Infinity;
      for (let j = lo; j < hi; j++) {
        let dot = 0;
        for (let d = 0; d < dh; d++) dot += q[(o + i) * dh + d]! * k[(o + j) * dh + d]!;
        p[j] = dot * scale + maskAdd[b * S + j]!;
        mx = Math.max(mx, p[j]!);
      }
      let sum = 0;
      for (let j = lo; j < hi; j++) { p[j] = Math.exp(p[j]! - mx); sum += p[j]!; }
      for (let d = 0; d < dh; d++) {
        let acc = 0;
        for (let j = lo; j < hi; j++) acc += p[j]! * v[(o + j) * dh + d]!;
        ctx[(o + i) * dh + d] = acc / sum;
      }
      if (lse) lse[o + i] = mx + Math.log(sum);
    }
  },
  attnBlockedBackward(dq, dk, dv, dctx, q, k, v, ctx, lse, maskAdd, B, H, S, dh, scale, half) {
    // the textbook backward of softmax(q·kᵀ·scale + mask)·v over each query's visible keys, in float64, probabilities from lse
    const gq = new Float64Array(dh), gk = new Float64Array(B * H * S * dh), gv = new Float64Array(B * H * S * dh);
    for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let i = 0; i < S; i++) {
      const o = (b * H + h) * S, lo = Math.max(0, i - half), hi = Math.min(S, i + half + 1), row = (o + i) * dh;
      let Di = 0;
      for (let d = 0; d < dh; d++) Di += dctx[row + d]! * ctx[row + d]!;
      gq.fill(0);
      for (let j = lo; j < hi; j++) {
        const col = (o + j) * dh;
        let s = 0, dp = 0;
        for (let d = 0; d < dh; d++) { s += q[row + d]! * k[col + d]!; dp += dctx[row + d]! * v[col + d]!; }
        const p = Math.exp(s * scale + maskAdd[b * S + j]! - lse[o + i]!), ds = p * (dp - Di) * scale;
        for (let d = 0; d < dh; d++) { gq[d] += ds * k[col + d]!; gk[col + d] += ds * q[row + d]!; gv[col + d] += p * dctx[row + d]!; }
      }
      for (let d = 0; d < dh; d++) dq[row + d] = gq[d]!;
    }
    dk.set(gk);
    dv.set(gv);
  },
  ropeApply(x, cos, sin, rows, S, dh, conjugate) {
    const h2 = dh / 2, sg = conjugate ? -1 : 1;
    for (let r = 0; r < rows; r++) for (let s = 0; s < S; s++) {
      const o = (r * S + s) * dh;
      for (let j = 0; j < h2; j++) {
        const a = x[o + j]!, b = x[o + j + h2]!, c = cos[s * h2 + j]!, si = sg * sin[s * h2 + j]!;
        x[o + j] = a * c - b * si;
        x[o + j + h2] = b * c + a * si;
      }
    }
  },
  relPosBias(scores, c2p, p2c, idx, BH, S, R) {
    relIdxCheck('relPosBias', idx, S, R);
    for (let bh = 0; bh < BH; bh++) for (let i = 0; i < S; i++) {
      const o = (bh * S + i) * S;
      for (let j = 0; j < S; j++) {
        const r = idx[i * S + j]!;
        if (c2p) scores[o + j] += c2p[(bh * S + i) * R + r]!;
        if (p2c) scores[o + j] += p2c[(bh * S + j) * R + r]!;
      }
    }
  },
  relPosBiasBackward(dc2p, dp2c, dscores, idx, BH, S, R) {
    relIdxCheck('relPosBiasBackward', idx, S, R);
    dc2p?.fill(0, 0, BH * S * R);
    dp2c?.fill(0, 0, BH * S * R);
    for (let bh = 0; bh < BH; bh++) for (let i = 0; i < S; i++) for (let j = 0; j < S; j++) {
      const g = dscores[(bh * S + i) * S + j]!, r = idx[i * S + j]!;
      if (dc2p) dc2p[(bh * S + i) * R + r] += g;
      if (dp2c) dp2c[(bh * S + j) * R + r] += g;
    }
  },
  gegluForward(out, x, N, I, tanh) {
    for (let r = 0; r < N; r++) for (let j = 0; j < I; j++) out[r * I + j] = gelu(x[r * 2 * I + j]!, tanh) * x[r * 2 * I + I + j]!;
  },
  gegluBackward(dx, x, dout, N, I, tanh) {
    for (let r = 0; r < N; r++) for (let j = 0; j < I; j++) {
      const v = x[r * 2 * I + j]!, g = x[r * 2 * I + I + j]!, d = dout[r * I + j]!;
      dx[r * 2 * I + j] = d * g * geluGrad(v, tanh);
      dx[r * 2 * I + I + j] = d * gelu(v, tanh);
    }
  },
  attnSoftmaxBackward(dscores, dP, P, rows, S, scale) {
    for (let r = 0; r < rows; r++) {
      let dot = 0;
      for (let j = 0; j < S; j++) dot += dP[r * S + j]! * P[r * S + j]!;
      for (let j = 0; j < S; j++) dscores[r * S + j] = P[r * S + j]! * (dP[r * S + j]! - dot) * scale;
    }
  },
  softmaxForward(out, inp, rows, C) {
    for (let r = 0; r < rows; r++) {
      let mx = -Infinity;
      for (let c = 0; c < C; c++) mx = Math.max(mx, inp[r * C + c]!);
      let sum = 0;
      for (let c = 0; c < C; c++) sum += Math.exp(inp[r * C + c]! - mx);
      for (let c = 0; c < C; c++) out[r * C + c] = Math.exp(inp[r * C + c]! - mx) / sum;
    }
  },
  softmaxBackward(dinp, dout, out, rows, C) { refKernels.attnSoftmaxBackward(dinp, dout, out, rows, C, 1); },
  crossEntropyForward(losses, probs, logits, labels, N, C) {
    refKernels.softmaxForward(probs, logits, N, C);
    let total = 0, count = 0;
    for (let n = 0; n < N; n++) {
      const y = labels[n]!;
      if (y < 0) { losses[n] = 0; continue; }
      if (y >= C) throw new RangeError(`crossEntropyForward: label ${y} at row ${n} is not below ${C}`);
      let mx = -Infinity;
      for (let c = 0; c < C; c++) mx = Math.max(mx, logits[n * C + c]!);
      let s = 0;
      for (let c = 0; c < C; c++) s += Math.exp(logits[n * C + c]! - mx);
      const l = -(logits[n * C + y]! - mx - Math.log(s));
      losses[n] = l;
      total += l;
      count++;
    }
    return count ? total / count : 0;
  },
  crossEntropyBackward(dlogits, probs, labels, N, C, dloss) {
    let count = 0;
    for (let n = 0; n < N; n++) if (labels[n]! >= 0) count++;
    const s = count ? dloss / count : 0;
    for (let n = 0; n < N; n++) {
      const y = labels[n]!;
      for (let c = 0; c < C; c++) dlogits[n * C + c] = y < 0 ? 0 : probs[n * C + c]! * s - (c === y ? s : 0);
    }
  },
  adamwStep(p, g, m, v, n, lr, beta1, beta2, eps, wd) {
    for (let i = 0; i < n; i++) {
      const gi = g[i]!;
      m[i] = beta1 * m[i]! + (1 - beta1) * gi;
      v[i] = beta2 * v[i]! + (1 - beta2) * gi * gi;
      p[i] = p[i]! - lr * (m[i]! / (Math.sqrt(v[i]!) + eps) + wd * p[i]!);
    }
  },
};
