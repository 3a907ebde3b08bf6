"""`pwave score`: the command line of :mod:`pwave.inference.scoring`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from pwave.inference.scoring import score_paths, table_lines, write_csv
from pwave.inference.synthesis import Vocoder
from pwave.model_io.loading import load_model
from pwave.models.teacher import Teacher


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``pwave score``."""
    parser.add_argument(
        "--teacher", required=True, help="teacher.pt, a teacher .ckpt, or a teacher export folder"
    )
    parser.add_argument("--input", required=True, help="an audio file or a folder of them")
    parser.add_argument("--output", default=None, help="write the ranking to this CSV file")
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cpu or cuda")
    parser.add_argument(
        "--chunk-seconds",
        type=float,
        default=10.0,
        help="score longer files in chunks of this length (default 10)",
    )
    parser.add_argument(
        "--float64", action="store_true", help="score in float64 (slower; for exact comparisons)"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    """``pwave score``; returns 0 if at least one file was scored, else 1."""
    from pwave.errors import UserError

    src = Path(args.input)
    if not src.exists():
        raise UserError(f"--input {src} does not exist")
    if not args.chunk_seconds > 0:
        raise UserError("--chunk-seconds must be positive")
    try:
        model = load_model(args.teacher)
        if not isinstance(model, Teacher):
            raise UserError(
                f"{args.teacher} is a student checkpoint; `pwave score` needs the teacher "
                "(its density is one parallel pass)"
            )
        if args.float64:
            model = model.double()
        vocoder = Vocoder(model, args.device, dtype="float32")
    except (FileNotFoundError, ValueError, RuntimeError) as err:
        raise UserError(str(err)) from None
    scores, skipped = score_paths(vocoder, src, args.chunk_seconds, not args.no_progress)
    for line in table_lines(scores, skipped):
        print(line)
    if args.output:
        print(f"wrote {write_csv(args.output, scores, skipped)}")
    if not scores:
        print("pwave score: no file could be scored", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``pwave score ARGS`` from Python (for scripts and tests); returns the exit code."""
    from pwave.cli import main as pwave_main

    return pwave_main(["score", *(sys.argv[1:] if argv is None else argv)])
