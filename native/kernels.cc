// Small C++ kernels for everything that is not a matmul. OpenMP over the
// outermost independent dimension; the same libgomp runtime oneDNN uses, so
// both share one thread pool.
#include "kernels.h"
#include <cmath>
#include <cstring>
#include <algorithm>
#include <vector>
#include <omp.h>

// This file is compiled once per ISA level (see kernels.h): the including
// file defines JB_VARIANT (the namespace) and the build gives it its -march.
#ifndef JB_VARIANT
#error "compile kernels.cc through kernels_base.cc, kernels_v3.cc or kernels_v4.cc"
#endif

namespace jb {
namespace JB_VARIANT {

// exp and erf written so that the compiler can vectorise loops that call them
// (libm's expf/erff are scalar calls). fexp: Cephes expf polynomial after
// reduction by ln 2, ~1 ulp; 0 below -87.3. ferf: the Numerical Recipes erfc
// fit (|error| < 1.2e-7), the same formula as the TypeScript reference.
static inline float fexp(float x) {
  float xc = x > 88.3f ? 88.3f : (x < -87.3f ? -87.3f : x);
  float n = std::floor(xc * 1.44269504088896341f + 0.5f);
  float r = xc - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  uint32_t bits = (uint32_t)((int32_t)n + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, 4);
  return x < -87.3f ? 0.0f : p * scale;
}

static inline float ferf(float x) {
  float z = std::fabs(x);
  float t = 1.0f / (1.0f + 0.5f * z);
  float r = t * fexp(-z * z - 1.26551223f + t * (1.00002368f + t * (0.37409196f + t * (0.09678418f +
            t * (-0.18628806f + t * (0.27886807f + t * (-1.13520398f + t * (1.48851587f + t * (-0.82215223f + t * 0.17087277f)))))))));
  return x >= 0.0f ? 1.0f - r : r - 1.0f;
}

// GELU's tanh form uses 0.5 (1 + tanh u) = sigmoid(2u), which keeps its
// relative accuracy where 1 + tanh u is tiny (large negative x)
static inline float sigmoid2(float u) { return 1.0f / (1.0f + fexp(-2.0f * u)); }

static inline uint16_t toBf16(float f) {
  uint32_t u; std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);  // round to nearest, ties to even
  return (uint16_t)(u >> 16);
}

void f32ToBf16(uint16_t* dst, const float* src, int64_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; i++) dst[i] = toBf16(src[i]);
}

void bf16ToF32(float* dst, const uint16_t* src, int64_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; i++) { uint32_t u = (uint32_t)src[i] << 16; std::memcpy(&dst[i], &u, 4); }
}

void addForward(float* out, const float* a, const float* b, int64_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

void accumulate(float* dst, const float* src, int64_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; i++) dst[i] += src[i];
}

void scale(float* x, float s, int64_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; i++) x[i] *= s;
}

double sumSquares(const float* x, int64_t n) {
  double total = 0;
#pragma omp parallel for simd schedule(static) reduction(+ : total) if (n > 65536)
  for (int64_t i = 0; i < n; i++) total += (double)x[i] * x[i];
  return total;
}

static const float kSqrt2OverPi = 0.7978845608028654f;
static const float kInvSqrt2 = 0.7071067811865476f;
static const float kInvSqrt2Pi = 0.3989422804014327f;

void geluForward(float* out, const float* inp, int64_t n, bool tanhForm) {
  if (tanhForm) {
#pragma omp parallel for schedule(static) if (n > 16384)
    for (int64_t i = 0; i < n; i++) {
      float x = inp[i];
      out[i] = x * sigmoid2(kSqrt2OverPi * (x + 0.044715f * x * x * x));
    }
  } else {
#pragma omp parallel for schedule(static) if (n > 16384)
    for (int64_t i = 0; i < n; i++) {
      float x = inp[i];
      out[i] = 0.5f * x * (1.0f + ferf(x * kInvSqrt2));
    }
  }
}

void geluBackward(float* dinp, const float* inp, const float* dout, int64_t n, bool tanhForm) {
  if (tanhForm) {
#pragma omp parallel for schedule(static) if (n > 16384)
    for (int64_t i = 0; i < n; i++) {
      float x = inp[i];
      float u = kSqrt2OverPi * (x + 0.044715f * x * x * x);
      float sg = sigmoid2(u);  // 0.5 (1 + tanh u); 1 - tanh^2 u = 4 sg (1 - sg)
      float du = kSqrt2OverPi * (1.0f + 3.0f * 0.044715f * x * x);
      dinp[i] = dout[i] * (sg + 2.0f * x * sg * (1.0f - sg) * du);
    }
  } else {
#pragma omp parallel for schedule(static) if (n > 16384)
    for (int64_t i = 0; i < n; i++) {
      float x = inp[i];
      float cdf = 0.5f * (1.0f + ferf(x * kInvSqrt2));
      float pdf = kInvSqrt2Pi * fexp(-0.5f * x * x);
      dinp[i] = dout[i] * (cdf + x * pdf);
    }
  }
}

void tanhForward(float* out, const float* inp, int64_t n) {
#pragma omp parallel for schedule(static) if (n > 16384)
  for (int64_t i = 0; i < n; i++) out[i] = std::tanh(inp[i]);
}

