#!/usr/bin/env bash
# The result tables of docs/RESULTS.md (issues 5 and 6), re-runnable:
#   bash scripts/results.sh [OUT_DIR]           (default: results/)
# 1. on ../shared/data/manpages-ja-links (random and same-section negatives) and chABSA:
#    frozen-vector baseline, the fine-tuned default model, and the same architecture
#    fine-tuned from random weights (finetune --random-init), same settings;
# 2. compare (every pair head) with the default model on both link variants.
# Each run's reports stay in OUT_DIR/<name>/; OUT_DIR/summary.json gathers the numbers.
# Env: MODEL (default models/ja-bert-mini-debian), EPOCHS (3), COMPARE_EPOCHS (3), LR (1e-4),
#      DTYPE (auto: bf16 where the CPU runs it natively, else f32), ONLY (a regex of run names to run).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-results}"
M="${MODEL:-models/ja-bert-mini-debian}"
D=../shared/data
EPOCHS="${EPOCHS:-3}"; LR="${LR:-1e-4}"; DTYPE="${DTYPE:-auto}"; CE="${COMPARE_EPOCHS:-3}"
mkdir -p "$out"
ft=(--max-seq-length 128 --batch-size 32 --epochs "$EPOCHS" --learning-rate "$LR" --dtype "$DTYPE" --save-steps 0 --overwrite)
run() {
  local name=$1; shift
  if [ -n "${ONLY:-}" ] && ! [[ $name =~ $ONLY ]]; then return; fi
  echo "== $name: bin/ja-bert $*" >&2
  local t0; t0=$(date +%s%N)
  bin/ja-bert "$@" > "$out/$name.log" 2>&1 || { tail -5 "$out/$name.log" >&2; exit 1; }
  echo "$(( ($(date +%s%N) - t0) / 1000000 ))" | sed -E 's/([0-9]{3})$/.\1/' > "$out/$name.seconds"
}
for v in links:negaposi.json hard:negaposi_hard.json; do
  n=${v%%:*}; p=$D/manpages-ja-links/${v#*:}
  data=(--texts $D/manpages-ja-links/honbun_data.json --pairs "$p")
  run "$n-baseline" baseline --model "$M" --output "$out/$n-baseline" "${data[@]}" --max-seq-length 128 --overwrite
  run "$n-finetune" finetune --model "$M" --output "$out/$n-finetune" "${data[@]}" "${ft[@]}"
  run "$n-random" finetune --model "$M" --output "$out/$n-random" "${data[@]}" "${ft[@]}" --random-init
done
data=(--train $D/chabsa/train.tsv --eval $D/chabsa/test.tsv)
run chabsa-baseline baseline --model "$M" --output "$out/chabsa-baseline" "${data[@]}" --max-seq-length 128 --overwrite
run chabsa-finetune finetune --model "$M" --output "$out/chabsa-finetune" "${data[@]}" "${ft[@]}"
run chabsa-random finetune --model "$M" --output "$out/chabsa-random" "${data[@]}" "${ft[@]}" --random-init
for v in links:negaposi.json hard:negaposi_hard.json; do
  n=${v%%:*}
  run "$n-compare" compare --model "$M" --output "$out/$n-compare" --texts $D/manpages-ja-links/honbun_data.json \
    --pairs "$D/manpages-ja-links/${v#*:}" --epochs "$CE" --learning-rate "$LR" --dtype "$DTYPE" --batch-size 32 --max-seq-length 128
done
node -e '
const fs = require("fs"), path = require("path"), out = process.argv[1];
const rows = {};
for (const d of fs.readdirSync(out)) {
  const r = path.join(out, d, "report.json");
  if (!fs.existsSync(r)) continue;
  const j = JSON.parse(fs.readFileSync(r, "utf8"));
  const sec = path.join(out, d + ".seconds");
  rows[d] = { accuracy: j.eval_accuracy, macro_f1: j.macro_avg.f1, seconds: fs.existsSync(sec) ? Number(fs.readFileSync(sec, "utf8")) : null,
    global_step: j.global_step, train_seconds: j.train_seconds ?? null };
}
fs.writeFileSync(path.join(out, "summary.json"), JSON.stringify(rows, null, 1) + "\n");
console.log(JSON.stringify(rows, null, 1));
' "$out"
