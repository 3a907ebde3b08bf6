r"""Monotone rational-quadratic splines (Durkan et al., 2019, "Neural Spline Flows").

A pure function, shared by the element-wise spline flow and the spline autoregressive
flows. Direction convention: ``inverse=False`` maps ``z -> x`` (generative),
``inverse=True`` maps ``x -> z``; both return the **element-wise**
:math:`\log|\partial\,\mathrm{out} / \partial\,\mathrm{in}|`.

The map on :math:`[-B, B]` (``B = bound``)
------------------------------------------
:math:`K` bins with knots :math:`(x_k, y_k)_{k=0..K}`, :math:`x_0 = y_0 = -B`,
:math:`x_K = y_K = B`, and positive derivatives :math:`d_k` at the knots. From the
unconstrained parameters (all of shape ``[..., K]``, ``[..., K]``, ``[..., K-1]``):

.. math::
    w = 2B\,\bigl(m_w + (1 - K m_w)\,\mathrm{softmax}(\tilde w)\bigr), \qquad
    h = 2B\,\bigl(m_h + (1 - K m_h)\,\mathrm{softmax}(\tilde h)\bigr),

    d_k = m_d + \mathrm{softplus}(\tilde d_k + c), \quad
    c = \log(e^{1 - m_d} - 1) \quad (k = 1..K-1), \qquad d_0 = d_K = 1,

so that all-zero parameters give equal bins and unit derivatives, i.e. the identity.
In bin :math:`k`, with :math:`s_k = h_k / w_k` and :math:`\xi = (x - x_k) / w_k \in [0, 1]`:

.. math::
    y = y_k + \frac{h_k\,[s_k \xi^2 + d_k \xi (1 - \xi)]}
                   {s_k + (d_{k+1} + d_k - 2 s_k)\,\xi (1 - \xi)},

    \frac{dy}{dx} = \frac{s_k^2\,[d_{k+1} \xi^2 + 2 s_k \xi (1 - \xi) + d_k (1 - \xi)^2]}
                         {[s_k + (d_{k+1} + d_k - 2 s_k)\,\xi (1 - \xi)]^2}.

The inverse solves :math:`a \xi^2 + b \xi + c = 0` for the root in :math:`[0, 1]`, with
:math:`\delta = d_{k+1} + d_k - 2 s_k`, :math:`\Delta y = y - y_k`,
:math:`a = h_k (s_k - d_k) + \Delta y\, \delta`, :math:`b = h_k d_k - \Delta y\, \delta`,
:math:`c = -s_k \Delta y`, in the cancellation-free form
:math:`\xi = 2c / (-b - \sqrt{b^2 - 4ac})`.

Tails
-----
Outside :math:`[-B, B]` the map is the identity (log-derivative 0). Because the boundary
derivatives are 1 the map is :math:`C^1` everywhere.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor
from torch.nn import functional as F

DEFAULT_MIN_BIN_WIDTH = 1e-3
DEFAULT_MIN_BIN_HEIGHT = 1e-3
DEFAULT_MIN_DERIVATIVE = 1e-3


def spline_param_count(bins: int) -> int:
    """Unconstrained parameters per element for ``bins`` bins: ``3 * bins - 1``."""
    return 3 * bins - 1


def split_spline_params(params: Tensor, bins: int) -> tuple[Tensor, Tensor, Tensor]:
    """Split ``[..., 3K-1]`` into widths ``[..., K]``, heights ``[..., K]``, derivatives
    ``[..., K-1]``."""
    if params.shape[-1] != spline_param_count(bins):
        raise ValueError(
            f"expected {spline_param_count(bins)} spline parameters for {bins} bins, "
            f"got {params.shape[-1]}"
        )
    return params[..., :bins], params[..., bins : 2 * bins], params[..., 2 * bins :]


def _knots(unnormalized: Tensor, bound: float, min_size: float) -> tuple[Tensor, Tensor]:
    """Bin sizes ``[..., K]`` and knot positions ``[..., K+1]`` spanning ``[-bound, bound]``."""
    num_bins = unnormalized.shape[-1]
    if min_size * num_bins >= 1.0:
        raise ValueError(f"minimal bin size {min_size} too large for {num_bins} bins")
    # A hand-written softmax: torch.softmax over a short last dimension is several times
    # slower on CPU, and this runs once per flow layer and step.
    exp = torch.exp(unnormalized - unnormalized.amax(dim=-1, keepdim=True).detach())
    sizes = min_size + (1.0 - min_size * num_bins) * (exp / exp.sum(dim=-1, keepdim=True))
    cum = torch.cumsum(sizes, dim=-1)
    cum = F.pad(cum, (1, 0), value=0.0)
    knots = 2.0 * bound * cum - bound
    # Pin the ends exactly (cumsum rounding), then recompute sizes from the knots.
    end = knots.new_ones(*knots.shape[:-1], 1) * bound
    knots = torch.cat([-end, knots[..., 1:-1], end], dim=-1)
    return knots[..., 1:] - knots[..., :-1], knots


def _gather(values: Tensor, index: Tensor) -> Tensor:
    """``values[..., index]`` with ``index`` of shape ``[..., 1]``; returns ``[...]``."""
    return values.gather(-1, index).squeeze(-1)


class _Bins(NamedTuple):
    """Per element, the spline's bin that holds it (all of the input's shape ``S``).

    ``x_k``, ``y_k``: the bin's left knot; ``w_k``, ``h_k``: its width and height; ``d_k``,
    ``d_k1``: the derivatives at its left and right knots; ``s_k = h_k / w_k``;
    ``delta = d_k1 + d_k - 2 s_k``.
    """

    x_k: Tensor
    y_k: Tensor
    w_k: Tensor
    h_k: Tensor
    d_k: Tensor
    d_k1: Tensor
    s_k: Tensor
    delta: Tensor


def _find_bins(
    x: Tensor,
    unnormalized_widths: Tensor,
    unnormalized_heights: Tensor,
    unnormalized_derivatives: Tensor,
    inverse: bool,
    bound: float,
    min_bin_width: float,
    min_bin_height: float,
    min_derivative: float,
) -> _Bins:
    """The bin of every element of ``x`` (shape ``S``, inside ``[-bound, bound]``).

    The parameters are ``S + (K,)``, ``S + (K,)`` and ``S + (K - 1,)``; ``x`` is searched
    among the output knots when ``inverse`` (it is then a ``y``), else among the input knots.
    """
    widths, x_knots = _knots(unnormalized_widths, bound, min_bin_width)
    heights, y_knots = _knots(unnormalized_heights, bound, min_bin_height)
    shift = math.log(math.expm1(1.0 - min_derivative))
    interior = min_derivative + F.softplus(unnormalized_derivatives + shift)
    ones = interior.new_ones(*interior.shape[:-1], 1)
    derivatives = torch.cat([ones, interior, ones], dim=-1)  # [..., K+1]

    search_knots = y_knots if inverse else x_knots
    # Bin index: number of interior knots <= x (0 .. K-1).
    index = (x.unsqueeze(-1) >= search_knots[..., 1:-1]).sum(dim=-1, keepdim=True)

    x_k = _gather(x_knots, index)
    w_k = _gather(widths, index)
    y_k = _gather(y_knots, index)
    h_k = _gather(heights, index)
    d_k = _gather(derivatives, index)
    d_k1 = _gather(derivatives[..., 1:], index)
    s_k = h_k / w_k
    delta = d_k1 + d_k - 2.0 * s_k
    return _Bins(x_k, y_k, w_k, h_k, d_k, d_k1, s_k, delta)


def _spline_forward(x: Tensor, b: _Bins) -> tuple[Tensor, Tensor]:
    """``(y, xi)``: the spline at ``x`` (``z -> x`` direction) and ``x``'s place in its bin."""
    xi = (x - b.x_k) / b.w_k
    t = xi * (1.0 - xi)
    return b.y_k + b.h_k * (b.s_k * xi * xi + b.d_k * t) / (b.s_k + b.delta * t), xi