void attnPoolFeatures(float* f, const float* a, const float* c, const uint8_t* maskA, int64_t P, int64_t Pa, int64_t S, int64_t dv) {
#pragma omp parallel for schedule(static) if (P * S * dv > 65536)
  for (int64_t p = 0; p < P; p++) {
    const int64_t pa = Pa == 1 ? 0 : p;
    float* f1 = f + p * 2 * dv;
    float* f2 = f1 + dv;
    for (int64_t d = 0; d < 2 * dv; d++) f1[d] = 0.0f;
    int64_t n = 0;
    for (int64_t i = 0; i < S; i++) {
      if (!maskA[pa * S + i]) continue;
      n++;
      const float* x = a + (pa * S + i) * dv;
      const float* y = c + (p * S + i) * dv;
#pragma omp simd
      for (int64_t d = 0; d < dv; d++) { f1[d] += x[d] * y[d]; f2[d] += std::fabs(x[d] - y[d]); }
    }
    const float inv = 1.0f / (float)(n > 0 ? n : 1);
    for (int64_t d = 0; d < 2 * dv; d++) f1[d] *= inv;
  }
}

void maxSim(float* f, int32_t* arg, const float* sim, const uint8_t* maskA, const uint8_t* maskB, int64_t P, int64_t Pa, int64_t S, int64_t Sb) {
#pragma omp parallel for schedule(static) if (P * S * Sb > 65536)
  for (int64_t p = 0; p < P; p++) {
    const int64_t pa = Pa == 1 ? 0 : p;
    double total = 0.0;
    for (int64_t i = 0; i < S; i++) {
      arg[p * S + i] = -1;
      if (!maskA[pa * S + i]) continue;
      const float* row = sim + (p * S + i) * Sb;
      float best = -INFINITY;
      int32_t bj = -1;
      for (int64_t j = 0; j < Sb; j++) if (maskB[p * Sb + j] && row[j] > best) { best = row[j]; bj = (int32_t)j; }
      if (bj >= 0) { total += best; arg[p * S + i] = bj; }
    }
    f[p] = (float)total;
  }
}

// tanh(x) = 2 sigmoid(2x) - 1 through fexp, so the inner loop vectorises;
// absolute error ~1e-7, which is what attention scores need
void additiveScores(float* e, const float* wa, const float* ub, const float* v, int64_t P, int64_t Pa, int64_t S, int64_t Sb, int64_t k) {
  // per pair: U b transposed to [k][Sb] so the innermost loop runs over B's positions (no horizontal sums)
#pragma omp parallel if (P * S * Sb * k > 65536)
  {
    std::vector<float> uT((size_t)(k * Sb));
#pragma omp for schedule(static)
    for (int64_t p = 0; p < P; p++) {
      for (int64_t j = 0; j < Sb; j++)
        for (int64_t c = 0; c < k; c++) uT[(size_t)(c * Sb + j)] = ub[(p * Sb + j) * k + c];
      for (int64_t i = 0; i < S; i++) {
        const float* w = wa + ((Pa == 1 ? 0 : p) * S + i) * k;
        float* out = e + (p * S + i) * Sb;
        for (int64_t j = 0; j < Sb; j++) out[j] = 0.0f;
        for (int64_t c = 0; c < k; c++) {
          const float wc = w[c], vc = v[c];
          const float* u = uT.data() + c * Sb;
#pragma omp simd
          for (int64_t j = 0; j < Sb; j++) out[j] += vc * (2.0f / (1.0f + fexp(-2.0f * (wc + u[j]))) - 1.0f);
        }
      }
    }
  }
}

void tanhBackward(float* dinp, const float* out, const float* dout, int64_t n) {
#pragma omp parallel for schedule(static) if (n > 16384)
  for (int64_t i = 0; i < n; i++) dinp[i] = dout[i] * (1.0f - out[i] * out[i]);
}

// A counter-based generator: the mask depends only on the seed and the
// element index. 32-bit arithmetic (the "lowbias32" integer hash) so that the
// loop vectorises; indices are taken modulo 2^32.
static inline uint32_t hash32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}

static inline float uniform01(uint32_t seedMix, uint32_t i) {
  return (float)(hash32(i * 0x9E3779B9u + seedMix) >> 8) * (1.0f / 16777216.0f);  // 24 bits in [0, 1)
}

void dropoutForward(float* out, uint8_t* mask, const float* inp, int64_t n, float p, uint64_t seed) {
  const float s = 1.0f / (1.0f - p);
  const uint32_t seedMix = hash32((uint32_t)seed ^ (uint32_t)(seed >> 32) ^ 0x9E3779B9u);
#pragma omp parallel for schedule(static) if (n > 16384)
  for (int64_t i = 0; i < n; i++) {
    uint8_t keep = uniform01(seedMix, (uint32_t)i) >= p ? 1 : 0;
    mask[i] = keep;
    out[i] = keep ? inp[i] * s : 0.0f;
  }
}

