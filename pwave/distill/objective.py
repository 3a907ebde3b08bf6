r"""The distillation objective: one function from (student, teacher, batch) to (loss, logs).

:func:`distillation_loss` draws one reparameterised student sample per mel, scores it
with the frozen teacher and combines the selected KL estimator with the auxiliary
losses, so the training module stays a thin loop. KL variants (per audio sample, nats):

* ``"mc_kl"`` -- :func:`~pwave.distill.losses.mc_reverse_kl`:
  :math:`\log q(x) - \log p(x)` at the sample (any base families);
* ``"mc_kl_analytic_entropy"`` -- :func:`~pwave.distill.losses.analytic_entropy_cross_entropy`:
  Parallel WaveNet's analytic entropy minus per-step Monte Carlo cross-entropy;
* ``"gaussian_kl"`` -- :func:`~pwave.distill.losses.gaussian_kl_loss`: ClariNet's
  closed-form per-step KL (student and teacher must both be Gaussian).

Auxiliary terms, each skipped when its weight is 0: Parallel WaveNet's power loss, the
multi-resolution STFT loss, and the contrastive term against a mismatched mel.

.. math:: \mathcal L = w_{kl}\,\widehat{\mathrm{KL}}
          + w_{pow}\,\mathcal L_{pow} + w_{stft}\,\mathcal L_{stft} + \mathcal L_{con}(\gamma)

The teacher is frozen (:func:`freeze_teacher`: ``eval()`` and ``requires_grad=False``);
gradients reach the student through the teacher's *input*, the student's audio.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from pwave.distill.losses import (
    analytic_entropy_cross_entropy,
    contrastive_loss,
    gaussian_kl_loss,
    mc_reverse_kl,
    multi_resolution_stft_loss,
    power_loss,
)
from pwave.distill.stft import STFTResolution

if TYPE_CHECKING:
    from pwave.models.student import Student, StudentOutput
    from pwave.models.teacher import Teacher

VARIANTS = ("mc_kl", "mc_kl_analytic_entropy", "gaussian_kl")


def freeze_teacher(teacher: nn.Module) -> nn.Module:
    """Put the teacher in eval mode and stop gradients to its parameters (in place)."""
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


def mismatched_mel(mel: Tensor) -> Tensor:
    """A mel batch paired with the wrong audio, for the contrastive term.

    With ``B > 1`` items, item ``b`` gets item ``b + 1``'s mel (a cyclic roll over the
    batch); with a single item its frames are rolled by half the length instead.
    """
    if mel.shape[0] > 1:
        return torch.roll(mel, shifts=1, dims=0)
    return torch.roll(mel, shifts=max(1, mel.shape[-1] // 2), dims=-1)


def check_compatible(student: Student, teacher: Teacher) -> None:
    """Raise ``ValueError`` unless the two models read the same mel batches."""
    student.features.check_matches(teacher.features, what="student", against="teacher")
    s_ctx, t_ctx = student.config.mel_context_frames, teacher.config.mel_context_frames
    if s_ctx != t_ctx:
        raise ValueError(
            f"student mel_context_frames={s_ctx} != teacher mel_context_frames={t_ctx}; "
            "set the student's to the teacher's"
        )


def distillation_loss(
    student: Student,
    teacher: Teacher,
    mel: Tensor,
    audio: Tensor | None = None,
    variant: str = "mc_kl",
    *,
    kl_weight: float = 1.0,
    power_weight: float = 0.0,
    stft_weight: float = 0.0,
    contrastive_weight: float = 0.0,
    log_scale_reg_weight: float = 0.0,
    num_cross_entropy_samples: int = 4,
    power_resolutions: STFTResolution | Sequence[STFTResolution] | None = None,
    stft_resolutions: Sequence[STFTResolution] | None = None,
    window: str = "hann",
    z: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """Loss to minimise for one distillation step and its named parts for logging.

    Args:
        student: the :class:`~pwave.models.student.Student` being trained.
        teacher: the :class:`~pwave.models.teacher.Teacher`; frozen here (see
            :func:`freeze_teacher`).
        mel: ``[B, n_mels, frames + 2 * ctx]``.
        audio: ``[B, frames * hop]`` the real audio of ``mel``; needed only for the
            power and STFT losses.
        variant: one of :data:`VARIANTS`.
        kl_weight, power_weight, stft_weight: weights of the KL, power and
            multi-resolution STFT terms.
        contrastive_weight: :math:`\\gamma` of the contrastive term (0: off).
        log_scale_reg_weight: ClariNet's :math:`\\lambda` (``"gaussian_kl"`` only).
        num_cross_entropy_samples: draws per step of ``"mc_kl_analytic_entropy"``.
        power_resolutions: STFT(s) of the power loss; default the student's feature
            config (``n_fft``, ``hop_length``, ``win_length``).
        stft_resolutions: STFTs of the multi-resolution loss (default Parallel WaveGAN's).
        window: STFT window name.
        z: base noise ``[B, T]``; drawn from the student's base when ``None``.
        generator: for the noise and the cross-entropy draws.

    Returns:
        ``(loss, logs)``: ``logs`` holds detached scalars -- ``loss``, ``kl``, ``entropy``
        (per sample; Monte Carlo ``-log q / T`` for ``"mc_kl"``, analytic otherwise),
        ``cross_entropy`` (= kl + entropy), the auxiliary terms
        that are on (``power``, ``stft/spectral_convergence``, ``stft/log_magnitude``,
        ``contrastive``, ``kl_mismatched``, ``log_scale_reg``), the composed scale
        statistics ``log_scale/mean`` and ``log_scale/std``, per flow
        ``flow{k}/log_scale_mean`` and ``flow{k}/log_scale_std``, and ``audio_std``.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown distillation variant {variant!r}; choose one of {VARIANTS}")
    if (power_weight or stft_weight) and audio is None:
        raise ValueError("the power / STFT losses need the real audio of the mel")
    check_compatible(student, teacher)
    freeze_teacher(teacher)

    if z is None:
        z = student.noise(mel, generator=generator)
    out = student(mel, z)
    kl, logs = kl_term(
        variant, student, teacher, out, mel, num_cross_entropy_samples, log_scale_reg_weight,
        generator,
    )  # fmt: skip
    loss = kl_weight * kl
    loss = add_auxiliary_terms(
        loss, logs, student, teacher, out, mel, audio,
        power_weight=power_weight, stft_weight=stft_weight,
        contrastive_weight=contrastive_weight, power_resolutions=power_resolutions,
        stft_resolutions=stft_resolutions, window=window,
    )  # fmt: skip
    logs["loss"] = loss.detach()
    logs.update(scale_logs(out))
    return loss, logs


def kl_term(
    variant: str,
    student: Student,
    teacher: Teacher,
    out: StudentOutput,
    mel: Tensor,
    num_cross_entropy_samples: int = 4,
    log_scale_reg_weight: float = 0.0,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """The KL estimate of ``variant`` (per audio sample, nats) and its parts for logging.

    Args:
        out: the student's pass on ``mel`` (audio ``[B, T]``, ``log_q``, ``mu``,
            ``log_scale``); mel: ``[B, n_mels, frames + 2 * ctx]``.

    Returns:
        ``(kl, logs)``: ``logs`` holds the estimator's parts plus ``entropy`` and
        ``cross_entropy``, and ``teacher_log_scale/mean`` for the variants that read the
        teacher's conditionals.
    """
    x, T = out.audio, out.audio.shape[-1]
    if variant == "mc_kl":
        log_p = teacher.log_prob(x, mel, dequantize=False)
        kl, parts = mc_reverse_kl(out.log_q, log_p, T)
        return kl, {**parts, "entropy": -parts["log_q"], "cross_entropy": -parts["log_p"]}
    mu_p, ls_p = teacher.conditionals(x, mel)
    if variant == "mc_kl_analytic_entropy":
        kl, parts = analytic_entropy_cross_entropy(
            out.mu, out.log_scale, mu_p, ls_p, student.base, teacher.base,
            num_samples=num_cross_entropy_samples, generator=generator,
        )  # fmt: skip
    else:
        names = (student.base.name, teacher.base.name)
        if names != ("gaussian", "gaussian"):
            raise ValueError(
                f"variant 'gaussian_kl' needs Gaussian student and teacher, got bases "
                f"student={names[0]!r}, teacher={names[1]!r}; use 'mc_kl_analytic_entropy'"
            )
        kl, parts = gaussian_kl_loss(out.mu, out.log_scale, mu_p, ls_p, log_scale_reg_weight)
        entropy = student.base.loc_scale_entropy(out.log_scale).mean()
        parts = {**parts, "entropy": entropy.detach(), "cross_entropy": kl.detach() + entropy}
    return kl, {"teacher_log_scale/mean": ls_p.detach().mean(), **parts}


def add_auxiliary_terms(
    loss: Tensor,
    logs: dict[str, Tensor],
    student: Student,
    teacher: Teacher,
    out: StudentOutput,
    mel: Tensor,
    audio: Tensor | None,
    *,
    power_weight: float = 0.0,
    stft_weight: float = 0.0,
    contrastive_weight: float = 0.0,
    power_resolutions: STFTResolution | Sequence[STFTResolution] | None = None,
    stft_resolutions: Sequence[STFTResolution] | None = None,
    window: str = "hann",
) -> Tensor:
    """``loss`` plus the power, multi-resolution STFT and contrastive terms that are on.

    Each term's detached value (and parts) goes into ``logs`` (updated in place); the
    arguments are those of :func:`distillation_loss`. ``audio [B, T]`` is needed only for
    the power and STFT terms.
    """
    x, T = out.audio, out.audio.shape[-1]
    if power_weight:
        res = power_resolutions
        if res is None:
            f = student.features
            res = STFTResolution(f.n_fft, f.hop_length, f.win_length)
        value, _ = power_loss(x, audio, res, window)
        loss = loss + power_weight * value
        logs["power"] = value.detach()
    if stft_weight:
        kwargs = {} if stft_resolutions is None else {"resolutions": stft_resolutions}
        value, parts = multi_resolution_stft_loss(x, audio, window=window, **kwargs)
        loss = loss + stft_weight * value
        logs.update({f"stft/{k}": v for k, v in parts.items()})
    if contrastive_weight:
        log_p_wrong = teacher.log_prob(x, mismatched_mel(mel), dequantize=False)
        value, parts = contrastive_loss(out.log_q, log_p_wrong, T, contrastive_weight)
        loss = loss + value
        logs["contrastive"] = value.detach()
        logs.update(parts)
    return loss


def scale_logs(out: StudentOutput) -> dict[str, Tensor]:
    """Detached statistics of the student's pass: the composed log-scale's ``mean`` and
    ``std``, the same per flow, and the audio's standard deviation."""
    logs = {
        "log_scale/mean": out.log_scale.detach().mean(),
        "log_scale/std": out.log_scale.detach().std(),
    }
    for k, ls in enumerate(out.flow_log_scales):
        logs[f"flow{k}/log_scale_mean"] = ls.detach().mean()
        logs[f"flow{k}/log_scale_std"] = ls.detach().std()
    logs["audio_std"] = out.audio.detach().std()
    return logs
