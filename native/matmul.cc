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

// W [O, In] row-major seen as B = W^T [In, O]: strides (1, In)
dnnl::memory::desc plainWeights(int64_t O, int64_t In) { return dnnl::memory::desc({In, O}, dt::s8, dims{1, In}); }
// the primitive for R rows; weights: the plain layout, or (packed) the layout oneDNN picks (format any: VNNI-blocked, with the
// s8 compensation behind the data, where the ISA has a blocked form)
dnnl::matmul::primitive_desc int8Pd(int64_t R, int64_t O, int64_t In, bool packed) {
  dnnl::memory::desc a({R, In}, dt::s8, dims{In, 1});
  dnnl::memory::desc b = packed ? dnnl::memory::desc({In, O}, dt::s8, dnnl::memory::format_tag::any) : plainWeights(O, In);
  dnnl::memory::desc cm({R, O}, dt::s32, dims{O, 1});
  return dnnl::matmul::primitive_desc(dnnl::matmul::desc(a, b, cm), engine());
}
// the packed layout of (O, In), as the primitive for 128 rows picks it (the layout does not depend on the rows in oneDNN 2.6;
// linearInt8 checks it for every row count and falls back to the plain weights where it would differ)
using PackKey = std::array<int64_t, 2>;
struct PackHash { size_t operator()(const PackKey& k) const { return (size_t)k[0] * 1000003u ^ (size_t)k[1]; } };
const dnnl::memory::desc& packedDesc(int64_t O, int64_t In) {
  static auto& m = *new std::unordered_map<PackKey, dnnl::memory::desc, PackHash>();
  auto it = m.find({O, In});
  if (it == m.end()) it = m.emplace(PackKey{O, In}, int8Pd(128, O, In, true).weights_desc()).first;
  return it->second;
}
}  // namespace


int64_t int8PackedSize(int64_t O, int64_t In) { return O > 0 && In > 0 ? (int64_t)packedDesc(O, In).get_size() : 0; }

void packInt8(int8_t* dst, const int8_t* wq, int64_t O, int64_t In) {
  if (O <= 0 || In <= 0) return;
  dnnl::memory src(plainWeights(O, In), engine(), const_cast<int8_t*>(wq));
  dnnl::memory out(packedDesc(O, In), engine(), dst);
  dnnl::reorder(src, out).execute(stream(), src, out);
  stream().wait();
}

void linearInt8(float* out, const float* x, const int8_t* wq, const float* wscale, const float* bias, int64_t R, int64_t O, int64_t In,
                const int8_t* packed, int64_t packedLen) {
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
  // the packed weights are used only where this row count's primitive wants exactly the layout they were packed in
  bool usePacked = packed && packedLen == int8PackedSize(O, In);
  const Key key{1, R, O, In, 2 << 4 | (int64_t)usePacked << 8};
  auto& c = int8Cache();
  auto it = c.find(key);
  if (it == c.end()) {
    auto pd = int8Pd(R, O, In, usePacked);
    if (usePacked && pd.weights_desc() != packedDesc(O, In)) {
      pd = int8Pd(R, O, In, false);
      usePacked = false;
    }
    it = c.emplace(key, Int8Entry{dnnl::matmul(pd), pd.src_desc(), pd.weights_desc(), pd.dst_desc()}).first;
  }
  Int8Entry& e = it->second;
  if (e.b != plainWeights(O, In)) usePacked = true;  // this entry runs on the packed layout
  else usePacked = false;
  // the s32 products go into out itself (4 bytes an element, as the f32 result), then are dequantised in place
  int32_t* acc = reinterpret_cast<int32_t*>(out);
  dnnl::memory ma(e.a, engine(), q.data());
  dnnl::memory mb(e.b, engine(), const_cast<int8_t*>(usePacked ? packed : wq));
  dnnl::memory mc(e.c, engine(), acc);
  e.prim.execute(stream(), {{DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mb}, {DNNL_ARG_DST, mc}});
  stream().wait();
  K().dequantRows(out, acc, sc.data(), wscale, bias, R, O);
}