// per-row masks: element j of row r from the row's own (already mixed) seed, so a row's mask does not depend on
// where the row sits in the batch (data-parallel ranks draw what one process would)
void dropoutRowsForward(float* out, uint8_t* mask, const float* inp, int64_t rows, int64_t rowLen, const int32_t* rowSeeds, float p) {
  const float s = 1.0f / (1.0f - p);
#pragma omp parallel for schedule(static) if (rows * rowLen > 16384)
  for (int64_t r = 0; r < rows; r++) {
    const uint32_t mix = (uint32_t)rowSeeds[r];
    const int64_t o = r * rowLen;
    for (int64_t j = 0; j < rowLen; j++) {
      uint8_t keep = (float)(hash32((uint32_t)j * 0x9E3779B9u + mix) >> 8) * (1.0f / 16777216.0f) >= p ? 1 : 0;
      mask[o + j] = keep;
      out[o + j] = keep ? inp[o + j] * s : 0.0f;
    }
  }
}

void dropoutBackward(float* dinp, const float* dout, const uint8_t* mask, int64_t n, float p) {
  const float s = 1.0f / (1.0f - p);
#pragma omp parallel for schedule(static) if (n > 16384)
  for (int64_t i = 0; i < n; i++) dinp[i] = mask[i] ? dout[i] * s : 0.0f;
}

void colSumAccumulate(float* dbias, const float* dout, int64_t rows, int64_t N) {
  // parallel over column blocks: no two threads write the same dbias element
  const int64_t blk = 64;
#pragma omp parallel for schedule(static)
  for (int64_t c0 = 0; c0 < N; c0 += blk) {
    int64_t c1 = c0 + blk < N ? c0 + blk : N;
    float acc[64] = {0};
    for (int64_t r = 0; r < rows; r++) {
      const float* row = dout + r * N;
      for (int64_t c = c0; c < c1; c++) acc[c - c0] += row[c];
    }
    for (int64_t c = c0; c < c1; c++) dbias[c] += acc[c - c0];
  }
}

void layernormForward(float* out, float* mean, float* rstd, const float* inp,
                      const float* gamma, const float* beta, int64_t N, int64_t C, float eps) {
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; n++) {
    const float* x = inp + n * C;
    float* y = out + n * C;
    // the row sums vectorised (omp simd: 16 partial sums, then combined), not one serial chain of C additions
    float m = 0;
#pragma omp simd reduction(+ : m)
    for (int64_t c = 0; c < C; c++) m += x[c];
    m /= (float)C;
    float var = 0;
#pragma omp simd reduction(+ : var)
    for (int64_t c = 0; c < C; c++) { float d = x[c] - m; var += d * d; }
    var /= (float)C;
    float rs = 1.0f / std::sqrt(var + eps);
    for (int64_t c = 0; c < C; c++) y[c] = (x[c] - m) * rs * gamma[c] + beta[c];
    mean[n] = m;
    rstd[n] = rs;
  }
}

void layernormBackward(float* dinp, float* dgamma, float* dbeta, const float* dout,
                       const float* inp, const float* gamma, const float* mean,
                       const float* rstd, int64_t N, int64_t C) {
  // per-thread dgamma | dbeta partial sums in one buffer shared by the OpenMP team
  // (calls come only from the Node main thread); it grows once and is reused
  int nt = omp_get_max_threads();
  static std::vector<float>& partial = *new std::vector<float>(); // never destroyed (see matmul.cc)
  if (partial.size() < (size_t)nt * 2 * C) partial.resize((size_t)nt * 2 * C);
  std::fill(partial.begin(), partial.begin() + (size_t)nt * 2 * C, 0.0f);
#pragma omp parallel
  {
    float* pg = partial.data() + (size_t)omp_get_thread_num() * 2 * C;
    float* pb = pg + C;
#pragma omp for schedule(static)
    for (int64_t n = 0; n < N; n++) {
      const float* x = inp + n * C;
      const float* dy = dout + n * C;
      float* dx = dinp + n * C;
      float m = mean[n], rs = rstd[n];
      float sumDn = 0, sumDnX = 0;  // sums of dnorm and dnorm * xhat
#pragma omp simd reduction(+ : sumDn, sumDnX)
      for (int64_t c = 0; c < C; c++) {
        float xhat = (x[c] - m) * rs;
        float dn = dy[c] * gamma[c];
        sumDn += dn; sumDnX += dn * xhat;
        pg[c] += dy[c] * xhat;
        pb[c] += dy[c];
      }
      sumDn /= (float)C; sumDnX /= (float)C;
      for (int64_t c = 0; c < C; c++) {
        float xhat = (x[c] - m) * rs;
        dx[c] = (dy[c] * gamma[c] - sumDn - xhat * sumDnX) * rs;
      }
    }
  }
  for (int t = 0; t < nt; t++) {
    const float* pg = partial.data() + (size_t)t * 2 * C;
    for (int64_t c = 0; c < C; c++) { dgamma[c] += pg[c]; dbeta[c] += pg[C + c]; }
  }
}

void embeddingForward(float* out, const int32_t* ids, const float* table, int64_t N, int64_t D,
                      int64_t vocab, bool acc) {
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; n++) {
    int64_t id = ids[n];
    if (id < 0 || id >= vocab) id = 0;  // the TS side validates ids before calling
    const float* src = table + id * D;
    float* dst = out + n * D;
    if (acc) for (int64_t d = 0; d < D; d++) dst[d] += src[d];
    else std::memcpy(dst, src, sizeof(float) * D);
  }
}

