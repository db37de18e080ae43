// Matrix multiply on oneDNN's matmul primitive. Primitives are JIT-compiled
// per shape, so they are cached by their full description; the cache only
// grows with the number of distinct shapes a run sees (bounded by batch
// layouts), not with the number of steps.
#include "kernels.h"
#include <dnnl.hpp>
#include <array>
#include <stdexcept>
#include <unordered_map>
#include <vector>

namespace jb {

namespace {
// The engine, stream, primitive cache and scratch live for the whole process and
// are never destroyed: at exit the engine thread of the async API (a worker
// thread with its own OpenMP team) may still be alive, and destroying oneDNN
// objects under it crashed the process on the way out. The OS reclaims them.
dnnl::engine& engine() { static dnnl::engine& e = *new dnnl::engine(dnnl::engine::kind::cpu, 0); return e; }
dnnl::stream& stream() { static dnnl::stream& s = *new dnnl::stream(engine()); return s; }

struct Entry { dnnl::matmul prim; dnnl::memory::desc a, b, c, bias; };
// everything that selects a primitive: batch, M, N, K and the flag bits
using Key = std::array<int64_t, 5>;
struct KeyHash {
  size_t operator()(const Key& k) const {
    size_t h = 1469598103934665603ull;
    for (int64_t v : k) h = (h ^ (size_t)v) * 1099511628211ull;
    return h;
  }
};
std::unordered_map<Key, Entry, KeyHash>& cache() { static auto& m = *new std::unordered_map<Key, Entry, KeyHash>(); return m; }

// Scratch for on-the-fly bf16 conversion of f32 operands. Grows to the largest
// operand seen, then stays: steady-state training allocates nothing here.
std::vector<uint16_t>& scratchA() { static auto& v = *new std::vector<uint16_t>(); return v; }
std::vector<uint16_t>& scratchB() { static auto& v = *new std::vector<uint16_t>(); return v; }

using dt = dnnl::memory::data_type;
using dims = dnnl::memory::dims;
}  // namespace


void matmul(const MatmulArgs& x) {
  if (x.M <= 0 || x.N <= 0 || x.K <= 0 || x.batch <= 0) {
    if (x.M > 0 && x.N > 0 && x.K == 0 && !x.accumulate) {
      // empty reduction: C = bias (or 0)
      for (int64_t b = 0; b < x.batch; b++)
        for (int64_t i = 0; i < x.M; i++)
          for (int64_t j = 0; j < x.N; j++) x.C[(b * x.M + i) * x.N + j] = x.bias ? x.bias[j] : 0.0f;
    }
    return;
  }
  const bool bf = x.dtype == 1;
  const dt inT = bf ? dt::bf16 : dt::f32;
  const Key key{x.batch, x.M, x.N, x.K,
                (int64_t)x.transA | (int64_t)x.transB << 1 | (int64_t)x.accumulate << 2 | (int64_t)(x.bias != nullptr) << 3 | (int64_t)x.dtype << 4};
  auto& c = cache();
  auto it = c.find(key);
  if (it == c.end()) {
    const int64_t M = x.M, N = x.N, K = x.K, Bt = x.batch;
    dims aStr = x.transA ? dims{M * K, 1, M} : dims{M * K, K, 1};
    dims bStr = x.transB ? dims{K * N, 1, K} : dims{K * N, N, 1};
    dnnl::memory::desc a({Bt, M, K}, inT, aStr);
    dnnl::memory::desc b({Bt, K, N}, inT, bStr);
    dnnl::memory::desc cm({Bt, M, N}, dt::f32, dims{M * N, N, 1});
    dnnl::memory::desc bias = x.bias ? dnnl::memory::desc({1, 1, N}, dt::f32, dims{N, N, 1}) : dnnl::memory::desc();
    dnnl::primitive_attr attr;
    if (x.accumulate) {
      dnnl::post_ops po;
      po.append_sum(1.0f);
      attr.set_post_ops(po);
    }
    dnnl::matmul::desc d = x.bias ? dnnl::matmul::desc(a, b, bias, cm) : dnnl::matmul::desc(a, b, cm);
    dnnl::matmul::primitive_desc pd(d, attr, engine());
    it = c.emplace(key, Entry{dnnl::matmul(pd), a, b, cm, bias}).first;
  }
  const void* A = x.A;
  const void* B = x.B;
  if (bf) {
    if (!x.aBf16) {
      int64_t n = x.batch * x.M * x.K;
      auto& s = scratchA();
      if ((int64_t)s.size() < n) s.resize(n);
      K().f32ToBf16(s.data(), (const float*)x.A, n);
      A = s.data();
    }
    if (!x.bBf16) {
      int64_t n = x.batch * x.K * x.N;
      auto& s = scratchB();
      if ((int64_t)s.size() < n) s.resize(n);
      K().f32ToBf16(s.data(), (const float*)x.B, n);
      B = s.data();
    }
  } else if (x.aBf16 || x.bBf16) {
    throw std::invalid_argument("matmul: bf16 operand given with dtype f32");
  }
  Entry& e = it->second;
  dnnl::memory ma(e.a, engine(), const_cast<void*>(A));
  dnnl::memory mb(e.b, engine(), const_cast<void*>(B));
  dnnl::memory mc(e.c, engine(), x.C);
  std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mb}, {DNNL_ARG_DST, mc}};
  if (x.bias) args.emplace(DNNL_ARG_BIAS, dnnl::memory(e.bias, engine(), const_cast<float*>(x.bias)));
  e.prim.execute(stream(), args);
  stream().wait();
}

