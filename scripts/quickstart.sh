#!/usr/bin/env bash
# The README's first command, on a machine that has only Python 3.11 or newer:
#
#   bash scripts/quickstart.sh [pwave demo options]     e.g. --config-name debug (one minute)
#
# 1. makes a virtual environment (.venv in the checkout, reused when it is there),
# 2. installs PyTorch's CPU build into it first, so nothing pulls a CUDA build of several GB,
# 3. installs pwave from this checkout with the test tools (pip install -e ".[dev]"),
# 4. runs `pwave demo` with the options given (about 17 minutes on a two-core CPU).
#
# Then `. .venv/bin/activate` and `python -m pytest -q` run the tests.
#
# Environment variables (defaults in brackets):
#   PYTHON           the interpreter the environment is made with [python3]
#   VENV             the environment's folder [.venv in the checkout]
#   TORCH_SPEC       the PyTorch requirement [torch==2.13.0, the version pwave is tested with];
#                    e.g. "torch" for the newest release
#   TORCH_INDEX_URL  where PyTorch alone is installed from [https://download.pytorch.org/whl/cpu,
#                    PyTorch's CPU builds]; for a GPU use the CUDA index of your choice, e.g.
#                    https://download.pytorch.org/whl/cu126; empty: pip's own index and
#                    settings. Local wheels that pip is set up to find (find-links) are used
#                    when that index cannot be reached.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python3}
VENV=${VENV:-$ROOT/.venv}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
TORCH_INDEX_URL=${TORCH_INDEX_URL-https://download.pytorch.org/whl/cpu}
export PIP_DISABLE_PIP_VERSION_CHECK=1

say() { echo "=== quickstart: $*"; }

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "quickstart: pwave needs Python 3.11 or newer; set PYTHON=/path/to/python3.11" >&2
  exit 2
fi

if [[ ! -x "$VENV/bin/python" ]]; then
  say "making the virtual environment $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip install --quiet)

say "installing PyTorch ($TORCH_SPEC${TORCH_INDEX_URL:+ from $TORCH_INDEX_URL})"
if [[ -n "$TORCH_INDEX_URL" ]]; then
  # PyTorch alone from its index; its own dependencies come from pip's index with pwave's.
  "${PIP[@]}" --no-deps --index-url "$TORCH_INDEX_URL" "$TORCH_SPEC"
else
  "${PIP[@]}" "$TORCH_SPEC"
fi

say "installing pwave and its test tools from $ROOT"
"${PIP[@]}" -e "$ROOT[dev]"

say "running: pwave demo $*"
"$VENV/bin/pwave" demo "$@"
say "done; run the tests with: . ${VENV#"$ROOT"/}/bin/activate && python -m pytest -q"
