{
  "targets": [
    {
      "target_name": "jabert",
      "sources": ["native/addon.cc", "native/kernels.cc", "native/matmul.cc", "native/mecab.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-O3", "-fopenmp", "-march=x86-64-v3", "-mprefer-vector-width=512", "-fno-math-errno", "-fno-trapping-math", "-fexceptions"],
      "libraries": ["-ldnnl", "-lmecab", "-fopenmp"]
    }
  ]
}