void embeddingBackward(float* dtable, const float* dout, const int32_t* ids, int64_t N, int64_t D) {
  // parallel over column blocks so that repeated ids never race
  const int64_t blk = 64;
#pragma omp parallel for schedule(static)
  for (int64_t d0 = 0; d0 < D; d0 += blk) {
    int64_t d1 = d0 + blk < D ? d0 + blk : D;
    for (int64_t n = 0; n < N; n++) {
      float* dst = dtable + (int64_t)ids[n] * D;
      const float* src = dout + n * D;
      for (int64_t d = d0; d < d1; d++) dst[d] += src[d];
    }
  }
}

void splitHeads(float* q, float* k, float* v, const float* qkv, int64_t B, int64_t S, int64_t H, int64_t dh) {
  const int64_t D = H * dh;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < B; b++)
    for (int64_t h = 0; h < H; h++)
      for (int64_t s = 0; s < S; s++) {
        const float* row = qkv + (b * S + s) * 3 * D + h * dh;
        int64_t o = ((b * H + h) * S + s) * dh;
        std::memcpy(q + o, row, sizeof(float) * dh);
        std::memcpy(k + o, row + D, sizeof(float) * dh);
        std::memcpy(v + o, row + 2 * D, sizeof(float) * dh);
      }
}

void mergeHeads3(float* dqkv, const float* dq, const float* dk, const float* dv, int64_t B, int64_t S, int64_t H, int64_t dh) {
  const int64_t D = H * dh;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < B; b++)
    for (int64_t h = 0; h < H; h++)
      for (int64_t s = 0; s < S; s++) {
        float* row = dqkv + (b * S + s) * 3 * D + h * dh;
        int64_t o = ((b * H + h) * S + s) * dh;
        std::memcpy(row, dq + o, sizeof(float) * dh);
        std::memcpy(row + D, dk + o, sizeof(float) * dh);
        std::memcpy(row + 2 * D, dv + o, sizeof(float) * dh);
      }
}

void headsToRows(float* out, const float* x, int64_t B, int64_t S, int64_t H, int64_t dh) {
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < B; b++)
    for (int64_t s = 0; s < S; s++)
      for (int64_t h = 0; h < H; h++)
        std::memcpy(out + ((b * S + s) * H + h) * dh, x + ((b * H + h) * S + s) * dh, sizeof(float) * dh);
}

void rowsToHeads(float* out, const float* x, int64_t B, int64_t S, int64_t H, int64_t dh) {
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < B; b++)
    for (int64_t h = 0; h < H; h++)
      for (int64_t s = 0; s < S; s++)
        std::memcpy(out + ((b * H + h) * S + s) * dh, x + ((b * S + s) * H + h) * dh, sizeof(float) * dh);
}

// y[j] = softmax_j(x[j * stride] * scale + madd[j]) over n keys: the row both attention softmaxes share
static inline void maskedSoftmaxRow(float* y, const float* x, int64_t stride, const float* madd, int64_t n, float scale) {
  float mx = -INFINITY;
  // a max is exact in any order: vectorised, the same result
#pragma omp simd reduction(max : mx)
  for (int64_t j = 0; j < n; j++) { float t = x[j * stride] * scale + madd[j]; y[j] = t; mx = t > mx ? t : mx; }
  float sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < n; j++) { float e = fexp(y[j] - mx); y[j] = e; sum += e; }
  float inv = 1.0f / sum;
  for (int64_t j = 0; j < n; j++) y[j] *= inv;
}

void attnSoftmaxForward(float* P, const float* scores, const float* maskAdd, int64_t B, int64_t H, int64_t S, float scale) {
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < B; b++)
    for (int64_t h = 0; h < H; h++)
      for (int64_t i = 0; i < S; i++) {
        int64_t o = ((b * H + h) * S + i) * S;
        maskedSoftmaxRow(P + o, scores + o, 1, maskAdd + b * S, S, scale);
      }
}

void attnSoftmaxShared(float* out, const float* scores, const float* maskAdd, int64_t P, int64_t S, int64_t Sb, float scale) {
#pragma omp parallel for schedule(static) if (P * S * Sb > 65536)
  for (int64_t p = 0; p < P; p++)
    // this candidate's [Sb, S] block: query i's scores are column i, stride S
    for (int64_t i = 0; i < S; i++) maskedSoftmaxRow(out + (p * S + i) * Sb, scores + p * Sb * S + i, S, maskAdd + p * Sb, Sb, scale);
}

void attnSoftmaxBackward(float* dscores, const float* dP, const float* P, int64_t rows, int64_t S, float scale) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const float* p = P + r * S;
    const float* dp = dP + r * S;
    float* ds = dscores + r * S;
    float dot = 0;
#pragma omp simd reduction(+ : dot)
    for (int64_t j = 0; j < S; j++) dot += dp[j] * p[j];
    for (int64_t j = 0; j < S; j++) ds[j] = p[j] * (dp[j] - dot) * scale;
  }
}

void attnSoftmaxWindow(float* P, const float* scores, const float* maskAdd, int64_t B, int64_t H, int64_t S, float scale, int64_t half) {
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < B; b++)
    for (int64_t h = 0; h < H; h++)
      for (int64_t i = 0; i < S; i++) {
        int64_t o = ((b * H + h) * S + i) * S;
        int64_t lo = i - half < 0 ? 0 : i - half, hi = i + half + 1 > S ? S : i + half + 1;
        for (int64_t j = 0; j < lo; j++) P[o + j] = 0;
        maskedSoftmaxRow(P + o + lo, scores + o + lo, 1, maskAdd + b * S + lo, hi - lo, scale);
        for (int64_t j = hi; j < S; j++) P[o + j] = 0;
      }
}

