/**
 * The kernel interface shared by the native engine (native/, loaded in
 * native.ts) and the plain TypeScript reference (ref.ts). Argument order is
 * the same everywhere: outputs, inputs, weights, sizes. Forward kernels
 * overwrite their outputs; parameter-gradient kernels accumulate (+=).
 */
export type F32 = Float32Array;
/** bf16 values stored as their upper 16 bits */
export type BF16 = Uint16Array;

/** the additive mask value for padded positions before a softmax (HF BERT's extended attention mask uses the dtype's minimum; -10000 as google-research/bert) */
export const MASK_NEG = -10000;
export const DTYPE_F32 = 0;
export const DTYPE_BF16 = 1;
/** int8 inference: the dense layers run linearInt8 (weights quantised per output channel, activations per row); a matmul given
 *  this code (attention's products of two activations) runs in f32 */
export const DTYPE_INT8 = 2;
export type DType = 'f32' | 'bf16' | 'int8';
export const dtypeCode = (d: DType): number => (d === 'bf16' ? DTYPE_BF16 : d === 'int8' ? DTYPE_INT8 : DTYPE_F32);

export interface Kernels {
  readonly name: string;
  /** the instruction set the kernels run on (oneDNN's name for the native engine) */
  readonly isa: string;
  /** what dtype `auto` means here: bf16 where bf16 matmuls run natively, else f32 */
  readonly autoDtype: DType;
  /** whether dtype bf16 can run at all (natively, or exactly emulated by the reference) */
  readonly bf16Supported: boolean;
  /** the largest |q| an int8 weight may take for linearInt8 to be exact: 127 where oneDNN's int8 matmul accumulates in 32 bits
   *  (VNNI, AMX), 63 elsewhere (its 16-bit pair sums would saturate; native/isa.cc) */
  readonly int8WeightMax: number;
  /** C[b] (+)= op(A[b]) op(B[b]) + bias; A,B may be bf16 when dtype = 1; dtype 2 (an int8 model's activation products) runs f32 */
  matmul(C: F32, A: F32 | BF16, B: F32 | BF16, bias: F32 | null, batch: number, M: number, N: number, K: number,
    transA: boolean, transB: boolean, accumulate: boolean, dtype: number): void;
  f32ToBf16(dst: BF16, src: F32, n: number): void;
  bf16ToF32(dst: F32, src: BF16, n: number): void;
  addForward(out: F32, a: F32, b: F32, n: number): void;
  accumulate(dst: F32, src: F32, n: number): void;
  scale(x: F32, s: number, n: number): void;
  sumSquares(x: F32, n: number): number;
  geluForward(out: F32, inp: F32, n: number, tanh: boolean): void;
  geluBackward(dinp: F32, inp: F32, dout: F32, n: number, tanh: boolean): void;
  tanhForward(out: F32, inp: F32, n: number): void;
  tanhBackward(dinp: F32, out: F32, dout: F32, n: number): void;
  /** e[p, i, j] = Σ_c v[c] tanh(wa[pa, i, c] + ub[p, j, c]), pa = Pa === 1 ? 0 : p (the additive pair head's scores) */
  /** f[p] = [mean_i a[pa,i] ⊙ c[p,i], mean_i |a[pa,i] − c[p,i]|] over A's unmasked i, pa = Pa === 1 ? 0 : p (attention pair heads) */
  attnPoolFeatures(f: F32, a: F32, c: F32, maskA: Uint8Array, P: number, Pa: number, S: number, dv: number): void;
  /** late interaction: f[p] = Σ_i∈A max_j∈B sim[p, i, j] over unmasked positions; arg[p, i] = the j (−1 for masked i) */
  maxSim(f: F32, arg: Int32Array, sim: F32, maskA: Uint8Array, maskB: Uint8Array, P: number, Pa: number, S: number, Sb: number): void;
  additiveScores(e: F32, wa: F32, ub: F32, v: F32, P: number, Pa: number, S: number, Sb: number, k: number): void;
  dropoutForward(out: F32, mask: Uint8Array, inp: F32, n: number, p: number, seed: number): void;
  dropoutBackward(dinp: F32, dout: F32, mask: Uint8Array, n: number, p: number): void;
  /** dropout over [rows, rowLen] with one mask seed per row (rowSeeds, already mixed: model/dropseed.ts), so that a row's mask is the
   *  same wherever the row sits in the batch; backward is dropoutBackward */
  dropoutRowsForward(out: F32, mask: Uint8Array, inp: F32, rows: number, rowLen: number, rowSeeds: Int32Array, p: number): void;
  colSumAccumulate(dbias: F32, dout: F32, rows: number, N: number): void;
  layernormForward(out: F32, mean: F32, rstd: F32, inp: F32, gamma: F32, beta: F32, N: number, C: number, eps: number): void;
  layernormBackward(dinp: F32, dgamma: F32, dbeta: F32, dout: F32, inp: F32, gamma: F32, mean: F32, rstd: F32,
    N: number, C: number): void;
  embeddingForward(out: F32, ids: Int32Array, table: F32, N: number, D: number, vocab: number, accumulate: boolean): void;
  embeddingBackward(dtable: F32, dout: F32, ids: Int32Array, N: number, D: number, vocab: number): void;
  splitHeads(q: F32, k: F32, v: F32, qkv: F32, B: number, S: number, H: number, dh: number): void;
  mergeHeads3(dqkv: F32, dq: F32, dk: F32, dv: F32, B: number, S: number, H: number, dh: number): void;
  headsToRows(out: F32, x: F32, B: number, S: number, H: number, dh: number): void;
  rowsToHeads(out: F32, x: F32, B: number, S: number, H: number, dh: number): void;
  attnSoftmaxForward(P: F32, scores: F32, maskAdd: F32, B: number, H: number, S: number, scale: number): void;
  /** one A for all P candidates: scores [P, Sb, S] (one GEMM of every candidate's rows against Aᵀ); out[p, i, j] = softmax_j(scores[p, j, i] · scale + maskAdd[p, j]) */
  attnSoftmaxShared(out: F32, scores: F32, maskAdd: F32, P: number, S: number, Sb: number, scale: number): void;
  attnSoftmaxBackward(dscores: F32, dP: F32, P: F32, rows: number, S: number, scale: number): void;
  /** attnSoftmaxForward where key j is visible to query i only when |i − j| ≤ half (ModernBERT's local layers); P is exactly 0 outside the band */
  attnSoftmaxWindow(P: F32, scores: F32, maskAdd: F32, B: number, H: number, S: number, scale: number, half: number): void;
  /** attention without the S×S matrix (inference): ctx [B, H, S, dh] = softmax(q·kᵀ·scale + maskAdd) · v over the keys with |i − j| ≤ half
   *  (half ≥ S: every key), by tiles with a running max and sum (flash-attention's recurrence); a local layer's cost grows with S·half.
   *  lse (may be null): each row's log-sum-exp [B, H, S], saved for the backward */
  attnBlocked(ctx: F32, q: F32, k: F32, v: F32, maskAdd: F32, lse: F32 | null, B: number, H: number, S: number, dh: number, scale: number, half: number): void;
  /** attnBlocked's backward, still without the S×S matrix (overwrites dq, dk, dv [B, H, S, dh]): the probabilities recomputed from lse,
   *  dv = Pᵀ·dctx, ds = P ∘ (dctx·vᵀ − rowsum(dctx ∘ ctx)) · scale, dq = ds·k, dk = dsᵀ·q over the same keys */
  attnBlockedBackward(dq: F32, dk: F32, dv: F32, dctx: F32, q: F32, k: F32, v: F32, ctx: F32, lse: F32, maskAdd: F32, B: number, H: number, S: number, dh: number, scale: number, half: number): void;
  /** rotary position embedding in place on x [rows, S, dh], HF's rotate_half form: x1' = x1·cos − x2·sin, x2' = x2·cos + x1·sin,
   *  cos and sin [S, dh/2]; conjugate: the rotation by the opposite angle (the backward) */
  ropeApply(x: F32, cos: F32, sin: F32, rows: number, S: number, dh: number, conjugate: boolean): void;
  /** DeBERTa's disentangled attention bias: scores [BH, S, S] += c2p[bh, i, idx[i, j]] + p2c[bh, j, idx[i, j]], c2p and p2c [BH, S, R]
   *  (content→position and position→content; either may be null), idx [S, S] in [0, R) */
  relPosBias(scores: F32, c2p: F32 | null, p2c: F32 | null, idx: Int32Array, BH: number, S: number, R: number): void;
  /** its backward, overwriting: dc2p[bh, i, r] = Σ_j dscores[bh, i, j] where idx[i, j] = r; dp2c[bh, j, r] = Σ_i dscores[bh, i, j] where idx[i, j] = r */
  relPosBiasBackward(dc2p: F32 | null, dp2c: F32 | null, dscores: F32, idx: Int32Array, BH: number, S: number, R: number): void;
  /** GeGLU: x [N, 2I] = [input | gate] → out [N, I] = gelu(input) · gate */
  gegluForward(out: F32, x: F32, N: number, I: number, tanh: boolean): void;
  /** dx [N, 2I] = [dout · gate · gelu′(input) | dout · gelu(input)] */
  gegluBackward(dx: F32, x: F32, dout: F32, N: number, I: number, tanh: boolean): void;
  softmaxForward(out: F32, inp: F32, rows: number, C: number): void;
  softmaxBackward(dinp: F32, dout: F32, out: F32, rows: number, C: number): void;
  /** returns the mean loss over rows whose label is >= 0 */
  crossEntropyForward(losses: F32, probs: F32, logits: F32, labels: Int32Array, N: number, C: number): number;
  crossEntropyBackward(dlogits: F32, probs: F32, labels: Int32Array, N: number, C: number, dloss: number): void;
  /** per-row symmetric int8: scale[r] = max_c |x[r, c]| / qmax (1 for an all-zero row), q = clamp(round-half-even(x · (1 / scale)), ±qmax) (the reciprocal and the product each rounded to f32);
   *  a row holding NaN or ±Infinity gets scale NaN and q 0 */
  quantizeRowsS8(q: Int8Array, scale: F32, x: F32, rows: number, cols: number, qmax: number): void;
  /** int8 dense layer: out[R, O] = dequant(quant(x) · wqᵀ) + bias, x quantised per row (quantizeRowsS8), wq [O, In] with one scale per
   *  output channel (wscale [O]); the int32 products are exact, then out[r, o] = acc · (xscale[r] · wscale[o]) + bias[o] in f32.
   *  packed (may be null): packInt8Weights(wq), the same weights in the layout the engine's int8 matmul runs fastest on */
  linearInt8(out: F32, x: F32, wq: Int8Array, wscale: F32, bias: F32 | null, R: number, O: number, In: number, packed: Int8Array | null): void;
  /** inference's dense layer on packed weights: out[R, O] = x · Wᵀ + bias in f32 (dtype 0) or bf16 products with f32 sums (dtype 1),
   *  W [O, In] (f32, or its bf16 bits for dtype 1); packed: packDenseWeights(W) or null (then the plain W runs) */
  linearPacked(out: F32, x: F32, W: F32 | BF16, packed: Uint8Array | null, bias: F32 | null, R: number, O: number, In: number, dtype: number): void;
  /** W [O, In] in the layout the engine's matmul runs fastest on (oneDNN's blocked layout); empty where packing does not pay (the
   *  reference; f32 below AVX-512) */
  packDenseWeights(W: F32 | BF16, O: number, In: number, dtype: number): Uint8Array;
  /** wq [O, In] packed for linearInt8 (oneDNN's VNNI-blocked layout with its s8 compensation); the reference has no packed form: an empty array */
  packInt8Weights(wq: Int8Array, O: number, In: number): Int8Array;
  adamwStep(p: F32, g: F32, m: F32, v: F32, n: number, lr: number, beta1: number, beta2: number, eps: number, wd: number): void;
}
