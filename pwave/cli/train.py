"""`pwave train teacher|student`: the two training stages (a LightningCLI, pwave.train.cli).

Every word after the command goes to the stage's LightningCLI, except the help flags:
``--help`` prints the short list below (pwave's own options and the few a run needs; no
Lightning import), ``--help-all`` Lightning's full list of options.
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Sequence

SUMMARY = {
    "teacher": "Stage one: train the WaveNet MAF teacher by maximum likelihood.",
    "student": "Stage two: distil the IAF student from a trained teacher (reverse KL).",
}

INTRO = """\
Settings come from a YAML config, then from the options (later ones win). The run folder
receives config.yaml (the merged config), TensorBoard events, checkpoints/ and {export}.
A run folder that holds a checkpoint is resumed from it."""

#: Options of LightningCLI that a run needs, shown with pwave's own: (flag, value, help).
LEADING = (
    (
        "--data.data_dir",
        "DIR",
        "a prepared dataset (pwave prepare); 'demo': the built-in demo corpus, prepared "
        "into <run folder>/demo_data",
    ),
    ("--trainer.max_steps", "N", "optimizer steps in total"),
    ("--trainer.default_root_dir", "DIR", "the run folder (default: the config's)"),
)
TRAILING = (
    ("--print_config", "", "print the merged config and exit"),
    ("-h, --help", "", "show this help and exit"),
    ("--help-all", "", "every option: Lightning's trainer, the model and the data"),
)

EPILOG = """\
Any key of the config is an option too: --model.lr 1e-3, --data.batch_size 8,
--trainer.devices 2 --trainer.strategy ddp, --trainer.precision bf16-mixed.

example (the folders `pwave demo` writes):
  pwave train teacher --config demo --trainer.default_root_dir runs/demo/teacher
  pwave train student --config demo --teacher runs/demo/teacher/teacher.pt \\
      --trainer.default_root_dir runs/demo/student"""

HELP_FLAGS = ("-h", "--help")
HELP_ALL = "--help-all"
NAME_WIDTH = 30
WIDTH = 92


def _entry(flag: str, value: str, text: str) -> list[str]:
    """One option of the help: its name column and its wrapped description."""
    name = f"  {flag} {value}".rstrip()
    lines = textwrap.wrap(text, WIDTH - NAME_WIDTH)
    if len(name) >= NAME_WIDTH:
        return [name] + [" " * NAME_WIDTH + line for line in lines]
    first, *rest = lines
    return [f"{name:<{NAME_WIDTH}}{first}"] + [" " * NAME_WIDTH + line for line in rest]


def _shown_default(default: object) -> str:
    if default is None:
        return ""
    if isinstance(default, bool):
        return f" (default: {str(default).lower()})"
    return f" (default: {default})"


def short_help(stage: str) -> str:
    """The text of ``pwave train <stage> --help``."""
    from pwave.configs import config_names
    from pwave.train.options import DEFAULT_CONFIG, pwave_options

    own = pwave_options(stage)
    names = ", ".join(config_names(stage))
    lines = [f"usage: pwave train {stage} [--config NAME|FILE] [OPTIONS]", ""]
    lines += [SUMMARY[stage], "", INTRO.format(export=f"{stage}.pt"), "", "options:"]
    lines += _entry(
        "--config",
        "NAME|FILE",
        f"a shipped config ({names}) or a YAML file; repeatable (default: {DEFAULT_CONFIG})",
    )
    leading = [o for o in own if o.flag == "--teacher"]
    for o in leading:
        lines += _entry(o.flag, o.metavar, o.help)
    for flag, value, text in LEADING:
        lines += _entry(flag, value, text)
    for o in own:
        if o not in leading:
            lines += _entry(o.flag, o.metavar, o.help + _shown_default(o.default))
    for flag, value, text in TRAILING:
        lines += _entry(flag, value, text)
    return "\n".join([*lines, "", EPILOG]) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Make ``parser`` hand every remaining word on (``--help`` included): the words are
    LightningCLI options, handled in :func:`run_teacher` / :func:`run_student`."""
    parser.prefix_chars = "\x00"  # no option of its own: '--config', '-h' ... pass through
    parser.add_argument(
        "cli_args",
        nargs=argparse.REMAINDER,
        metavar="OPTIONS",
        help="training options; see --help",
    )


def lightning_words(words: Sequence[str]) -> list[str]:
    """The words for LightningCLI: ``--help-all`` becomes its ``--help``."""
    return ["--help" if w == HELP_ALL else w for w in words]


def run_stage_command(stage: str, args: argparse.Namespace) -> int:
    """``pwave train <stage>``: the short help, or the run (``pwave.train.cli``)."""
    words = list(getattr(args, "cli_args", None) or [])
    if HELP_ALL not in words and any(w in HELP_FLAGS for w in words):
        print(short_help(stage), end="")
        return 0
    from pwave.train.cli import run_command

    return run_command(stage, lightning_words(words))


def run_teacher(args: argparse.Namespace) -> int:
    """Run ``pwave train teacher`` with ``args.cli_args`` (LightningCLI syntax)."""
    return run_stage_command("teacher", args)


def run_student(args: argparse.Namespace) -> int:
    """Run ``pwave train student`` with ``args.cli_args`` (LightningCLI syntax)."""
    return run_stage_command("student", args)
