#!/usr/bin/env bash
# LJSpeech 1.1 (single speaker, 22.05 kHz, 13,100 clips). Split: the last 500 sorted clips
# are 250 dev + 250 eval. Configs: pwave/configs/{teacher,student}/ljspeech.yaml (GPU).
#   bash recipes/ljspeech/run.sh [--data downloads/LJSpeech-1.1] [--stage 1 --stop-stage 3]
CORPUS=ljspeech
CONF=${CONF:-ljspeech}
EXP=${EXP:-runs/ljspeech}
DATA=${DATA:-downloads/LJSpeech-1.1}
download() {
  mkdir -p downloads
  curl -L -o downloads/LJSpeech-1.1.tar.bz2 https://data.keithito.com/data/speech/LJSpeech-1.1.tar.bz2
  tar -xjf downloads/LJSpeech-1.1.tar.bz2 -C downloads
}
source "$(dirname "$0")/../common.sh"
run_stages
