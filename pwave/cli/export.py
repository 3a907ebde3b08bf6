"""`pwave export`: write a trained model as safetensors + JSON, and a student as ONNX."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

#: Default ONNX opset (``pwave.model_io.export.ONNX_OPSET``; a test keeps them equal).
ONNX_OPSET = 18

DESCRIPTION = """\
Export a trained model for use without pickles: model.safetensors and config.json (the
architecture and the feature config) in the --output folder, which `pwave synthesize
--checkpoint DIR`, load_model, Teacher.from_pretrained and Student.from_pretrained read
back. With --onnx, a student's parallel sampling pass (mel and noise in, audio out) is
also written as student.onnx and checked against onnxruntime on random inputs when
onnxruntime is installed."""

EPILOG = """\
examples:
  pwave export --checkpoint runs/demo/student/student.pt \\
      --output runs/demo/export --onnx
  pwave export --checkpoint runs/demo/teacher/teacher.pt \\
      --output runs/demo/export_teacher"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``pwave export``."""
    parser.add_argument(
        "--checkpoint",
        required=True,
        metavar="PATH",
        help="student.pt or teacher.pt written by `pwave train`, or a run's .ckpt",
    )
    parser.add_argument(
        "--output", required=True, metavar="DIR", help="export folder (created if missing)"
    )
    parser.add_argument(
        "--onnx", action="store_true", help="also write student.onnx (students only)"
    )
    parser.add_argument(
        "--opset",
        type=int,
        default=ONNX_OPSET,
        metavar="N",
        help="ONNX opset of student.onnx (default: %(default)s)",
    )


def run(args: argparse.Namespace) -> int:
    """``pwave export``."""
    from pwave.errors import UserError
    from pwave.model_io.export import (
        ONNX_FILE,
        ONNX_MIN_OPSET,
        _onnx_entry,
        check_onnx,
        export_onnx,
        export_safetensors,
    )
    from pwave.model_io.loading import load_model, model_kind
    from pwave.models.savable import CONFIG_FILE, WEIGHTS_FILE
    from pwave.models.student import Student

    try:
        model = load_model(args.checkpoint)
    except (FileNotFoundError, ValueError, RuntimeError) as err:
        raise UserError(str(err)) from None
    if args.onnx and args.opset < ONNX_MIN_OPSET:
        raise UserError(
            f"--opset {args.opset} cannot be honoured: the exporter writes opset "
            f"{ONNX_MIN_OPSET} or newer for this model; use --opset {ONNX_MIN_OPSET} (the default)"
        )
    if args.onnx and not isinstance(model, Student):
        raise UserError(
            "--onnx exports the student's parallel sampling pass; this checkpoint is a "
            "teacher (sequential sampling): export it without --onnx"
        )
    out = export_safetensors(model, args.output)
    print(f"wrote {out / WEIGHTS_FILE} and {out / CONFIG_FILE} ({model_kind(model)})")
    if args.onnx:
        onnx_path = export_onnx(model, out / ONNX_FILE, opset=args.opset)
        try:
            diff: float | None = check_onnx(onnx_path, model)
        except ImportError:
            diff = None
        cfg = json.loads((out / CONFIG_FILE).read_text())
        cfg["onnx"] = _onnx_entry(model, diff, args.opset)
        (out / CONFIG_FILE).write_text(json.dumps(cfg, indent=2) + "\n")
        check = "not checked (onnxruntime missing)" if diff is None else f"max |diff| {diff:.2e}"
        print(f"wrote {onnx_path}: onnxruntime vs PyTorch on random inputs: {check}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``pwave export ARGS`` from Python (for scripts and tests); returns the exit code."""
    from pwave.cli import main as pwave_main

    return pwave_main(["export", *(sys.argv[1:] if argv is None else argv)])
