r"""Stage 1: train the WaveNet MAF teacher by maximum likelihood.

``pwave train teacher --config demo [--model.lr 1e-3 ...]`` runs a LightningCLI
(:mod:`pwave.train.cli`) over :class:`TeacherModule` and the vocoder data module. The loss
is the negative log-likelihood in nats per audio sample,

.. math:: \mathcal L = -\frac{1}{B\,T} \sum_b \log p(x_b \mid c_b),

on dequantised audio (uniform noise of one 16-bit bin). Validation scores the EMA weights on
the dev set in bits per 16-bit sample by the one definition that ``pwave evaluate`` and
``pwave score`` use too (:func:`pwave.models.likelihood.code_length`: fixed dequantisation
draws averaged, the real samples only), next to the order-32 linear-prediction baseline
fitted on the training audio (:mod:`pwave.models.lpc`) under the same definition, and logs
a short generated clip with mel images.

Outputs under the run folder (``trainer.default_root_dir``): ``config.yaml`` (the merged
config), TensorBoard events, ``checkpoints/*.ckpt`` and ``teacher.pt`` -- the EMA teacher
written by :meth:`Teacher.save`, loadable with ``Teacher.load(path)`` alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from pwave.audio.config import FeatureConfig, FeatureMismatchError
from pwave.evaluation.health import TeacherHealth
from pwave.models.likelihood import code_length, real_lengths, teacher_code_length
from pwave.models.teacher import Teacher, TeacherConfig
from pwave.train.console import report_health
from pwave.train.defaults import DEFAULTS, flow_training_args
from pwave.train.flow_module import FlowTrainingModule, audio_and_mel
from pwave.train.schedule import DecayKind
from pwave.units import bits_per_sample

#: Key under which Lightning checkpoints carry the plain-dict model and feature configs.
CHECKPOINT_KEY = "pwave"


def without_stats(features: FeatureConfig) -> FeatureConfig:
    """``features`` with the normalisation statistics removed (the front-end settings only)."""
    return features.replace(mel_mean=(), mel_std=())


def resolve_features(
    config: TeacherConfig | Any, feature_config: FeatureConfig | dict | None, what: str
):
    """Return ``config`` with the data's feature config (statistics included) put in.

    The config's own ``features`` say which front end the model expects; they must equal the
    data's except for the statistics, else :class:`FeatureMismatchError` names the field.
    """
    if feature_config is None:
        return config
    if isinstance(feature_config, dict):
        feature_config = FeatureConfig.from_dict(feature_config)
    without_stats(config.features).check_matches(
        without_stats(feature_config), what=f"{what} config", against="prepared data"
    )
    return config.replace(features=feature_config)


class TeacherModule(FlowTrainingModule):
    """Maximum-likelihood training of a :class:`~pwave.models.teacher.Teacher`.

    Batches are ``(audio [B, T], mel [B, n_mels, frames + 2 * mel_context_frames])``.

    Logged (TensorBoard, group ``teacher/``): ``train_nll`` (nats per sample),
    ``train_bits_per_sample``, ``dev_bits_per_sample`` and ``dev_nll`` (EMA weights),
    ``lpc_dev_bits_per_sample`` (the baseline on the same dev batches), ``grad_norm``,
    ``lr``, ``nonfinite_steps``; at validation, audio ``teacher/sample/{real,generated}``,
    the figure ``teacher/sample/mel`` and ``health_alarm`` (1 when, past
    :class:`~pwave.evaluation.health.HealthThresholds`' grace steps, the teacher is still
    worse than the baseline; it also warns).

    Args:
        teacher: the model's hyper-parameters (:class:`TeacherConfig`; a plain dict is
            accepted too). Its ``features`` name the expected front end; the data's feature
            config (with the training-set statistics) replaces them, after a check that they
            agree field by field.
        feature_config: the data's feature config (filled in by the command line from the
            data module); ``None`` keeps ``teacher.features``.
        lr: peak Adam learning rate.
        betas: Adam betas.
        weight_decay: Adam (L2) weight decay.
        warmup_steps: optimizer steps of linear warm-up.
        lr_decay: ``"none"``, ``"exponential"`` or ``"cosine"`` after the warm-up.
        lr_decay_steps: exponential: steps per factor ``lr_decay_rate``; cosine: length of
            the decay; ``None``: the rest of the run.
        lr_decay_rate: exponential decay factor per ``lr_decay_steps``.
        lr_min_ratio: floor of the learning rate, as a fraction of ``lr``.
        ema_decay: decay of the weight average used for validation and export.
        max_nonfinite_in_a_row: skipped (non-finite) steps tolerated in a row before
            training stops with an error.
        sample_seconds: length of the clip generated at each validation (sequential, cached
            sampler); 0 turns generation off.
        sample_temperature: scale of the base noise of that clip.
        lpc_order: order of the linear-prediction baseline; 0 turns it off.
        export_name: file name of the exported EMA teacher in the run folder.
    """

    stage = "teacher"

    def __init__(
        self,
        teacher: TeacherConfig = TeacherConfig.demo(),  # noqa: B008 (a value, never mutated)
        feature_config: dict | None = None,
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
        sample_seconds: float = 0.25,
        sample_temperature: float = 1.0,
        lpc_order: int = 32,
        export_name: str = "teacher.pt",
    ):
        super().__init__(**flow_training_args(locals()))  # lr ... max_nonfinite_in_a_row
        if isinstance(teacher, dict):
            teacher = TeacherConfig.from_dict(teacher)
        self.save_hyperparameters()
        plain_hparams(self.hparams)
        self.teacher_config = resolve_features(teacher, feature_config, "teacher")
        self.model = Teacher(self.teacher_config)
        self.init_ema()
        self.sample_seconds = sample_seconds
        self.sample_temperature = sample_temperature
        self.lpc_order = lpc_order
        self.export_name = export_name
        self.lpc = None
        self._val_example: tuple[Tensor, Tensor] | None = None
        self.health = TeacherHealth()  # alarm: still worse than the LPC baseline late on

    @property
    def features(self) -> FeatureConfig:
        return self.teacher_config.features

    # -- training ----------------------------------------------------------------------------
    def training_loss(self, batch) -> tuple[Tensor, dict[str, Tensor]]:
        audio, mel = audio_and_mel(batch)
        T = audio.shape[-1]
        # dequantised (train mode), with this step's own noise (exact resume)
        log_prob = self.model.log_prob(audio, mel, generator=self.step_generator(audio.device))
        log_prob = log_prob.float()
        nll = -log_prob.mean() / T
        return nll, {
            "train_nll": nll.detach(),
            "train_bits_per_sample": bits_per_sample(log_prob.detach(), T).mean(),
        }

    # -- validation --------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        check_datamodule(self.trainer.datamodule, self.teacher_config, "teacher")

    def on_fit_start(self) -> None:
        if self.lpc_order > 0 and self.lpc is None:
            self.lpc = fit_lpc_on_datamodule(self.trainer.datamodule, self.lpc_order)

    def validation_step(self, batch, batch_idx: int) -> None:
        audio, mel = audio_and_mel(batch)
        B = audio.shape[0]
        # The one definition of bits per sample (pwave.models.likelihood): fixed dequantisation
        # draws, the real samples only (the batch's "num_samples" when the data gives them,
        # else the zero padding of the last frame is left out).
        lengths = batch.get("num_samples") if isinstance(batch, dict) else None
        if lengths is None:
            lengths = real_lengths(audio, self.features.hop_length)
        score = teacher_code_length(self.ema.module, audio, mel, lengths)
        n = score.num_samples.to(torch.float64)
        logs = {
            "dev_bits_per_sample": score.bits.mean().float().to(self.device),
            "dev_nll": (-score.log_prob / n).mean().float().to(self.device),
        }
        if self.lpc is not None:
            lpc = self.lpc

            def lpc_per_sample(x: Tensor) -> Tensor:
                rows = x.detach().double().cpu().numpy()
                return torch.from_numpy(np.stack([lpc.per_sample_log_prob(r) for r in rows]))

            lpc_bits = code_length(audio, lpc_per_sample, lengths).bits
            logs["lpc_dev_bits_per_sample"] = lpc_bits.mean().float().to(self.device)
            self.health.add(logs["dev_bits_per_sample"], logs["lpc_dev_bits_per_sample"], B)
        self.log_scalars(logs, on_epoch=True, sync_dist=True, batch_size=B)
        show_in_progress_bar(self, "dev_bits", logs["dev_bits_per_sample"], batch_size=B)
        if batch_idx == 0:
            self._val_example = (audio[:1].detach(), mel[:1].detach())

    def on_validation_epoch_end(self) -> None:
        example, self._val_example = self._val_example, None
        ctx = self.teacher_config.mel_context_frames
        log_validation_clip(self, example, self.sample_seconds, ctx, self._generate_clip)
        verdict = self.health.end(self.global_step)  # pwave.evaluation.health.TeacherHealth
        if verdict is not None and not self.trainer.sanity_checking:
            report_health(self, verdict, {})

    def _generate_clip(self, mel: Tensor, generator: torch.Generator) -> Tensor:
        """The EMA teacher's audio ``[1, T]`` for ``mel [1, n_mels, frames + 2 * ctx]``
        (sequential, in float32 whatever the training precision)."""
        with torch.autocast(device_type=mel.device.type, enabled=False):
            return self.ema.module.sample(
                mel.float(), temperature=self.sample_temperature, generator=generator
            )

    # -- checkpoints and export -------------------------------------------------------------
    def on_load_checkpoint(self, checkpoint: dict) -> None:
        super().on_load_checkpoint(checkpoint)
        check_checkpoint_features(checkpoint, self.features, "teacher")

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint[CHECKPOINT_KEY] = checkpoint_info("teacher", self.teacher_config)
        self.export()


# -- what the teacher and student modules share ----------------------------------------------


def plain_hparams(hparams: MutableMapping[str, Any]) -> None:
    """Turn config objects in saved hyper-parameters into plain dicts (YAML/TensorBoard)."""
    for key, value in list(hparams.items()):
        if hasattr(value, "to_dict"):
            hparams[key] = value.to_dict()


def show_in_progress_bar(
    module: FlowTrainingModule, name: str, value: Tensor, batch_size: int
) -> None:
    """Show the scalar ``value`` as ``name`` in the progress bar only (not the logger),
    averaged over the epoch and over processes."""
    module.log(
        name,
        value.float(),
        prog_bar=True,
        logger=False,
        on_epoch=True,
        sync_dist=True,
        batch_size=batch_size,
    )


def log_validation_clip(
    module: FlowTrainingModule,
    example: tuple[Tensor, Tensor] | None,
    seconds: float,
    ctx: int,
    generate: Callable[[Tensor, torch.Generator], Tensor],
) -> None:
    """Log a real clip, the model's clip for the same mel and their mel images.

    ``example`` is ``(audio [1, T], mel [1, n_mels, T / hop + 2 * ctx])`` from the first dev
    batch. The clip is its first ``ceil(seconds * sample_rate / hop)`` frames (at least one,
    at most all); ``generate(mel [1, n_mels, frames + 2 * ctx], generator)`` returns the
    model's audio ``[1, frames * hop]``, drawn with a generator seeded with 0. Logged under
    ``<stage>/sample`` (``real``, ``generated`` and the figure ``mel``) on rank 0 only;
    nothing is done without an example, with ``seconds <= 0`` or in the sanity check.
    """
    trainer = module.trainer
    if example is None or seconds <= 0 or trainer.sanity_checking or not trainer.is_global_zero:
        return
    audio, mel = example
    f = module.features
    frames = min(max(1, math.ceil(seconds * f.sample_rate / f.hop_length)), mel.shape[-1] - 2 * ctx)
    gen = torch.Generator(device=mel.device).manual_seed(0)
    fake = generate(mel[..., : frames + 2 * ctx], gen)
    from pwave.train.media import log_audio_and_mels

    real = audio[0, : frames * f.hop_length]
    log_audio_and_mels(module, f"{module.stage}/sample", {"real": real, "generated": fake[0]}, f)


def checkpoint_info(kind: str, config: Any) -> dict[str, Any]:
    """What a stage stores under :data:`CHECKPOINT_KEY`: its kind (``"teacher"`` or
    ``"student"``), its model config and its feature config, as plain dicts."""
    return {
        "kind": kind,
        "config": config.to_dict(),
        "feature_config": config.features.to_dict(),
    }


def fit_lpc_on_datamodule(datamodule, order: int):
    """Fit the LPC baseline on the training split of the data module's prepared dataset,
    dequantised like the audio it is scored on (draw 0 of the dequantisation noise).

    Returns ``None`` (baseline off) when the data module exposes no prepared dataset.
    """
    from pwave.models.likelihood import dequantization_noise
    from pwave.models.lpc import fit_lpc

    dataset = _prepared_dataset(datamodule)
    if dataset is None:
        return None

    def waves():
        for u in dataset.split("train"):
            x = dataset.load_audio(u).astype(np.float64)
            yield x + dequantization_noise(x.shape[0], 0).numpy()

    return fit_lpc(waves(), order=order)


def _prepared_dataset(datamodule):
    from pwave.data.dataset import PreparedDataset

    if datamodule is None:
        return None
    for name in ("dataset", "prepared", "prepared_dataset"):
        value = getattr(datamodule, name, None)
        if isinstance(value, PreparedDataset):
            return value
    for name in ("data_dir", "root", "prepared_dir"):
        value = getattr(datamodule, name, None)
        if value is not None and Path(value).is_dir():
            try:
                return PreparedDataset(value)
            except FileNotFoundError:
                return None
    return None


def check_checkpoint_features(checkpoint: dict, features: FeatureConfig, what: str) -> None:
    """Refuse to resume from a checkpoint made for other features (names the field)."""
    info = checkpoint.get(CHECKPOINT_KEY)
    if not isinstance(info, dict) or "feature_config" not in info:
        return
    saved = FeatureConfig.from_dict(info["feature_config"])
    saved.check_matches(features, what=f"{what} checkpoint", against=f"{what} being trained")


def check_datamodule(datamodule, config, what: str) -> None:
    """Check a model config against the data module it meets (if the module says).

    Raises :class:`FeatureMismatchError` naming the differing feature fields, or
    ``ValueError`` for a different number of mel context frames.
    """
    if datamodule is None:
        return
    features = getattr(datamodule, "feature_config", None)
    if features is not None:
        config.features.check_matches(features, what=what, against="data")
    ctx = getattr(datamodule, "mel_context_frames", None)
    if ctx is not None and ctx != config.mel_context_frames:
        raise ValueError(
            f"the data gives {ctx} mel context frames per side but the {what} expects "
            f"{config.mel_context_frames}; set data.mel_context_frames to "
            f"{config.mel_context_frames}"
        )


def load_teacher(path: str | Path, map_location: str | torch.device = "cpu") -> Teacher:
    """Load a teacher from ``teacher.pt`` (:meth:`Teacher.save`) or a Lightning checkpoint
    of :class:`TeacherModule` (its EMA weights). Returned in eval mode."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no teacher at {path}; train one with `pwave train teacher` (it writes "
            "<run dir>/teacher.pt) and pass that file"
        )
    from pwave.model_io.loading import load_model

    return load_model(path, map_location=map_location, kind="teacher")


__all__ = [
    "FeatureMismatchError",
    "TeacherModule",
    "check_checkpoint_features",
    "check_datamodule",
    "checkpoint_info",
    "fit_lpc_on_datamodule",
    "load_teacher",
    "log_validation_clip",
    "plain_hparams",
    "resolve_features",
    "show_in_progress_bar",
    "without_stats",
]
