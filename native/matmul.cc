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

// ---- dense layers on weights packed once (inference), f32, bf16 and int8 ---------
// A weight kind: 0 f32, 1 bf16 (x converted on the fly), 2 s8 (x quantised per row by the caller, s32 products).
// W [O, In] row-major is B = W^T [In, O] with strides (1, In); packed, it is in the layout oneDNN picks for format any
// (blocked; for s8 with the compensation oneDNN keeps behind the data), made once per (O, In, kind).
namespace {
struct DenseEntry { dnnl::matmul prim; dnnl::memory::desc a, b, c, bias; bool packed; };
std::unordered_map<Key, DenseEntry, KeyHash>& denseCache() { static auto& m = *new std::unordered_map<Key, DenseEntry, KeyHash>(); return m; }
// the quantised rows of x and their scales: grow to the largest layer input seen, then stay
std::vector<int8_t>& scratchQ() { static auto& v = *new std::vector<int8_t>(); return v; }
std::vector<float>& scratchS() { static auto& v = *new std::vector<float>(); return v; }

dt inType(int kind) { return kind == 2 ? dt::s8 : kind == 1 ? dt::bf16 : dt::f32; }
dnnl::memory::desc plainW(int64_t O, int64_t In, int kind) { return dnnl::memory::desc({In, O}, inType(kind), dims{1, In}); }
dnnl::memory::desc biasDesc(int64_t O) { return dnnl::memory::desc({1, O}, dt::f32, dims{O, 1}); }
// the primitive for R rows on the plain or the packed (format any) weights; s8 writes s32 and takes no bias (dequantRows adds it)
dnnl::matmul::primitive_desc densePd(int64_t R, int64_t O, int64_t In, int kind, bool packed, bool bias) {
  dnnl::memory::desc a({R, In}, inType(kind), dims{In, 1});
  dnnl::memory::desc b = packed ? dnnl::memory::desc({In, O}, inType(kind), dnnl::memory::format_tag::any) : plainW(O, In, kind);
  dnnl::memory::desc cm({R, O}, kind == 2 ? dt::s32 : dt::f32, dims{O, 1});
  if (!bias) return dnnl::matmul::primitive_desc(dnnl::matmul::desc(a, b, cm), engine());
  return dnnl::matmul::primitive_desc(dnnl::matmul::desc(a, b, biasDesc(O), cm), engine());
}
using LayoutKey = std::array<int64_t, 3>;
struct LayoutHash { size_t operator()(const LayoutKey& k) const { return ((size_t)k[0] * 1000003u ^ (size_t)k[1]) * 31u + (size_t)k[2]; } };
// the packed layout of (O, In, kind), as the primitive for 128 rows picks it (in oneDNN 2.6 it does not depend on the rows;
// runDense checks it for every row count); empty where packing does not pay: f32 below AVX-512 (oneDNN's AVX2 GEMM ran
// slower on its packed layout at small row counts, docs/PERF.md)
const dnnl::memory::desc& packedLayout(int64_t O, int64_t In, int kind) {
  static auto& m = *new std::unordered_map<LayoutKey, dnnl::memory::desc, LayoutHash>();
  auto it = m.find({O, In, kind});
  if (it == m.end()) {
    bool worth = kind != 0 || (dnnl_get_effective_cpu_isa() & dnnl_cpu_isa_avx512_core) == dnnl_cpu_isa_avx512_core;
    it = m.emplace(LayoutKey{O, In, kind}, worth ? densePd(128, O, In, kind, true, false).weights_desc() : dnnl::memory::desc()).first;
  }
  return it->second;
}
// no inputs (In = 0): the bias alone
void biasOnly(float* out, const float* bias, int64_t R, int64_t O) {
  for (int64_t r = 0; r < R; r++)
    for (int64_t o = 0; o < O; o++) out[r * O + o] = bias ? bias[o] : 0.0f;
}
// C[R, O] = A . W^T (+ bias) on the packed weights where packedLen is their size and this row count's primitive wants exactly
// their layout, else on the plain W
void runDense(void* C, const void* A, const void* W, const void* packed, int64_t packedLen, const float* bias, int64_t R, int64_t O, int64_t In, int kind) {
  bool usePacked = packed && packedLen > 0 && packedLen == packedWeightsSize(O, In, kind);
  const Key key{1, R, O, In, 4 << 4 | (int64_t)kind | (int64_t)usePacked << 8 | (int64_t)(bias != nullptr) << 9};
  auto& c = denseCache();
  auto it = c.find(key);
  if (it == c.end()) {
    auto pd = densePd(R, O, In, kind, usePacked, bias != nullptr);
    if (usePacked && pd.weights_desc() != packedLayout(O, In, kind)) { pd = densePd(R, O, In, kind, false, bias != nullptr); usePacked = false; }
    it = c.emplace(key, DenseEntry{dnnl::matmul(pd), pd.src_desc(), pd.weights_desc(), pd.dst_desc(), bias ? biasDesc(O) : dnnl::memory::desc(), usePacked}).first;
  }
  DenseEntry& e = it->second;
  dnnl::memory ma(e.a, engine(), const_cast<void*>(A));
  dnnl::memory mb(e.b, engine(), const_cast<void*>(e.packed ? packed : W));
  dnnl::memory mc(e.c, engine(), C);
  std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mb}, {DNNL_ARG_DST, mc}};
  if (bias) args.emplace(DNNL_ARG_BIAS, dnnl::memory(e.bias, engine(), const_cast<float*>(bias)));
  e.prim.execute(stream(), args);
  stream().wait();
}
}  // namespace

