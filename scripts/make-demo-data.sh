#!/usr/bin/env bash
# The demo's shipped sample (issue 5): Japanese man-page link pairs in the seed's
# honbun_data.json / negaposi.json format, from Debian's manpages-ja and
# manpages-ja-dev (installed when missing). Deterministic for a given package version.
#   bash scripts/make-demo-data.sh [OUT_DIR] [MAX_PAIRS]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-data/demo/manpages-ja-links-sample}"
pairs="${2:-2000}"
missing=()
for p in manpages-ja manpages-ja-dev; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi
bash scripts/setup.sh
bin/ja-bert manpage-pairs --man-dir /usr/share/man/ja --output "$out" --max-pairs "$pairs" --max-chars 500
