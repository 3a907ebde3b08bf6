"""The training commands: ``pwave train teacher`` and ``pwave train student``.

Both are a :class:`~lightning.pytorch.cli.LightningCLI` (jsonargparse) over the stage's
LightningModule and :class:`~pwave.train.datamodule.VocoderDataModule`, so they take

* ``--config FILE.yaml`` (repeatable; later files and flags override earlier ones),
* dotted overrides: ``--model.lr 1e-3``, ``--trainer.max_steps 100``,
  ``--trainer.devices 2 --trainer.strategy ddp``, ``--data.batch_size 4``,
* ``--print_config`` (print the merged config and exit) and ``--help``.

pwave adds, on top of LightningCLI:

* the run folder is ``trainer.default_root_dir`` (default ``runs/<stage>``); it receives the
  merged ``config.yaml``, the TensorBoard events (unless ``trainer.logger`` is set),
  ``checkpoints/`` and the exported ``teacher.pt`` / ``student.pt``;
* ``data.data_dir: demo`` (the default) prepares the built-in demo corpus, once, into
  ``<run dir>/demo_data`` (size: ``--demo.utterances``, ``--demo.seconds``; the student
  reuses the teacher's ``demo_data`` when it sits next to the teacher file);
* ``data.mel_context_frames`` and the data's feature config follow the model (teacher: its
  config; student: the teacher file) and are checked against the prepared data;
* ``--ckpt_path PATH|last`` resumes a run; the student takes ``--teacher PATH``;
* without ``--config``, ``configs/<stage>/demo.yaml`` of the source checkout is used.

Kill-safety (:mod:`pwave.train.resume`): checkpoints are written atomically and read
weights-only; ``checkpoints/last.ckpt`` is saved every ``--checkpoint_every`` optimizer steps
and at the last step (and, without a ``ModelCheckpoint`` in the config, the newest numbered
step checkpoint is kept); ``SIGTERM`` and ``SIGINT`` save ``last.ckpt`` at the end of the
current step and stop (exit code ``128 + signal``); a run folder that already holds a
checkpoint is resumed from its newest one unless ``--resume false`` (or an explicit
``--ckpt_path``) is given.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lightning.pytorch.cli import LightningCLI

from pwave.errors import ResumeError  # noqa: F401

STAGES = ("teacher", "student")
DEMO_SENTINEL = "demo"
DEMO_DIR = "demo_data"


def _module_class(stage: str):
    if stage == "teacher":
        from pwave.train.teacher import TeacherModule

        return TeacherModule
    if stage == "student":
        from pwave.train.student import StudentModule

        return StudentModule
    raise ValueError(f"unknown stage {stage!r}; choose one of {STAGES}")


def _to_dict(value: Any) -> dict:
    if hasattr(value, "as_dict"):
        return value.as_dict()
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return dict(value)


def _features_to_dict(features) -> dict:
    return features.to_dict()


class PwaveCLI(LightningCLI):
    """LightningCLI with pwave's run-folder, demo-data and model/data linking conventions."""

    stage: str = "teacher"

    def add_arguments_to_parser(self, parser) -> None:
        parser.add_argument(
            "--ckpt_path",
            type=str | None,
            default=None,
            help="Resume from this Lightning checkpoint ('last' for the run's latest).",
        )
        parser.add_argument(
            "--resume",
            type=bool,
            default=True,
            help="Resume from the newest checkpoint in <run dir>/checkpoints when there is "
            "one (false: start afresh).",
        )
        from jsonargparse.typing import PositiveInt

        parser.add_argument(
            "--checkpoint_every",
            type=PositiveInt,
            default=1000,
            help="Save checkpoints/last.ckpt every N optimizer steps (and keep the newest "
            "numbered step checkpoint, unless the config names a ModelCheckpoint).",
        )
        parser.add_argument(
            "--validate_at_end",
            type=bool,
            default=True,
            help="After training, score the final EMA model on the dev set once more.",
        )
        parser.add_argument(
            "--demo.utterances",
            type=int,
            default=48,
            help="Demo corpus size (used when data.data_dir is 'demo').",
        )
        parser.add_argument(
            "--demo.seconds",
            type=float,
            default=4.0,
            help="Length of each demo utterance in seconds.",
        )
        parser.set_defaults({"data.data_dir": DEMO_SENTINEL})
        if self.stage == "teacher":
            parser.link_arguments("model.teacher.mel_context_frames", "data.mel_context_frames")
        else:
            parser.add_argument(
                "--teacher",
                type=str | None,
                default=None,
                help="The trained teacher: teacher.pt (or a teacher .ckpt).",
            )
            parser.link_arguments("teacher", "model.teacher_path")
        parser.link_arguments(
            "data.feature_config",
            "model.feature_config",
            compute_fn=_features_to_dict,
            apply_on="instantiate",
        )

    # -- resolving the run folder, the data and the teacher before anything is built ---------
    def run_dir(self) -> Path:
        return Path(self.config.trainer.default_root_dir)

    def before_instantiate_classes(self) -> None:
        cfg = self.config
        if not cfg.trainer.get("default_root_dir"):
            cfg.trainer.default_root_dir = f"runs/{self.stage}"
        run_dir = self.run_dir()
        if self.stage == "teacher":
            features = _to_dict(cfg.model.teacher.features)
            teacher_file = None
        else:
            teacher_file = cfg.model.get("teacher_path")
            if not teacher_file:
                from pwave.errors import UserError

                raise UserError(
                    "the student needs a trained teacher: pass --teacher PATH (the teacher.pt "
                    "written by `pwave train teacher`)"
                )
            from pwave.train.teacher import load_teacher

            teacher = load_teacher(teacher_file)
            features = teacher.features.to_dict()
            ctx = teacher.config.mel_context_frames
            cfg.data.mel_context_frames = ctx
            cfg.model.student.mel_context_frames = ctx
        if str(cfg.data.data_dir) == DEMO_SENTINEL and not _is_prepared(cfg.data.data_dir):
            cfg.data.data_dir = str(self._demo_data(run_dir, features, teacher_file, cfg.demo))

    def _demo_data(self, run_dir: Path, features: dict, teacher_file, demo) -> Path:
        from pwave.audio.config import FeatureConfig
        from pwave.data.dataset import PreparedDataset
        from pwave.train.teacher import without_stats

        fc = FeatureConfig.from_dict(features)
        if teacher_file is not None:  # the teacher's own demo data, if it is still there
            candidate = Path(teacher_file).resolve().parent / DEMO_DIR
            if _is_prepared(candidate) and PreparedDataset(candidate).feature_config == fc:
                return candidate
        from pwave.data.prepare import prepare_corpus

        out = run_dir / DEMO_DIR
        prepare_corpus(
            None,
            out,
            layout="demo",
            feature_config=without_stats(fc),
            demo_utterances=int(demo.utterances),
            demo_seconds=float(demo.seconds),
        )
        return out

    def instantiate_trainer(self, **kwargs: Any):
        trainer_cfg = self._get(self.config_init, "trainer", default={})
        kwargs.update(self._reliability_kwargs(trainer_cfg))
        if trainer_cfg.get("logger") in (None, True):
            from lightning.pytorch.loggers import TensorBoardLogger

            kwargs.setdefault(
                "logger",
                TensorBoardLogger(
                    save_dir=str(trainer_cfg["default_root_dir"]),
                    name="",
                    version="",
                    default_hp_metric=False,
                ),
            )
        trainer = super().instantiate_trainer(**kwargs)
        _place_resume_callback(trainer)
        return trainer

    def _reliability_kwargs(self, trainer_cfg) -> dict[str, Any]:
        """Callbacks and plugins of kill-safe training (see :mod:`pwave.train.resume`).

        * :class:`~pwave.train.resume.ResumeCallback` (``last.ckpt`` every
          ``--checkpoint_every`` steps, on signals and at the last step);
        * a ``ModelCheckpoint`` keeping the newest numbered step checkpoint, at the same
          interval, unless the config has one or checkpointing is off;
        * :class:`~pwave.train.resume.AtomicCheckpointIO`, unless a checkpoint IO is given.
        """
        from lightning.fabric.plugins.io.checkpoint_io import CheckpointIO
        from lightning.pytorch.callbacks import ModelCheckpoint

        from pwave.train.resume import AtomicCheckpointIO, ResumeCallback

        callbacks = trainer_cfg.get("callbacks") or []
        callbacks = list(callbacks) if isinstance(callbacks, (list, tuple)) else [callbacks]
        enabled = trainer_cfg.get("enable_checkpointing") is not False
        ckpt_dir = self.checkpoint_dir()
        every = int(self._get(self.config_init, "checkpoint_every", default=1000))
        extra: list = [ResumeCallback(ckpt_dir, every_n_steps=every, save=enabled)]
        if enabled and not any(isinstance(c, ModelCheckpoint) for c in callbacks):
            # Numbered step checkpoints (the newest kept); last.ckpt is ResumeCallback's.
            extra.append(
                ModelCheckpoint(
                    dirpath=ckpt_dir,
                    every_n_train_steps=every,
                    save_last=False,
                    enable_version_counter=False,
                )
            )
        out: dict[str, Any] = {"callbacks": callbacks + extra}
        plugins = trainer_cfg.get("plugins") or []
        plugins = list(plugins) if isinstance(plugins, (list, tuple)) else [plugins]
        if not any(isinstance(p, CheckpointIO) for p in plugins):
            out["plugins"] = [*plugins, AtomicCheckpointIO()]
        return out

    def checkpoint_dir(self) -> Path:
        """Where checkpoints go: a configured ``ModelCheckpoint``'s ``dirpath``, else
        ``<run dir>/checkpoints``."""
        from lightning.pytorch.callbacks import ModelCheckpoint

        from pwave.train.resume import CHECKPOINT_DIR

        trainer_cfg = self._get(self.config_init, "trainer", default={})
        callbacks = trainer_cfg.get("callbacks") or []
        callbacks = list(callbacks) if isinstance(callbacks, (list, tuple)) else [callbacks]
        for c in callbacks:
            if isinstance(c, ModelCheckpoint) and c.dirpath:
                return Path(c.dirpath)
        return Path(trainer_cfg["default_root_dir"]) / CHECKPOINT_DIR


