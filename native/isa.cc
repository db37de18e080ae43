// One ISA cap for the whole engine. oneDNN dispatches its JIT kernels by the
// CPU (capped by ONEDNN_MAX_CPU_ISA or dnnl_set_max_cpu_isa); the addon's own
// loops come in three builds (kernels.h). selectIsa applies JA_BERT_MAX_ISA to
// oneDNN, then picks the loop build from oneDNN's effective ISA, so that either
// variable caps both and an AVX-512 machine can run as an AVX2-only one would.
#include "kernels.h"
#include <dnnl.h>
#include <cctype>
#include <cstdlib>
#include <mutex>
#include <string>

namespace jb {

namespace {
const KernelTable* active = &base::table;
std::string cap;

struct CapName { const char* name; dnnl_cpu_isa_t isa; };
const CapName kCaps[] = {
    {"sse41", dnnl_cpu_isa_sse41}, {"avx", dnnl_cpu_isa_avx}, {"avx2", dnnl_cpu_isa_avx2},
    {"avx512_core", dnnl_cpu_isa_avx512_core}, {"avx512", dnnl_cpu_isa_avx512_core},
    {"avx512_core_vnni", dnnl_cpu_isa_avx512_core_vnni}, {"avx512_core_bf16", dnnl_cpu_isa_avx512_core_bf16},
    {"avx512_core_amx", dnnl_cpu_isa_avx512_core_amx}, {"all", dnnl_cpu_isa_all},
};

bool includes(dnnl_cpu_isa_t have, dnnl_cpu_isa_t want) { return ((unsigned)have & (unsigned)want) == (unsigned)want; }
}  // namespace

const char* isaName(int isa) {
  switch ((dnnl_cpu_isa_t)isa) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx512_mic: return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    default: return "unknown";
  }
}

const KernelTable& K() { return *active; }
const char* isaCap() { return cap.c_str(); }

const char* bf16Unsupported() {
  static std::string m;
  m = std::string("bf16 needs a CPU that runs it natively (oneDNN avx512_core_bf16 or avx512_core_amx); this one runs ") +
      isaName(dnnl_get_effective_cpu_isa()) + ": use dtype f32 (or auto)";
  return m.c_str();
}

bool bf16Native() {
  dnnl_cpu_isa_t e = dnnl_get_effective_cpu_isa();
  return includes(e, dnnl_cpu_isa_avx512_core_bf16);
}

// oneDNN's int8 matmul sums u8 x s8 pairs in 32 bits only with VNNI (vpdpbusd) or AMX; without them (AVX2, plain AVX-512, and
// oneDNN 2.6's avx2_vnni, which its int8 GEMM does not use) it goes through vpmaddubsw, whose 16-bit pair sums saturate past
// 32,767: its s8 activations are shifted to u8 (up to 254), so weights must stay within +-63 there (254 * 63 * 2 = 32,004)
bool int8Vnni() {
  dnnl_cpu_isa_t e = dnnl_get_effective_cpu_isa();
  return includes(e, dnnl_cpu_isa_avx512_core_vnni);
}

namespace {
std::once_flag selectedOnce;
std::string selectError;
const char* selectOnce(const char* capName);
}  // namespace

// The addon is loaded once per thread that uses it (the main thread, the
// engine thread of the async API); the cap is chosen once per process, the
// first time, and every later load gets the same answer.
const char* selectIsa(const char* capName) {
  std::call_once(selectedOnce, [&] { selectError = selectOnce(capName); });
  return selectError.c_str();
}

namespace {
const char* selectOnce(const char* capName) {
  static std::string err;
  std::string c;
  for (const char* p = capName; p && *p; p++) c += (char)std::tolower((unsigned char)*p);
  if (!c.empty()) {
    const CapName* hit = nullptr;
    for (const CapName& n : kCaps) if (c == n.name) hit = &n;
    if (!hit) {
      err = "JA_BERT_MAX_ISA must be one of sse41, avx, avx2, avx512_core (avx512), avx512_core_vnni, avx512_core_bf16, avx512_core_amx, all; got \"" + std::string(capName) + "\"";
      return err.c_str();
    }
    if (dnnl_set_max_cpu_isa(hit->isa) != dnnl_success) {
      err = "JA_BERT_MAX_ISA=" + std::string(capName) + ": oneDNN refused the cap (it must be set before the engine runs anything)";
      return err.c_str();
    }
    cap = c;
  } else if (const char* o = std::getenv("ONEDNN_MAX_CPU_ISA")) {
    for (const char* p = o; *p; p++) cap += (char)std::tolower((unsigned char)*p);
  }
  __builtin_cpu_init();
  const dnnl_cpu_isa_t e = dnnl_get_effective_cpu_isa();
  if (includes(e, dnnl_cpu_isa_avx512_core) && __builtin_cpu_supports("x86-64-v4")) active = &v4::table;
  else if (includes(e, dnnl_cpu_isa_avx2) && __builtin_cpu_supports("x86-64-v3")) active = &v3::table;
  else active = &base::table;
  return "";
}
}  // namespace

}  // namespace jb
