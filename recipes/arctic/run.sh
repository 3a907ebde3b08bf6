#!/usr/bin/env bash
# CMU Arctic (16 kHz; default speaker slt, SPEAKERS="slt bdl ..." for more). Split per speaker.
#   bash recipes/arctic/run.sh [--data downloads/cmu_arctic]
CORPUS=arctic
CONF=${CONF:-arctic}
EXP=${EXP:-runs/arctic}
DATA=${DATA:-downloads/cmu_arctic}
SPEAKERS=${SPEAKERS:-slt}
download() {
  mkdir -p "$DATA"
  for spk in $SPEAKERS; do
    curl -L -o "downloads/cmu_us_${spk}_arctic.tar.bz2" \
      "http://festvox.org/cmu_arctic/packed/cmu_us_${spk}_arctic-0.95-release.tar.bz2"
    tar -xjf "downloads/cmu_us_${spk}_arctic.tar.bz2" -C "$DATA"
  done
}
source "$(dirname "$0")/../common.sh"
run_stages
