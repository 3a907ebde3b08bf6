"""The ``pwave`` command line: one subcommand per pipeline step.

Each subcommand lives in its own module, which exposes ``add_arguments(parser)`` and
``run(args)``; this file only wires them together. ``run`` returns an exit code (or
``None``/a result dict for success). Known user errors are printed as one line, never
as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# (command, module, one-line help). Nested commands use "parent child".
COMMANDS: list[tuple[str, str, str]] = [
    ("demo", "pwave.demo", "the whole pipeline on the built-in demo corpus (CPU, ~17 min)"),
    ("prepare", "pwave.data.prepare", "prepare a corpus: resample, mel features, splits, report"),
    (
        "train teacher",
        "pwave.train.teacher",
        "stage one: train the WaveNet MAF teacher (max likelihood)",
    ),
    ("train student", "pwave.train.student", "stage two: distil the IAF student from a teacher"),
    ("synthesize", "pwave.synthesize", "vocode wavs or mels with a student (or teacher)"),
    ("evaluate", "pwave.evaluate", "objective metrics of generated vs reference audio"),
    ("bench", "pwave.bench", "time teacher (naive, cached) vs student sampling side by side"),
    ("score", "pwave.score", "rank audio files by likelihood under a teacher (bits/sample)"),
    ("export", "pwave.export", "export a model to safetensors + JSON, and the student to ONNX"),
    ("toy", "pwave.toy", "2-D demo: MAF teacher by max likelihood, IAF student by reverse KL"),
]


class UserError(Exception):
    """An error caused by the user's input; the CLI prints its message without a traceback."""


def build_parser() -> argparse.ArgumentParser:
    from pwave import __version__

    parser = argparse.ArgumentParser(
        prog="pwave",
        description="Parallel WaveNet toolkit: train a WaveNet MAF teacher, distil an IAF "
        "student, synthesise, evaluate and benchmark.",
    )
    parser.add_argument("--version", action="version", version=f"pwave {__version__}")
    top = parser.add_subparsers(dest="command", metavar="COMMAND")
    groups: dict[str, argparse._SubParsersAction] = {}
    for name, module_name, help_text in COMMANDS:
        parts = name.split()
        sub = top
        if len(parts) == 2:
            if parts[0] not in groups:
                group = top.add_parser(parts[0], help=f"{parts[0]} subcommands")
                groups[parts[0]] = group.add_subparsers(dest="subcommand", metavar="WHAT")
            sub = groups[parts[0]]
        module = importlib.import_module(module_name)
        p = sub.add_parser(parts[-1], help=help_text, description=(module.__doc__ or help_text))
        p.formatter_class = argparse.RawDescriptionHelpFormatter
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def run_standalone(
    prog: str, doc: str | None, add_arguments, run, argv: Sequence[str] | None = None
) -> int:
    """Entry point of one subcommand run on its own (``python -m pwave.synthesize ...``)."""
    parser = argparse.ArgumentParser(
        prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_arguments(parser)
    try:
        result = run(parser.parse_args(argv))
    except UserError as err:
        print(f"pwave: error: {err}", file=sys.stderr)
        return 2
    return result if isinstance(result, int) else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "_run"):
        parser.print_help()
        return 2
    try:
        result = args._run(args)
    except UserError as err:
        print(f"pwave: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pwave: interrupted", file=sys.stderr)
        return 130
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
