// Open MPI for data-parallel training (train/distributed.ts), an addon of its own (jabert_mpi.node), built only where
// libopenmpi-dev is present: the engine never needs MPI. Collectives on typed arrays in place, on MPI_COMM_WORLD, with
// errors returned (not aborting) so that each becomes a JavaScript error naming the call.
#include <napi.h>
#include <mpi.h>
#include <dlfcn.h>
#include <cstdint>
#include <string>

namespace {
bool started = false;

void check(const Napi::Env& env, int rc, const char* op) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING]; int len = 0;
  MPI_Error_string(rc, msg, &len);
  throw Napi::Error::New(env, std::string(op) + ": " + std::string(msg, len));
}

void needStarted(const Napi::Env& env, const char* op) {
  if (!started) throw Napi::Error::New(env, std::string(op) + ": MPI is not initialised (mpiInit first)");
}

// the typed array at argument i: its data, its element count and its MPI type
struct Buf { void* data; int64_t count; MPI_Datatype type; size_t elem; };
Buf buffer(const Napi::CallbackInfo& info, size_t i, const char* op) {
  if (info.Length() <= i || !info[i].IsTypedArray()) throw Napi::TypeError::New(info.Env(), std::string(op) + ": expected a typed array");
  Napi::TypedArray t = info[i].As<Napi::TypedArray>();
  Buf b{static_cast<uint8_t*>(t.ArrayBuffer().Data()) + t.ByteOffset(), (int64_t)t.ElementLength(), MPI_BYTE, 1};
  switch (t.TypedArrayType()) {
    case napi_float32_array: b.type = MPI_FLOAT; b.elem = 4; break;
    case napi_float64_array: b.type = MPI_DOUBLE; b.elem = 8; break;
    case napi_int32_array: b.type = MPI_INT32_T; b.elem = 4; break;
    case napi_uint8_array: b.type = MPI_BYTE; b.elem = 1; break;
    default: throw Napi::TypeError::New(info.Env(), std::string(op) + ": a Float32Array, Float64Array, Int32Array or Uint8Array");
  }
  return b;
}

int rootOf(const Napi::CallbackInfo& info, size_t i, const char* op) {
  if (info.Length() <= i || !info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(op) + ": root must be a rank");
  int size = 0; MPI_Comm_size(MPI_COMM_WORLD, &size);
  int64_t r = info[i].As<Napi::Number>().Int64Value();
  if (r < 0 || r >= size) throw Napi::RangeError::New(info.Env(), std::string(op) + ": root " + std::to_string(r) + " is not a rank");
  return (int)r;
}

// counts of at most 2^30 elements per call (MPI's int counts)
constexpr int64_t CHUNK = int64_t(1) << 30;
}  // namespace

// mpiInit() -> { rank, size, processor }: MPI_Init_thread (FUNNELED: only the main thread calls MPI)
Napi::Value MpiInit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!started) {
    // Open MPI loads its components with dlopen and needs libmpi's symbols global; Node loaded this addon RTLD_LOCAL
    dlopen("libmpi.so.40", RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
    int already = 0; MPI_Initialized(&already);
    if (!already) {
      int provided = 0;
      check(env, MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "mpiInit");
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    started = true;
  }
  int rank = 0, size = 0, len = 0; char name[MPI_MAX_PROCESSOR_NAME];
  MPI_Comm_rank(MPI_COMM_WORLD, &rank); MPI_Comm_size(MPI_COMM_WORLD, &size); MPI_Get_processor_name(name, &len);
  Napi::Object o = Napi::Object::New(env);
  o.Set("rank", rank); o.Set("size", size); o.Set("processor", std::string(name, len));
  return o;
}

// mpiAllreduceSum(typedArray): the element-wise sum over all ranks, in place
Napi::Value MpiAllreduceSum(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env(); needStarted(env, "mpiAllreduceSum");
  Buf b = buffer(info, 0, "mpiAllreduceSum");
  if (b.type == MPI_BYTE) throw Napi::TypeError::New(env, "mpiAllreduceSum: bytes cannot be summed");
  for (int64_t at = 0; at < b.count; at += CHUNK) {
    int n = (int)std::min(CHUNK, b.count - at);
    check(env, MPI_Allreduce(MPI_IN_PLACE, static_cast<uint8_t*>(b.data) + at * b.elem, n, b.type, MPI_SUM, MPI_COMM_WORLD), "mpiAllreduceSum");
  }
  return env.Undefined();
}

// mpiBcast(typedArray, root): root's contents on every rank
Napi::Value MpiBcast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env(); needStarted(env, "mpiBcast");
  Buf b = buffer(info, 0, "mpiBcast"); int root = rootOf(info, 1, "mpiBcast");
  for (int64_t at = 0; at < b.count; at += CHUNK) {
    int n = (int)std::min(CHUNK, b.count - at);
    check(env, MPI_Bcast(static_cast<uint8_t*>(b.data) + at * b.elem, n, b.type, root, MPI_COMM_WORLD), "mpiBcast");
  }
  return env.Undefined();
}

Napi::Value MpiBarrier(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env(); needStarted(env, "mpiBarrier");
  check(env, MPI_Barrier(MPI_COMM_WORLD), "mpiBarrier");
  return env.Undefined();
}

// mpiAbort(code): end every rank of the job (a rank that failed alone must not leave the others waiting in a collective)
Napi::Value MpiAbort(const Napi::CallbackInfo& info) {
  int code = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 1;
  if (started) MPI_Abort(MPI_COMM_WORLD, code);
  return info.Env().Undefined();
}

Napi::Value MpiFinalize(const Napi::CallbackInfo& info) {
  if (started) { int done = 0; MPI_Finalized(&done); if (!done) MPI_Finalize(); started = false; }
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("mpiInit", Napi::Function::New(env, MpiInit));
  exports.Set("mpiAllreduceSum", Napi::Function::New(env, MpiAllreduceSum));
  exports.Set("mpiBcast", Napi::Function::New(env, MpiBcast));
  exports.Set("mpiBarrier", Napi::Function::New(env, MpiBarrier));
  exports.Set("mpiAbort", Napi::Function::New(env, MpiAbort));
  exports.Set("mpiFinalize", Napi::Function::New(env, MpiFinalize));
  return exports;
}

NODE_API_MODULE(jabert_mpi, Init)
