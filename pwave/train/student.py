r"""Stage 2: distil the IAF student from a frozen teacher.

``pwave train student --config demo --teacher runs/teacher-demo/teacher.pt`` runs a
LightningCLI (:mod:`pwave.train.cli`) over :class:`StudentModule` and the vocoder data
module. Each step draws one reparameterised student sample per mel
and minimises :func:`pwave.distill.objective.distillation_loss` (reverse KL to the teacher,
plus the optional power / STFT / contrastive terms); gradients flow through the frozen
teacher's *input*.

Outputs under the run folder (``trainer.default_root_dir``): ``config.yaml``, TensorBoard
events, ``checkpoints/*.ckpt`` and ``student.pt`` -- the EMA student written by
:meth:`Student.save`, loadable with ``Student.load(path)`` alone.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from pwave.audio.config import FeatureConfig
from pwave.distill.objective import distillation_loss, freeze_teacher
from pwave.evaluation.health import StudentHealth
from pwave.models.student import Student, StudentConfig
from pwave.train.console import report_health
from pwave.train.defaults import DEFAULTS, flow_training_args
from pwave.train.flow_module import FlowTrainingModule, audio_and_mel
from pwave.train.schedule import DecayKind
from pwave.train.teacher import (
    CHECKPOINT_KEY,
    check_checkpoint_features,
    check_datamodule,
    checkpoint_info,
    load_teacher,
    log_validation_clip,
    plain_hparams,
    show_in_progress_bar,
    without_stats,
)

Variant = Literal["mc_kl", "mc_kl_analytic_entropy", "gaussian_kl"]


class StudentModule(FlowTrainingModule):
    r"""Probability density distillation of a :class:`~pwave.models.student.Student`.

    The teacher is loaded from ``teacher_path`` (:func:`pwave.train.teacher.load_teacher`:
    ``teacher.pt`` or a teacher ``.ckpt``), kept in eval mode with ``requires_grad=False``.
    The student takes the teacher's feature config and mel context; the data's feature
    config must equal the teacher's (statistics included), else
    :class:`~pwave.audio.config.FeatureMismatchError` names the field.

    Logged (group ``student/``): ``train_loss``, ``kl``, ``entropy``, ``cross_entropy`` and
    every other part :func:`~pwave.distill.objective.distillation_loss` returns (``power``,
    ``contrastive``, ``log_scale/*``, per-flow ``flow{k}/log_scale_{mean,std}``, ...), their
    ``dev_*`` counterparts for the EMA student on the dev set, ``grad_norm``, ``lr``,
    ``nonfinite_steps``; at validation, the health check (``band_power_db_<band>``,
    ``health_alarm``; :meth:`_check_health`), audio ``student/sample/{real,generated}`` and the
    figure ``student/sample/mel``.

    Args:
        student: the student's hyper-parameters (:class:`StudentConfig`, or a plain dict).
            Its ``features`` and ``mel_context_frames`` are replaced by the teacher's after
            a check that the front-end settings agree.
        teacher_path: the trained teacher (``teacher.pt`` or a teacher ``.ckpt``).
        feature_config: the data's feature config (filled in by the command line from the
            data module); ``None`` skips the check here (``setup`` still checks the data).
        variant: KL estimator: ``"mc_kl"`` (Monte Carlo :math:`\log q - \log p` at the
            sample), ``"mc_kl_analytic_entropy"`` (Parallel WaveNet) or ``"gaussian_kl"``
            (ClariNet's closed form; Gaussian teacher and student).
        kl_weight: weight of the KL term.
        power_weight: weight of the power (spectral energy) loss against the real audio.
        stft_weight: weight of the multi-resolution STFT loss.
        contrastive_weight: :math:`\gamma` of the contrastive term (0: off).
        log_scale_reg_weight: ClariNet's log-scale regulariser (``"gaussian_kl"`` only).
        num_cross_entropy_samples: draws per step for ``"mc_kl_analytic_entropy"``.
        lr, betas, weight_decay, warmup_steps, lr_decay, lr_decay_steps, lr_decay_rate,
        lr_min_ratio, ema_decay, max_nonfinite_in_a_row: as for
            :class:`~pwave.train.teacher.TeacherModule`.
        sample_seconds: length of the clip generated (in parallel) at each validation;
            0 turns it off.
        export_name: file name of the exported EMA student in the run folder.
    """

    stage = "student"

    def __init__(
        self,
        student: StudentConfig = StudentConfig.demo(),  # noqa: B008 (a value, never mutated)
        teacher_path: str | None = None,
        feature_config: dict | None = None,
        variant: Variant = "mc_kl",
        kl_weight: float = 1.0,
        power_weight: float = 0.0,
        stft_weight: float = 0.0,
        contrastive_weight: float = 0.0,
        log_scale_reg_weight: float = 0.0,
        num_cross_entropy_samples: int = 4,
        lr: float = DEFAULTS.lr,
        betas: tuple[float, float] = DEFAULTS.betas,
        weight_decay: float = DEFAULTS.weight_decay,
        warmup_steps: int = DEFAULTS.warmup_steps,
        lr_decay: DecayKind = DEFAULTS.lr_decay,
        lr_decay_steps: int | None = DEFAULTS.lr_decay_steps,
        lr_decay_rate: float = DEFAULTS.lr_decay_rate,
        lr_min_ratio: float = DEFAULTS.lr_min_ratio,
        ema_decay: float = DEFAULTS.ema_decay,
        max_nonfinite_in_a_row: int = DEFAULTS.max_nonfinite_in_a_row,
        sample_seconds: float = 1.0,
        export_name: str = "student.pt",
    ):
        super().__init__(**flow_training_args(locals()))  # lr ... max_nonfinite_in_a_row
        if teacher_path is None:
            raise ValueError(
                "the student needs a trained teacher: pass --teacher PATH (the teacher.pt "
                "written by `pwave train teacher`)"
            )
        if isinstance(student, dict):
            student = StudentConfig.from_dict(student)
        self.save_hyperparameters()
        plain_hparams(self.hparams)

        teacher = freeze_teacher(load_teacher(teacher_path))
        if feature_config is not None:
            if isinstance(feature_config, dict):
                feature_config = FeatureConfig.from_dict(feature_config)
            teacher.features.check_matches(feature_config, what="teacher", against="data")
        without_stats(student.features).check_matches(
            without_stats(teacher.features), what="student config", against="teacher"
        )
        self.student_config = student.replace(
            features=teacher.features, mel_context_frames=teacher.config.mel_context_frames
        )
        self.teacher = teacher
        self.model = Student(self.student_config)
        self.init_ema()
        self.variant = variant
        self.loss_kwargs = dict(
            kl_weight=kl_weight,
            power_weight=power_weight,
            stft_weight=stft_weight,
            contrastive_weight=contrastive_weight,
            log_scale_reg_weight=log_scale_reg_weight,
            num_cross_entropy_samples=num_cross_entropy_samples,
        )
        self.sample_seconds = sample_seconds
        self.export_name = export_name
        self._val_example: tuple[Tensor, Tensor] | None = None
        self.health = StudentHealth(self.features.sample_rate)

    @property
    def features(self) -> FeatureConfig:
        return self.student_config.features

    def train(self, mode: bool = True):
        """Train mode for the student; the teacher always stays in eval mode."""
        super().train(mode)
        self.teacher.eval()
        return self

    # -- training ----------------------------------------------------------------------------
    def _loss(self, student: Student, audio: Tensor, mel: Tensor, generator=None):
        loss, logs = distillation_loss(
            student,
            self.teacher,
            mel,
            audio,
            self.variant,
            generator=generator,
            **self.loss_kwargs,
        )
        logs = {k: v for k, v in logs.items() if k != "loss"}
        return loss, logs

    def training_loss(self, batch) -> tuple[Tensor, dict[str, Tensor]]:
        audio, mel = audio_and_mel(batch)
        gen = self.step_generator(mel.device)  # this step's own noise (exact resume)
        loss, logs = self._loss(self.model, audio, mel, generator=gen)
        return loss, {"train_loss": loss.detach(), **logs}

    # -- validation --------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        check_datamodule(self.trainer.datamodule, self.student_config, "student")

    def validation_step(self, batch, batch_idx: int) -> None:
        audio, mel = audio_and_mel(batch)
        gen = torch.Generator(device=mel.device).manual_seed(7919 * (batch_idx + 1))
        with torch.no_grad():
            loss, logs = self._loss(self.ema.module, audio, mel, generator=gen)
            self.health.add(self.ema.module.sample(mel, generator=gen), audio)
        logs = {"dev_loss": loss, **{f"dev_{k}": v for k, v in logs.items()}}
        self.log_scalars(logs, on_epoch=True, sync_dist=True, batch_size=audio.shape[0])
        show_in_progress_bar(self, "dev_kl", logs.get("dev_kl", loss), batch_size=audio.shape[0])
        if batch_idx == 0:
            self._val_example = (audio[:1].detach(), mel[:1].detach())

    def on_validation_epoch_end(self) -> None:
        example, self._val_example = self._val_example, None
        ctx = self.student_config.mel_context_frames
        log_validation_clip(self, example, self.sample_seconds, ctx, self._generate_clip)
        self._check_health()

    def _check_health(self) -> None:
        """Band powers of the EMA student's dev samples against the real audio's: logs
        ``student/band_power_db_<band>`` (student minus real, dB) and ``student/health_alarm``,
        and warns when the student whispers or collapses (:mod:`pwave.evaluation.health`)."""
        sums = self.health.sums
        if sums is not None and self.trainer.world_size > 1:
            sums = self.trainer.strategy.reduce(sums.to(self.device), reduce_op="sum")
        verdict = self.health.end(sums)
        if verdict is None or self.trainer.sanity_checking:
            return
        scalars = {f"band_power_db_{k}": v for k, v in verdict.band_db.items()}
        report_health(self, verdict, {**scalars, "band_power_db_mean": verdict.mean_db})

    def _generate_clip(self, mel: Tensor, generator: torch.Generator) -> Tensor:
        """The EMA student's audio ``[1, T]`` for ``mel [1, n_mels, frames + 2 * ctx]``
        (one parallel pass)."""
        return self.ema.module.sample(mel, generator=generator)

    # -- checkpoints and export -------------------------------------------------------------
    def on_load_checkpoint(self, checkpoint: dict) -> None:
        super().on_load_checkpoint(checkpoint)
        check_checkpoint_features(checkpoint, self.features, "student")

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint[CHECKPOINT_KEY] = {
            **checkpoint_info("student", self.student_config),
            "teacher_path": str(self.hparams.get("teacher_path")),
        }
        self.export()
