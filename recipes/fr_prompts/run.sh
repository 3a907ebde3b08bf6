#!/usr/bin/env bash
# Real speech at 8 kHz: Debian's asterisk-core-sounds-fr-wav, the Asterisk telephone prompts
# in Canadian French (one female speaker, 561 prompts, about 26 minutes, 8 kHz mono wav).
# Trained at the corpus's own rate with the telephony configs (pwave/configs/*/telephony.yaml):
# nothing is resampled.
#   bash recipes/fr_prompts/run.sh                       # all stages, CPU
#   bash recipes/fr_prompts/run.sh --stage 0 --stop-stage 1   # fetch and prepare only
#   bash recipes/fr_prompts/run.sh --data /usr/share/asterisk/sounds/fr   # an installed copy
# Stage 0 needs a Debian/Ubuntu apt with a reachable mirror (`apt-get update` first if apt
# has no package lists; it runs as any user) and dpkg; it takes seconds (an 18 MB package).
CORPUS=folder
CONF=${CONF:-telephony}
EXP=${EXP:-runs/recipe-fr-prompts}
DATA=${DATA:-}
PACKAGE=asterisk-core-sounds-fr-wav

download() {
  command -v apt-get >/dev/null && command -v dpkg >/dev/null || {
    echo "stage 0 needs apt-get and dpkg (Debian/Ubuntu); or give an unpacked copy with --data DIR" >&2
    exit 2
  }
  local tmp
  tmp=$(mktemp -d)
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" RETURN
  (cd "$tmp" && apt-get download "$PACKAGE") || {
    echo "apt-get download $PACKAGE failed: run 'apt-get update' (as root) and retry" >&2
    exit 2
  }
  dpkg -x "$tmp"/"$PACKAGE"_*.deb "$tmp/root"
  mkdir -p "$DATA"
  cp -r "$tmp"/root/usr/share/asterisk/sounds/*/. "$DATA"/
  echo "$(find "$DATA" -name '*.wav' | wc -l) prompts in $DATA"
}

source "$(dirname "$0")/../common.sh"
DATA=${DATA:-$EXP/corpus}
run_stages
