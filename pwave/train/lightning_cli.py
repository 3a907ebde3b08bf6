"""The LightningCLI of both training stages, with pwave's conventions.

:class:`PwaveCLI` is a :class:`~lightning.pytorch.cli.LightningCLI` over a stage's
LightningModule and :class:`~pwave.train.resume.ResumableDataModule`. On top of LightningCLI
it

* adds pwave's options (:data:`pwave.train.options.PWAVE_OPTIONS`);
* makes ``trainer.default_root_dir`` the run folder (default ``runs/<stage>``) and points the
  default TensorBoard logger at it;
* resolves ``data.data_dir: demo`` to the prepared demo corpus
  (:mod:`pwave.train.run_folder`) and makes ``data.mel_context_frames`` and the data's
  feature config follow the model (teacher: its config; student: the teacher file);
* adds the kill-safe checkpointing of :mod:`pwave.train.resume`: one ``last.ckpt``, written
  by :class:`~pwave.train.resume.ResumeCallback` (a configured ``ModelCheckpoint`` in the
  same folder keeps its numbered checkpoints but no longer writes a ``last`` of its own),
  atomic writes and weights-only reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import Checkpoint, ModelCheckpoint
from lightning.pytorch.cli import LightningCLI

from pwave.train.options import DEMO_SENTINEL, Option, pwave_options
from pwave.train.resume import CHECKPOINT_DIR, ResumeCallback
from pwave.train.run_folder import demo_data, is_prepared


def module_class(stage: str) -> type:
    """The LightningModule class of ``stage`` (``"teacher"`` or ``"student"``)."""
    if stage == "teacher":
        from pwave.train.teacher import TeacherModule

        return TeacherModule
    if stage == "student":
        from pwave.train.student import StudentModule

        return StudentModule
    raise ValueError(f"unknown stage {stage!r}; choose teacher or student")


def _to_dict(value: Any) -> dict:
    if hasattr(value, "as_dict"):
        return value.as_dict()
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return dict(value)


def _features_to_dict(features) -> dict:
    return features.to_dict()


def _as_list(value: Any) -> list:
    if not value:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _parser_type(option: Option) -> Any:
    kind: Any = option.type
    if option.positive:
        from jsonargparse.typing import PositiveInt

        kind = PositiveInt
    return kind | None if option.optional else kind


class PwaveCLI(LightningCLI):
    """LightningCLI with pwave's run-folder, demo-data and model/data linking conventions."""

    stage: str = "teacher"

    def add_arguments_to_parser(self, parser) -> None:
        for option in pwave_options(self.stage):
            parser.add_argument(
                option.flag, type=_parser_type(option), default=option.default, help=option.help
            )
        parser.set_defaults({"data.data_dir": DEMO_SENTINEL})
        if self.stage == "teacher":
            parser.link_arguments("model.teacher.mel_context_frames", "data.mel_context_frames")
        else:
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
        if self.stage == "teacher":
            features, teacher_file = _to_dict(cfg.model.teacher.features), None
        else:
            features, teacher_file = self._follow_the_teacher(cfg)
        if str(cfg.data.data_dir) == DEMO_SENTINEL and not is_prepared(cfg.data.data_dir):
            from pwave.audio.config import FeatureConfig

            path = demo_data(
                self.run_dir(),
                FeatureConfig.from_dict(features),
                teacher_file,
                cfg.demo.utterances,
                cfg.demo.seconds,
            )
            cfg.data.data_dir = str(path)

    def _follow_the_teacher(self, cfg) -> tuple[dict, str]:
        """Load the student's teacher; give its mel context to the data and the student.
        Returns the teacher's feature config and file."""
        teacher_file = cfg.model.get("teacher_path")
        if not teacher_file:
            from pwave.errors import UserError

            raise UserError(
                "the student needs a trained teacher: pass --teacher PATH (the teacher.pt "
                "written by `pwave train teacher`)"
            )
        from pwave.train.teacher import load_teacher

        teacher = load_teacher(teacher_file)
        ctx = teacher.config.mel_context_frames
        cfg.data.mel_context_frames = ctx
        cfg.model.student.mel_context_frames = ctx
        return teacher.features.to_dict(), teacher_file

    # -- the trainer ---------------------------------------------------------------------------
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

        * :class:`~pwave.train.resume.ResumeCallback`, the one writer of ``last.ckpt``:
          every ``--checkpoint_every`` steps, at the steps where a configured
          ``ModelCheckpoint`` in the same folder would have saved its ``last`` (which it
          then no longer does), on signals and at the last step;
        * a ``ModelCheckpoint`` keeping the newest numbered step checkpoint, at the same
          interval, unless the config has one or checkpointing is off;
        * :class:`~pwave.train.resume.AtomicCheckpointIO`, unless a checkpoint IO is given.
        """
        from lightning.fabric.plugins.io.checkpoint_io import CheckpointIO

        from pwave.train.resume import AtomicCheckpointIO

        callbacks = _as_list(trainer_cfg.get("callbacks"))
        enabled = trainer_cfg.get("enable_checkpointing") is not False
        ckpt_dir = self.checkpoint_dir()
        every = int(self._get(self.config_init, "checkpoint_every"))
        intervals = [every, *take_over_last(callbacks, ckpt_dir)]
        extra: list = [ResumeCallback(ckpt_dir, every_n_steps=intervals, save=enabled)]
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
        plugins = _as_list(trainer_cfg.get("plugins"))
        if not any(isinstance(p, CheckpointIO) for p in plugins):
            out["plugins"] = [*plugins, AtomicCheckpointIO()]
        return out

    def checkpoint_dir(self) -> Path:
        """Where checkpoints go: a configured ``ModelCheckpoint``'s ``dirpath``, else
        ``<run dir>/checkpoints``."""
        trainer_cfg = self._get(self.config_init, "trainer", default={})
        for c in _as_list(trainer_cfg.get("callbacks")):
            if isinstance(c, ModelCheckpoint) and c.dirpath:
                return Path(c.dirpath)
        return Path(trainer_cfg["default_root_dir"]) / CHECKPOINT_DIR


def take_over_last(callbacks: list, folder: Path) -> list[int]:
    """Turn off ``save_last`` of the ``ModelCheckpoint`` callbacks that write into ``folder``
    (no ``dirpath``: the run's checkpoint folder), so that ``last.ckpt`` has one writer
    (:class:`~pwave.train.resume.ResumeCallback`); two writers of one name made Lightning
    version the second (``last-v1.ckpt``). Returns their step intervals, at which the
    resume callback then writes ``last.ckpt`` instead."""
    intervals = []
    for c in callbacks:
        if not isinstance(c, ModelCheckpoint) or not c.save_last:
            continue
        if c.dirpath and Path(c.dirpath).resolve() != folder.resolve():
            continue
        c.save_last = False
        every = int(getattr(c, "_every_n_train_steps", 0) or 0)  # Lightning keeps it private
        if every > 0:
            intervals.append(every)
    return intervals


def _place_resume_callback(trainer) -> None:
    """Move the :class:`~pwave.train.resume.ResumeCallback` just before the first
    checkpoint callback: after every callback that may stop training at a step (the
    ``max_time`` timer), before those that write checkpoints of that step."""
    mine = [c for c in trainer.callbacks if isinstance(c, ResumeCallback)]
    rest = [c for c in trainer.callbacks if not isinstance(c, ResumeCallback)]
    at = next((i for i, c in enumerate(rest) if isinstance(c, Checkpoint)), len(rest))
    trainer.callbacks = rest[:at] + mine + rest[at:]


__all__ = ["PwaveCLI", "module_class", "take_over_last"]