void relPosBias(float* scores, const float* c2p, const float* p2c, const int32_t* idx, int64_t BH, int64_t S, int64_t R) {
#pragma omp parallel for schedule(static)
  for (int64_t bh = 0; bh < BH; bh++)
    for (int64_t i = 0; i < S; i++) {
      float* s = scores + (bh * S + i) * S;
      const int32_t* ix = idx + i * S;
      if (c2p) {
        const float* c = c2p + (bh * S + i) * R;
        for (int64_t j = 0; j < S; j++) s[j] += c[ix[j]];
      }
      if (p2c) {
        const float* p = p2c + bh * S * R;
        for (int64_t j = 0; j < S; j++) s[j] += p[j * R + ix[j]];
      }
    }
}

void relPosBiasBackward(float* dc2p, float* dp2c, const float* dscores, const int32_t* idx, int64_t BH, int64_t S, int64_t R) {
#pragma omp parallel for schedule(static)
  for (int64_t bh = 0; bh < BH; bh++) {
    float* dc = dc2p ? dc2p + bh * S * R : nullptr;
    float* dp = dp2c ? dp2c + bh * S * R : nullptr;
    if (dc) std::fill(dc, dc + S * R, 0.0f);
    if (dp) std::fill(dp, dp + S * R, 0.0f);
    for (int64_t i = 0; i < S; i++) {
      const float* g = dscores + (bh * S + i) * S;
      const int32_t* ix = idx + i * S;
      if (dc) for (int64_t j = 0; j < S; j++) dc[i * R + ix[j]] += g[j];
      if (dp) for (int64_t j = 0; j < S; j++) dp[j * R + ix[j]] += g[j];
    }
  }
}

// the widest float vector of this build (GCC's vector extension: a zmm with AVX-512, a ymm with AVX2, an xmm below),
// so that the partial sums below stay in registers at every ISA level; W = 16 floats are NV of them
#if defined(__AVX512F__)
typedef float vf __attribute__((vector_size(64)));
#elif defined(__AVX__)
typedef float vf __attribute__((vector_size(32)));
#else
typedef float vf __attribute__((vector_size(16)));
#endif