// ---- dense layers on packed weights (inference) ------------------------------
namespace {
struct PackedEntry { dnnl::matmul prim; dnnl::memory::desc a, b, c, bias; bool packed; };
std::unordered_map<Key, PackedEntry, KeyHash>& packedCache() { static auto& m = *new std::unordered_map<Key, PackedEntry, KeyHash>(); return m; }
dt wType(int dtype) { return dtype == 1 ? dt::bf16 : dt::f32; }
dnnl::memory::desc plainW(int64_t O, int64_t In, int dtype) { return dnnl::memory::desc({In, O}, wType(dtype), dims{1, In}); }
dnnl::matmul::primitive_desc densePd(int64_t R, int64_t O, int64_t In, int dtype, bool packed, bool bias) {
  dnnl::memory::desc a({R, In}, wType(dtype), dims{In, 1});
  dnnl::memory::desc b = packed ? dnnl::memory::desc({In, O}, wType(dtype), dnnl::memory::format_tag::any) : plainW(O, In, dtype);
  dnnl::memory::desc cm({R, O}, dt::f32, dims{O, 1});
  if (!bias) return dnnl::matmul::primitive_desc(dnnl::matmul::desc(a, b, cm), engine());
  dnnl::memory::desc bm({1, O}, dt::f32, dims{O, 1});
  return dnnl::matmul::primitive_desc(dnnl::matmul::desc(a, b, bm, cm), engine());
}
using PackKey3 = std::array<int64_t, 3>;
struct PackHash3 { size_t operator()(const PackKey3& k) const { return ((size_t)k[0] * 1000003u ^ (size_t)k[1]) * 31u + (size_t)k[2]; } };
// the packed layout of (O, In, dtype), as the primitive for 128 rows picks it; empty where packing does not pay: f32 below
// AVX-512 (oneDNN's AVX2 GEMM ran slower on its packed layout at small row counts, docs/PERF.md)
const dnnl::memory::desc& densePackedDesc(int64_t O, int64_t In, int dtype) {
  static auto& m = *new std::unordered_map<PackKey3, dnnl::memory::desc, PackHash3>();
  auto it = m.find({O, In, dtype});
  if (it == m.end()) {
    bool worth = dtype == 1 || (dnnl_get_effective_cpu_isa() & dnnl_cpu_isa_avx512_core) == dnnl_cpu_isa_avx512_core;
    it = m.emplace(PackKey3{O, In, dtype}, worth ? densePd(128, O, In, dtype, true, false).weights_desc() : dnnl::memory::desc()).first;
  }
  return it->second;
}
}  // namespace

int64_t densePackedSize(int64_t O, int64_t In, int dtype) { return O > 0 && In > 0 ? (int64_t)densePackedDesc(O, In, dtype).get_size() : 0; }

void packDense(void* dst, const void* W, int64_t O, int64_t In, int dtype) {
  if (densePackedSize(O, In, dtype) == 0) return;
  dnnl::memory src(plainW(O, In, dtype), engine(), const_cast<void*>(W));
  dnnl::memory out(densePackedDesc(O, In, dtype), engine(), dst);
  dnnl::reorder(src, out).execute(stream(), src, out);
  stream().wait();
}

void linearPacked(float* out, const float* x, const void* W, const void* packed, int64_t packedLen, const float* bias,
                  int64_t R, int64_t O, int64_t In, int dtype) {
  if (R <= 0 || O <= 0) return;
  if (In == 0) {
    for (int64_t r = 0; r < R; r++)
      for (int64_t o = 0; o < O; o++) out[r * O + o] = bias ? bias[o] : 0.0f;
    return;
  }
  bool usePacked = packed && packedLen > 0 && packedLen == densePackedSize(O, In, dtype);
  const Key key{1, R, O, In, 4 << 4 | (int64_t)dtype | (int64_t)usePacked << 8 | (int64_t)(bias != nullptr) << 9};
  auto& c = packedCache();
  auto it = c.find(key);
  if (it == c.end()) {
    auto pd = densePd(R, O, In, dtype, usePacked, bias != nullptr);
    if (usePacked && pd.weights_desc() != densePackedDesc(O, In, dtype)) { pd = densePd(R, O, In, dtype, false, bias != nullptr); usePacked = false; }
    dnnl::memory::desc bm = bias ? dnnl::memory::desc({1, O}, dt::f32, dims{O, 1}) : dnnl::memory::desc();
    it = c.emplace(key, PackedEntry{dnnl::matmul(pd), pd.src_desc(), pd.weights_desc(), pd.dst_desc(), bm, usePacked}).first;
  }
  PackedEntry& e = it->second;
  const void* A = x;
  if (dtype == 1) {
    auto& sa = scratchA();
    if ((int64_t)sa.size() < R * In) sa.resize(R * In);
    K().f32ToBf16(sa.data(), x, R * In);
    A = sa.data();
  }
  dnnl::memory ma(e.a, engine(), const_cast<void*>(A));
  dnnl::memory mb(e.b, engine(), const_cast<void*>(e.packed ? packed : W));
  dnnl::memory mc(e.c, engine(), out);
  std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mb}, {DNNL_ARG_DST, mc}};
  if (bias) args.emplace(DNNL_ARG_BIAS, dnnl::memory(e.bias, engine(), const_cast<float*>(bias)));
  e.prim.execute(stream(), args);
  stream().wait();
}

}  // namespace jb

namespace jb { size_t matmulCacheSize() { return cache().size() + int8Cache().size() + packedCache().size(); } }
