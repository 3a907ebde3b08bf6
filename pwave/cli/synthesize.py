"""`pwave synthesize`: the command line of :mod:`pwave.inference.synthesis`."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path

from pwave.inference.synthesis import SAMPLERS, Vocoder, resolve_device, synthesize_paths
from pwave.model_io.loading import load_model


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``pwave synthesize``."""
    parser.add_argument(
        "--checkpoint",
        required=True,
        help="student.pt / teacher.pt, a pwave .ckpt, or an export folder",
    )
    parser.add_argument(
        "--input",
        required=True,
        help="an audio file, a mel .npy [n_mels, frames], or a folder of them",
    )
    parser.add_argument("--output", required=True, help="folder for the wavs and report.json")
    parser.add_argument("--device", default="auto", help="auto (CUDA if present), cpu or cuda")
    parser.add_argument(
        "--dtype",
        default="auto",
        choices=("auto", "float32", "bf16"),
        help="auto: bf16 autocast on CUDA, float32 on CPU",
    )
    parser.add_argument(
        "--sampler",
        default="fast",
        choices=SAMPLERS,
        help="student: fast (fused time-major path, default) or reference (the model's modules)",
    )
    parser.add_argument(
        "--batch-seconds",
        type=float,
        default=30.0,
        help="padded audio seconds per batch (default 30)",
    )
    parser.add_argument(
        "--temperature", type=float, default=1.0, help="scale of the base noise (default 1.0)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="file i (in path order) uses noise seed SEED + i"
    )
    parser.add_argument(
        "--split",
        default=None,
        help="with a prepared dataset as --input: copy-synthesise this split (train/dev/eval)",
    )
    parser.add_argument(
        "--reference-output",
        default=None,
        help="with --split: folder for the split's reference wavs (default: OUTPUT/../reference)",
    )
    parser.add_argument(
        "--limit", type=int, default=None, help="with --split: at most this many utterances"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    parser.add_argument("--quiet", action="store_true", help="print the summary only")


def run(args: argparse.Namespace) -> int:
    """``pwave synthesize``; returns 0 if at least one file was synthesised, else 1."""
    from pwave.errors import UserError

    src, out = Path(args.input), Path(args.output)
    if not src.exists():
        raise UserError(f"--input {src} does not exist")
    if args.split is not None:
        from pwave.data.dataset import PreparedDataset

        try:
            dataset = PreparedDataset(src)
            ref = Path(args.reference_output or out.parent / "reference")
            src = dataset.export_wavs(args.split, ref, limit=args.limit)
        except (FileNotFoundError, ValueError) as err:
            raise UserError(str(err)) from None
        print(f"copy-synthesis of the {args.split} split; references in {src}")
    if out.exists() and src.is_dir() and out.resolve() == src.resolve():
        raise UserError("--output must differ from the --input folder (inputs would be replaced)")
    if args.batch_seconds <= 0 or not math.isfinite(args.batch_seconds):
        raise UserError("--batch-seconds must be a positive number")
    try:
        device = resolve_device(args.device)
        model = load_model(args.checkpoint)
        vocoder = Vocoder(model, device, args.dtype, args.sampler)
    except (FileNotFoundError, ValueError, RuntimeError) as err:
        raise UserError(str(err)) from None
    if vocoder.kind == "teacher":
        print(
            f"warning: {args.checkpoint} is a teacher: sampling is sequential (one sample at a "
            "time with the cached sampler) and far slower than real time; distil a student "
            "(`pwave train student`) for fast synthesis",
            file=sys.stderr,
        )
        if args.dtype == "bf16":
            print("warning: bf16 is ignored for the teacher's sequential sampler", file=sys.stderr)
    if not vocoder.normalizes:
        print(
            "note: the model's feature config has no mel statistics; mels are not normalised",
            file=sys.stderr,
        )

    def log(line: str) -> None:
        if not (args.quiet and line.startswith("  ") and "->" in line):
            print(line)

    report = synthesize_paths(
        vocoder,
        src,
        out,
        batch_seconds=args.batch_seconds,
        temperature=args.temperature,
        seed=args.seed,
        progress=not args.no_progress,
        log=log,
        checkpoint=str(args.checkpoint),
    )
    if report["synthesized_count"] == 0:
        print(
            "pwave synthesize: nothing could be synthesised (see the reasons above)",
            file=sys.stderr,
        )
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``pwave synthesize ARGS`` from Python (for scripts and tests); returns the exit code."""
    from pwave.cli import main as pwave_main

    return pwave_main(["synthesize", *(sys.argv[1:] if argv is None else argv)])
