#!/usr/bin/env python
"""Mutation score of a few pwave modules against the tests that cover them (mutmut 3).

::

    pip install mutmut            # not a pwave dependency
    python scripts/mutation_score.py \\
        --target pwave/units.py --target pwave/evaluation/metrics.py \\
        --tests tests/test_metrics.py tests/test_score_edges.py \\
        --time-limit 1200 > mutation.md

mutmut changes one small thing at a time in the target modules (an operator, a constant, a
slice bound, an argument dropped ...) and runs the tests that reach the changed function; a
mutant is *killed* when a test fails, *survived* when all pass. The score is
``(killed + timeout) / checked``. Each survivor is a change that no test notices: either a
gap in the tests (write the test) or an equivalent change (no observable difference).

The run happens in a scratch copy (the package, ``tests/conftest.py``, ``tests/helpers/`` and
the chosen test files, with a ``pyproject.toml`` holding only the pytest and mutmut settings),
so the checkout and its ``pyproject.toml`` are left alone. ``--time-limit`` stops mutmut
after that many seconds; the mutants not reached are reported as "not checked". The report
(per-module counts, the score, the elapsed time and the diff of every survivor) is Markdown
on stdout, ready for ``docs/mutation.md``; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STATUSES = ("killed", "timeout", "survived", "no tests", "suspicious", "segfault", "not checked")


def _say(message: str) -> None:
    print(f"mutation_score: {message}", file=sys.stderr, flush=True)


def _toml_list(items) -> str:
    return "[" + ", ".join(json.dumps(str(i)) for i in items) + "]"


def make_workdir(work: Path, targets: list[str], tests: list[str]) -> None:
    """The scratch project: ``pwave/``, the tests and a pyproject.toml with the settings."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "pwave", work / "pwave", ignore=ignore)
    (work / "tests").mkdir()
    shutil.copy(ROOT / "tests" / "conftest.py", work / "tests" / "conftest.py")
    if (ROOT / "tests" / "helpers").is_dir():
        shutil.copytree(ROOT / "tests" / "helpers", work / "tests" / "helpers", ignore=ignore)
    for t in tests:
        shutil.copy(ROOT / t, work / t)
    (work / "pyproject.toml").write_text(
        "[tool.pytest.ini_options]\n"
        'testpaths = ["tests"]\n'
        'pythonpath = ["tests"]\n'
        'markers = ["cuda: needs a CUDA device", "slow: longer end-to-end tests"]\n'
        "\n[tool.mutmut]\n"
        'source_paths = ["pwave"]\n'
        f"only_mutate = {_toml_list(targets)}\n"
        f"pytest_add_cli_args_test_selection = {_toml_list(tests)}\n"
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-q", "-x", "-m", "not cuda"]\n'
        "use_git_change_detection = false\n"
    )


def run_mutmut(work: Path, max_children: int, time_limit: float) -> tuple[float, bool, str]:
    """``(seconds, stopped at the time limit, output tail)`` of ``mutmut run`` in ``work``."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    env.pop("PYTHONPATH", None)
    cmd = [sys.executable, "-m", "mutmut", "run", "--max-children", str(max_children)]
    start = time.monotonic()
    log = work / "mutmut.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=work, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            proc.wait(timeout=time_limit)
            stopped = False
        except subprocess.TimeoutExpired:
            _say(f"time limit ({time_limit:.0f} s) reached: stopping mutmut")
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            stopped = True
    text = log.read_text(errors="replace")
    text = "\n".join(line.rsplit("\r", 1)[-1] for line in text.splitlines())  # no spinners
    return time.monotonic() - start, stopped, text[-4000:]


def collect(work: Path, targets: list[str]) -> dict[str, dict[str, str]]:
    """``{module path: {mutant name: status}}`` from mutmut's ``.meta`` files."""
    from mutmut.stats import status_by_exit_code

    out: dict[str, dict[str, str]] = {}
    for target in targets:
        meta = work / "mutants" / f"{target}.meta"
        if not meta.is_file():
            out[target] = {}
            continue
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        out[target] = {name: status_by_exit_code[code] for name, code in codes.items()}
    return out