// attnBlocked's inner work on up to 4 query rows of one tile at a time, so that each key (a column of k transposed)
// and each value row is loaded once for 4 rows and the partial sums stay in registers: 16 keys x 4 rows of scores,
// then 16 of dh x 4 rows of the output.
void attnBlocked(float* ctx, const float* q, const float* k, const float* v, const float* maskAdd, float* lse, int64_t B, int64_t H, int64_t S, int64_t dh, float scale, int64_t half) {
  const int64_t TQ = 16, TK = 128, BH = B * H, nq = (S + TQ - 1) / TQ;
  constexpr int64_t W = 16;
  constexpr int VL = (int)(sizeof(vf) / sizeof(float)), NV = (int)(W / VL);
  // k packed per (b, h) in chunks of W keys, each chunk [dh, W] (keys past S zero), so that a chunk's scores read
  // dh * W contiguous floats; tiles start on chunk boundaries
  const int64_t SC = (S + W - 1) / W;
  std::vector<float> kC((size_t)(BH * SC * dh * W), 0.0f);
#pragma omp parallel for schedule(static)
  for (int64_t bh = 0; bh < BH; bh++)
    for (int64_t j = 0; j < S; j++)
      for (int64_t d = 0; d < dh; d++) kC[(size_t)(((bh * SC + j / W) * dh + d) * W + j % W)] = k[(bh * S + j) * dh + d];
  const bool vec = dh % W == 0;
#pragma omp parallel
  {
    std::vector<float> sb((size_t)(TQ * TK)), acc((size_t)(TQ * dh)), mr(TQ), lr(TQ);
#pragma omp for collapse(2) schedule(dynamic)
    for (int64_t bh = 0; bh < BH; bh++)
      for (int64_t t = 0; t < nq; t++) {
        const int64_t b = bh / H, i0 = t * TQ, i1 = i0 + TQ < S ? i0 + TQ : S, nr = i1 - i0;
        const int64_t jlo = (i0 - half > 0 ? i0 - half : 0) / W * W, jhi = i1 - 1 + half + 1 < S ? i1 + half : S;
        const float* madd = maskAdd + b * S;
        const float* kc = kC.data() + bh * SC * dh * W;
        const float* vb = v + bh * S * dh;
        for (int64_t ii = 0; ii < nr; ii++) { mr[ii] = -INFINITY; lr[ii] = 0; }
        std::fill(acc.begin(), acc.end(), 0.0f);
        for (int64_t j0 = jlo; j0 < jhi; j0 += TK) {
          const int64_t n = j0 + TK < jhi ? TK : jhi - j0;
          for (int64_t r0 = 0; r0 < nr; r0 += 4) {
            const int64_t rn = nr - r0 < 4 ? nr - r0 : 4;
            // the keys of this tile any of the rows sees: [u0, u1)
            int64_t u0 = n, u1 = 0, lo[4], hi[4];
            for (int64_t r = 0; r < rn; r++) {
              const int64_t i = i0 + r0 + r;
              lo[r] = i - half - j0 > 0 ? i - half - j0 : 0;
              hi[r] = i + half + 1 - j0 < n ? i + half + 1 - j0 : n;
              if (lo[r] < u0) u0 = lo[r];
              if (hi[r] > u1) u1 = hi[r];
            }
            if (u0 >= u1) continue;
            const float* qr[4];
            for (int64_t r = 0; r < 4; r++) qr[r] = q + (bh * S + i0 + r0 + (r < rn ? r : 0)) * dh;
            float* sr[4];
            for (int64_t r = 0; r < 4; r++) sr[r] = sb.data() + (r0 + (r < rn ? r : 0)) * TK;
            // scores, 16 keys x 4 rows at a time, from the chunk boundary at or before u0
            for (int64_t jc = u0 / W * W; jc < u1; jc += W) {
              vf cv[4][NV] = {};
              const float* kk = kc + ((j0 + jc) / W) * dh * W;
              for (int64_t d = 0; d < dh; d++) {
                const float q0 = qr[0][d], q1 = qr[1][d], q2 = qr[2][d], q3 = qr[3][d];
                for (int u = 0; u < NV; u++) {
                  vf kv;
                  std::memcpy(&kv, kk + d * W + u * VL, sizeof kv);
                  cv[0][u] += q0 * kv; cv[1][u] += q1 * kv; cv[2][u] += q2 * kv; cv[3][u] += q3 * kv;
                }
              }
              float c0[W], c1[W], c2[W], c3[W];
              std::memcpy(c0, cv[0], sizeof c0); std::memcpy(c1, cv[1], sizeof c1); std::memcpy(c2, cv[2], sizeof c2); std::memcpy(c3, cv[3], sizeof c3);
              const int64_t w = u1 - jc < W ? u1 - jc : W;
              for (int64_t x = jc < u0 ? u0 - jc : 0; x < w; x++) { sr[0][jc + x] = c0[x]; sr[1][jc + x] = c1[x]; sr[2][jc + x] = c2[x]; sr[3][jc + x] = c3[x]; }
            }
            // each row's running softmax over its own keys (outside them: probability 0)
            float pc[4];
            for (int64_t r = 0; r < rn; r++) {
              float* row = sr[r];
              float mx = -INFINITY;
              for (int64_t j = u0; j < u1; j++) {
                float x = j >= lo[r] && j < hi[r] ? row[j] * scale + madd[j0 + j] : -INFINITY;
                row[j] = x;
                mx = x > mx ? x : mx;
              }
              const int64_t ii = r0 + r;
              if (mx == -INFINITY) { pc[r] = 1.0f; for (int64_t j = u0; j < u1; j++) row[j] = 0; continue; }
              const float mnew = mr[ii] > mx ? mr[ii] : mx, corr = fexp(mr[ii] - mnew);
              float sum = 0;
#pragma omp simd reduction(+ : sum)
              for (int64_t j = u0; j < u1; j++) { float e = fexp(row[j] - mnew); row[j] = e; sum += e; }
              lr[ii] = lr[ii] * corr + sum;
              mr[ii] = mnew;
              pc[r] = corr;
            }
            for (int64_t r = rn; r < 4; r++) pc[r] = 1.0f;
            // out += p . v, 16 of dh x 4 rows at a time (rows past rn: weights 0, results dropped)
            float* ar[4];
            for (int64_t r = 0; r < 4; r++) ar[r] = r < rn ? acc.data() + (r0 + r) * dh : nullptr;
            if (vec) {
              for (int64_t dc = 0; dc < dh; dc += W) {
                vf av[4][NV] = {};
                for (int64_t r = 0; r < rn; r++) {
                  std::memcpy(av[r], ar[r] + dc, sizeof av[r]);
                  for (int u = 0; u < NV; u++) av[r][u] *= pc[r];
                }
                for (int64_t j = u0; j < u1; j++) {
                  const float* vj = vb + (j0 + j) * dh + dc;
                  const float p0 = sr[0][j], p1 = rn > 1 ? sr[1][j] : 0, p2 = rn > 2 ? sr[2][j] : 0, p3 = rn > 3 ? sr[3][j] : 0;
                  for (int u = 0; u < NV; u++) {
                    vf vv;
                    std::memcpy(&vv, vj + u * VL, sizeof vv);
                    av[0][u] += p0 * vv; av[1][u] += p1 * vv; av[2][u] += p2 * vv; av[3][u] += p3 * vv;
                  }
                }
                for (int64_t r = 0; r < rn; r++) std::memcpy(ar[r] + dc, av[r], sizeof av[r]);
              }
            } else {
              for (int64_t r = 0; r < rn; r++) {
                float* ai = ar[r];
                for (int64_t d = 0; d < dh; d++) ai[d] *= pc[r];
                for (int64_t j = u0; j < u1; j++) {
                  const float p = sr[r][j];
                  const float* vj = vb + (j0 + j) * dh;
                  for (int64_t d = 0; d < dh; d++) ai[d] += p * vj[d];
                }
              }
            }
          }
        }
        for (int64_t ii = 0; ii < nr; ii++) {
          const float inv = 1.0f / lr[ii];
          float* o = ctx + (bh * S + i0 + ii) * dh;
          for (int64_t d = 0; d < dh; d++) o[d] = acc[ii * dh + d] * inv;
          if (lse) lse[bh * S + i0 + ii] = mr[ii] + std::log(lr[ii]);
        }
      }
  }
}

