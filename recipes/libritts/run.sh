#!/usr/bin/env bash
# LibriTTS (24 kHz). Uses the official subsets: train-clean-100 for training,
# dev-clean and test-clean for dev/eval (SUBSETS picks what stage 0 downloads).
#   bash recipes/libritts/run.sh [--data downloads/LibriTTS]
CORPUS=libritts
CONF=${CONF:-libritts}
EXP=${EXP:-runs/libritts}
DATA=${DATA:-downloads/LibriTTS}
SUBSETS=${SUBSETS:-"train-clean-100 dev-clean test-clean"}
download() {
  mkdir -p downloads
  for subset in $SUBSETS; do
    curl -L -o "downloads/$subset.tar.gz" "https://www.openslr.org/resources/60/$subset.tar.gz"
    tar -xzf "downloads/$subset.tar.gz" -C downloads
  done
}
source "$(dirname "$0")/../common.sh"
run_stages
