"""`pwave toy`: the command line of :mod:`pwave.apps.toy`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from pwave.apps.toy import (
    DENSITIES,
)


# --- entry points ------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the toy's options to ``parser`` (``pwave toy``)."""
    parser.add_argument("--dataset", default="8gaussians", choices=sorted(DENSITIES))
    parser.add_argument("--output", default="runs/toy", help="folder for metrics.json and toy.png")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads while the toy runs (0: leave as is); the tiny 2-D models "
        "gain nothing from more, and lose a lot on a busy machine",
    )
    parser.add_argument("--flow", choices=["spline", "affine"], default="spline")
    parser.add_argument("--teacher-layers", type=int, default=4, help="MAF layers")
    parser.add_argument(
        "--student-layers",
        type=int,
        default=6,
        help="IAF layers (reverse KL balances the modes better with a deeper student)",
    )
    parser.add_argument("--hidden", type=int, default=64, help="MADE hidden width")
    parser.add_argument("--num-hidden", type=int, default=2, help="MADE hidden layers")
    parser.add_argument("--bins", type=int, default=8, help="spline bins")
    parser.add_argument("--bound", type=float, default=4.0, help="spline interval [-B, B]")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--teacher-steps", type=int, default=1500)
    parser.add_argument("--student-steps", type=int, default=1500)
    parser.add_argument(
        "--teacher-seconds",
        type=float,
        default=None,
        help="optional wall-clock budget; the cosine schedule follows it",
    )
    parser.add_argument("--student-seconds", type=float, default=None)
    parser.add_argument("--teacher-lr", type=float, default=2e-3)
    parser.add_argument("--student-lr", type=float, default=2e-3)
    parser.add_argument("--eval-samples", type=int, default=100_000)
    parser.add_argument("--time-samples", type=int, default=100_000)
    parser.add_argument("--no-plot", action="store_true")
    return parser


def run(args: argparse.Namespace) -> int:
    """``pwave toy``: train, print the summary, write ``metrics.json`` (and ``toy.png``)."""
    from pwave.apps.toy import run_toy, summary_text

    metrics = run_toy(args)
    print(summary_text(metrics))
    print(f"wrote {Path(args.output) / 'metrics.json'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``pwave toy ARGS`` from Python; returns the exit code."""
    from pwave.cli import main as pwave_main

    return pwave_main(["toy", *(sys.argv[1:] if argv is None else argv)])