def _spline_inverse(y: Tensor, b: _Bins) -> tuple[Tensor, Tensor]:
    """``(x, xi)``: the root in the bin of the quadratic (module docstring) for ``y``."""
    dy = y - b.y_k
    a = b.h_k * (b.s_k - b.d_k) + dy * b.delta
    bb = b.h_k * b.d_k - dy * b.delta
    c = -b.s_k * dy
    disc = (bb * bb - 4.0 * a * c).clamp_min(0.0)
    xi = (2.0 * c) / (-bb - torch.sqrt(disc))
    return b.x_k + xi * b.w_k, xi


def _log_derivative(xi: Tensor, b: _Bins) -> Tensor:
    r""":math:`\log dy/dx` of the bin's rational quadratic at ``xi`` (same shape)."""
    t = xi * (1.0 - xi)
    denom = b.s_k + b.delta * t
    numer = b.s_k * b.s_k * (b.d_k1 * xi * xi + 2.0 * b.s_k * t + b.d_k * (1.0 - xi) ** 2)
    return torch.log(numer) - 2.0 * torch.log(denom)


def rational_quadratic_spline(
    inputs: Tensor,
    unnormalized_widths: Tensor,
    unnormalized_heights: Tensor,
    unnormalized_derivatives: Tensor,
    inverse: bool = False,
    bound: float = 3.0,
    min_bin_width: float = DEFAULT_MIN_BIN_WIDTH,
    min_bin_height: float = DEFAULT_MIN_BIN_HEIGHT,
    min_derivative: float = DEFAULT_MIN_DERIVATIVE,
) -> tuple[Tensor, Tensor]:
    r"""Apply the monotone rational-quadratic spline element-wise (see the module docstring).

    Args:
        inputs: any shape ``S``.
        unnormalized_widths, unnormalized_heights: ``[..., K]``, broadcastable to ``S + (K,)``.
        unnormalized_derivatives: ``[..., K-1]`` (interior knots), broadcastable likewise.
        inverse: ``False`` for ``z -> x``, ``True`` for ``x -> z``.
        bound: the spline acts on ``[-bound, bound]``; the identity outside.

    Returns:
        ``(outputs, logabsdet)``, both of shape ``S``; ``logabsdet`` is the element-wise
        :math:`\log|\partial\,\mathrm{out}/\partial\,\mathrm{in}|`.
    """
    num_bins = unnormalized_widths.shape[-1]
    if unnormalized_heights.shape[-1] != num_bins:
        raise ValueError("widths and heights must have the same number of bins")
    if unnormalized_derivatives.shape[-1] != num_bins - 1:
        raise ValueError(
            f"expected {num_bins - 1} interior derivatives, "
            f"got {unnormalized_derivatives.shape[-1]}"
        )
    shape = inputs.shape
    inside = (inputs >= -bound) & (inputs <= bound)
    # Evaluate the spline on clamped inputs everywhere so that the unused branch of the
    # final `where` stays finite (and its gradient zero rather than NaN).
    x = inputs.clamp(-bound, bound)
    bins = _find_bins(
        x,
        unnormalized_widths.expand(*shape, num_bins),
        unnormalized_heights.expand(*shape, num_bins),
        unnormalized_derivatives.expand(*shape, num_bins - 1),
        inverse,
        bound,
        min_bin_width,
        min_bin_height,
        min_derivative,
    )
    out, xi = _spline_inverse(x, bins) if inverse else _spline_forward(x, bins)
    log_deriv = _log_derivative(xi, bins)  # log dy/dx
    if inverse:
        log_deriv = -log_deriv

    outputs = torch.where(inside, out, inputs)
    logabsdet = torch.where(inside, log_deriv, torch.zeros_like(log_deriv))
    return outputs, logabsdet