namespace {
struct Int8Entry { dnnl::matmul prim; dnnl::memory::desc a, b, c; };
std::unordered_map<Key, Int8Entry, KeyHash>& int8Cache() { static auto& m = *new std::unordered_map<Key, Int8Entry, KeyHash>(); return m; }
// the quantised rows of x and their scales: grow to the largest layer input seen, then stay
std::vector<int8_t>& scratchQ() { static auto& v = *new std::vector<int8_t>(); return v; }
std::vector<float>& scratchS() { static auto& v = *new std::vector<float>(); return v; }
}  // namespace

size_t matmulCacheSize() { return cache().size() + int8Cache().size(); }

void linearInt8(float* out, const float* x, const int8_t* wq, const float* wscale, const float* bias, int64_t R, int64_t O, int64_t In) {
  if (R <= 0 || O <= 0) return;
  if (In == 0) {
    for (int64_t r = 0; r < R; r++)
      for (int64_t o = 0; o < O; o++) out[r * O + o] = bias ? bias[o] : 0.0f;
    return;
  }
  auto& q = scratchQ();
  auto& sc = scratchS();
  if ((int64_t)q.size() < R * In) q.resize(R * In);
  if ((int64_t)sc.size() < R) sc.resize(R);
  K().quantizeRowsS8(q.data(), sc.data(), x, R, In, 127.0f);
  const Key key{1, R, O, In, 2 << 4};
  auto& c = int8Cache();
  auto it = c.find(key);
  if (it == c.end()) {
    // s8 rows [R, In] times W^T: W is [O, In] row-major, so B = W^T is [In, O] with strides (1, In); s32 out
    dnnl::memory::desc a({1, R, In}, dt::s8, dims{R * In, In, 1});
    dnnl::memory::desc b({1, In, O}, dt::s8, dims{In * O, 1, In});
    dnnl::memory::desc cm({1, R, O}, dt::s32, dims{R * O, O, 1});
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, cm), engine());
    it = c.emplace(key, Int8Entry{dnnl::matmul(pd), a, b, cm}).first;
  }
  Int8Entry& e = it->second;
  // the s32 products go into out itself (4 bytes an element, as the f32 result), then are dequantised in place
  int32_t* acc = reinterpret_cast<int32_t*>(out);
  dnnl::memory ma(e.a, engine(), q.data());
  dnnl::memory mb(e.b, engine(), const_cast<int8_t*>(wq));
  dnnl::memory mc(e.c, engine(), acc);
  e.prim.execute(stream(), {{DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mb}, {DNNL_ARG_DST, mc}});
  stream().wait();
  K().dequantRows(out, acc, sc.data(), wscale, bias, R, O);
}

}  // namespace jb
