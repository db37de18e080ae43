#!/usr/bin/env bash
# One idempotent setup for ja-bert on Debian 12: system packages, npm
# dependencies, the native addon and the TypeScript build. Quick when nothing
# is missing: each step checks first and is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "[setup] $*" >&2; }

# 1. Debian packages. oneDNN for the engine; libmecab with the IPADIC and
#    UniDic dictionaries for MeCab word splitting; sentencepiece (spm_train,
#    spm_encode: the reference the tokenizer tests compare against);
#    python3-torch only for dev-time fixtures and the PyTorch side of
#    benchmarks (installed when JA_BERT_DEV=1), with libopenblas0-pthread:
#    without it Debian's torch runs the reference BLAS (~4 GFLOP/s).
#    Fonts for the report pictures (resvg draws their text with the system's
#    fonts): DejaVu, and IPA Gothic for Japanese class names. redis-server for
#    queue-built caches (BullMQ); the tests start their own on a loopback port.
#    curl: the README's serving example, which the package test runs.
#    Open MPI (openmpi-bin, libopenmpi-dev) for data-parallel training under mpirun: its own small addon, built only
#    where mpicc is present; the tests run two ranks on this machine.
pkgs=(libdnnl-dev libmecab-dev mecab mecab-ipadic-utf8 unidic-mecab g++ make python3 sentencepiece fonts-dejavu-core fonts-ipafont-gothic redis-server curl openmpi-bin libopenmpi-dev)
if [ "${JA_BERT_DEV:-}" = 1 ]; then pkgs+=(python3-torch python3-numpy python3-scipy libopenblas0-pthread); fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi

# 2. npm dependencies (lockfile-exact), only when package-lock changed
stamp=node_modules/.ja-bert-lock
if [ ! -f "$stamp" ] || ! cmp -s package-lock.json "$stamp"; then
  say "installing npm dependencies"
  npm ci --no-audit --no-fund --ignore-scripts >&2
  cp package-lock.json "$stamp"
fi

# 3. native addon, rebuilt when any native source or binding.gyp is newer
addon=build/Release/jabert.node
if [ ! -f "$addon" ] || [ ! -f build/Release/jabert_mecab.node ] || { command -v mpicc >/dev/null && [ ! -f build/Release/jabert_mpi.node ]; } \
   || [ -n "$(find native binding.gyp -newer "$addon" 2>/dev/null | head -1)" ]; then
  say "building the native engine (oneDNN)"
  node node_modules/node-gyp/bin/node-gyp.js rebuild --nodedir="$(dirname "$(dirname "$(command -v node)")")" -j 2 >&2 \
    || node node_modules/node-gyp/bin/node-gyp.js rebuild --nodedir=/usr -j 2 >&2
fi

# 4. TypeScript, rebuilt when any source is newer than the last build
out=dist/.built
if [ ! -f "$out" ] || [ -n "$(find src test bench tsconfig.json -newer "$out" -name '*.ts' -o -newer "$out" -name 'tsconfig.json' 2>/dev/null | head -1)" ]; then
  say "compiling TypeScript"
  npx tsc -p tsconfig.json
  touch "$out"
fi
