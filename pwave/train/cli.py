"""The training commands: ``pwave train teacher`` and ``pwave train student``.

Both are a LightningCLI (jsonargparse; :class:`~pwave.train.lightning_cli.PwaveCLI`) over the
stage's LightningModule and the vocoder data module, so they take

* ``--config NAME|FILE`` (repeatable; later files and flags override earlier ones): a
  shipped config by name (``pwave/configs/<stage>/<name>.yaml``, its bases first) or a
  YAML file; without one, the shipped ``demo`` config;
* dotted overrides: ``--model.lr 1e-3``, ``--trainer.max_steps 100``,
  ``--trainer.devices 2 --trainer.strategy ddp``, ``--data.batch_size 4``;
* ``--print_config`` (print the merged config and exit), and pwave's own options
  (:mod:`pwave.train.options`: ``--teacher``, ``--ckpt_path``, ``--resume``,
  ``--checkpoint_every``, ``--validate_at_end``, ``--demo.*``).

The run folder is ``trainer.default_root_dir``; it receives the merged ``config.yaml``, the
TensorBoard events, ``checkpoints/`` and the exported ``teacher.pt`` / ``student.pt``.

Kill-safety (:mod:`pwave.train.resume`): checkpoints are written atomically and read
weights-only; ``checkpoints/last.ckpt`` is saved every ``--checkpoint_every`` optimizer steps
and at the last step; ``SIGTERM`` and ``SIGINT`` save ``last.ckpt`` at the end of the
current step and stop (exit code ``128 + signal``); a run folder that already holds a
checkpoint is resumed from its newest one unless ``--resume false`` (or an explicit
``--ckpt_path``) is given.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Sequence

from pwave.errors import (
    CheckpointError,
    FeatureMismatchError,
    NonFiniteTrainingError,
    PrepareError,
    ResumeError,
    UserError,
)
from pwave.train.console import is_main_process, quiet_lightning, run_summary
from pwave.train.lightning_cli import PwaveCLI, module_class
from pwave.train.options import DEFAULT_CONFIG

CONFIG_FLAGS = ("--config", "-c")


def config_words(stage: str, words: Sequence[str]) -> list[str]:
    """``words`` with each ``--config NAME|FILE`` (``--config=...``, ``-c ...``) replaced by
    one ``--config FILE`` per file of that config, its bases first
    (:func:`pwave.configs.config_files`). Without any, the shipped ``demo`` config's files
    come first (with a note on stderr)."""
    from pwave.configs import config_files

    out: list[str] = []
    named = False
    i = 0
    while i < len(words):
        word = words[i]
        flag, eq, value = word.partition("=")
        if flag in CONFIG_FLAGS and (eq or i + 1 < len(words)):
            if not eq:
                i += 1
                value = words[i]
            out += [arg for path in config_files(stage, value) for arg in ("--config", str(path))]
            named = True
        else:
            out.append(word)
        i += 1
    if named:
        return out
    files = config_files(stage, DEFAULT_CONFIG)
    if not any(w in ("-h", "--help") for w in words):
        print(f"pwave: no --config given, using {files[-1]}", file=sys.stderr)
    return [arg for path in files for arg in ("--config", str(path))] + out


def make_cli(stage: str, args: Sequence[str] | None = None) -> PwaveCLI:
    """Parse ``args`` (LightningCLI syntax) and build the module, data module and trainer.

    ``args=None`` reads ``sys.argv[1:]``. ``--config`` takes a shipped config's name or a
    file (:func:`config_words`); without it, the shipped ``demo`` config is used, so a bare
    ``pwave train teacher`` trains the demo teacher on the demo corpus.
    """
    from pwave.train.resume import ResumableDataModule

    module = module_class(stage)
    words = config_words(stage, list(sys.argv[1:] if args is None else args))
    cli_class = type(f"{stage.capitalize()}CLI", (PwaveCLI,), {"stage": stage})
    quiet_lightning()
    return cli_class(
        module,
        ResumableDataModule,
        args=words,
        run=False,
        save_config_kwargs={"overwrite": True},
        auto_configure_optimizers=False,
        parser_kwargs={
            "prog": f"pwave train {stage}",
            "description": (
                f"Every option of `pwave train {stage}`: pwave's, Lightning's trainer, the "
                f"model and the data. `pwave train {stage} --help` lists the few a run needs."
            ),
        },
        trainer_defaults={"default_root_dir": f"runs/{stage}", "enable_model_summary": False},
    )


def resume_checkpoint(cli: PwaveCLI) -> str | None:
    """The checkpoint ``fit`` starts from: ``--ckpt_path`` when given, else (with
    ``--resume true``, the default) the newest checkpoint of the run folder, else ``None``."""
    from pwave.train.resume import find_resume_checkpoint

    explicit = cli.config.get("ckpt_path")
    if explicit:
        return str(explicit)
    if not cli.config.get("resume", True):
        return None
    found = find_resume_checkpoint(cli.checkpoint_dir())
    if found is None:
        return None
    if is_main_process():
        print(
            f"pwave: resuming from {found} (pass --resume false or a new "
            "--trainer.default_root_dir to start afresh)",
            file=sys.stderr,
        )
    return str(found)


def run_stage(stage: str, args: Sequence[str] | None = None) -> PwaveCLI:
    """Build the CLI for ``stage`` from ``args`` and fit; returns the CLI (model, trainer).

    Resumes from the run folder's newest checkpoint unless told otherwise
    (:func:`resume_checkpoint`). After a graceful stop on ``SIGTERM`` / ``SIGINT``
    (:func:`pwave.train.resume.stop_signal` tells which), the final validation is skipped.
    """
    from pwave.train.resume import stop_signal

    cli = make_cli(stage, args)
    ckpt_path = resume_checkpoint(cli)
    if is_main_process():
        max_time = cli.config.trainer.get("max_time")
        print(run_summary(stage, cli.trainer, cli.model, cli.run_dir(), max_time), flush=True)
    try:
        cli.trainer.fit(cli.model, datamodule=cli.datamodule, ckpt_path=ckpt_path)
    except RuntimeError as err:
        if ckpt_path and "state_dict" in str(err):
            raise ResumeError(
                f"cannot resume from {ckpt_path}: it does not fit the {stage} being trained "
                f"({str(err).strip().splitlines()[0]}). Use the config it was trained with, a "
                "new --trainer.default_root_dir, or --resume false to start afresh."
            ) from err
        raise
    stopped = stop_signal(cli.trainer) is not None
    if cli.config.get("validate_at_end") and not cli.trainer.interrupted and not stopped:
        cli.trainer.validate(cli.model, datamodule=cli.datamodule, verbose=True)
    return cli


def run_command(stage: str, words: Sequence[str]) -> int:
    """``pwave train <stage> WORDS``: fit, turning known user errors into one-line messages
    (:class:`~pwave.errors.UserError`); returns the exit code (``128 + signal`` after a
    graceful stop)."""
    from pwave.train.resume import stop_signal

    try:
        cli = run_stage(stage, list(words))
    except (
        FeatureMismatchError,
        NonFiniteTrainingError,
        PrepareError,
        FileNotFoundError,
        CheckpointError,
        ResumeError,
    ) as e:
        raise UserError(str(e)) from e
    signum = stop_signal(cli.trainer)
    if signum is not None:
        where = cli.checkpoint_dir()
        print(
            f"pwave: stopped by {signal.Signals(signum).name} at step {cli.trainer.global_step}; "
            f"the state is in {where}; run the same command again to resume",
            file=sys.stderr,
        )
        return 128 + int(signum)
    return 0


def main(stage: str, argv: Sequence[str] | None = None) -> int:
    """Run ``pwave train <stage>`` with ``argv`` (default ``sys.argv[1:]``); prints a
    :class:`~pwave.errors.PwaveError` as one line and returns 2."""
    from pwave.errors import PwaveError

    try:
        return run_command(stage, list(sys.argv[1:] if argv is None else argv))
    except PwaveError as e:
        print(f"pwave: error: {e}", file=sys.stderr)
        return 2


__all__ = ["config_words", "main", "make_cli", "resume_checkpoint", "run_command", "run_stage"]
