// kernels.cc for x86-64-v3 (the -march of this file is set in binding.gyp)
#define JB_VARIANT v3
#define JB_ISA_NAME "x86-64-v3"
#include "kernels.cc"