// attnBlocked's backward, one (b, h) per task (their dq, dk, dv are disjoint, so no two threads write one row), a query
// row at a time over the keys it saw: the probabilities from the saved log-sum-exp, then the five dh-long products
void attnBlockedBackward(float* dq, float* dk, float* dv, const float* dctx, const float* q, const float* k, const float* v, const float* ctx, const float* lse, const float* maskAdd, int64_t B, int64_t H, int64_t S, int64_t dh, float scale, int64_t half) {
  const int64_t BH = B * H;
#pragma omp parallel
  {
    std::vector<float> p((size_t)S), ds((size_t)S);
#pragma omp for schedule(dynamic)
    for (int64_t bh = 0; bh < BH; bh++) {
      const int64_t base = bh * S * dh;
      const float* madd = maskAdd + (bh / H) * S;
      std::fill(dk + base, dk + base + S * dh, 0.0f);
      std::fill(dv + base, dv + base + S * dh, 0.0f);
      for (int64_t i = 0; i < S; i++) {
        const float* qi = q + base + i * dh;
        const float* gi = dctx + base + i * dh;
        const float* oi = ctx + base + i * dh;
        float* dqi = dq + base + i * dh;
        const int64_t lo = i - half > 0 ? i - half : 0, hi = i + half + 1 < S ? i + half + 1 : S;
        float Di = 0;
#pragma omp simd reduction(+ : Di)
        for (int64_t d = 0; d < dh; d++) Di += gi[d] * oi[d];
        const float l = lse[bh * S + i];
        for (int64_t j = lo; j < hi; j++) {
          const float* kj = k + base + j * dh;
          const float* vj = v + base + j * dh;
          float s = 0, dp = 0;
#pragma omp simd reduction(+ : s, dp)
          for (int64_t d = 0; d < dh; d++) { s += qi[d] * kj[d]; dp += gi[d] * vj[d]; }
          const float pj = fexp(s * scale + madd[j] - l);
          p[j] = pj;
          ds[j] = pj * (dp - Di) * scale;
        }
        for (int64_t d = 0; d < dh; d++) dqi[d] = 0;
        for (int64_t j = lo; j < hi; j++) {
          const float* kj = k + base + j * dh;
          float* dkj = dk + base + j * dh;
          float* dvj = dv + base + j * dh;
          const float pj = p[j], sj = ds[j];
#pragma omp simd
          for (int64_t d = 0; d < dh; d++) { dqi[d] += sj * kj[d]; dkj[d] += sj * qi[d]; dvj[d] += pj * gi[d]; }
        }
      }
    }
  }
}

void ropeApply(float* x, const float* cosT, const float* sinT, int64_t rows, int64_t S, int64_t dh, bool conjugate) {
  const int64_t h2 = dh / 2;
  const float sg = conjugate ? -1.0f : 1.0f;
#pragma omp parallel for collapse(2) schedule(static) if (rows * S * dh > 65536)
  for (int64_t r = 0; r < rows; r++)
    for (int64_t s = 0; s < S; s++) {
      float* v = x + (r * S + s) * dh;
      const float* c = cosT + s * h2;
      const float* sn = sinT + s * h2;
#pragma omp simd
      for (int64_t j = 0; j < h2; j++) {
        float a = v[j], b = v[j + h2], si = sg * sn[j];
        v[j] = a * c[j] - b * si;
        v[j + h2] = b * c[j] + a * si;
      }
    }
}

static inline float geluOf(float x, bool tanhForm) {
  return tanhForm ? x * sigmoid2(kSqrt2OverPi * (x + 0.044715f * x * x * x)) : 0.5f * x * (1.0f + ferf(x * kInvSqrt2));
}
static inline float geluGrad(float x, bool tanhForm) {
  if (tanhForm) {
    float u = kSqrt2OverPi * (x + 0.044715f * x * x * x);
    float sg = sigmoid2(u);
    float du = kSqrt2OverPi * (1.0f + 3.0f * 0.044715f * x * x);
    return sg + 2.0f * x * sg * (1.0f - sg) * du;
  }
  return 0.5f * (1.0f + ferf(x * kInvSqrt2)) + x * kInvSqrt2Pi * fexp(-0.5f * x * x);
}

void gegluForward(float* out, const float* x, int64_t N, int64_t I, bool tanhForm) {
#pragma omp parallel for schedule(static) if (N * I > 16384)
  for (int64_t r = 0; r < N; r++) {
    const float* in = x + r * 2 * I;
    const float* gate = in + I;
    float* o = out + r * I;
    for (int64_t j = 0; j < I; j++) o[j] = geluOf(in[j], tanhForm) * gate[j];
  }
}

void gegluBackward(float* dx, const float* x, const float* dout, int64_t N, int64_t I, bool tanhForm) {
#pragma omp parallel for schedule(static) if (N * I > 16384)
  for (int64_t r = 0; r < N; r++) {
    const float* in = x + r * 2 * I;
    const float* gate = in + I;
    const float* d = dout + r * I;
    float* di = dx + r * 2 * I;
    float* dg = di + I;
    for (int64_t j = 0; j < I; j++) {
      float v = in[j];
      di[j] = d[j] * gate[j] * geluGrad(v, tanhForm);
      dg[j] = d[j] * geluOf(v, tanhForm);
    }
  }
}

