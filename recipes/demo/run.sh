#!/usr/bin/env bash
# The built-in demo corpus (procedural speech-like audio, nothing to download).
#   bash recipes/demo/run.sh                      # all stages, CPU, pwave/configs/*/demo.yaml
#   bash recipes/demo/run.sh --conf debug --exp runs/recipe-debug   # seconds (CI)
CORPUS=demo
CONF=${CONF:-demo}
EXP=${EXP:-runs/recipe-demo}
DATA=
download() { echo "the demo corpus is generated in stage 1: nothing to download"; }
source "$(dirname "$0")/../common.sh"
run_stages
