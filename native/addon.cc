// Node-API surface of the ja-bert engine. Every function validates its typed
// arrays (kind and length against the sizes it is given) and throws a JS
// error naming the op; nothing here can abort the process on bad input.
#include <napi.h>
#include <dnnl.hpp>
#include <omp.h>
#include <cmath>
#include <cstdlib>
#include <initializer_list>
#include <sstream>
#include "kernels.h"

namespace jb {
}  // namespace jb

namespace {

struct Reader {
  const Napi::CallbackInfo& info;
  const char* op;
  size_t i = 0;
  Reader(const Napi::CallbackInfo& in, const char* o) : info(in), op(o) {}

  [[noreturn]] void fail(const std::string& msg) {
    throw Napi::TypeError::New(info.Env(), std::string(op) + ": " + msg);
  }
  template <typename T>
  T* arr(napi_typedarray_type ty, const char* name, int64_t need, bool nullable = false) {
    if (i >= info.Length()) fail(std::string("missing argument ") + name);
    Napi::Value v = info[i++];
    if (nullable && (v.IsNull() || v.IsUndefined())) return nullptr;
    if (!v.IsTypedArray()) fail(std::string(name) + " must be a typed array");
    auto ta = v.As<Napi::TypedArray>();
    if (ta.TypedArrayType() != ty) fail(std::string(name) + " has the wrong element type");
    if ((int64_t)ta.ElementLength() < need) {
      std::ostringstream s;
      s << name << " has " << ta.ElementLength() << " elements, needs " << need;
      fail(s.str());
    }
    return reinterpret_cast<T*>(static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset());
  }
  float* f32(const char* name, int64_t need, bool nullable = false) { return arr<float>(napi_float32_array, name, need, nullable); }
  int32_t* i32(const char* name, int64_t need) { return arr<int32_t>(napi_int32_array, name, need); }
  uint8_t* u8(const char* name, int64_t need) { return arr<uint8_t>(napi_uint8_array, name, need); }
  // f32 or bf16 (Uint16Array) operand; sets isBf16
  const void* any(const char* name, int64_t need, bool& isBf16) {
    if (i >= info.Length()) fail(std::string("missing argument ") + name);
    Napi::Value v = info[i];
    if (v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_uint16_array) {
      isBf16 = true;
      return arr<uint16_t>(napi_uint16_array, name, need);
    }
    isBf16 = false;
    return arr<float>(napi_float32_array, name, need);
  }
  // a size: a non-negative integer no larger than 2^53 - 1 (no NaN, no infinity)
  int64_t int_(const char* name) {
    if (i >= info.Length() || !info[i].IsNumber()) fail(std::string(name) + " must be a number");
    double d = info[i++].As<Napi::Number>().DoubleValue();
    if (!(d >= 0 && d <= 9007199254740991.0 && d == std::floor(d))) fail(std::string(name) + " must be a non-negative safe integer");
    return (int64_t)d;
  }
  // the product of sizes, or a clean error when it would not fit in 2^53 - 1 elements
  int64_t prod(std::initializer_list<int64_t> xs) {
    int64_t p = 1;
    for (int64_t x : xs)
      if (__builtin_mul_overflow(p, x, &p) || p > 9007199254740991LL) fail("the sizes given overflow (their product is more elements than any array can hold)");
    return p;
  }
  double num(const char* name) {
    if (i >= info.Length() || !info[i].IsNumber()) fail(std::string(name) + " must be a number");
    return info[i++].As<Napi::Number>().DoubleValue();
  }
  // an optional typed array of any length (null, undefined or absent: none); len gets its length
  template <typename T>
  const T* optional(napi_typedarray_type ty, const char* name, const char* kind, int64_t& len) {
    len = 0;
    if (i >= info.Length()) return nullptr;
    Napi::Value v = info[i++];
    if (v.IsNull() || v.IsUndefined()) return nullptr;
    if (!v.IsTypedArray()) fail(std::string(name) + " must be " + kind + " or null");
    auto ta = v.As<Napi::TypedArray>();
    if (ta.TypedArrayType() != ty) fail(std::string(name) + " has the wrong element type");
    len = (int64_t)ta.ElementLength();
    return reinterpret_cast<const T*>(static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset());
  }
  bool flag(const char* name) {
    if (i >= info.Length()) fail(std::string("missing argument ") + name);
    return info[i++].ToBoolean().Value();
  }
};

#define OP(fn) Napi::Value fn(const Napi::CallbackInfo& info)

// matmul(C, A, B, bias|null, batch, M, N, K, transA, transB, accumulate, dtype)
OP(Matmul) {
  Reader r(info, "matmul");
  // sizes come after the arrays; read them first by index
  if (info.Length() < 12) r.fail("expects 12 arguments");
  Reader s(info, "matmul"); s.i = 4;
  int64_t batch = s.int_("batch"), M = s.int_("M"), N = s.int_("N"), K = s.int_("K");
  bool tA = s.flag("transA"), tB = s.flag("transB"), acc = s.flag("accumulate");
  int64_t dtype = s.int_("dtype");
  if (dtype > 2) r.fail("dtype must be 0 (f32), 1 (bf16) or 2 (an int8 model's activation products, run in f32)");
  if (dtype == 2) dtype = 0;
  jb::MatmulArgs a{};
  a.C = r.f32("C", s.prod({batch, M, N}));
  a.A = r.any("A", s.prod({batch, M, K}), a.aBf16);
  a.B = r.any("B", s.prod({batch, K, N}), a.bBf16);
  a.bias = r.f32("bias", N, true);
  a.batch = batch; a.M = M; a.N = N; a.K = K; a.transA = tA; a.transB = tB; a.accumulate = acc; a.dtype = (int)dtype;
  if (dtype == 0 && (a.aBf16 || a.bBf16)) r.fail("bf16 operand given with dtype f32");
  if (dtype == 1 && !jb::bf16Native()) r.fail(jb::bf16Unsupported());
  try { jb::matmul(a); } catch (const dnnl::error& e) {
    std::ostringstream m; m << "oneDNN failed for batch=" << batch << " M=" << M << " N=" << N << " K=" << K << ": " << e.what();
    r.fail(m.str());
  } catch (const std::exception& e) { r.fail(e.what()); }
  return info.Env().Undefined();
}

OP(F32ToBf16) { Reader r(info, "f32ToBf16"); Reader s(info, "f32ToBf16"); s.i = 2; int64_t n = s.int_("n");
  auto* d = r.arr<uint16_t>(napi_uint16_array, "dst", n); auto* x = r.f32("src", n); jb::K().f32ToBf16(d, x, n); return info.Env().Undefined(); }
OP(Bf16ToF32) { Reader r(info, "bf16ToF32"); Reader s(info, "bf16ToF32"); s.i = 2; int64_t n = s.int_("n");
  auto* d = r.f32("dst", n); auto* x = r.arr<uint16_t>(napi_uint16_array, "src", n); jb::K().bf16ToF32(d, x, n); return info.Env().Undefined(); }

// Kernels whose sizes are trailing arguments: read sizes first via a second reader.
OP(AddForward) { Reader s(info, "addForward"); s.i = 3; int64_t n = s.int_("n"); Reader r(info, "addForward");
  float* o = r.f32("out", n); float* a = r.f32("a", n); float* b = r.f32("b", n); jb::K().addForward(o, a, b, n); return info.Env().Undefined(); }
OP(Accumulate) { Reader s(info, "accumulate"); s.i = 2; int64_t n = s.int_("n"); Reader r(info, "accumulate");
  float* d = r.f32("dst", n); float* x = r.f32("src", n); jb::K().accumulate(d, x, n); return info.Env().Undefined(); }
OP(Scale) { Reader s(info, "scale"); s.i = 1; double f = s.num("s"); int64_t n = s.int_("n"); Reader r(info, "scale");
  jb::K().scale(r.f32("x", n), (float)f, n); return info.Env().Undefined(); }
OP(SumSquares) { Reader s(info, "sumSquares"); s.i = 1; int64_t n = s.int_("n"); Reader r(info, "sumSquares");
  return Napi::Number::New(info.Env(), jb::K().sumSquares(r.f32("x", n), n)); }
OP(GeluForward) { Reader s(info, "geluForward"); s.i = 2; int64_t n = s.int_("n"); bool t = s.flag("tanh"); Reader r(info, "geluForward");
  float* o = r.f32("out", n); float* x = r.f32("inp", n); jb::K().geluForward(o, x, n, t); return info.Env().Undefined(); }
OP(GeluBackward) { Reader s(info, "geluBackward"); s.i = 3; int64_t n = s.int_("n"); bool t = s.flag("tanh"); Reader r(info, "geluBackward");
  float* d = r.f32("dinp", n); float* x = r.f32("inp", n); float* g = r.f32("dout", n); jb::K().geluBackward(d, x, g, n, t); return info.Env().Undefined(); }
OP(TanhForward) { Reader s(info, "tanhForward"); s.i = 2; int64_t n = s.int_("n"); Reader r(info, "tanhForward");
  float* o = r.f32("out", n); float* x = r.f32("inp", n); jb::K().tanhForward(o, x, n); return info.Env().Undefined(); }
OP(TanhBackward) { Reader s(info, "tanhBackward"); s.i = 3; int64_t n = s.int_("n"); Reader r(info, "tanhBackward");
  float* d = r.f32("dinp", n); float* o = r.f32("out", n); float* g = r.f32("dout", n); jb::K().tanhBackward(d, o, g, n); return info.Env().Undefined(); }
OP(AttnPoolFeatures) { Reader s(info, "attnPoolFeatures"); s.i = 4; int64_t P = s.int_("P"), Pa = s.int_("Pa"), S = s.int_("S"), dv = s.int_("dv");
  if (Pa != 1 && Pa != P) s.fail("Pa must be 1 or P");
  Reader r(info, "attnPoolFeatures"); float* f = r.f32("f", s.prod({P, 2, dv})); float* a = r.f32("a", s.prod({Pa, S, dv})); float* c = r.f32("c", s.prod({P, S, dv})); uint8_t* m = r.u8("maskA", s.prod({Pa, S}));
  jb::K().attnPoolFeatures(f, a, c, m, P, Pa, S, dv); return info.Env().Undefined(); }
OP(MaxSim) { Reader s(info, "maxSim"); s.i = 5; int64_t P = s.int_("P"), Pa = s.int_("Pa"), S = s.int_("S"), Sb = s.int_("Sb");
  if (Pa != 1 && Pa != P) s.fail("Pa must be 1 or P");
  Reader r(info, "maxSim"); float* f = r.f32("f", P); int32_t* arg = r.i32("arg", s.prod({P, S})); float* sim = r.f32("sim", s.prod({P, S, Sb}));
  uint8_t* ma = r.u8("maskA", s.prod({Pa, S})); uint8_t* mb = r.u8("maskB", s.prod({P, Sb}));
  jb::K().maxSim(f, arg, sim, ma, mb, P, Pa, S, Sb); return info.Env().Undefined(); }
OP(AdditiveScores) { Reader s(info, "additiveScores"); s.i = 4; int64_t P = s.int_("P"), Pa = s.int_("Pa"), S = s.int_("S"), Sb = s.int_("Sb"), k = s.int_("k");
  if (Pa != 1 && Pa != P) s.fail("Pa must be 1 or P");
  Reader r(info, "additiveScores"); float* e = r.f32("e", s.prod({P, S, Sb})); float* wa = r.f32("wa", s.prod({Pa, S, k})); float* ub = r.f32("ub", s.prod({P, Sb, k})); float* v = r.f32("v", k);
  jb::K().additiveScores(e, wa, ub, v, P, Pa, S, Sb, k); return info.Env().Undefined(); }
OP(DropoutForward) { Reader s(info, "dropoutForward"); s.i = 3; int64_t n = s.int_("n"); double p = s.num("p"); double seed = s.num("seed");
  if (!(p >= 0 && p < 1)) s.fail("p must be in [0, 1)");
  Reader r(info, "dropoutForward"); float* o = r.f32("out", n); uint8_t* m = r.u8("mask", n); float* x = r.f32("inp", n);
  jb::K().dropoutForward(o, m, x, n, (float)p, (uint64_t)seed); return info.Env().Undefined(); }
OP(DropoutRowsForward) { Reader s(info, "dropoutRowsForward"); s.i = 3; int64_t rows = s.int_("rows"), rowLen = s.int_("rowLen"); s.i = 6; double p = s.num("p");
  if (!(p >= 0 && p < 1)) s.fail("p must be in [0, 1)");
  Reader r(info, "dropoutRowsForward"); int64_t n = s.prod({rows, rowLen}); float* o = r.f32("out", n); uint8_t* m = r.u8("mask", n); float* x = r.f32("inp", n);
  r.i = 5; const int32_t* seeds = r.i32("rowSeeds", rows);
  jb::K().dropoutRowsForward(o, m, x, rows, rowLen, seeds, (float)p); return info.Env().Undefined(); }
OP(DropoutBackward) { Reader s(info, "dropoutBackward"); s.i = 3; int64_t n = s.int_("n"); double p = s.num("p");
  if (!(p >= 0 && p < 1)) s.fail("p must be in [0, 1)");
  Reader r(info, "dropoutBackward"); float* d = r.f32("dinp", n); float* g = r.f32("dout", n); uint8_t* m = r.u8("mask", n);
  jb::K().dropoutBackward(d, g, m, n, (float)p); return info.Env().Undefined(); }
OP(ColSumAccumulate) { Reader s(info, "colSumAccumulate"); s.i = 2; int64_t rows = s.int_("rows"), N = s.int_("N"); Reader r(info, "colSumAccumulate");
  float* d = r.f32("dbias", N); float* g = r.f32("dout", s.prod({rows, N})); jb::K().colSumAccumulate(d, g, rows, N); return info.Env().Undefined(); }
OP(LayernormForward) { Reader s(info, "layernormForward"); s.i = 6; int64_t N = s.int_("N"), C = s.int_("C"); double eps = s.num("eps");
  Reader r(info, "layernormForward"); float* o = r.f32("out", s.prod({N, C})); float* m = r.f32("mean", N); float* rs = r.f32("rstd", N);
  float* x = r.f32("inp", s.prod({N, C})); float* g = r.f32("gamma", C); float* b = r.f32("beta", C);
  jb::K().layernormForward(o, m, rs, x, g, b, N, C, (float)eps); return info.Env().Undefined(); }
OP(LayernormBackward) { Reader s(info, "layernormBackward"); s.i = 8; int64_t N = s.int_("N"), C = s.int_("C");
  Reader r(info, "layernormBackward"); float* dx = r.f32("dinp", s.prod({N, C})); float* dg = r.f32("dgamma", C); float* db = r.f32("dbeta", C);
  float* dy = r.f32("dout", s.prod({N, C})); float* x = r.f32("inp", s.prod({N, C})); float* g = r.f32("gamma", C); float* m = r.f32("mean", N); float* rs = r.f32("rstd", N);
  jb::K().layernormBackward(dx, dg, db, dy, x, g, m, rs, N, C); return info.Env().Undefined(); }
OP(EmbeddingForward) { Reader s(info, "embeddingForward"); s.i = 3; int64_t N = s.int_("N"), D = s.int_("D"), V = s.int_("vocab"); bool acc = s.flag("accumulate");
  Reader r(info, "embeddingForward"); float* o = r.f32("out", s.prod({N, D})); int32_t* ids = r.i32("ids", N); float* t = r.f32("table", s.prod({V, D}));
  for (int64_t n = 0; n < N; n++) if (ids[n] < 0 || ids[n] >= V) { std::ostringstream m; m << "id " << ids[n] << " at position " << n << " is outside [0, " << V << ")"; r.fail(m.str()); }
  jb::K().embeddingForward(o, ids, t, N, D, V, acc); return info.Env().Undefined(); }
OP(EmbeddingBackward) { Reader s(info, "embeddingBackward"); s.i = 3; int64_t N = s.int_("N"), D = s.int_("D"), V = s.int_("vocab");
  Reader r(info, "embeddingBackward"); float* dt = r.f32("dtable", s.prod({V, D})); float* g = r.f32("dout", s.prod({N, D})); int32_t* ids = r.i32("ids", N);
  for (int64_t n = 0; n < N; n++) if (ids[n] < 0 || ids[n] >= V) { std::ostringstream m; m << "id " << ids[n] << " at position " << n << " is outside [0, " << V << ")"; r.fail(m.str()); }
  jb::K().embeddingBackward(dt, g, ids, N, D); return info.Env().Undefined(); }
OP(SplitHeads) { Reader s(info, "splitHeads"); s.i = 4; int64_t B = s.int_("B"), S = s.int_("S"), H = s.int_("H"), dh = s.int_("dh"); int64_t n = s.prod({B, S, H, dh});
  Reader r(info, "splitHeads"); float* q = r.f32("q", n); float* k = r.f32("k", n); float* v = r.f32("v", n); float* x = r.f32("qkv", s.prod({3, n}));
  jb::K().splitHeads(q, k, v, x, B, S, H, dh); return info.Env().Undefined(); }
OP(MergeHeads3) { Reader s(info, "mergeHeads3"); s.i = 4; int64_t B = s.int_("B"), S = s.int_("S"), H = s.int_("H"), dh = s.int_("dh"); int64_t n = s.prod({B, S, H, dh});
  Reader r(info, "mergeHeads3"); float* x = r.f32("dqkv", s.prod({3, n})); float* q = r.f32("dq", n); float* k = r.f32("dk", n); float* v = r.f32("dv", n);
  jb::K().mergeHeads3(x, q, k, v, B, S, H, dh); return info.Env().Undefined(); }
OP(HeadsToRows) { Reader s(info, "headsToRows"); s.i = 2; int64_t B = s.int_("B"), S = s.int_("S"), H = s.int_("H"), dh = s.int_("dh"); int64_t n = s.prod({B, S, H, dh});
  Reader r(info, "headsToRows"); float* o = r.f32("out", n); float* x = r.f32("x", n); jb::K().headsToRows(o, x, B, S, H, dh); return info.Env().Undefined(); }
OP(RowsToHeads) { Reader s(info, "rowsToHeads"); s.i = 2; int64_t B = s.int_("B"), S = s.int_("S"), H = s.int_("H"), dh = s.int_("dh"); int64_t n = s.prod({B, S, H, dh});
  Reader r(info, "rowsToHeads"); float* o = r.f32("out", n); float* x = r.f32("x", n); jb::K().rowsToHeads(o, x, B, S, H, dh); return info.Env().Undefined(); }
OP(AttnSoftmaxForward) { Reader s(info, "attnSoftmaxForward"); s.i = 3; int64_t B = s.int_("B"), H = s.int_("H"), S = s.int_("S"); double sc = s.num("scale");
  Reader r(info, "attnSoftmaxForward"); int64_t n = s.prod({B, H, S, S}); float* P = r.f32("P", n); float* x = r.f32("scores", n); float* m = r.f32("maskAdd", s.prod({B, S}));
  jb::K().attnSoftmaxForward(P, x, m, B, H, S, (float)sc); return info.Env().Undefined(); }
OP(AttnSoftmaxShared) { Reader s(info, "attnSoftmaxShared"); s.i = 3; int64_t P = s.int_("P"), S = s.int_("S"), Sb = s.int_("Sb"); double sc = s.num("scale");
  Reader r(info, "attnSoftmaxShared"); int64_t n = s.prod({P, S, Sb}); float* o = r.f32("out", n); float* x = r.f32("scores", n); float* m = r.f32("maskAdd", s.prod({P, Sb}));
  jb::K().attnSoftmaxShared(o, x, m, P, S, Sb, (float)sc); return info.Env().Undefined(); }
OP(AttnSoftmaxBackward) { Reader s(info, "attnSoftmaxBackward"); s.i = 3; int64_t rows = s.int_("rows"), S = s.int_("S"); double sc = s.num("scale");
  Reader r(info, "attnSoftmaxBackward"); int64_t n = s.prod({rows, S}); float* d = r.f32("dscores", n); float* dp = r.f32("dP", n); float* p = r.f32("P", n);
  jb::K().attnSoftmaxBackward(d, dp, p, rows, S, (float)sc); return info.Env().Undefined(); }
OP(AttnSoftmaxWindow) { Reader s(info, "attnSoftmaxWindow"); s.i = 3; int64_t B = s.int_("B"), H = s.int_("H"), S = s.int_("S"); double sc = s.num("scale"); int64_t half = s.int_("half");
  Reader r(info, "attnSoftmaxWindow"); int64_t n = s.prod({B, H, S, S}); float* P = r.f32("P", n); float* x = r.f32("scores", n); float* m = r.f32("maskAdd", s.prod({B, S}));
  jb::K().attnSoftmaxWindow(P, x, m, B, H, S, (float)sc, half); return info.Env().Undefined(); }
OP(AttnBlocked) { Reader s(info, "attnBlocked"); s.i = 6; int64_t B = s.int_("B"), H = s.int_("H"), S = s.int_("S"), dh = s.int_("dh"); double sc = s.num("scale"); int64_t half = s.int_("half");
  Reader r(info, "attnBlocked"); int64_t n = s.prod({B, H, S, dh}); float* o = r.f32("ctx", n); float* q = r.f32("q", n); float* k = r.f32("k", n); float* v = r.f32("v", n);
  float* m = r.f32("maskAdd", s.prod({B, S})); float* lse = r.f32("lse", s.prod({B, H, S}), true); jb::K().attnBlocked(o, q, k, v, m, lse, B, H, S, dh, (float)sc, half); return info.Env().Undefined(); }
OP(AttnBlockedBackward) { Reader s(info, "attnBlockedBackward"); s.i = 10; int64_t B = s.int_("B"), H = s.int_("H"), S = s.int_("S"), dh = s.int_("dh"); double sc = s.num("scale"); int64_t half = s.int_("half");
  Reader r(info, "attnBlockedBackward"); int64_t n = s.prod({B, H, S, dh}); float* dq = r.f32("dq", n); float* dk = r.f32("dk", n); float* dv = r.f32("dv", n); float* g = r.f32("dctx", n);
  float* q = r.f32("q", n); float* k = r.f32("k", n); float* v = r.f32("v", n); float* o = r.f32("ctx", n); float* lse = r.f32("lse", s.prod({B, H, S})); float* m = r.f32("maskAdd", s.prod({B, S}));
  jb::K().attnBlockedBackward(dq, dk, dv, g, q, k, v, o, lse, m, B, H, S, dh, (float)sc, half); return info.Env().Undefined(); }
// idx is checked against [0, R) here, so that no index the caller gives reads or writes outside c2p or p2c
static void relIdxCheck(Reader& s, const int32_t* idx, int64_t S, int64_t R) {
  for (int64_t t = 0; t < S * S; t++) if (idx[t] < 0 || idx[t] >= R) { std::ostringstream o; o << "idx[" << t << "] = " << idx[t] << " is outside [0, " << R << ")"; s.fail(o.str()); }
}
OP(RelPosBias) { Reader s(info, "relPosBias"); s.i = 4; int64_t BH = s.int_("BH"), S = s.int_("S"), R = s.int_("R");
  Reader r(info, "relPosBias"); int64_t n = s.prod({BH, S, S}), m = s.prod({BH, S, R}); float* x = r.f32("scores", n); float* c = r.f32("c2p", m, true); float* p = r.f32("p2c", m, true);
  int32_t* idx = r.i32("idx", s.prod({S, S})); relIdxCheck(s, idx, S, R); jb::K().relPosBias(x, c, p, idx, BH, S, R); return info.Env().Undefined(); }
OP(RelPosBiasBackward) { Reader s(info, "relPosBiasBackward"); s.i = 4; int64_t BH = s.int_("BH"), S = s.int_("S"), R = s.int_("R");
  Reader r(info, "relPosBiasBackward"); int64_t n = s.prod({BH, S, S}), m = s.prod({BH, S, R}); float* c = r.f32("dc2p", m, true); float* p = r.f32("dp2c", m, true); float* g = r.f32("dscores", n);
  int32_t* idx = r.i32("idx", s.prod({S, S})); relIdxCheck(s, idx, S, R); jb::K().relPosBiasBackward(c, p, g, idx, BH, S, R); return info.Env().Undefined(); }
OP(RopeApply) { Reader s(info, "ropeApply"); s.i = 3; int64_t rows = s.int_("rows"), S = s.int_("S"), dh = s.int_("dh"); bool conj = s.flag("conjugate");
  if (dh % 2) s.fail("dh must be even");
  Reader r(info, "ropeApply"); float* x = r.f32("x", s.prod({rows, S, dh})); float* c = r.f32("cos", s.prod({S, dh / 2})); float* sn = r.f32("sin", s.prod({S, dh / 2}));
  jb::K().ropeApply(x, c, sn, rows, S, dh, conj); return info.Env().Undefined(); }
OP(GegluForward) { Reader s(info, "gegluForward"); s.i = 2; int64_t N = s.int_("N"), I = s.int_("I"); bool t = s.flag("tanh");
  Reader r(info, "gegluForward"); float* o = r.f32("out", s.prod({N, I})); float* x = r.f32("x", s.prod({N, 2, I}));
  jb::K().gegluForward(o, x, N, I, t); return info.Env().Undefined(); }
OP(GegluBackward) { Reader s(info, "gegluBackward"); s.i = 3; int64_t N = s.int_("N"), I = s.int_("I"); bool t = s.flag("tanh");
  Reader r(info, "gegluBackward"); float* d = r.f32("dx", s.prod({N, 2, I})); float* x = r.f32("x", s.prod({N, 2, I})); float* g = r.f32("dout", s.prod({N, I}));
  jb::K().gegluBackward(d, x, g, N, I, t); return info.Env().Undefined(); }
OP(SoftmaxForward) { Reader s(info, "softmaxForward"); s.i = 2; int64_t rows = s.int_("rows"), C = s.int_("C");
  Reader r(info, "softmaxForward"); float* o = r.f32("out", s.prod({rows, C})); float* x = r.f32("inp", s.prod({rows, C})); jb::K().softmaxForward(o, x, rows, C); return info.Env().Undefined(); }
OP(SoftmaxBackward) { Reader s(info, "softmaxBackward"); s.i = 3; int64_t rows = s.int_("rows"), C = s.int_("C");
  Reader r(info, "softmaxBackward"); float* d = r.f32("dinp", s.prod({rows, C})); float* g = r.f32("dout", s.prod({rows, C})); float* o = r.f32("out", s.prod({rows, C}));
  jb::K().softmaxBackward(d, g, o, rows, C); return info.Env().Undefined(); }
OP(CrossEntropyForward) { Reader s(info, "crossEntropyForward"); s.i = 4; int64_t N = s.int_("N"), C = s.int_("C");
  Reader r(info, "crossEntropyForward"); float* l = r.f32("losses", N); float* p = r.f32("probs", s.prod({N, C})); float* x = r.f32("logits", s.prod({N, C})); int32_t* y = r.i32("labels", N);
  for (int64_t n = 0; n < N; n++) if (y[n] >= C) { std::ostringstream m; m << "label " << y[n] << " at row " << n << " is not below " << C; r.fail(m.str()); }
  return Napi::Number::New(info.Env(), jb::K().crossEntropyForward(l, p, x, y, N, C)); }
OP(CrossEntropyBackward) { Reader s(info, "crossEntropyBackward"); s.i = 3; int64_t N = s.int_("N"), C = s.int_("C"); double dl = s.num("dloss");
  Reader r(info, "crossEntropyBackward"); float* d = r.f32("dlogits", s.prod({N, C})); float* p = r.f32("probs", s.prod({N, C})); int32_t* y = r.i32("labels", N);
  for (int64_t n = 0; n < N; n++) if (y[n] >= C) r.fail("label out of range");
  jb::K().crossEntropyBackward(d, p, y, N, C, (float)dl); return info.Env().Undefined(); }
OP(AdamwStep) { Reader s(info, "adamwStep"); s.i = 4; int64_t n = s.int_("n"); double lr = s.num("lr"), b1 = s.num("beta1"), b2 = s.num("beta2"), eps = s.num("eps"), wd = s.num("wd");
  Reader r(info, "adamwStep"); float* p = r.f32("params", n); float* g = r.f32("grads", n); float* m = r.f32("m", n); float* v = r.f32("v", n);
  jb::K().adamwStep(p, g, m, v, n, (float)lr, (float)b1, (float)b2, (float)eps, (float)wd); return info.Env().Undefined(); }

OP(QuantizeRowsS8) { Reader s(info, "quantizeRowsS8"); s.i = 3; int64_t rows = s.int_("rows"), cols = s.int_("cols"), qmax = s.int_("qmax");
  if (qmax < 1 || qmax > 127) s.fail("qmax must be an integer in [1, 127]");
  Reader r(info, "quantizeRowsS8"); int8_t* q = r.arr<int8_t>(napi_int8_array, "q", s.prod({rows, cols})); float* sc = r.f32("scale", rows); float* x = r.f32("x", s.prod({rows, cols}));
  jb::K().quantizeRowsS8(q, sc, x, rows, cols, (float)qmax); return info.Env().Undefined(); }
// linearInt8(out, x, wq, wscale, bias|null, R, O, In, packed|null)
OP(LinearInt8) { Reader s(info, "linearInt8"); s.i = 5; int64_t R = s.int_("R"), O = s.int_("O"), In = s.int_("In"), packedLen = 0;
  const int8_t* packed = s.optional<int8_t>(napi_int8_array, "packed", "an Int8Array", packedLen);
  if (In > 65536) s.fail("In must be at most 65536 (the int32 products of 127 x 127 could overflow beyond it)");
  Reader r(info, "linearInt8"); float* out = r.f32("out", s.prod({R, O})); float* x = r.f32("x", s.prod({R, In}));
  int8_t* wq = r.arr<int8_t>(napi_int8_array, "wq", s.prod({O, In})); float* ws = r.f32("wscale", O); float* b = r.f32("bias", O, true);
  try { jb::linearInt8(out, x, wq, ws, b, R, O, In, packed, packedLen); } catch (const dnnl::error& e) {
    std::ostringstream m; m << "oneDNN failed for R=" << R << " O=" << O << " In=" << In << ": " << e.what();
    r.fail(m.str());
  }
  return info.Env().Undefined(); }

// the dense weights W [O, In] of linearPacked and packDenseWeights: a Float32Array for dtype 0, bf16 bits (a Uint16Array) for dtype 1
const void* denseWeights(Reader& r, Reader& s, int64_t O, int64_t In, int64_t dtype) {
  if (dtype > 1) s.fail("dtype must be 0 (f32) or 1 (bf16)");
  if (dtype == 1 && !jb::bf16Native()) s.fail(jb::bf16Unsupported());
  bool isBf16 = false;
  const void* W = r.any("W", s.prod({O, In}), isBf16);
  if (isBf16 != (dtype == 1)) s.fail(dtype == 1 ? "W must be bf16 bits (a Uint16Array) for dtype 1" : "W must be a Float32Array for dtype 0");
  return W;
}
// a packed copy of W [O, In] (kind 0 f32, 1 bf16, 2 s8) as a new typed array of T; empty where packing does not pay
template <typename T, typename Array>
Napi::Value packedCopy(Reader& r, const void* W, int64_t O, int64_t In, int kind) {
  try {
    int64_t n = jb::packedWeightsSize(O, In, kind);
    Array out = Array::New(r.info.Env(), (size_t)n);
    if (n > 0) jb::packWeights(out.Data(), W, O, In, kind);
    return out;
  } catch (const dnnl::error& e) {
    std::ostringstream m; m << "oneDNN failed for O=" << O << " In=" << In << ": " << e.what();
    r.fail(m.str());
  }
}

// packDenseWeights(W, O, In, dtype) -> Uint8Array: W [O, In] (Float32Array for dtype 0, bf16 bits in a Uint16Array for dtype 1)
// in the layout linearPacked runs fastest on; empty where packing does not pay on this CPU
OP(PackDenseWeights) { Reader s(info, "packDenseWeights"); s.i = 1; int64_t O = s.int_("O"), In = s.int_("In"), dtype = s.int_("dtype");
  Reader r(info, "packDenseWeights"); const void* W = denseWeights(r, s, O, In, dtype);
  return packedCopy<uint8_t, Napi::Uint8Array>(r, W, O, In, (int)dtype); }
// linearPacked(out, x, W, packed|null, bias|null, R, O, In, dtype)
OP(LinearPacked) { Reader s(info, "linearPacked"); s.i = 5; int64_t R = s.int_("R"), O = s.int_("O"), In = s.int_("In"), dtype = s.int_("dtype");
  Reader r(info, "linearPacked"); float* out = r.f32("out", s.prod({R, O})); float* x = r.f32("x", s.prod({R, In}));
  const void* W = denseWeights(r, s, O, In, dtype);
  int64_t packedLen = 0;
  const uint8_t* packed = r.optional<uint8_t>(napi_uint8_array, "packed", "a Uint8Array", packedLen);
  float* b = r.f32("bias", O, true);
  try { jb::linearPacked(out, x, W, packed, packedLen, b, R, O, In, (int)dtype); } catch (const dnnl::error& e) {
    std::ostringstream m; m << "oneDNN failed for R=" << R << " O=" << O << " In=" << In << ": " << e.what();
    r.fail(m.str());
  }
  return info.Env().Undefined(); }

// packInt8Weights(wq, O, In) -> Int8Array: wq [O, In] in the layout linearInt8 runs fastest on
OP(PackInt8Weights) { Reader s(info, "packInt8Weights"); s.i = 1; int64_t O = s.int_("O"), In = s.int_("In");
  Reader r(info, "packInt8Weights"); int8_t* wq = r.arr<int8_t>(napi_int8_array, "wq", s.prod({O, In}));
  if (O > 0 && In > 65536) s.fail("In must be at most 65536");
  return packedCopy<int8_t, Napi::Int8Array>(r, wq, O, In, 2); }

OP(SetNumThreads) { Reader s(info, "setNumThreads"); int64_t n = s.int_("n"); if (n < 1) s.fail("n must be >= 1"); omp_set_num_threads((int)n); return info.Env().Undefined(); }

OP(Info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  const dnnl_version_t* v = dnnl_version();
  std::ostringstream ver; ver << v->major << '.' << v->minor << '.' << v->patch;
  o.Set("onednn", ver.str());
  o.Set("threads", omp_get_max_threads());
  dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
  o.Set("isa", jb::isaName(isa));
  o.Set("bf16Native", jb::bf16Native());
  o.Set("int8Vnni", jb::int8Vnni());
  o.Set("kernels", jb::K().isa);
  o.Set("cap", jb::isaCap());
  o.Set("matmulPrimitives", (double)jb::matmulCacheSize());
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  const char* capEnv = std::getenv("JA_BERT_MAX_ISA");
  const char* err = jb::selectIsa(capEnv ? capEnv : "");
  if (*err) throw Napi::Error::New(env, err);
#define EXPORT(name, fn) exports.Set(name, Napi::Function::New(env, fn, name))
  EXPORT("matmul", Matmul);
  EXPORT("f32ToBf16", F32ToBf16); EXPORT("bf16ToF32", Bf16ToF32);
  EXPORT("addForward", AddForward); EXPORT("accumulate", Accumulate); EXPORT("scale", Scale); EXPORT("sumSquares", SumSquares);
  EXPORT("geluForward", GeluForward); EXPORT("geluBackward", GeluBackward);
  EXPORT("tanhForward", TanhForward); EXPORT("additiveScores", AdditiveScores); EXPORT("maxSim", MaxSim); EXPORT("attnPoolFeatures", AttnPoolFeatures); EXPORT("tanhBackward", TanhBackward);
  EXPORT("dropoutForward", DropoutForward); EXPORT("dropoutBackward", DropoutBackward); EXPORT("dropoutRowsForward", DropoutRowsForward);
  EXPORT("colSumAccumulate", ColSumAccumulate);
  EXPORT("layernormForward", LayernormForward); EXPORT("layernormBackward", LayernormBackward);
  EXPORT("embeddingForward", EmbeddingForward); EXPORT("embeddingBackward", EmbeddingBackward);
  EXPORT("splitHeads", SplitHeads); EXPORT("mergeHeads3", MergeHeads3);
  EXPORT("headsToRows", HeadsToRows); EXPORT("rowsToHeads", RowsToHeads);
  EXPORT("attnSoftmaxForward", AttnSoftmaxForward); EXPORT("attnSoftmaxBackward", AttnSoftmaxBackward); EXPORT("attnSoftmaxShared", AttnSoftmaxShared);
  EXPORT("attnSoftmaxWindow", AttnSoftmaxWindow); EXPORT("ropeApply", RopeApply); EXPORT("relPosBias", RelPosBias); EXPORT("relPosBiasBackward", RelPosBiasBackward); EXPORT("attnBlocked", AttnBlocked); EXPORT("attnBlockedBackward", AttnBlockedBackward); EXPORT("gegluForward", GegluForward); EXPORT("gegluBackward", GegluBackward);
  EXPORT("softmaxForward", SoftmaxForward); EXPORT("softmaxBackward", SoftmaxBackward);
  EXPORT("crossEntropyForward", CrossEntropyForward); EXPORT("crossEntropyBackward", CrossEntropyBackward);
  EXPORT("adamwStep", AdamwStep);
  EXPORT("quantizeRowsS8", QuantizeRowsS8); EXPORT("linearInt8", LinearInt8); EXPORT("packInt8Weights", PackInt8Weights);
  EXPORT("packDenseWeights", PackDenseWeights); EXPORT("linearPacked", LinearPacked);
  EXPORT("setNumThreads", SetNumThreads);
  EXPORT("info", Info);
  return exports;
}

}  // namespace

NODE_API_MODULE(jabert, Init)
