"""`pwave demo`: the command line of :mod:`pwave.apps.demo`."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", type=Path, default=Path("runs/demo"), help="output folder")
    parser.add_argument(
        "--config-name", default="demo", help="configs/{teacher,student}/NAME.yaml (demo|debug)"
    )
    parser.add_argument("--teacher-minutes", type=float, default=10.0, help="teacher budget")
    parser.add_argument("--student-minutes", type=float, default=5.0, help="student budget")
    parser.add_argument(
        "--teacher-utterances", type=int, default=1, help="eval utterances for the slow teacher"
    )
    parser.add_argument("--utterances", type=int, default=48, help="demo corpus size")
    parser.add_argument("--seconds", type=float, default=4.0, help="seconds per utterance")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-bench", action="store_true", help="leave out the speed table")


def run(args: argparse.Namespace) -> int:
    """``pwave demo``: the whole pipeline (:func:`pwave.apps.demo.run_demo`)."""
    from pwave.apps.demo import run_demo

    return run_demo(args)