def _place_resume_callback(trainer) -> None:
    """Move the :class:`~pwave.train.resume.ResumeCallback` just before the first
    checkpoint callback: after every callback that may stop training at a step (the
    ``max_time`` timer), before those that write checkpoints of that step."""
    from lightning.pytorch.callbacks import Checkpoint

    from pwave.train.resume import ResumeCallback

    mine = [c for c in trainer.callbacks if isinstance(c, ResumeCallback)]
    rest = [c for c in trainer.callbacks if not isinstance(c, ResumeCallback)]
    at = next((i for i, c in enumerate(rest) if isinstance(c, Checkpoint)), len(rest))
    trainer.callbacks = rest[:at] + mine + rest[at:]


def _is_prepared(path) -> bool:
    from pwave.audio.features import FEATURE_CONFIG_FILE
    from pwave.data.dataset import MANIFEST_FILE

    p = Path(path)
    return (p / MANIFEST_FILE).is_file() and (p / FEATURE_CONFIG_FILE).is_file()


def default_config(stage: str) -> Path | None:
    """``configs/<stage>/demo.yaml`` of a source checkout, if there is one."""
    path = Path(__file__).resolve().parents[1] / "configs" / stage / "demo.yaml"
    return path if path.is_file() else None


def _names_a_config(words: Sequence[str]) -> bool:
    return any(w in ("-c", "--config") or w.startswith("--config=") for w in words)


