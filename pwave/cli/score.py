"""`pwave score`: rank recordings by their likelihood under a trained teacher."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

DESCRIPTION = """\
Rank recordings by how typical they are under a trained teacher.

Each file gets its negative log-likelihood under the teacher in bits per 16-bit sample
(the continuous density times the 16-bit bin width 2/65536), its mel computed from the
file itself as `pwave prepare` does. Fewer bits mean more typical audio: the table runs
from most to least typical, so noise, clipping and other domains sink to the bottom.
Digital silence gets an absurdly good score and is flagged. Long files are scored in
chunks with enough context that the result equals the whole-file score up to rounding.
Bad files are skipped with their reason; the exit code is 1 only if nothing was scored."""

EPILOG = """\
examples:
  pwave score --teacher runs/demo/teacher/teacher.pt \\
      --input runs/demo/synth/student
  pwave score --teacher runs/demo/teacher/teacher.pt --input /path/to/audio \\
      --output runs/demo/scores.csv"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``pwave score``."""
    parser.add_argument(
        "--teacher",
        required=True,
        metavar="PATH",
        help="teacher.pt written by `pwave train teacher`, a teacher .ckpt, or a teacher "
        "`pwave export` folder",
    )
    parser.add_argument(
        "--input", required=True, metavar="PATH", help="an audio file or a folder of them"
    )
    parser.add_argument(
        "--output",
        default=None,
        metavar="CSV",
        help="also write the ranking to this CSV file (default: print it only)",
    )
    parser.add_argument(
        "--device", default="auto", help="auto (CUDA if present, the default), cpu, cuda or cuda:N"
    )
    parser.add_argument(
        "--chunk-seconds",
        type=float,
        default=10.0,
        metavar="SEC",
        help="score longer files in chunks of this length (default: 10)",
    )
    parser.add_argument(
        "--float64", action="store_true", help="score in float64 (slower; for exact comparisons)"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    """``pwave score``; returns 0 if at least one file was scored, else 1."""
    from pwave.errors import UserError
    from pwave.inference.scoring import score_paths, table_lines, write_csv
    from pwave.inference.vocoder import Vocoder
    from pwave.model_io.loading import load_model
    from pwave.models.teacher import Teacher

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
