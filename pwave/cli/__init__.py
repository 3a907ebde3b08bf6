"""The ``pwave`` command line: one subcommand per pipeline step, imported only when it runs.

Each subcommand lives in its own module under :mod:`pwave.cli`, which exposes
``add_arguments(parser)`` and a run function ``run(args) -> int``; this file only
dispatches. ``pwave --help`` and ``pwave --version`` import nothing but this file, so they
answer at once. Every :class:`~pwave.errors.PwaveError` is printed as one line
``pwave: error: ...`` with exit code 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    """One subcommand: its words (``"train teacher"``), module, run function and summary."""

    name: str
    module: str
    summary: str
    run: str = "run"


COMMANDS: tuple[Command, ...] = (
    Command("demo", "pwave.cli.demo", "the whole pipeline on the built-in demo corpus"),
    Command("prepare", "pwave.cli.prepare", "prepare a corpus: resample, mels, splits, report"),
    Command(
        "train teacher",
        "pwave.cli.train",
        "stage one: train the WaveNet MAF teacher (maximum likelihood)",
        run="run_teacher",
    ),
    Command(
        "train student",
        "pwave.cli.train",
        "stage two: distil the IAF student from a teacher",
        run="run_student",
    ),
    Command("synthesize", "pwave.cli.synthesize", "vocode wavs or mels with a student or teacher"),
    Command("evaluate", "pwave.cli.evaluate", "objective metrics of generated vs reference audio"),
    Command("score", "pwave.cli.score", "rank audio files by likelihood under a teacher"),
    Command("bench", "pwave.cli.bench", "time teacher (naive, cached) vs student sampling"),
    Command("export", "pwave.cli.export", "export a model to safetensors + JSON, student to ONNX"),
    Command("toy", "pwave.cli.toy", "2-D example: MAF teacher, IAF student by reverse KL"),
)

PROG = "pwave"


def _version() -> str:
    from pwave.version import __version__

    return __version__


def top_help() -> str:
    """The text of ``pwave --help`` (built without importing any command)."""
    width = max(len(c.name) for c in COMMANDS)
    lines = [
        f"usage: {PROG} [--version] [--help] COMMAND [OPTIONS]",
        "",
        "Parallel WaveNet toolkit: train a WaveNet MAF teacher, distil an IAF student,",
        "synthesise, evaluate and benchmark.",
        "",
        "commands:",
    ]
    lines += [f"  {c.name:<{width}}  {c.summary}" for c in COMMANDS]
    lines += [
        "",
        "options:",
        "  -h, --help     show this help and exit",
        "  --version      print the version and exit",
        "",
        f"Run `{PROG} COMMAND --help` for the options of one command.",
    ]
    return "\n".join(lines) + "\n"


def find_command(words: Sequence[str]) -> tuple[Command | None, int]:
    """The command named by the first one or two of ``words`` and how many words it used."""
    for n in (2, 1):
        name = " ".join(words[:n])
        for command in COMMANDS:
            if command.name == name:
                return command, n
    return None, 0


def build_parser(command: Command) -> argparse.ArgumentParser:
    """The argument parser of one command (imports that command's module only)."""
    module = importlib.import_module(command.module)
    description = getattr(module, "DESCRIPTION", None) or command.summary
    parser = argparse.ArgumentParser(
        prog=f"{PROG} {command.name}",
        description=description,
        epilog=getattr(module, "EPILOG", None),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    module.add_arguments(parser)
    parser.set_defaults(_run=getattr(module, command.run))
    return parser


def _group_words() -> set[str]:
    return {c.name.split()[0] for c in COMMANDS if " " in c.name}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``pwave``; returns the exit code."""
    words = list(sys.argv[1:] if argv is None else argv)
    if not words or words[0] in ("-h", "--help"):
        sys.stdout.write(top_help())
        return 0 if words else 2
    if words[0] == "--version":
        print(f"{PROG} {_version()}")
        return 0
    command, used = find_command(words)
    if command is None:
        if words[0] in _group_words():
            subs = [c.name for c in COMMANDS if c.name.startswith(words[0] + " ")]
            print(f"{PROG}: error: choose one of: {', '.join(subs)}", file=sys.stderr)
        else:
            print(f"{PROG}: error: unknown command {words[0]!r}; see `{PROG} --help`",
                  file=sys.stderr)
        return 2
    return run_command(command, words[used:])


def run_command(command: Command, argv: Sequence[str]) -> int:
    """Parse ``argv`` for ``command`` and run it, turning pwave errors into one line."""
    from pwave.errors import PwaveError

    parser = build_parser(command)
    args = parser.parse_args(list(argv))
    args._argv = list(argv)
    try:
        result = args._run(args)
    except PwaveError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
