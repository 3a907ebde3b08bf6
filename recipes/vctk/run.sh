#!/usr/bin/env bash
# VCTK 0.92 (110 speakers, 48 kHz flac, resampled to the config rate). Split per speaker.
#   bash recipes/vctk/run.sh [--data downloads/VCTK-Corpus-0.92]
CORPUS=vctk
CONF=${CONF:-vctk}
EXP=${EXP:-runs/vctk}
DATA=${DATA:-downloads/VCTK-Corpus-0.92}
download() {
  mkdir -p "$DATA"
  curl -L -o downloads/VCTK-Corpus-0.92.zip \
    https://datashare.ed.ac.uk/bitstream/handle/10283/3443/VCTK-Corpus-0.92.zip
  unzip -q downloads/VCTK-Corpus-0.92.zip -d "$DATA"
}
source "$(dirname "$0")/../common.sh"
run_stages