class _DropAdvert(logging.Filter):
    """Drops Lightning's "Tip: ... try installing litlogger" advert from its info log."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "litlogger" not in record.getMessage()


def _quiet_lightning_notices() -> None:
    """Hide two notices that are not about the user's run: the cloud-logging advert and a
    deprecation inside Lightning's own pytree helper (raised by newer torch releases)."""
    log = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if not any(isinstance(f, _DropAdvert) for f in log.filters):
        log.addFilter(_DropAdvert())
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")


def make_cli(stage: str, args: Sequence[str] | None = None) -> PwaveCLI:
    """Parse ``args`` (LightningCLI syntax) and build the module, data module and trainer.

    ``args=None`` reads ``sys.argv[1:]``. Without ``--config``, the checkout's
    ``configs/<stage>/demo.yaml`` is used (when present), so a bare ``pwave train teacher``
    trains the demo teacher on the demo corpus.
    """
    from pwave.train.resume import ResumableDataModule

    module_class = _module_class(stage)
    words = list(sys.argv[1:] if args is None else args)
    default = default_config(stage)
    if default is not None and not _names_a_config(words):
        print(f"pwave: no --config given, using {default}", file=sys.stderr)
        words = ["--config", str(default), *words]
    cli_class = type(f"{stage.capitalize()}CLI", (PwaveCLI,), {"stage": stage})
    # The EMA copy (and the student's frozen teacher) are in eval mode on purpose.
    warnings.filterwarnings("ignore", message=r".*module\(s\) in eval mode.*")
    # ``pwave train <stage> ...`` passes its words on as ``args``; that is intended.
    warnings.filterwarnings("ignore", message=r".*LightningCLI's args parameter is intended.*")
    # The data module resumes mid-epoch exactly (pwave.train.resume.ResumableDataModule).
    warnings.filterwarnings("ignore", message=r".*your dataloader is not resumable.*")
    _quiet_lightning_notices()
    return cli_class(
        module_class,
        ResumableDataModule,
        args=words,
        run=False,
        save_config_kwargs={"overwrite": True},
        auto_configure_optimizers=False,
        parser_kwargs={
            "prog": f"pwave train {stage}",
            "description": (sys.modules[module_class.__module__].__doc__ or "").strip(),
        },
        trainer_defaults={"default_root_dir": f"runs/{stage}"},
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
    if os.environ.get("LOCAL_RANK", "0") == "0" and os.environ.get("NODE_RANK", "0") == "0":
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


# -- the lead's argparse-based ``pwave`` command line ----------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Make ``parser`` hand every remaining word to the LightningCLI (``--help`` included)."""
    parser.prefix_chars = "\x00"  # no option of its own: '--config', '-h' ... pass through
    parser.add_argument(
        "cli_args",
        nargs=argparse.REMAINDER,
        metavar="OPTIONS",
        help="LightningCLI options: --config FILE.yaml, --model.lr 1e-3, --trainer.max_steps "
        "100, --print_config, --help (all of them).",
    )


def run_command(stage: str, args: argparse.Namespace) -> int:
    """``run(args)`` of one stage: known user errors become one-line messages."""
    from pwave.audio.config import FeatureMismatchError
    from pwave.data.prepare import PrepareError
    from pwave.errors import UserError
    from pwave.serialization import CheckpointError
    from pwave.train.common import NonFiniteTrainingError
    from pwave.train.resume import stop_signal

    try:
        cli = run_stage(stage, getattr(args, "cli_args", None) or [])
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
    """``python -m pwave.train.<stage>``: same options as ``pwave train <stage>``."""
    from pwave.errors import UserError

    try:
        return run_command(
            stage, argparse.Namespace(cli_args=list(sys.argv[1:] if argv is None else argv))
        )
    except UserError as e:
        print(f"pwave: error: {e}", file=sys.stderr)
        return 2
