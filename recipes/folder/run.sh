#!/usr/bin/env bash
# Any folder of recordings (wav/flac/ogg/...; searched recursively; any rate, any channels).
# Copy this recipe for your own data:
#   bash recipes/folder/run.sh --data /path/to/audio [--exp runs/mydata] [--conf demo]
# Add --speaker-level to PREPARE_ARGS if the first folder level names speakers:
#   PREPARE_ARGS="--speaker-level" bash recipes/folder/run.sh --data /path/to/audio
CORPUS=folder
CONF=${CONF:-demo}
EXP=${EXP:-runs/recipe-folder}
DATA=${DATA:-}
download() { echo "give your audio folder with --data DIR" >&2; exit 2; }
source "$(dirname "$0")/../common.sh"
[[ -n "${DATA:-}" ]] || { echo "usage: $0 --data /path/to/audio [--exp DIR]" >&2; exit 2; }
run_stages
