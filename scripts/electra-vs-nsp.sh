#!/usr/bin/env bash
# ELECTRA against the shipped NSP + whole-word-masking recipe at equal wall time (issue 26, item 6):
#   bash scripts/electra-vs-nsp.sh [OUT_DIR]      (default: results-electra/)
# 1. both pretrainings at once, one thread each (JA_BERT_THREADS=1), on the same corpus and tokenizer, the shape of
#    the default model (L4 H256); NSP 4,000 steps at 3e-4 (the shipped recipe's first stage), ELECTRA 4,200 steps at
#    5e-4 (ELECTRA-small's rate; its steps cost about 5 % less here), so the two take about the same time;
# 2. each pretrained model through the demo and the link / chABSA fine-tunings of scripts/results.sh.
# Env: CORPUS (corpus/corpus.txt: bash scripts/build-corpus.sh), TOKENIZER (the default model's spiece.model).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-results-electra}"
corpus="${CORPUS:-corpus/corpus.txt}"; tok="${TOKENIZER:-models/ja-bert-mini-debian/spiece.model}"
[ -f "$corpus" ] || { echo "electra-vs-nsp: $corpus is missing: run bash scripts/build-corpus.sh first" >&2; exit 1; }
mkdir -p "$out"
common=(--corpus "$corpus" --tokenizer "$tok" --layers 4 --hidden 256 --heads 4 --intermediate 1024 --max-seq-length 128 --batch-size 32
        --save-steps 500 --eval-steps 500 --wwm)
timed() { local name=$1; shift; local s; s=$(date +%s); JA_BERT_THREADS=1 bin/ja-bert pretrain "${common[@]}" --output "$out/$name" "$@" > "$out/$name.log" 2>&1
          echo "$(( $(date +%s) - s ))" > "$out/$name.seconds"; }
timed nsp --learning-rate 3e-4 --max-steps 4000 --objective nsp &
timed electra --learning-rate 5e-4 --max-steps 4200 --objective electra &
wait
for n in nsp electra; do
  bin/ja-bert demo --model "$out/$n" --output "$out/demo-$n" > "$out/demo-$n.log" 2>&1
  MODEL="$out/$n" ONLY='^(links|hard|chabsa)-(baseline|finetune)$' bash scripts/results.sh "$out/results-$n" > "$out/results-$n.log" 2>&1
done
grep -h "pretrained" "$out"/nsp.log "$out"/electra.log
for n in nsp electra; do echo "== $n"; tail -n 12 "$out/demo-$n.log"; cat "$out/results-$n/summary.json"; done
