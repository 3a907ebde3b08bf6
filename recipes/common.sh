#!/usr/bin/env bash
# Shared stage runner for pwave recipes; sourced by recipes/<dataset>/run.sh.
#
# A recipe defines: CORPUS (layout name), DATA (corpus folder), CONF (config name under
# pwave/configs/teacher and pwave/configs/student), EXP (output folder), and a function
# `download`. A corpus config extends paper (`# base: paper`); `pwave train` follows that.
# Stages (run a range with --stage N --stop-stage M):
#   0 download (needs internet; skipped when DATA exists)   1 prepare
#   2 train teacher   3 train student   4 synthesize (eval split, student and teacher)
#   5 evaluate
# Any other --name value pair sets the shell variable NAME (e.g. --exp runs/my --conf ljspeech);
# TEACHER_ARGS / STUDENT_ARGS pass extra overrides to the training commands.
set -euo pipefail

stage=${stage:-0}
stop_stage=${stop_stage:-100}
TEACHER_ARGS=${TEACHER_ARGS:-}
STUDENT_ARGS=${STUDENT_ARGS:-}
SYNTH_ARGS=${SYNTH_ARGS:-}
PREPARE_ARGS=${PREPARE_ARGS:-}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --stage) stage=$2; shift 2 ;;
    --stop-stage|--stop_stage) stop_stage=$2; shift 2 ;;
    --*) name=${1#--}; name=${name//-/_}; declare "${name^^}=$2"; shift 2 ;;
    *) echo "unknown argument: $1 (use --stage N --stop-stage M --data DIR --exp DIR ...)" >&2; exit 2 ;;
  esac
done

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
config() { echo "$ROOT/pwave/configs/$1/$CONF.yaml"; }  # the file; its base is followed
want() { [[ $stage -le $1 && $stop_stage -ge $1 ]]; }
banner() { echo; echo "=== stage $1: $2"; }

run_stages() {
  mkdir -p "$EXP"
  if want 0; then
    banner 0 "download"
    if [[ -n "${DATA:-}" && -e "$DATA" ]]; then echo "$DATA exists: skipping download"; else download; fi
  fi
  if want 1; then
    banner 1 "prepare ($CORPUS)"
    # shellcheck disable=SC2086
    pwave prepare ${DATA:+"$DATA"} --layout "$CORPUS" -o "$EXP/data" \
      --feature-config "$(config teacher)" $PREPARE_ARGS
  fi
  if want 2; then
    banner 2 "train teacher"
    # shellcheck disable=SC2086
    pwave train teacher --config "$(config teacher)" --data.data_dir "$EXP/data" \
      --trainer.default_root_dir "$EXP/teacher" $TEACHER_ARGS
  fi
  if want 3; then
    banner 3 "train student"
    # shellcheck disable=SC2086
    pwave train student --config "$(config student)" --teacher "$EXP/teacher/teacher.pt" \
      --data.data_dir "$EXP/data" --trainer.default_root_dir "$EXP/student" $STUDENT_ARGS
  fi
  if want 4; then
    banner 4 "synthesize the eval split"
    # shellcheck disable=SC2086
    pwave synthesize --checkpoint "$EXP/student/student.pt" --input "$EXP/data" --split eval \
      --output "$EXP/synth/student" --reference-output "$EXP/synth/reference" $SYNTH_ARGS
  fi
  if want 5; then
    banner 5 "evaluate"
    pwave evaluate --generated "$EXP/synth/student" --reference "$EXP/synth/reference" \
      --teacher "$EXP/teacher/teacher.pt" --output "$EXP/eval/student"
  fi
}
