// kernels.cc for x86-64-v4 (the -march of this file is set in binding.gyp)
#define JB_VARIANT v4
#define JB_ISA_NAME "x86-64-v4"
#include "kernels.cc"
