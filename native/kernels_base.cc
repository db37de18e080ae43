// kernels.cc for x86-64 (the -march of this file is set in binding.gyp)
#define JB_VARIANT base
#define JB_ISA_NAME "x86-64"
#include "kernels.cc"