size_t matmulCacheSize() { return cache().size() + denseCache().size(); }

int64_t packedWeightsSize(int64_t O, int64_t In, int kind) { return O > 0 && In > 0 ? (int64_t)packedLayout(O, In, kind).get_size() : 0; }

void packWeights(void* dst, const void* W, int64_t O, int64_t In, int kind) {
  if (packedWeightsSize(O, In, kind) == 0) return;
  dnnl::memory src(plainW(O, In, kind), engine(), const_cast<void*>(W));
  dnnl::memory out(packedLayout(O, In, kind), engine(), dst);
  dnnl::reorder(src, out).execute(stream(), src, out);
  stream().wait();
}

void linearInt8(float* out, const float* x, const int8_t* wq, const float* wscale, const float* bias, int64_t R, int64_t O, int64_t In,
                const int8_t* packed, int64_t packedLen) {
  if (R <= 0 || O <= 0) return;
  if (In == 0) return biasOnly(out, bias, R, O);
  auto& q = scratchQ();
  auto& sc = scratchS();
  if ((int64_t)q.size() < R * In) q.resize(R * In);
  if ((int64_t)sc.size() < R) sc.resize(R);
  K().quantizeRowsS8(q.data(), sc.data(), x, R, In, 127.0f);
  // the s32 products go into out itself (4 bytes an element, as the f32 result), then are dequantised in place
  int32_t* acc = reinterpret_cast<int32_t*>(out);
  runDense(acc, q.data(), wq, packed, packedLen, nullptr, R, O, In, 2);
  K().dequantRows(out, acc, sc.data(), wscale, bias, R, O);
}

void linearPacked(float* out, const float* x, const void* W, const void* packed, int64_t packedLen, const float* bias,
                  int64_t R, int64_t O, int64_t In, int dtype) {
  if (R <= 0 || O <= 0) return;
  if (In == 0) return biasOnly(out, bias, R, O);
  const void* A = x;
  if (dtype == 1) {
    auto& sa = scratchA();
    if ((int64_t)sa.size() < R * In) sa.resize(R * In);
    K().f32ToBf16(sa.data(), x, R * In);
    A = sa.data();
  }
  runDense(out, A, W, packed, packedLen, bias, R, O, In, dtype);
}

}  // namespace jb
