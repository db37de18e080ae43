#!/usr/bin/env bash
# The whole test suite, twice: on this CPU as it is, then as an AVX2-only CPU
# would run it (JA_BERT_MAX_ISA=avx2 caps oneDNN and ja-bert's own kernels:
# no AVX-512, no bf16, so --dtype auto is f32 and explicit bf16 is refused).
# On a CPU without AVX-512 the second pass is the same as the first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== test pass 1: $(node dist/src/cli/main.js info)"
node --test --test-reporter=spec dist/test/*.test.js
echo "== test pass 2 (JA_BERT_MAX_ISA=avx2): $(JA_BERT_MAX_ISA=avx2 node dist/src/cli/main.js info)"
JA_BERT_MAX_ISA=avx2 node --test --test-reporter=spec dist/test/*.test.js
