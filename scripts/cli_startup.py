"""How fast the ``pwave`` command line answers, and what it imports to do so.

Runs ``pwave --version``, ``pwave --help``, ``pwave synthesize --help`` and
``pwave train teacher --help`` as subprocesses, through the installed console script and
through ``python -m pwave``, and prints the median wall time of each (and whether it meets
the targets of the issue "One direction of dependencies": ``--version`` under 0.5 s and
``--help`` under 1 s). One more, untimed, run of each with ``PYTHONPROFILEIMPORTTIME=1``
tells whether torch and Lightning got imported.

A benchmark, not a test: timings depend on the machine and its load (printed first)::

    python scripts/cli_startup.py [--repeats 5] [--no-train]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS: tuple[tuple[str, ...], ...] = (
    ("--version",),
    ("--help",),
    ("synthesize", "--help"),
    ("train", "teacher", "--help"),
)
TARGETS = {("--version",): 0.5, ("--help",): 1.0}  # seconds, median
WATCHED = ("torch", "lightning")


def console_script() -> list[str]:
    """The installed ``pwave`` script next to this interpreter (not a pyenv-style shim)."""
    here = Path(sys.executable).with_name("pwave")
    if here.exists():
        return [str(here)]
    found = shutil.which("pwave")
    if found is None:
        raise SystemExit("no `pwave` console script found: pip install -e .")
    return [found]


def run_once(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    """Wall time of one run of ``argv`` and its stderr (stdout is discarded)."""
    started = time.perf_counter()
    done = subprocess.run(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, check=False
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited with {done.returncode}:\n{done.stderr}")
    return elapsed, done.stderr


def imported(argv: list[str]) -> list[str]:
    """Which of :data:`WATCHED` a run of ``argv`` imports (from ``-X importtime``)."""
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    _, stderr = run_once(argv, env)
    names = set()
    for line in stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            names.add(line.rsplit("|", 1)[1].strip())
    return [name for name in WATCHED if name in names]


def main() -> int:
    """Time every command both ways; print one row per command and way."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs each (default: 5)")
    parser.add_argument(
        "--no-train", action="store_true", help="leave out `pwave train teacher --help` (slow)"
    )
    args = parser.parse_args()
    ways = {"console script": console_script(), "python -m pwave": [sys.executable, "-m", "pwave"]}
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load}")
    print(f"console script: {ways['console script'][0]}; median of {args.repeats} runs\n")
    print(f"{'command':<32}{'way':<18}{'median s':>10}{'min s':>8}  imports   target")
    failed = False
    for words in COMMANDS:
        if args.no_train and words[0] == "train":
            continue
        for way, prefix in ways.items():
            argv = [*prefix, *words]
            times = [run_once(argv)[0] for _ in range(args.repeats)]
            median = statistics.median(times)
            target = TARGETS.get(words)
            verdict = ""
            if target is not None:
                verdict = f"< {target} s: {'yes' if median < target else 'NO'}"
                failed |= median >= target
            names = ",".join(imported(argv)) or "-"
            label = "pwave " + " ".join(words)
            print(f"{label:<32}{way:<18}{median:>10.3f}{min(times):>8.3f}  {names:<9} {verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
