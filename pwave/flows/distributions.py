r"""Base densities and the location-scale (affine) step, written once for all of pwave.

Every affine flow in pwave -- the MADE-based MAF/IAF, the WaveNet teacher (a MAF over
time) and the WaveNet student (an IAF over time) -- uses

.. math::  x = z \, e^{s} + \mu, \qquad z = (x - \mu)\, e^{-s},
           \qquad \log\left|\frac{\partial x}{\partial z}\right| = \sum s,

with :math:`s` the (soft-clamped) log-scale. Base densities are standard Gaussian or
standard logistic; their location-scale families give the per-step densities,
entropies and closed-form KLs that the distillation losses need.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from pwave.flows.base import sum_except_batch

LOG_2PI = math.log(2.0 * math.pi)


def affine_forward(z: Tensor, mu: Tensor, log_scale: Tensor) -> tuple[Tensor, Tensor]:
    """``z -> x = z * exp(log_scale) + mu``; returns ``(x, log|dx/dz|)`` per batch item."""
    return z * torch.exp(log_scale) + mu, sum_except_batch(log_scale)


def affine_inverse(x: Tensor, mu: Tensor, log_scale: Tensor) -> tuple[Tensor, Tensor]:
    """``x -> z = (x - mu) * exp(-log_scale)``; returns ``(z, log|dz/dx|)``."""
    return (x - mu) * torch.exp(-log_scale), -sum_except_batch(log_scale)


class StandardDistribution(nn.Module):
    """A fixed element-wise base density; ``event_shape`` may be ``()`` for audio of any length.

    Subclasses implement the element-wise log-density of the standard member, the
    location-scale log-density and entropy, and sampling.
    """

    name: str = "base"

    def __init__(self, event_shape: tuple[int, ...] | torch.Size = ()):
        super().__init__()
        self.event_shape = torch.Size(event_shape)
        # A zero-size buffer so that .to(device, dtype) moves sampling with the module.
        self.register_buffer("_anchor", torch.zeros(0), persistent=False)

    # --- element-wise densities -------------------------------------------------------
    def log_prob_elementwise(self, z: Tensor) -> Tensor:
        """Log-density of each element of ``z`` under the standard member (nats)."""
        raise NotImplementedError

    def loc_scale_log_prob(self, x: Tensor, mu: Tensor, log_scale: Tensor) -> Tensor:
        """Element-wise log-density of ``x`` under the member with location ``mu`` and
        log-scale ``log_scale``: ``log p0((x - mu) e^{-s}) - s``."""
        return self.log_prob_elementwise((x - mu) * torch.exp(-log_scale)) - log_scale

    def loc_scale_entropy(self, log_scale: Tensor) -> Tensor:
        """Element-wise differential entropy of the member with log-scale ``log_scale``."""
        raise NotImplementedError

    # --- whole-event API --------------------------------------------------------------
    def log_prob(self, z: Tensor) -> Tensor:
        """Log-density of each batch item, ``[batch, *event] -> [batch]``."""
        return sum_except_batch(self.log_prob_elementwise(z))

    def sample_standard(self, shape: tuple[int, ...], generator: torch.Generator | None) -> Tensor:
        raise NotImplementedError

    def sample(
        self,
        n: int,
        event_shape: tuple[int, ...] | None = None,
        generator: torch.Generator | None = None,
        temperature: float = 1.0,
    ) -> Tensor:
        """Draw ``[n, *event_shape]`` standard samples (scaled by ``temperature``).

        ``event_shape`` defaults to the one given at construction. Uses the module's
        device and dtype; pass a ``generator`` on that device for reproducibility.
        """
        shape = (n, *(self.event_shape if event_shape is None else event_shape))
        return temperature * self.sample_standard(shape, generator)

    def _empty(self, shape: tuple[int, ...]) -> Tensor:
        anchor = self._anchor
        dtype = anchor.dtype if anchor.dtype.is_floating_point else torch.get_default_dtype()
        return torch.empty(shape, device=anchor.device, dtype=dtype)


class StandardNormal(StandardDistribution):
    r""":math:`\mathcal N(0, 1)` element-wise."""

    name = "gaussian"

    def log_prob_elementwise(self, z: Tensor) -> Tensor:
        return -0.5 * (z * z + LOG_2PI)

    def loc_scale_entropy(self, log_scale: Tensor) -> Tensor:
        return 0.5 * (1.0 + LOG_2PI) + log_scale

    def sample_standard(self, shape: tuple[int, ...], generator: torch.Generator | None) -> Tensor:
        return self._empty(shape).normal_(generator=generator)


class StandardLogistic(StandardDistribution):
    r"""Standard logistic element-wise: :math:`\log p(z) = -z - 2\,\mathrm{softplus}(-z)`."""

    name = "logistic"

    def log_prob_elementwise(self, z: Tensor) -> Tensor:
        return -z - 2.0 * nn.functional.softplus(-z)

    def loc_scale_entropy(self, log_scale: Tensor) -> Tensor:
        return 2.0 + log_scale

    def sample_standard(self, shape: tuple[int, ...], generator: torch.Generator | None) -> Tensor:
        u = self._empty(shape).uniform_(generator=generator)
        eps = torch.finfo(u.dtype).eps
        u = u.clamp(eps, 1.0 - eps)
        return torch.log(u) - torch.log1p(-u)


BASE_DISTRIBUTIONS: dict[str, type[StandardDistribution]] = {
    "gaussian": StandardNormal,
    "normal": StandardNormal,
    "logistic": StandardLogistic,
}


def make_base(name: str, event_shape: tuple[int, ...] = ()) -> StandardDistribution:
    """Build a base density by name (``"gaussian"`` or ``"logistic"``)."""
    try:
        return BASE_DISTRIBUTIONS[name.lower()](event_shape)
    except KeyError:
        known = ", ".join(sorted(BASE_DISTRIBUTIONS))
        raise ValueError(f"unknown base distribution {name!r}; choose one of: {known}") from None


def gaussian_kl(mu_q: Tensor, log_scale_q: Tensor, mu_p: Tensor, log_scale_p: Tensor) -> Tensor:
    r"""Element-wise closed-form :math:`\mathrm{KL}(\mathcal N(\mu_q,\sigma_q^2)\,\|\,
    \mathcal N(\mu_p,\sigma_p^2)) = \log\frac{\sigma_p}{\sigma_q}
    + \frac{\sigma_q^2 + (\mu_q-\mu_p)^2}{2\sigma_p^2} - \frac12`."""
    var_ratio = torch.exp(2.0 * (log_scale_q - log_scale_p))
    mean_term = ((mu_q - mu_p) * torch.exp(-log_scale_p)) ** 2
    return (log_scale_p - log_scale_q) + 0.5 * (var_ratio + mean_term) - 0.5
