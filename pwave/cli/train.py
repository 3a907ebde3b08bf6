"""`pwave train teacher|student`: the two training stages (LightningCLI, see pwave.train.cli)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Hand every remaining word to the stage's LightningCLI."""
    from pwave.train.cli import add_arguments as add

    add(parser)


def run_teacher(args: argparse.Namespace) -> int:
    """Run ``pwave train teacher`` with ``args.cli_args`` (LightningCLI syntax)."""
    from pwave.train.cli import run_command

    return run_command("teacher", args)


def run_student(args: argparse.Namespace) -> int:
    """Run ``pwave train student`` with ``args.cli_args`` (LightningCLI syntax)."""
    from pwave.train.cli import run_command

    return run_command("student", args)
