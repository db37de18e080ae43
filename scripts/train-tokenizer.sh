#!/usr/bin/env bash
# The default model's SentencePiece tokenizer (issue 5): Debian's spm_train on the
# corpus from scripts/build-corpus.sh, unigram, 8,000 pieces (the size measured in
# docs/CORPUS.md), with BERT's special symbols as control pieces.
#   bash scripts/train-tokenizer.sh [CORPUS_DIR] [VOCAB_SIZE]
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-corpus}"
vocab="${2:-8000}"
[ -f "$dir/corpus.txt" ] || bash scripts/build-corpus.sh "$dir"
command -v spm_train >/dev/null || bash scripts/setup.sh
grep -v '^$' "$dir/corpus.txt" > "$dir/sentences.txt"
spm_train --input="$dir/sentences.txt" --model_prefix="$dir/spiece" --vocab_size="$vocab" --model_type=unigram \
  --character_coverage=0.9995 --num_threads=2 --control_symbols='[PAD],[CLS],[SEP],[MASK]' --input_sentence_size=2000000 >&2
echo "$dir/spiece.model"