void softmaxForward(float* out, const float* inp, int64_t rows, int64_t C) {
#pragma omp parallel for schedule(static) if (rows > 64)
  for (int64_t r = 0; r < rows; r++) {
    const float* x = inp + r * C;
    float* y = out + r * C;
    float mx = -INFINITY;
    for (int64_t c = 0; c < C; c++) mx = x[c] > mx ? x[c] : mx;
    float sum = 0;
    for (int64_t c = 0; c < C; c++) { y[c] = std::exp(x[c] - mx); sum += y[c]; }
    float inv = 1.0f / sum;
    for (int64_t c = 0; c < C; c++) y[c] *= inv;
  }
}

void softmaxBackward(float* dinp, const float* dout, const float* out, int64_t rows, int64_t C) {
  attnSoftmaxBackward(dinp, dout, out, rows, C, 1.0f);
}

double crossEntropyForward(float* losses, float* probs, const float* logits, const int32_t* labels, int64_t N, int64_t C) {
  softmaxForward(probs, logits, N, C);
  double total = 0; int64_t count = 0;
  for (int64_t n = 0; n < N; n++) {
    if (labels[n] < 0) { losses[n] = 0; continue; }
    // log-softmax computed from the logits directly for accuracy
    const float* x = logits + n * C;
    double mx = -INFINITY;
    for (int64_t c = 0; c < C; c++) mx = x[c] > mx ? x[c] : mx;
    double s = 0;
    for (int64_t c = 0; c < C; c++) s += std::exp((double)x[c] - mx);
    double l = -((double)x[labels[n]] - mx - std::log(s));
    losses[n] = (float)l;
    total += l; count++;
  }
  return count ? total / (double)count : 0.0;
}

void crossEntropyBackward(float* dlogits, const float* probs, const int32_t* labels, int64_t N, int64_t C, float dloss) {
  int64_t count = 0;
  for (int64_t n = 0; n < N; n++) count += labels[n] >= 0;
  float s = count ? dloss / (float)count : 0.0f;
#pragma omp parallel for schedule(static) if (N * C > 65536)
  for (int64_t n = 0; n < N; n++) {
    float* d = dlogits + n * C;
    const float* p = probs + n * C;
    if (labels[n] < 0) { for (int64_t c = 0; c < C; c++) d[c] = 0; continue; }
    for (int64_t c = 0; c < C; c++) d[c] = p[c] * s;
    d[labels[n]] -= s;
  }
}

void adamwStep(float* p, const float* g, float* m, float* v, int64_t n, float lr,
               float beta1, float beta2, float eps, float wd) {
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; i++) {
    float gi = g[i];
    float mi = beta1 * m[i] + (1.0f - beta1) * gi;
    float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
    m[i] = mi; v[i] = vi;
    float update = mi / (std::sqrt(vi) + eps) + wd * p[i];
    p[i] -= lr * update;
  }
}

void quantizeRowsS8(int8_t* q, float* scale, const float* x, int64_t rows, int64_t cols, float qmax) {
#pragma omp parallel for schedule(static) if (rows * cols > 65536)
  for (int64_t r = 0; r < rows; r++) {
    const float* xr = x + r * cols;
    int8_t* qr = q + r * cols;
    // max |x| over the row as an integer max of the bit patterns without the sign: for non-negative floats their order is the
    // integers' (NaN above infinity above every finite value), and an integer max reduction vectorises where a float one does not
    uint32_t top = 0;
    for (int64_t c = 0; c < cols; c++) {
      uint32_t u;
      std::memcpy(&u, xr + c, 4);
      u &= 0x7fffffffu;
      top = u > top ? u : top;
    }
    if (top >= 0x7f800000u) {  // NaN or infinity
      scale[r] = NAN;
      std::memset(qr, 0, (size_t)cols);
      continue;
    }
    float mx;
    std::memcpy(&mx, &top, 4);
    const float s = mx > 0.0f ? mx / qmax : 1.0f;
    // multiply by the reciprocal (a division per element is several times slower); both roundings are f32's, as in the reference
    const float inv = 1.0f / s;
    scale[r] = s;
    for (int64_t c = 0; c < cols; c++) {
      float v = std::nearbyint(xr[c] * inv);
      v = v > qmax ? qmax : (v < -qmax ? -qmax : v);
      qr[c] = (int8_t)(int32_t)v;
    }
  }
}

void dequantRows(float* y, const int32_t* acc, const float* rowScale, const float* colScale, const float* bias, int64_t R, int64_t O) {
#pragma omp parallel for schedule(static) if (R * O > 65536)
  for (int64_t r = 0; r < R; r++) {
    const float rs = rowScale[r];
    const int32_t* a = acc + r * O;
    float* yr = y + r * O;
    if (bias) for (int64_t o = 0; o < O; o++) yr[o] = (float)a[o] * (rs * colScale[o]) + bias[o];
    else for (int64_t o = 0; o < O; o++) yr[o] = (float)a[o] * (rs * colScale[o]);
  }
}

#define JB_X_ENTRY(ret, name, params) name,
extern const KernelTable table = {JB_ISA_NAME, JB_KERNEL_LIST(JB_X_ENTRY)};

}  // namespace JB_VARIANT
}  // namespace jb
