"""The ``pwave`` command line: one subcommand per pipeline step, imported only when it runs.

Each subcommand lives in its own module under ``pwave/cli/``, which exposes
``add_arguments(parser)`` and a run function ``run(args) -> int``, and may define the
plain-text ``DESCRIPTION`` and ``EPILOG`` of its ``--help``; this file only dispatches.
``pwave --help`` and ``pwave --version`` import nothing but this file, so they answer at once.
Every ``PwaveError`` is printed as one line ``pwave: error: ...`` with exit code 2, never as
a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NoReturn


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
    Command(
        "mels check",
        "pwave.cli.mels",
        "check mels from another front end against a model",
        run="run_check",
    ),
    Command(
        "mels convert",
        "pwave.cli.mels",
        "convert mels between TTS front-end presets and a model's features",
        run="run_convert",
    ),
    Command("toy", "pwave.cli.toy", "2-D example: MAF teacher, IAF student by reverse KL"),
)

PROG = "pwave"

EXAMPLES = """\
examples:
  pwave demo               # every step on the demo corpus; writes runs/demo/
  pwave synthesize --checkpoint runs/demo/student/student.pt --input speech.wav \\
      --output runs/demo/mine
  bash recipes/folder/run.sh --data /path/to/audio   # every step on your own recordings
"""


class HelpFormatter(argparse.HelpFormatter):
    """Help for a terminal: prose re-filled to its width, lists and examples kept as written.

    In a description or epilog, a paragraph (text between blank lines) whose lines all start
    at the margin is re-filled to the terminal's width; a paragraph with an indented line (a
    list, examples) is kept line for line. An option's hidden aliases (see
    :func:`add_option`) still parse; the help shows only its other option strings, and the
    usage line its first one.
    """

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        import textwrap

        paragraphs = []
        for block in text.strip("\n").split("\n\n"):
            lines = block.splitlines()
            if any(line[:1].isspace() for line in lines):
                paragraphs.append("\n".join(indent + line for line in lines))
            else:
                paragraphs.append(
                    textwrap.fill(
                        " ".join(lines),
                        width,
                        initial_indent=indent,
                        subsequent_indent=indent,
                        break_on_hyphens=False,  # never split an option name like --sample-rate
                        break_long_words=False,
                    )
                )
        return "\n\n".join(paragraphs)

    def _format_action_invocation(self, action: argparse.Action) -> str:
        hidden = getattr(action, "hidden_aliases", ())
        if not hidden or not action.option_strings:
            return super()._format_action_invocation(action)
        strings = action.option_strings
        action.option_strings = [s for s in strings if s not in hidden]
        try:
            return super()._format_action_invocation(action)
        finally:
            action.option_strings = strings


class ArgumentParser(argparse.ArgumentParser):
    """An argument parser whose error messages name options without their hidden aliases."""

    def error(self, message: str) -> NoReturn:
        """Print usage and ``message`` (``--output/-o/--out`` read as ``--output``); exit 2."""
        for action in self._actions:
            hidden = getattr(action, "hidden_aliases", ())
            if hidden:
                shown = [s for s in action.option_strings if s not in hidden]
                message = message.replace("/".join(action.option_strings), "/".join(shown))
        super().error(message)


def add_option(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    name: str,
    *hidden_aliases: str,
    **kwargs: object,
) -> argparse.Action:
    """``parser.add_argument(name, *hidden_aliases, **kwargs)``, the aliases left out of help.

    The aliases are older spellings kept so that existing commands and scripts still work
    (``--out`` and ``-o`` for ``--output``); they parse to the same destination.
    """
    action = parser.add_argument(name, *hidden_aliases, **kwargs)  # type: ignore[arg-type]
    action.hidden_aliases = hidden_aliases  # type: ignore[attr-defined]
    return action


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
        "",
        EXAMPLES.rstrip("\n"),
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
    parser = ArgumentParser(
        prog=f"{PROG} {command.name}",
        description=description,
        epilog=getattr(module, "EPILOG", None),
        formatter_class=HelpFormatter,
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
