"""`pwave score`: rank recordings by their likelihood under a trained teacher."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

#: Dequantisation draws by default (:data:`pwave.models.likelihood.DRAWS`; named here so that
#: ``--help`` imports no torch; a test checks they agree).
DRAWS = 4

DESCRIPTION = """\
Rank recordings by how typical they are under a trained teacher.

Each file gets its code length under the teacher in bits per 16-bit sample: the teacher's
density of the file plus uniform noise of one 16-bit bin (2/65536), averaged over a few
fixed noise draws, counted over the file's own samples (the same number training
validation and `pwave evaluate --teacher` report; see docs/likelihood.md). The mel is
computed from the file itself, as `pwave prepare` does.

Raw likelihoods rank other kinds of audio poorly (simple signals score well under any
model), so each file is also scored by a background model, an order-32 linear predictor
fitted on the file itself (default) or on a corpus (--background), and ranked by the
likelihood ratio: teacher bits minus background bits. Lower means more typical; the table
shows both scores with both ranks. Digital silence is flagged. Long files are scored in
chunks with enough context that the result equals the whole-file score up to rounding;
--curve writes per-second bits (where a long recording turns atypical). Bad files are
skipped with their reason; the exit code is 1 only if nothing was scored."""

EPILOG = """\
examples:
  pwave score --teacher runs/demo/teacher/teacher.pt \\
      --input runs/demo/synth/student
  pwave score --teacher runs/demo/teacher/teacher.pt --input /path/to/audio \\
      --output runs/demo/scores.json --curve runs/demo/curves.csv
  pwave score --teacher teacher.pt --input new/ --background train_wavs/ \\
      --save-background lpc.json --output scores.csv"""


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
        metavar="FILE",
        help="also write the ranking to this file: JSON if it ends in .json, else CSV "
        "(default: print it only)",
    )
    parser.add_argument(
        "--background",
        default="file",
        metavar="SPEC",
        help="the background model of the likelihood ratio: 'file' (an order --lpc-order "
        "linear predictor fitted on each file itself, the default), a folder or file of "
        "audio to fit one predictor on (e.g. the training recordings), a .json written by "
        "--save-background, or 'none' (raw bits only)",
    )
    parser.add_argument(
        "--lpc-order",
        type=int,
        default=32,
        metavar="P",
        help="order of the linear-prediction background (default: 32)",
    )
    parser.add_argument(
        "--save-background",
        default=None,
        metavar="JSON",
        help="write the background fitted on a corpus (--background FOLDER) to this file",
    )
    parser.add_argument(
        "--curve",
        default=None,
        metavar="CSV",
        help="write per-window bits of every file (teacher, background, ratio) to this CSV",
    )
    parser.add_argument(
        "--curve-seconds",
        type=float,
        default=1.0,
        metavar="SEC",
        help="window of the --curve (default: 1 second)",
    )
    parser.add_argument(
        "--draws",
        type=int,
        default=DRAWS,
        metavar="N",
        help=f"dequantisation noise draws averaged (default: {DRAWS}, as everywhere; 0 scores the "
        "samples as they are, a diagnostic that is not a code length)",
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


def _check(args: argparse.Namespace) -> None:
    from pwave.errors import UserError

    if not Path(args.input).exists():
        raise UserError(f"--input {args.input} does not exist")
    if not args.chunk_seconds > 0:
        raise UserError("--chunk-seconds must be positive")
    if not args.curve_seconds > 0:
        raise UserError("--curve-seconds must be positive")
    if args.draws < 0:
        raise UserError("--draws must be 0 or more")
    if args.lpc_order < 1:
        raise UserError("--lpc-order must be 1 or more")


def _background(args: argparse.Namespace, sample_rate: int):
    """``(background for ScoreOptions, its description)`` from ``--background``."""
    import json

    from pwave.errors import UserError
    from pwave.inference.background import fit_background
    from pwave.inference.scoring import PER_FILE
    from pwave.models.lpc import LPCBaseline

    spec = args.background
    if spec == "none":
        return None, "none"
    if spec == PER_FILE:
        return PER_FILE, f"order-{args.lpc_order} LPC fitted on each file"
    path = Path(spec)
    if not path.exists():
        raise UserError(f"--background {spec}: not 'file', 'none', a folder or a file")
    if path.suffix.lower() == ".json":
        try:
            model = LPCBaseline.from_dict(json.loads(path.read_text()))
        except (ValueError, OSError) as err:
            raise UserError(f"--background {spec}: {err}") from None
        return model, f"order-{model.order} LPC loaded from {path}"
    model, count = fit_background(path, sample_rate, args.lpc_order, args.draws)
    if args.save_background:
        Path(args.save_background).write_text(json.dumps(model.to_dict()) + "\n")
        print(f"wrote {args.save_background}")
    return model, f"order-{model.order} LPC fitted on {count} file(s) under {path}"


def run(args: argparse.Namespace) -> int:
    """``pwave score``; returns 0 if at least one file was scored, else 1."""
    from pwave.errors import UserError
    from pwave.inference.score_report import table_lines, write_csv, write_curve_csv, write_json
    from pwave.inference.scoring import ScoreOptions, score_paths
    from pwave.inference.vocoder import Vocoder
    from pwave.model_io.loading import load_model
    from pwave.models.teacher import Teacher

    _check(args)
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
    background, description = _background(args, vocoder.sample_rate)
    options = ScoreOptions(
        chunk_seconds=args.chunk_seconds,
        draws=args.draws,
        background=background,
        lpc_order=args.lpc_order,
        curve_seconds=args.curve_seconds if args.curve else 0.0,
    )
    scores, skipped = score_paths(vocoder, args.input, options, not args.no_progress)
    print(f"background: {description}")
    for line in table_lines(scores, skipped):
        print(line)
    if args.output:
        if str(args.output).lower().endswith(".json"):
            print(f"wrote {write_json(args.output, scores, skipped, options, description)}")
        else:
            print(f"wrote {write_csv(args.output, scores, skipped)}")
    if args.curve:
        print(f"wrote {write_curve_csv(args.curve, scores)}")
    if not scores:
        print("pwave score: no file could be scored", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``pwave score ARGS`` from Python (for scripts and tests); returns the exit code."""
    from pwave.cli import main as pwave_main

    return pwave_main(["score", *(sys.argv[1:] if argv is None else argv)])
