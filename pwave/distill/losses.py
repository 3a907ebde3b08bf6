r"""Distillation objectives and auxiliary losses, each a small pure function.

Notation (shared with :mod:`pwave.models.student` and :mod:`pwave.models.teacher`):
the student :math:`q` is an IAF over time, :math:`x = g(z, c)` with base noise
:math:`z \sim p_0`; its per-step conditional :math:`q_t(x_t \mid z_{<t})` is a
location-scale member :math:`(\mu^q_t, \log s^q_t)` of its base family. The teacher
:math:`p` is autoregressive, :math:`p(x) = \prod_t p_t(x_t \mid x_{<t})`, with per-step
location-scale parameters :math:`(\mu^p_t, \log s^p_t)` computed from the student's own
sample :math:`x`. The reverse KL that distillation minimises is

.. math:: \mathrm{KL}(q\,\|\,p) = \mathbb E_{x\sim q}[\log q(x) - \log p(x)]
          = \mathbb E_{x\sim q}\Big[\sum_t \mathrm{KL}\big(q_t(\cdot\mid z_{<t})\,\|\,
            p_t(\cdot\mid x_{<t})\big)\Big],

the second form because :math:`x_{<t}` is a deterministic function of :math:`z_{<t}`.

Conventions: every function returns ``(loss, parts)`` where ``loss`` is a scalar to
minimise and ``parts`` is a dict of detached scalars for logging. Densities are in
nats, and unless stated otherwise losses are **per audio sample** (mean over batch and
time), so the variants and the auxiliary weights live on one scale.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from pwave.distill.stft import (
    DEFAULT_RESOLUTION,
    DEFAULT_RESOLUTIONS,
    STFTResolution,
    stft_magnitude,
)
from pwave.flows.distributions import StandardDistribution, gaussian_kl

Parts = dict[str, Tensor]


def _check_same_shape(**tensors: Tensor) -> None:
    shapes = {name: tuple(t.shape) for name, t in tensors.items()}
    if len(set(shapes.values())) > 1:
        raise ValueError(f"shapes must agree, got {shapes}")


def mc_reverse_kl(log_q: Tensor, log_p: Tensor, num_samples_per_item: int) -> tuple[Tensor, Parts]:
    r"""Single-sample Monte Carlo reverse KL, :math:`\frac1{BT}\sum_b [\log q(x_b) - \log p(x_b)]`.

    Args:
        log_q: ``[B]`` student log-density of its own samples :math:`x_b` (nats, summed
            over time), differentiable in the student's parameters through :math:`x_b`.
        log_p: ``[B]`` teacher log-density of the same samples (gradient flows through
            :math:`x_b` only; the teacher is frozen).
        num_samples_per_item: :math:`T`, the audio samples per item, to report per step.

    Returns:
        ``loss`` = KL per audio sample (nats), and parts ``kl`` (per sample),
        ``kl_per_item`` (:math:`\frac1B\sum_b`, nats per item), ``log_q`` and ``log_p``
        (per sample).

    The estimator is unbiased for the KL but high-variance: its gradient contains the
    score-like term of :math:`\log q` evaluated at a sample, see
    :func:`analytic_entropy_cross_entropy` for the lower-variance form.
    """
    _check_same_shape(log_q=log_q, log_p=log_p)
    if num_samples_per_item <= 0:
        raise ValueError(f"num_samples_per_item must be positive, got {num_samples_per_item}")
    per_item = log_q - log_p
    loss = per_item.mean() / num_samples_per_item
    parts = {
        "kl": loss.detach(),
        "kl_per_item": per_item.mean().detach(),
        "log_q": (log_q.mean() / num_samples_per_item).detach(),
        "log_p": (log_p.mean() / num_samples_per_item).detach(),
    }
    return loss, parts


def analytic_entropy_cross_entropy(
    mu_q: Tensor,
    log_scale_q: Tensor,
    mu_p: Tensor,
    log_scale_p: Tensor,
    base_q: StandardDistribution,
    base_p: StandardDistribution,
    num_samples: int = 4,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Parts]:
    r"""Parallel WaveNet's KL estimator: analytic entropy minus per-step Monte Carlo cross-entropy.

    With :math:`H(q) = \mathbb E_{z}\big[\sum_t H(p_0) + \log s^q_t\big]` exact given the
    scales, and the cross-entropy estimated at every step from :math:`N` extra draws
    :math:`x'_{t,n} = \mu^q_t + s^q_t\,\epsilon_{t,n}`, :math:`\epsilon \sim p_0^{(q)}`, from
    the student's per-step distribution :math:`q_t(\cdot\mid z_{<t})`, scored under the
    teacher's conditional at the same prefix :math:`x_{<t}`:

    .. math:: \widehat{\mathrm{KL}} = \frac{1}{BT}\sum_{b,t}\Big[
              -\frac1N\sum_n \log p_t(x'_{t,n}\mid x_{<t})
              - H\big(q_t(\cdot\mid z_{<t})\big)\Big].

    Unbiased for :math:`\mathrm{KL}(q\|p)` per sample; gradients reach the student
    through :math:`\mu^q, \log s^q` (reparameterised :math:`x'`) and through the
    teacher's :math:`\mu^p, \log s^p`, which depend on the student's sample :math:`x`.

    Args:
        mu_q, log_scale_q: ``[B, T]`` student's composed per-step location / log-scale.
        mu_p, log_scale_p: ``[B, T]`` teacher's per-step location / log-scale at the
            student's sample.
        base_q, base_p: the two standard families (Gaussian or logistic) whose
            location-scale members these are.
        num_samples: :math:`N`, extra draws per step.
        generator: for the extra draws (on ``base_q``'s device).

    Returns:
        ``loss`` (KL per sample) and parts ``kl``, ``entropy``, ``cross_entropy`` (per sample).
    """
    _check_same_shape(mu_q=mu_q, log_scale_q=log_scale_q, mu_p=mu_p, log_scale_p=log_scale_p)
    if num_samples <= 0:
        raise ValueError(f"num_samples must be positive, got {num_samples}")
    entropy = base_q.loc_scale_entropy(log_scale_q).mean()
    eps = base_q.sample(num_samples, event_shape=tuple(mu_q.shape), generator=generator)
    eps = eps.to(device=mu_q.device, dtype=mu_q.dtype)
    x_extra = mu_q + torch.exp(log_scale_q) * eps  # [N, B, T]
    cross_entropy = -base_p.loc_scale_log_prob(x_extra, mu_p, log_scale_p).mean()
    loss = cross_entropy - entropy
    parts = {
        "kl": loss.detach(),
        "entropy": entropy.detach(),
        "cross_entropy": cross_entropy.detach(),
    }
    return loss, parts


def gaussian_kl_loss(
    mu_q: Tensor,
    ls_q: Tensor,
    mu_p: Tensor,
    ls_p: Tensor,
    log_scale_reg_weight: float = 0.0,
) -> tuple[Tensor, Parts]:
    r"""ClariNet's closed-form per-step Gaussian KL, with its optional log-scale regulariser.

    .. math:: \mathcal L = \frac1{BT}\sum_{b,t}\Big[\mathrm{KL}\big(\mathcal N(\mu^q_t,
              (s^q_t)^2)\,\|\,\mathcal N(\mu^p_t, (s^p_t)^2)\big)
              + \lambda\,(\log s^q_t - \log s^p_t)^2\Big]

    (Ping et al., 2019, use :math:`\lambda = 4`). Valid only when both the student and
    the teacher have Gaussian per-step conditionals. Averaged over the student's sample
    it equals the reverse KL per sample (for :math:`\lambda = 0`).

    Args:
        mu_q, ls_q: ``[B, T]`` student's composed per-step location and log-scale.
        mu_p, ls_p: ``[B, T]`` teacher's per-step location and log-scale at the student's sample.
        log_scale_reg_weight: :math:`\lambda`.

    Returns:
        ``loss`` and parts ``kl`` and ``log_scale_reg`` (both per sample, unweighted).
    """
    _check_same_shape(mu_q=mu_q, ls_q=ls_q, mu_p=mu_p, ls_p=ls_p)
    kl = gaussian_kl(mu_q, ls_q, mu_p, ls_p).mean()
    reg = (ls_q - ls_p).square().mean()
    loss = kl + log_scale_reg_weight * reg if log_scale_reg_weight else kl
    return loss, {"kl": kl.detach(), "log_scale_reg": reg.detach()}


def _resolutions(
    resolution: STFTResolution | Sequence[STFTResolution],
) -> tuple[STFTResolution, ...]:
    if isinstance(resolution, STFTResolution):
        return (resolution,)
    out = tuple(resolution)
    if not out:
        raise ValueError("give at least one STFT resolution")
    return out


def power_loss(
    audio_hat: Tensor,
    audio: Tensor,
    resolution: STFTResolution | Sequence[STFTResolution] = DEFAULT_RESOLUTION,
    window: str = "hann",
    power: float = 2.0,
) -> tuple[Tensor, Parts]:
    r"""Parallel WaveNet's power loss: mean squared error between STFT power spectra.

    .. math:: \mathcal L = \frac1{R}\sum_{r}\frac{1}{BFN_r}\,\big\|\,
              |\phi_r(\hat x)|^{p} - |\phi_r(x)|^{p}\big\|_2^2

    with :math:`\phi_r` the STFT at resolution :math:`r` (one or several), :math:`p = 2`
    (power) by default, :math:`\hat x` the student's sample for the mel of the real
    audio :math:`x`. It pushes the student away from whispering / silence modes that
    the KL alone tolerates.

    Args:
        audio_hat, audio: ``[B, T]`` student output and the real audio for the same mel.
        resolution: one :class:`~pwave.distill.stft.STFTResolution` or a sequence (averaged).
        window: analysis window name (``"hann"``, ``"hamming"``, ...).
        power: exponent :math:`p` of the magnitude.

    Returns:
        ``loss`` and parts ``power`` (the same value, detached).
    """
    _check_same_shape(audio_hat=audio_hat, audio=audio)
    terms = [
        (stft_magnitude(audio_hat, r, window, power) - stft_magnitude(audio, r, window, power))
        .square()
        .mean()
        for r in _resolutions(resolution)
    ]
    loss = torch.stack(terms).mean()
    return loss, {"power": loss.detach()}


def multi_resolution_stft_loss(
    audio_hat: Tensor,
    audio: Tensor,
    resolutions: Sequence[STFTResolution] = DEFAULT_RESOLUTIONS,
    window: str = "hann",
    eps: float = 1e-7,
) -> tuple[Tensor, Parts]:
    r"""Multi-resolution STFT loss: spectral convergence plus log-magnitude distance.

    For magnitudes :math:`S = |\phi_r(x)|`, :math:`\hat S = |\phi_r(\hat x)|` per item,

    .. math:: \mathcal L_{sc} = \frac{\|S - \hat S\|_F}{\|S\|_F + \epsilon},\qquad
              \mathcal L_{mag} = \frac1{FN}\big\|\log\max(S,\epsilon)
              - \log\max(\hat S,\epsilon)\big\|_1,

    averaged over the batch and over the resolutions :math:`r`; the loss is
    :math:`\mathcal L_{sc} + \mathcal L_{mag}` (Yamamoto et al., 2020).

    Returns:
        ``loss`` and parts ``spectral_convergence`` and ``log_magnitude``.
    """
    _check_same_shape(audio_hat=audio_hat, audio=audio)
    sc_terms, mag_terms = [], []
    for r in _resolutions(resolutions):
        s_hat = stft_magnitude(audio_hat, r, window, power=1.0)
        s = stft_magnitude(audio, r, window, power=1.0)
        num = torch.linalg.vector_norm(s - s_hat, dim=(1, 2))
        den = torch.linalg.vector_norm(s, dim=(1, 2)) + eps
        sc_terms.append((num / den).mean())
        log_diff = torch.log(s.clamp_min(eps)) - torch.log(s_hat.clamp_min(eps))
        mag_terms.append(log_diff.abs().mean())
    sc = torch.stack(sc_terms).mean()
    mag = torch.stack(mag_terms).mean()
    return sc + mag, {"spectral_convergence": sc.detach(), "log_magnitude": mag.detach()}


def contrastive_loss(
    log_q: Tensor,
    log_p_mismatched: Tensor,
    num_samples_per_item: int,
    weight: float = 0.3,
) -> tuple[Tensor, Parts]:
    r"""Parallel WaveNet's contrastive term: reward divergence from the teacher under the wrong mel.

    With :math:`c'` a mel that does not belong to the student's sample (e.g. another
    batch item's), the full objective is
    :math:`\mathrm{KL}(q_c\|p_c) - \gamma\,\mathrm{KL}(q_c\|p_{c'})`; this function is the
    second term, estimated with the same sample :math:`x \sim q_c`:

    .. math:: \mathcal L_{con} = -\frac{\gamma}{BT}\sum_b\big[\log q_c(x_b) - \log p_{c'}(x_b)\big].

    It makes the student use its conditioning (a sample that the teacher also finds
    likely under an unrelated mel is penalised). The term is unbounded below, so keep
    :math:`\gamma` small (the paper uses 0.3) relative to the main KL.

    Args:
        log_q: ``[B]`` student log-density of its samples under the right mel.
        log_p_mismatched: ``[B]`` teacher log-density of the same samples under :math:`c'`.
        num_samples_per_item: :math:`T`, for the per-sample normalisation.
        weight: :math:`\gamma \ge 0`.

    Returns:
        ``loss`` (already multiplied by :math:`-\gamma`) and parts ``kl_mismatched``
        (the unweighted KL estimate per sample).
    """
    _check_same_shape(log_q=log_q, log_p_mismatched=log_p_mismatched)
    if num_samples_per_item <= 0:
        raise ValueError(f"num_samples_per_item must be positive, got {num_samples_per_item}")
    kl_mismatched = (log_q - log_p_mismatched).mean() / num_samples_per_item
    return -weight * kl_mismatched, {"kl_mismatched": kl_mismatched.detach()}
