// ja-bert native kernels. Shapes are stated per function; all buffers are
// row-major, f32 unless the name says bf16 (stored as uint16 bit patterns).
// Forward kernels overwrite their outputs; parameter-gradient kernels
// accumulate (+=) so that gradient accumulation across micro-batches is free.
#pragma once
#include <cstdint>
#include <cstddef>

namespace jb {

// ---- matmul (oneDNN) ------------------------------------------------------
// C[b] (+)= op(A[b]) . op(B[b]) + bias, op = transpose when trans* is set.
// A is [M,K] (or [K,M] when transA), B is [K,N] (or [N,K] when transB),
// C is [M,N], bias is [N] or null. accumulate: C += ... instead of C = ...
// dtype: 0 = f32, 1 = bf16 inputs with f32 accumulation and output.
// A/B pointers are f32 unless aBf16/bBf16 say they already hold bf16 data.
struct MatmulArgs {
  float* C; const void* A; const void* B; const float* bias;
  int64_t batch, M, N, K; bool transA, transB, accumulate; int dtype;
  bool aBf16, bBf16;
};
void matmul(const MatmulArgs& a);
size_t matmulCacheSize();
// int8 inference of a dense layer: out[R, O] = x[R, In] . W^T + bias with W given as its per-row (output channel)
// quantisation wq[O, In], wscale[O]: x is quantised per row (quantizeRowsS8) into scratch, multiplied s8 x s8 -> s32
// by oneDNN (VNNI/AMX-INT8 where the CPU has them) into out itself, then dequantised in place (dequantRows)
// packed (may be null): wq packed by packWeights (kind 2), used when its size matches
void linearInt8(float* out, const float* x, const int8_t* wq, const float* wscale, const float* bias, int64_t R, int64_t O, int64_t In,
                const int8_t* packed, int64_t packedLen);
// inference's dense layers in f32 (dtype 0) or bf16 (dtype 1, x converted on the fly): out[R, O] = x . W^T + bias with W [O, In]
// (f32, or bf16 bits); packed (may be null): W packed by packWeights, else the plain W runs
void linearPacked(float* out, const float* x, const void* W, const void* packed, int64_t packedLen, const float* bias,
                  int64_t R, int64_t O, int64_t In, int dtype);
// weights W [O, In] of a kind (0 f32, 1 bf16 bits, 2 s8) packed once in the layout oneDNN's matmul picks (blocked; for s8 with
// its compensation); the size is 0 where packing does not pay (f32 below AVX-512)
int64_t packedWeightsSize(int64_t O, int64_t In, int kind);
void packWeights(void* dst, const void* W, int64_t O, int64_t In, int kind);

// ---- the kernels compiled per ISA level ------------------------------------
// kernels.cc is compiled three times (kernels_base.cc, kernels_v3.cc,
// kernels_v4.cc: -march=x86-64, x86-64-v3 = AVX2+FMA, x86-64-v4 = AVX-512),
// each into its own namespace with a table of the functions below. At load
// the addon picks the highest level that the CPU has and that the cap allows
// (JA_BERT_MAX_ISA, or oneDNN's own ONEDNN_MAX_CPU_ISA), so one cap limits
// both oneDNN and these loops. Call them through K().name(...).
#define JB_KERNEL_LIST(X) \
  /* ---- conversion ----------------------------------------------------------- */ \
  /* round to nearest even */ \
  X(void, f32ToBf16, (uint16_t* dst, const float* src, int64_t n)) \
  X(void, bf16ToF32, (float* dst, const uint16_t* src, int64_t n)) \
  /* ---- elementwise ---------------------------------------------------------- */ \
  X(void, addForward, (float* out, const float* a, const float* b, int64_t n)) \
  /* dst += src */ \
  X(void, accumulate, (float* dst, const float* src, int64_t n)) \
  X(void, scale, (float* x, float s, int64_t n)) \
  X(double, sumSquares, (const float* x, int64_t n)) \
  X(void, geluForward, (float* out, const float* inp, int64_t n, bool tanhForm)) \
  X(void, geluBackward, (float* dinp, const float* inp, const float* dout, int64_t n, bool tanhForm)) \
  X(void, tanhForward, (float* out, const float* inp, int64_t n)) \
  X(void, tanhBackward, (float* dinp, const float* out, const float* dout, int64_t n)) \
  /* additive attention scores e[p, i, j] = sum_c v[c] tanh(wa[pa, i, c] + ub[p, j, c]), pa = (Pa == 1 ? 0 : p) */ \
  /* attention-pool features: f[p, d] = mean_i a[pa, i, d] c[p, i, d], f[p, dv + d] = mean_i |a[pa, i, d] - c[p, i, d]| */ \
  /* over A's unmasked positions i (maskA[pa, i] = 1), pa = (Pa == 1 ? 0 : p) */ \
  X(void, attnPoolFeatures, (float* f, const float* a, const float* c, const uint8_t* maskA, int64_t P, int64_t Pa, int64_t S, int64_t dv)) \
  /* late interaction: f[p] = sum over A's unmasked i of max over B's unmasked j of sim[p, i, j]; arg[p, i] = that j (-1 if none) */ \
  X(void, maxSim, (float* f, int32_t* arg, const float* sim, const uint8_t* maskA, const uint8_t* maskB, int64_t P, int64_t Pa, int64_t S, int64_t Sb)) \
  X(void, additiveScores, (float* e, const float* wa, const float* ub, const float* v, int64_t P, int64_t Pa, int64_t S, int64_t Sb, int64_t k)) \
  /* dropout: mask[i] = keep ? 1 : 0 from a counter-based RNG on (seed, i), so the */ \
  /* result is the same for any thread count. out = inp * mask / (1 - p). */ \
  X(void, dropoutForward, (float* out, uint8_t* mask, const float* inp, int64_t n, float p, uint64_t seed)) \
  X(void, dropoutBackward, (float* dinp, const float* dout, const uint8_t* mask, int64_t n, float p)) \
  X(void, dropoutRowsForward, (float* out, uint8_t* mask, const float* inp, int64_t rows, int64_t rowLen, const int32_t* rowSeeds, float p)) \
  /* bias gradient: dbias[N] += sum over rows of dout[rows, N] */ \
  X(void, colSumAccumulate, (float* dbias, const float* dout, int64_t rows, int64_t N)) \
  /* ---- layer norm over the last dim C of inp[N, C] ----------------------------- */ \
  X(void, layernormForward, (float* out, float* mean, float* rstd, const float* inp, const float* gamma, const float* beta, int64_t N, int64_t C, float eps)) \
  /* dinp = (overwrite), dgamma/dbeta accumulate */ \
  X(void, layernormBackward, (float* dinp, float* dgamma, float* dbeta, const float* dout, const float* inp, const float* gamma, const float* mean, const float* rstd, int64_t N, int64_t C)) \
  /* ---- embeddings ----------------------------------------------------------- */ \
  /* out[n, D] (+)= table[ids[n], D] */ \
  X(void, embeddingForward, (float* out, const int32_t* ids, const float* table, int64_t N, int64_t D, int64_t vocab, bool accumulate)) \
  /* dtable[ids[n], D] += dout[n, D] */ \
  X(void, embeddingBackward, (float* dtable, const float* dout, const int32_t* ids, int64_t N, int64_t D)) \
  /* ---- attention helpers ---------------------------------------------------- */ \
  /* qkv is [B, S, 3, H, dh] (rows of the fused q|k|v projection); q,k,v are [B, H, S, dh] */ \
  X(void, splitHeads, (float* q, float* k, float* v, const float* qkv, int64_t B, int64_t S, int64_t H, int64_t dh)) \
  /* inverse of splitHeads for gradients: dqkv[B,S,3D] = merge(dq, dk, dv) */ \
  X(void, mergeHeads3, (float* dqkv, const float* dq, const float* dk, const float* dv, int64_t B, int64_t S, int64_t H, int64_t dh)) \
  /* x[B,H,S,dh] -> out[B,S,H*dh] and back */ \
  X(void, headsToRows, (float* out, const float* x, int64_t B, int64_t S, int64_t H, int64_t dh)) \
  X(void, rowsToHeads, (float* out, const float* x, int64_t B, int64_t S, int64_t H, int64_t dh)) \
  /* P[b,h,i,:] = softmax(scores[b,h,i,:] * scale + maskAdd[b,:]); maskAdd is [B,S] additive */ \
  X(void, attnSoftmaxForward, (float* P, const float* scores, const float* maskAdd, int64_t B, int64_t H, int64_t S, float scale)) \
  /* pair-head scoring with one A for all P candidates: scores is [P, Sb, S] (one GEMM of every candidate's */ \
  /* rows against A transposed); out[p, i, j] = softmax over j of scores[p, j, i] * scale + maskAdd[p, j] */ \
  X(void, attnSoftmaxShared, (float* out, const float* scores, const float* maskAdd, int64_t P, int64_t S, int64_t Sb, float scale)) \
  /* dscores = P * (dP - rowsum(dP*P)) * scale */ \
  X(void, attnSoftmaxBackward, (float* dscores, const float* dP, const float* P, int64_t rows, int64_t S, float scale)) \
  /* sliding-window attention (ModernBERT's local layers): attnSoftmaxForward where key j is visible to query i */ \
  /* only when |i - j| <= half; P is exactly 0 outside the band (HF masks it with the dtype's minimum) */ \
  X(void, attnSoftmaxWindow, (float* P, const float* scores, const float* maskAdd, int64_t B, int64_t H, int64_t S, float scale, int64_t half)) \
  /* attention without the S x S matrix (inference): ctx[b, h, i] = sum_j softmax_j(q_i . k_j * scale + maskAdd[b, j]) v_j over */ \
  /* the keys with |i - j| <= half (half >= S: every key), by tiles of queries x keys with a running max and sum */ \
  /* (flash-attention's recurrence); q, k, v, ctx [B, H, S, dh]; a local layer's cost grows with S * half, not S^2 */ \
  /* lse (may be null): each row's log-sum-exp [B, H, S], what attnBlockedBackward reads to recompute the probabilities */ \
  X(void, attnBlocked, (float* ctx, const float* q, const float* k, const float* v, const float* maskAdd, float* lse, int64_t B, int64_t H, int64_t S, int64_t dh, float scale, int64_t half)) \
  /* its backward without the S x S matrix (overwrites dq, dk, dv [B, H, S, dh]): p_ij = exp(q_i . k_j * scale + maskAdd - lse_i) */ \
  /* recomputed over the same keys, dv_j = sum_i p_ij dctx_i, ds_ij = p_ij (dctx_i . v_j - dctx_i . ctx_i) * scale, */ \
  /* dq_i = sum_j ds_ij k_j, dk_j = sum_i ds_ij q_i */ \
  X(void, attnBlockedBackward, (float* dq, float* dk, float* dv, const float* dctx, const float* q, const float* k, const float* v, const float* ctx, const float* lse, const float* maskAdd, int64_t B, int64_t H, int64_t S, int64_t dh, float scale, int64_t half)) \
  /* rotary position embedding in place on x[rows, S, dh] (head-split q or k), half-rotation form (GPT-NeoX, HF's */ \
  /* rotate_half): x1' = x1 cos - x2 sin, x2' = x2 cos + x1 sin with cos, sin [S, dh/2]; conjugate: sin -> -sin */ \
  /* (the backward is the rotation by the opposite angle) */ \
  X(void, ropeApply, (float* x, const float* cosT, const float* sinT, int64_t rows, int64_t S, int64_t dh, bool conjugate)) \
  /* DeBERTa's disentangled attention bias: scores[bh, i, j] += c2p[bh, i, idx[i, j]] + p2c[bh, j, idx[i, j]] with c2p and */ \
  /* p2c [BH, S, R] (either may be null: content->position, position->content), idx [S, S] in [0, R) */ \
  X(void, relPosBias, (float* scores, const float* c2p, const float* p2c, const int32_t* idx, int64_t BH, int64_t S, int64_t R)) \
  /* its backward (overwrites): dc2p[bh, i, r] = sum of dscores[bh, i, j] over j with idx[i, j] = r; dp2c[bh, j, r] = the sum over i */ \
  X(void, relPosBiasBackward, (float* dc2p, float* dp2c, const float* dscores, const int32_t* idx, int64_t BH, int64_t S, int64_t R)) \
  /* GeGLU (ModernBERT's MLP): x[N, 2I] = [input | gate]; out[N, I] = gelu(input) * gate */ \
  X(void, gegluForward, (float* out, const float* x, int64_t N, int64_t I, bool tanhForm)) \
  /* dx[N, 2I] = [dout * gate * gelu'(input) | dout * gelu(input)] */ \
  X(void, gegluBackward, (float* dx, const float* x, const float* dout, int64_t N, int64_t I, bool tanhForm)) \
  /* ---- softmax over rows + cross-entropy -------------------------------------- */ \
  X(void, softmaxForward, (float* out, const float* inp, int64_t rows, int64_t C)) \
  X(void, softmaxBackward, (float* dinp, const float* dout, const float* out, int64_t rows, int64_t C)) \
  /* probs = softmax(logits); losses[n] = -log probs[n, labels[n]] (label < 0 = ignored, loss 0) */ \
  /* returns the mean loss over non-ignored rows */ \
  X(double, crossEntropyForward, (float* losses, float* probs, const float* logits, const int32_t* labels, int64_t N, int64_t C)) \
  /* dlogits = (probs - onehot) * dloss / count(non-ignored) */ \
  X(void, crossEntropyBackward, (float* dlogits, const float* probs, const int32_t* labels, int64_t N, int64_t C, float dloss)) \
  /* ---- int8 inference (per-row symmetric quantisation) ------------------------ */ \
  /* q[r, c] = clamp(nearbyint(x[r, c] * (1 / s[r])), -qmax, qmax), s[r] = max_c |x[r, c]| / qmax (1 for an all-zero row); */ \
  /* a row holding NaN or infinity gets s[r] = NaN and q = 0, so whatever it multiplies comes out NaN */ \
  X(void, quantizeRowsS8, (int8_t* q, float* scale, const float* x, int64_t rows, int64_t cols, float qmax)) \
  /* y[r, o] = (float)acc[r, o] * (rowScale[r] * colScale[o]) + bias[o] (bias may be null); y may alias acc (in place) */ \
  X(void, dequantRows, (float* y, const int32_t* acc, const float* rowScale, const float* colScale, const float* bias, int64_t R, int64_t O)) \
  /* ---- optimizer ------------------------------------------------------------ */ \
  /* BERT's AdamW (google-research/bert optimization.py): no bias correction, */ \
  /* update = m / (sqrt(v) + eps) + wd * p; p -= lr * update. */ \
  X(void, adamwStep, (float* p, const float* g, float* m, float* v, int64_t n, float lr, float beta1, float beta2, float eps, float wd)) \

#define JB_X_MEMBER(ret, name, params) ret (*name) params;
struct KernelTable {
  const char* isa;  // "x86-64", "x86-64-v3" or "x86-64-v4"
  JB_KERNEL_LIST(JB_X_MEMBER)
};
#undef JB_X_MEMBER

namespace base { extern const KernelTable table; }
namespace v3 { extern const KernelTable table; }
namespace v4 { extern const KernelTable table; }

// the table chosen at load (see isa.cc); base::table until then
const KernelTable& K();

// Applies the ISA cap and picks the kernel table. Call once, before any
// oneDNN primitive exists. cap: JA_BERT_MAX_ISA's value or "" for none.
// Returns an error message, or "" on success.
const char* selectIsa(const char* cap);
// the cap in force ("" when none) and whether oneDNN can run bf16 matmuls natively
const char* isaCap();
bool bf16Native();
// whether oneDNN's int8 matmul accumulates in 32 bits throughout (VNNI or AMX; see isa.cc)
bool int8Vnni();
// oneDNN's name for an ISA ("avx2", "avx512_core_bf16", ...) and the one-line refusal of bf16
const char* isaName(int isa);
const char* bf16Unsupported();

}  // namespace jb