def show(work: Path, name: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "mutmut", "show", name],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return (done.stdout or done.stderr).strip()


def score(counts: Counter) -> tuple[int, float | None]:
    checked = sum(v for k, v in counts.items() if k not in ("not checked", "skipped"))
    hit = counts["killed"] + counts["timeout"]
    return checked, (100.0 * hit / checked if checked else None)


def report(args, results, seconds: float, stopped: bool, work: Path) -> str:
    import mutmut

    lines = [
        "## Mutation score",
        "",
        f"mutmut {getattr(mutmut, '__version__', '3')}, {time.strftime('%Y-%m-%d')}; "
        f"{seconds / 60:.1f} min wall time"
        + (f" (stopped at the {args.time_limit:.0f} s limit)" if stopped else "")
        + f", {args.max_children} worker(s).",
        "",
        "Command: `python scripts/mutation_score.py "
        + " ".join(f"--target {t}" for t in args.target)
        + " --tests "
        + " ".join(args.tests)
        + f" --time-limit {args.time_limit:.0f}`",
        "",
        "| module | mutants | killed | timeout | survived | no tests | other | not checked "
        "| score |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    total: Counter = Counter()
    for module, statuses in results.items():
        c = Counter(statuses.values())
        total.update(c)
        lines.append(_row(module, c))
    lines.append(_row("**all**", total))
    checked, pct = score(total)
    lines += [
        "",
        "Score = (killed + timeout) / checked = "
        + (f"**{pct:.1f}%** of {checked} checked mutants." if pct is not None else "n/a."),
    ]
    survivors = [n for st in results.values() for n, s in st.items() if s == "survived"]
    if survivors:
        lines += ["", f"### Survivors ({len(survivors)})", ""]
        for name in survivors[: args.show_survivors]:
            lines += [f"<details><summary><code>{name}</code></summary>", "", "```diff"]
            lines += [show(work, name), "```", "", "</details>"]
        if len(survivors) > args.show_survivors:
            lines.append(f"... and {len(survivors) - args.show_survivors} more.")
    return "\n".join(lines) + "\n"


def _row(module: str, c: Counter) -> str:
    other = c["suspicious"] + c["segfault"] + c["check was interrupted by user"]
    _, pct = score(c)
    n = sum(c.values())
    cells = [module, n, c["killed"], c["timeout"], c["survived"], c["no tests"], other]
    cells += [c["not checked"], "n/a" if pct is None else f"{pct:.1f}%"]
    return "| " + " | ".join(str(x) for x in cells) + " |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", action="append", required=True, help="module file to mutate")
    parser.add_argument("--tests", nargs="+", required=True, help="test files that cover them")
    parser.add_argument("--max-children", type=int, default=2, help="parallel mutant runs")
    parser.add_argument("--time-limit", type=float, default=1200.0, help="seconds (default 20 min)")
    parser.add_argument("--show-survivors", type=int, default=40, help="diffs shown at most")
    parser.add_argument("--workdir", type=Path, default=None, help="scratch folder (kept)")
    args = parser.parse_args(argv)
    try:
        import mutmut  # noqa: F401
    except ImportError:
        print("mutation_score: mutmut is not installed: pip install mutmut", file=sys.stderr)
        return 2
    for path in [*args.target, *args.tests]:
        if not (ROOT / path).is_file():
            parser.error(f"{path} is not a file of the checkout")
    keep = args.workdir is not None
    work = args.workdir or Path(tempfile.mkdtemp(prefix="pwave-mutation-"))
    if keep and work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    try:
        make_workdir(work, args.target, args.tests)
        _say(f"mutating {', '.join(args.target)} in {work}")
        seconds, stopped, tail = run_mutmut(work, args.max_children, args.time_limit)
        results = collect(work, args.target)
        checked = [s for st in results.values() for s in st.values() if s != "not checked"]
        if not checked:
            _say("mutmut checked no mutant (do the tests pass?); its output ends with:\n" + tail)
            return 1
        print(report(args, results, seconds, stopped, work), end="")
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
