"""`pwave synthesize`: vocode audio files or saved mels with a trained student or teacher."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path

#: The student samplers (``pwave.inference.vocoder.SAMPLERS``; a test keeps them equal).
SAMPLERS = ("fast", "reference")


DESCRIPTION = """\
Turn recordings or mel spectrograms into audio with a trained vocoder. A student
generates each utterance in one parallel pass; a teacher works too, but samples one
step at a time (far slower than real time).

Input: an audio file (copy-synthesis: mixed to mono, resampled to the model's rate and
turned into a log-mel exactly as `pwave prepare` does), a mel .npy [n_mels, frames] as
`pwave prepare` writes it (DATA/mel/*.npy), or a folder of them, searched recursively.
Output: one 16-bit wav per input under the same relative path, and report.json with the
real-time factor of every file (RTF = wall time / audio time, lower is better). Bad
inputs are skipped with their reason; the exit code is 1 only if nothing was synthesised."""

EPILOG = """\
examples:
  pwave synthesize --checkpoint runs/demo/student/student.pt \\
      --input speech.wav --output runs/demo/mine
  pwave synthesize --checkpoint runs/demo/student/student.pt \\
      --input runs/demo/data --split eval --output runs/demo/synth/student \\
      --reference-output runs/demo/synth/reference
  pwave synthesize --checkpoint runs/demo/export --input runs/demo/data/mel \\
      --output runs/demo/from_mels --device cpu"""


def _dtype_name(text: str) -> str:
    """The spellings ``bfloat16`` and ``fp32`` of ``pwave bench`` are accepted too."""
    return {"bfloat16": "bf16", "fp32": "float32"}.get(text, text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``pwave synthesize``."""
    parser.add_argument(
        "--checkpoint",
        required=True,
        metavar="PATH",
        help="student.pt or teacher.pt written by `pwave train`, a run's .ckpt, or a "
        "`pwave export` folder",
    )
    parser.add_argument(
        "--input",
        required=True,
        metavar="PATH",
        help="an audio file, a mel .npy [n_mels, frames], or a folder of them; with --split, "
        "a prepared dataset",
    )
    parser.add_argument(
        "--output", required=True, metavar="DIR", help="folder for the wavs and report.json"
    )
    parser.add_argument(
        "--device", default="auto", help="auto (CUDA if present, the default), cpu, cuda or cuda:N"
    )
    parser.add_argument(
        "--dtype",
        default="auto",
        type=_dtype_name,
        choices=("auto", "float32", "bf16"),
        help="auto (default): bf16 on a CUDA GPU that supports it, else float32; bf16 "
        "(or bfloat16) speeds up the student only",
    )
    parser.add_argument(
        "--sampler",
        default="fast",
        choices=SAMPLERS,
        help="student only: fast (default) runs the fused time-major path, reference the "
        "model's own modules (the same audio up to rounding)",
    )
    parser.add_argument(
        "--batch-seconds",
        type=float,
        default=30.0,
        metavar="SEC",
        help="padded audio seconds per batch; a longer student input runs alone, in "
        "overlapping chunks (default: 30)",
    )
    parser.add_argument(
        "--temperature",
        type=float,
        default=1.0,
        metavar="T",
        help="scale of the base noise (default: 1.0)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        metavar="N",
        help="input i (in path order) uses noise seed N + i, so an output does not depend on "
        "its batch (default: 0)",
    )
    parser.add_argument(
        "--split",
        default=None,
        metavar="SPLIT",
        help="with a prepared dataset as --input: copy-synthesise this split (train, dev or eval)",
    )
    parser.add_argument(
        "--reference-output",
        default=None,
        metavar="DIR",
        help="with --split: folder for the split's reference wavs (default: OUTPUT/../reference)",
    )
    parser.add_argument(
        "--limit", type=int, default=None, metavar="N", help="with --split: at most N utterances"
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    parser.add_argument(
        "--quiet", action="store_true", help="print the summary only, not one line per file"
    )


def run(args: argparse.Namespace) -> int:
    """``pwave synthesize``; returns 0 if at least one file was synthesised, else 1."""
    from pwave.errors import UserError
    from pwave.inference.batch_synthesis import synthesize_paths
    from pwave.inference.vocoder import Vocoder, resolve_device
    from pwave.model_io.loading import load_model

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
