"""`pwave toy`: Parallel WaveNet in miniature, on 2-D densities (MAF teacher, IAF student)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

#: The 2-D densities (``pwave.apps.toy.DENSITIES``; a test keeps them equal).
DENSITIES = ("8gaussians", "checkerboard", "moons", "ring")

# --- entry points ------------------------------------------------------------------------


DESCRIPTION = """\
Parallel WaveNet in miniature, on a 2-D density whose log-density is known, so both
divergences are measured exactly (up to Monte Carlo error):

  1. teacher: a MAF fitted by maximum likelihood on fresh samples of the
     density; reports KL(data || teacher);
  2. student: an IAF distilled from the frozen teacher by Monte Carlo reverse
     KL; reports KL(student || teacher);
  3. sampling speed: the teacher samples one dimension at a time, the student
     all of them in one parallel pass.

Prints the summary and writes metrics.json and toy.png into --output. CPU, minutes."""

EPILOG = """\
examples:
  pwave toy                       # 8 Gaussians, spline flows, into runs/toy
  pwave toy --dataset moons --flow affine --teacher-steps 500 \\
      --student-steps 500"""


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the toy's options to ``parser`` (``pwave toy``)."""
    parser.add_argument(
        "--dataset",
        default="8gaussians",
        choices=sorted(DENSITIES),
        help="the 2-D density (default: 8gaussians)",
    )
    parser.add_argument(
        "--output",
        default="runs/toy",
        metavar="DIR",
        help="folder for metrics.json and toy.png (default: runs/toy)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, metavar="N", help="seed of data and weights (default: 0)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        metavar="N",
        help="torch CPU threads while the toy runs (0: leave as is; default: 1); the tiny 2-D "
        "models gain nothing from more, and lose a lot on a busy machine",
    )
    parser.add_argument(
        "--flow",
        choices=["spline", "affine"],
        default="spline",
        help="transform of every MAF/IAF layer: rational-quadratic spline (default) or affine",
    )
    _add_model_options(parser)
    _add_training_options(parser)
    e = parser.add_argument_group("evaluation")
    e.add_argument(
        "--eval-samples",
        type=int,
        default=100_000,
        metavar="N",
        help="Monte Carlo samples of each KL estimate (default: 100000)",
    )
    e.add_argument(
        "--time-samples",
        type=int,
        default=100_000,
        metavar="N",
        help="points drawn by each model when timing sampling (default: 100000)",
    )
    e.add_argument("--no-plot", action="store_true", help="do not write toy.png")
    return parser


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    """The sizes of the toy's teacher and student."""
    m = parser.add_argument_group("models")
    m.add_argument(
        "--teacher-layers", type=int, default=4, metavar="N", help="MAF layers (default: 4)"
    )
    m.add_argument(
        "--student-layers",
        type=int,
        default=6,
        metavar="N",
        help="IAF layers; reverse KL balances the modes better with a deeper student (default: 6)",
    )
    m.add_argument(
        "--hidden", type=int, default=64, metavar="N", help="MADE hidden width (default: 64)"
    )
    m.add_argument(
        "--num-hidden", type=int, default=2, metavar="N", help="MADE hidden layers (default: 2)"
    )
    m.add_argument("--bins", type=int, default=8, metavar="N", help="spline bins (default: 8)")
    m.add_argument(
        "--bound",
        type=float,
        default=4.0,
        metavar="B",
        help="splines act on [-B, B], the identity outside (default: 4)",
    )


def _add_training_options(parser: argparse.ArgumentParser) -> None:
    """How the toy trains its teacher and student."""
    t = parser.add_argument_group("training")
    t.add_argument(
        "--batch-size", type=int, default=512, metavar="N", help="samples per step (default: 512)"
    )
    t.add_argument(
        "--teacher-steps",
        type=int,
        default=1500,
        metavar="N",
        help="teacher training steps (default: 1500)",
    )
    t.add_argument(
        "--student-steps",
        type=int,
        default=1500,
        metavar="N",
        help="student training steps (default: 1500)",
    )
    t.add_argument(
        "--teacher-seconds",
        type=float,
        default=None,
        metavar="SEC",
        help="optional wall-clock budget of the teacher; the cosine schedule follows it",
    )
    t.add_argument(
        "--student-seconds",
        type=float,
        default=None,
        metavar="SEC",
        help="optional wall-clock budget of the student, as --teacher-seconds",
    )
    t.add_argument(
        "--teacher-lr",
        type=float,
        default=2e-3,
        metavar="LR",
        help="teacher learning rate (default: 0.002)",
    )
    t.add_argument(
        "--student-lr",
        type=float,
        default=2e-3,
        metavar="LR",
        help="student learning rate (default: 0.002)",
    )


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
