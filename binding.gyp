{
  "variables": {
    "has_mpi": "<!(sh -c 'command -v mpicc >/dev/null 2>&1 && echo 1 || echo 0')"
  },
  "target_defaults": {
    "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
    "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"],
    "cflags!": ["-fno-exceptions"],
    "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
    "cflags_cc": ["-std=c++17", "-O3", "-fopenmp", "-fPIC", "-fno-math-errno", "-fno-trapping-math", "-fexceptions"]
  },
  "targets": [
    {
      "target_name": "jabert_kernels_v3",
      "type": "static_library",
      "sources": ["native/kernels_v3.cc"],
      "cflags_cc": ["-march=x86-64-v3"]
    },
    {
      "target_name": "jabert_kernels_v4",
      "type": "static_library",
      "sources": ["native/kernels_v4.cc"],
      "cflags_cc": ["-march=x86-64-v4", "-mprefer-vector-width=512"]
    },
    {
      "target_name": "jabert",
      "dependencies": ["jabert_kernels_v3", "jabert_kernels_v4"],
      "sources": ["native/addon.cc", "native/isa.cc", "native/kernels_base.cc", "native/matmul.cc"],
      "libraries": ["-ldnnl", "-fopenmp"],
      "ldflags": ["-Wl,-z,nodelete"]
    },
    {
      "target_name": "jabert_mecab",
      "sources": ["native/mecab.cc"],
      "libraries": ["-lmecab"]
    }
  ],
  "conditions": [
    ["has_mpi==1", {
      "targets": [
        {
          "target_name": "jabert_mpi",
          "sources": ["native/mpi.cc"],
          "cflags_cc": ["<!@(mpicc --showme:compile)", "-DOMPI_SKIP_MPICXX"],
          "libraries": ["<!@(mpicc --showme:link)"]
        }
      ]
    }]
  ]
}
