#!/usr/bin/env bash
# docs/RESULTS.md's "Is the result real?" tables (issue 29), re-runnable:
#   bash scripts/results-leakage.sh [OUT_DIR]     (default: results-leakage/)
# For the demo sample (data/demo) and ../shared/data/manpages-ja-links (random and same-section negatives),
# with a random split and a grouped one (--split group: no eval text seen in training):
# the frozen-vector baseline, then the fine-tuned cross-encoder with McNemar against it (--baseline-run).
# Each run's reports stay in OUT_DIR/<name>/; OUT_DIR/summary.json gathers split, leakage, intervals, McNemar.
# Env: MODEL (default models/ja-bert-mini-debian), EPOCHS (3), LR (1e-4), DTYPE (auto), ONLY (a regex of run names).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-results-leakage}"
M="${MODEL:-models/ja-bert-mini-debian}"
EPOCHS="${EPOCHS:-3}"; LR="${LR:-1e-4}"; DTYPE="${DTYPE:-auto}"
mkdir -p "$out"
ft=(--max-seq-length 128 --batch-size 32 --epochs "$EPOCHS" --learning-rate "$LR" --dtype "$DTYPE" --save-steps 0 --overwrite)
run() {
  local name=$1; shift
  if [ -n "${ONLY:-}" ] && ! [[ $name =~ $ONLY ]]; then return; fi
  echo "== $name: bin/ja-bert $*" >&2
  bin/ja-bert "$@" > "$out/$name.log" 2>&1 || { tail -5 "$out/$name.log" >&2; exit 1; }
}
for v in demo:data/demo/manpages-ja-links-sample/negaposi.json links:../shared/data/manpages-ja-links/negaposi.json hard:../shared/data/manpages-ja-links/negaposi_hard.json; do
  n=${v%%:*}; p=${v#*:}
  data=(--texts "$(dirname "$p")/honbun_data.json" --pairs "$p")
  for split in random group; do
    run "$n-$split-baseline" baseline --model "$M" --output "$out/$n-$split-baseline" "${data[@]}" --max-seq-length 128 --dtype "$DTYPE" --split $split --overwrite
    run "$n-$split-finetune" finetune --model "$M" --output "$out/$n-$split-finetune" "${data[@]}" "${ft[@]}" --split $split --baseline-run "$out/$n-$split-baseline"
  done
done
node -e '
const fs = require("fs"), path = require("path"), out = process.argv[1];
const rows = {};
for (const d of fs.readdirSync(out).sort()) {
  const r = path.join(out, d, "report.json");
  if (!fs.existsSync(r)) continue;
  const j = JSON.parse(fs.readFileSync(r, "utf8"));
  rows[d] = { accuracy: j.eval_accuracy, ci95: j.ci95, split: j.split, macro_f1: j.eval_macro_f1, mcc: j.eval_mcc, roc_auc: j.eval_roc_auc,
    leakage: j.leakage && { ...j.leakage, metrics_by_subset: undefined }, accuracy_by_subset: j.leakage && Object.fromEntries(Object.entries(j.leakage.metrics_by_subset ?? {}).map(([k, v]) => [k, v && { n: v.n, accuracy: v.accuracy, ci95: v.accuracy_ci95 }])),
    mcnemar: j.mcnemar && { b: j.mcnemar.b, c: j.mcnemar.c, p_value: j.mcnemar.p_value, accuracy_difference: j.mcnemar.accuracy_difference, ci95: j.mcnemar.accuracy_difference_ci95 } };
}
fs.writeFileSync(path.join(out, "summary.json"), JSON.stringify(rows, null, 1) + "\n");
' "$out"
echo "-> $out/summary.json" >&2
