#!/usr/bin/env bash
# Re-runnable pretraining corpus build (issue 5, step 1): installs Debian's
# Japanese documentation packages when missing, then extracts the corpus.
#   bash scripts/build-corpus.sh [OUT_DIR]   (default: corpus/)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-corpus}"
pkgs=(lilypond-doc-html-ja libreoffice-help-ja gimp-help-ja debian-handbook debian-reference-ja debian-edu-doc-ja
      gnome-user-docs maint-guide-ja developers-reference-ja kicad-doc-ja debian-faq-ja debian-policy-ja
      installation-guide-amd64 aptitude-doc-ja debian-edu-doc-legacy-ja scilab-doc-ja libreoffice-l10n-ja
      firefox-esr-l10n-ja thunderbird-l10n-ja)
missing=()
for p in "${pkgs[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi
bash scripts/setup.sh
mkdir -p "$out"
bin/ja-bert corpus --output "$out/corpus.txt" --report "$out/corpus.json"
