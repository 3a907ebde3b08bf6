#!/usr/bin/env bash
# The built wheel works on its own: build it, install it into a fresh virtualenv outside the
# checkout (PyTorch's CPU build first, then the wheel with its dependencies), and run
# `pwave demo --config-name debug` there from a folder outside the checkout, so nothing can
# be imported from the source tree. Called by .ci/run; about 3 minutes with pip's cache warm.
#
#   bash scripts/check_wheel.sh
#
# TORCH_SPEC (default torch==2.13.0) is the PyTorch requirement installed first; KEEP=1
# keeps the temporary folder (wheel, virtualenv, demo output) and prints where it is.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
export PIP_DISABLE_PIP_VERSION_CHECK=1
WORK=$(mktemp -d)
if [[ "${KEEP:-0}" == 1 ]]; then
  trap 'echo "check_wheel: kept $WORK"' EXIT
else
  trap 'rm -rf "$WORK"' EXIT
fi
step() { echo "=== check_wheel: $* ($SECONDS s)"; }

step "building the wheel from a copy of the source files"
# A copy, so that no build/ left in the checkout by an earlier build (stale modules) can
# reach the wheel: the files git tracks, or would track (untracked but not ignored).
python - "$ROOT" "$WORK/src" <<'PY'
import shutil
import subprocess
import sys
from pathlib import Path

root, dest = Path(sys.argv[1]), Path(sys.argv[2])
listed = subprocess.run(
    ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
    cwd=root, capture_output=True, check=True,
).stdout.decode()
for name in filter(None, listed.split("\0")):
    if (root / name).is_file():  # not a file deleted since the last commit
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, dest / name)
PY
python -m pip wheel --quiet --no-deps -w "$WORK/dist" "$WORK/src"
WHEEL=$(ls "$WORK"/dist/pwave-*.whl)
step "installing $TORCH_SPEC and $(basename "$WHEEL") into a fresh virtualenv"
python -m venv "$WORK/venv"
"$WORK/venv/bin/python" -m pip install --quiet "$TORCH_SPEC"
"$WORK/venv/bin/python" -m pip install --quiet "$WHEEL"

cd "$WORK"
step "pwave comes from the virtualenv, not from $ROOT"
"$WORK/venv/bin/python" - "$ROOT" <<'PY'
import sys
from pathlib import Path

import pwave
from pwave.configs import config_files, config_names

root = Path(sys.argv[1]).resolve()
where = Path(pwave.__file__).resolve()
assert root not in where.parents, f"pwave was imported from the checkout: {where}"
for stage in ("teacher", "student"):
    names = config_names(stage)
    assert {"debug", "demo", "paper", "ljspeech"} <= set(names), names
    for name in names:
        assert all(path.is_file() for path in config_files(stage, name)), (stage, name)
print(f"pwave {pwave.__version__} from {where.parent}; configs: {', '.join(names)}")
PY
step "pwave demo --config-name debug"
"$WORK/venv/bin/pwave" demo --config-name debug --output "$WORK/demo"
test -s "$WORK/demo/demo_summary.json"
step "done"
