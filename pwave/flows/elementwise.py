r"""Element-wise (diagonal-Jacobian) flows: a leaky-ReLU map, a piecewise-linear map with
:math:`K` bins and a rational-quadratic spline with learnable per-feature parameters.

Each acts independently on every element; ``logabsdet`` is the sum of the element-wise
log-derivatives over all but the batch dimension. ``context`` is ignored.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from pwave.flows.base import Flow, sum_except_batch
from pwave.flows.splines import rational_quadratic_spline


class LeakyReLUFlow(Flow):
    r"""Fixed invertible leaky ReLU: :math:`x = z` for :math:`z \ge 0`, :math:`x = a z`
    otherwise (:math:`a > 0`, not learned). Inverse :math:`z = x / a` for :math:`x < 0`;
    :math:`\log|dx/dz| = \log a` on the negative elements. Any shape ``[batch, ...]``.
    """

    def __init__(self, negative_slope: float = 0.1):
        super().__init__()
        if negative_slope <= 0:
            raise ValueError(f"negative_slope must be > 0 to be invertible, got {negative_slope}")
        self.negative_slope = negative_slope

    def _transform(self, v: Tensor, slope: float) -> tuple[Tensor, Tensor]:
        negative = v < 0
        out = torch.where(negative, v * slope, v)
        return out, math.log(slope) * sum_except_batch(negative.to(v.dtype))

    def forward(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self._transform(z, self.negative_slope)

    def inverse(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self._transform(x, 1.0 / self.negative_slope)


class PiecewiseLinear(Flow):
    r"""Monotone piecewise-linear map with :math:`K` equal-width bins (Müller et al., 2019,
    "Neural Importance Sampling"), learnable per feature.

    On the unit interval, bin :math:`k` covers :math:`[k/K, (k+1)/K)` of the input and
    :math:`Q_k` of the output, :math:`Q = m + (1 - K m)\,\mathrm{softmax}(\theta)` (so the
    heights are positive and sum to 1). For :math:`z` in bin :math:`b`

    .. math:: x = \sum_{k<b} Q_k + (K z - b)\, Q_b, \qquad
              \log|dx/dz| = \log(K Q_b),

    i.e. ``forward`` is the CDF of a piecewise-constant density. ``inverse`` finds the bin
    from the cumulative heights and solves the linear piece (exact).

    ``bound=None``: inputs live on :math:`[0, 1]` (values outside extend the end bins
    linearly). ``bound=B``: the map is rescaled to :math:`[-B, B]` and is the identity
    outside (log-derivative 0 there). All-zero :math:`\theta` (the initialisation) is the
    identity. Shapes: ``[batch, features]``; ``logabsdet: [batch]``.
    """

    def __init__(
        self, features: int, bins: int = 8, bound: float | None = None, min_height: float = 1e-3
    ):
        super().__init__()
        if min_height * bins >= 1.0:
            raise ValueError(f"min_height {min_height} too large for {bins} bins")
        self.features, self.bins, self.bound, self.min_height = features, bins, bound, min_height
        self.theta = nn.Parameter(torch.zeros(features, bins))

    def _heights(self) -> tuple[Tensor, Tensor]:
        """Heights ``Q [features, K]`` and cumulative heights ``[features, K+1]``."""
        q = self.min_height + (1.0 - self.min_height * self.bins) * torch.softmax(self.theta, -1)
        cum = F.pad(torch.cumsum(q, dim=-1), (1, 0))
        return q, cum

    def _unit(self, v: Tensor, inverse: bool) -> tuple[Tensor, Tensor]:
        """The map on the unit interval; returns ``(output, element-wise log-derivative)``."""
        q, cum = self._heights()
        if inverse:
            inner = cum[:, 1:-1].expand(v.shape[0], -1, -1).contiguous()
            index = torch.searchsorted(inner, v.unsqueeze(-1).contiguous(), right=True)
        else:
            index = torch.floor(v * self.bins).long().clamp(0, self.bins - 1).unsqueeze(-1)
        index = index.clamp(0, self.bins - 1)
        q_b = q.expand(v.shape[0], -1, -1).gather(-1, index).squeeze(-1)
        cum_b = cum.expand(v.shape[0], -1, -1).gather(-1, index).squeeze(-1)
        b = index.squeeze(-1).to(v.dtype)
        log_deriv = torch.log(self.bins * q_b)
        if inverse:
            return (b + (v - cum_b) / q_b) / self.bins, -log_deriv
        return cum_b + (self.bins * v - b) * q_b, log_deriv

    def _transform(self, v: Tensor, inverse: bool) -> tuple[Tensor, Tensor]:
        if self.bound is None:
            out, log_deriv = self._unit(v, inverse)
            return out, sum_except_batch(log_deriv)
        bound = self.bound
        inside = (v > -bound) & (v < bound)
        unit = ((v + bound) / (2.0 * bound)).clamp(0.0, 1.0)
        out, log_deriv = self._unit(unit, inverse)
        out = torch.where(inside, 2.0 * bound * out - bound, v)
        return out, sum_except_batch(torch.where(inside, log_deriv, torch.zeros_like(log_deriv)))

    def forward(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self._transform(z, inverse=False)

    def inverse(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self._transform(x, inverse=True)


class ElementwiseRQSpline(Flow):
    r"""Monotone rational-quadratic spline (Durkan et al., 2019) applied to each feature
    with its own learnable knots: widths ``[features, K]``, heights ``[features, K]``,
    interior derivatives ``[features, K-1]``. The map acts on :math:`[-B, B]` and is the
    identity outside; the math lives in :func:`pwave.flows.splines.rational_quadratic_spline`.
    All-zero parameters (the initialisation) are the identity.

    Shapes: ``[batch, features]``; ``logabsdet: [batch]``.
    """

    def __init__(self, features: int, bins: int = 8, bound: float = 3.0):
        super().__init__()
        self.features, self.bins, self.bound = features, bins, bound
        self.widths = nn.Parameter(torch.zeros(features, bins))
        self.heights = nn.Parameter(torch.zeros(features, bins))
        self.derivatives = nn.Parameter(torch.zeros(features, bins - 1))

    def _transform(self, v: Tensor, inverse: bool) -> tuple[Tensor, Tensor]:
        out, log_deriv = rational_quadratic_spline(
            v, self.widths, self.heights, self.derivatives, inverse=inverse, bound=self.bound
        )
        return out, sum_except_batch(log_deriv)

    def forward(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self._transform(z, inverse=False)

    def inverse(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self._transform(x, inverse=True)
