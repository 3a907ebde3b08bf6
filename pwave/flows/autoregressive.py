r"""Autoregressive flows on vectors: MAF and IAF layers (affine or spline), and stacks of them.

One element-wise transform :math:`x_i = \tau(z_i; \theta_i)` with parameters from a
:class:`~pwave.flows.made.MADE` conditioner, read in one of two directions:

* **MAF** (``direction="maf"``, Papamakarios et al., 2017): :math:`\theta_i =
  \mathrm{MADE}(x_{<i})`. The density direction ``inverse`` (``x -> z``) is one parallel
  MADE pass; sampling (``forward``, ``z -> x``) is sequential, ``D`` passes.
* **IAF** (``direction="iaf"``, Kingma et al., 2016): :math:`\theta_i =
  \mathrm{MADE}(z_{<i})`. Sampling (``forward``) is one parallel pass and the density
  of its own samples comes free from the noise; ``inverse`` is sequential, ``D`` passes.

The sequential direction runs a fixed-point iteration: start from zeros and apply
``out = tau(in; MADE(out))`` ``D`` times. After pass :math:`r` the features at positions
``< r`` of the ordering are exact, and because ``MADE`` output :math:`i` only reads
positions before :math:`i`, the last pass yields exact outputs, parameters and
log-determinants (and exact gradients: autograd sees the same triangular function).

Transforms :math:`\tau`:

* affine -- :math:`x = z\, e^{s} + \mu` with :math:`s` soft-clamped
  (:func:`pwave.flows.distributions.affine_forward`);
* spline -- a :math:`K`-bin monotone rational-quadratic spline on :math:`[-B, B]`,
  identity outside (:func:`pwave.flows.splines.rational_quadratic_spline`).

The stacks :func:`MAF` and :func:`IAF` alternate natural and reversed orderings.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from pwave.flows.base import Flow, soft_clamp, sum_except_batch
from pwave.flows.distributions import affine_forward, affine_inverse, make_base
from pwave.flows.made import MADE, Order
from pwave.flows.normalizing_flow import NormalizingFlow
from pwave.flows.splines import rational_quadratic_spline, spline_param_count, split_spline_params

Direction = Literal["maf", "iaf"]


class AutoregressiveFlow(Flow):
    """Base class: a MADE conditioner plus an element-wise transform ``tau``.

    Subclasses implement :meth:`transform` (``z -> x`` or, with ``inverse=True``,
    ``x -> z``, given the MADE output ``params [batch, D, P]``).
    """

    def __init__(self, made: MADE, direction: Direction = "maf"):
        super().__init__()
        if direction not in ("maf", "iaf"):
            raise ValueError(f"direction must be 'maf' or 'iaf', got {direction!r}")
        self.made = made
        self.direction = direction
        self.features = made.features

    def transform(self, inputs: Tensor, params: Tensor, inverse: bool) -> tuple[Tensor, Tensor]:
        """Element-wise ``tau`` (or its inverse); returns ``(outputs, logabsdet [batch])``."""
        raise NotImplementedError

    def resample_masks(self, generator: torch.Generator | None = None) -> None:
        """Re-draw the conditioner's hidden degrees (see :meth:`MADE.resample_masks`)."""
        self.made.resample_masks(generator)

    def _parallel(self, inputs: Tensor, context: Tensor | None, inverse: bool):
        """The conditioner reads ``inputs``: one pass."""
        return self.transform(inputs, self.made(inputs, context), inverse)

    def _sequential(self, inputs: Tensor, context: Tensor | None, inverse: bool):
        """The conditioner reads the outputs: ``D`` passes of the fixed-point iteration."""
        outputs = torch.zeros_like(inputs)
        logabsdet = inputs.new_zeros(inputs.shape[0])
        for _ in range(self.features):
            outputs, logabsdet = self.transform(inputs, self.made(outputs, context), inverse)
        return outputs, logabsdet

    def forward(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``z -> x``: sequential for MAF, parallel for IAF. Returns ``(x, log|dx/dz|)``."""
        if self.direction == "iaf":
            return self._parallel(z, context, inverse=False)
        return self._sequential(z, context, inverse=False)

    def inverse(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``x -> z``: parallel for MAF, sequential for IAF. Returns ``(z, log|dz/dx|)``."""
        if self.direction == "maf":
            return self._parallel(x, context, inverse=True)
        return self._sequential(x, context, inverse=True)


class MaskedAffineAutoregressive(AutoregressiveFlow):
    r"""Affine autoregressive layer, :math:`x_i = z_i e^{s_i} + \mu_i`, ``[batch, D]``.

    ``(mu, s)`` come from a MADE reading ``x`` (``direction="maf"``) or ``z``
    (``"iaf"``); ``s`` is soft-clamped to ``(-clamp, clamp)``. Starts near the identity.
    """

    def __init__(
        self,
        features: int,
        hidden_features: int,
        num_hidden: int = 2,
        context_features: int | None = None,
        order: Order = None,
        direction: Direction = "maf",
        activation: str = "relu",
        clamp: float = 5.0,
        generator: torch.Generator | None = None,
    ):
        made = MADE(
            features,
            hidden_features,
            num_hidden=num_hidden,
            params_per_feature=2,
            context_features=context_features,
            order=order,
            activation=activation,
            generator=generator,
        )
        super().__init__(made, direction)
        self.clamp = clamp

    def transform(self, inputs: Tensor, params: Tensor, inverse: bool) -> tuple[Tensor, Tensor]:
        mu, log_scale = params[..., 0], soft_clamp(params[..., 1], self.clamp)
        if inverse:
            return affine_inverse(inputs, mu, log_scale)
        return affine_forward(inputs, mu, log_scale)


class MaskedSplineAutoregressive(AutoregressiveFlow):
    """Rational-quadratic spline autoregressive layer, ``[batch, D]``.

    The MADE outputs the ``3 * bins - 1`` spline parameters of each feature; the spline
    acts on ``[-bound, bound]`` and is the identity outside. Starts near the identity.
    """

    def __init__(
        self,
        features: int,
        hidden_features: int,
        bins: int = 8,
        bound: float = 3.0,
        num_hidden: int = 2,
        context_features: int | None = None,
        order: Order = None,
        direction: Direction = "maf",
        activation: str = "relu",
        generator: torch.Generator | None = None,
    ):
        made = MADE(
            features,
            hidden_features,
            num_hidden=num_hidden,
            params_per_feature=spline_param_count(bins),
            context_features=context_features,
            order=order,
            activation=activation,
            generator=generator,
        )
        super().__init__(made, direction)
        self.bins = bins
        self.bound = bound

    def transform(self, inputs: Tensor, params: Tensor, inverse: bool) -> tuple[Tensor, Tensor]:
        widths, heights, derivatives = split_spline_params(params, self.bins)
        outputs, logabsdet = rational_quadratic_spline(
            inputs, widths, heights, derivatives, inverse=inverse, bound=self.bound
        )
        return outputs, sum_except_batch(logabsdet)


def autoregressive_stack(
    features: int,
    hidden_features: int,
    num_flows: int,
    direction: Direction,
    transform: Literal["affine", "spline"] = "affine",
    bins: int = 8,
    bound: float = 3.0,
    num_hidden: int = 2,
    context_features: int | None = None,
    orders: Literal["alternate", "random"] = "alternate",
    activation: str = "relu",
    clamp: float = 5.0,
    generator: torch.Generator | None = None,
) -> list[AutoregressiveFlow]:
    """``num_flows`` autoregressive layers; orderings alternate natural/reversed
    (``orders="alternate"``) or are random permutations drawn with ``generator``."""
    layers: list[AutoregressiveFlow] = []
    for k in range(num_flows):
        order: Order = "random" if orders == "random" else ("natural" if k % 2 == 0 else "reversed")
        common = dict(
            num_hidden=num_hidden,
            context_features=context_features,
            order=order,
            direction=direction,
            activation=activation,
            generator=generator,
        )
        if transform == "affine":
            layers.append(
                MaskedAffineAutoregressive(features, hidden_features, clamp=clamp, **common)
            )
        elif transform == "spline":
            layers.append(
                MaskedSplineAutoregressive(
                    features, hidden_features, bins=bins, bound=bound, **common
                )
            )
        else:
            raise ValueError(f"unknown transform {transform!r}; use 'affine' or 'spline'")
    return layers


def MAF(
    features: int,
    hidden_features: int,
    num_flows: int,
    transform: Literal["affine", "spline"] = "affine",
    bins: int = 8,
    bound: float = 3.0,
    num_hidden: int = 2,
    context_features: int | None = None,
    base: str = "gaussian",
    orders: Literal["alternate", "random"] = "alternate",
    activation: str = "relu",
    clamp: float = 5.0,
    generator: torch.Generator | None = None,
) -> NormalizingFlow:
    """A masked autoregressive flow: fast ``log_prob`` (parallel), sequential ``sample``."""
    layers = autoregressive_stack(
        features, hidden_features, num_flows, "maf", transform=transform, bins=bins,
        bound=bound, num_hidden=num_hidden, context_features=context_features, orders=orders,
        activation=activation, clamp=clamp, generator=generator,
    )  # fmt: skip
    return NormalizingFlow(make_base(base, (features,)), layers)


def IAF(
    features: int,
    hidden_features: int,
    num_flows: int,
    transform: Literal["affine", "spline"] = "affine",
    bins: int = 8,
    bound: float = 3.0,
    num_hidden: int = 2,
    context_features: int | None = None,
    base: str = "gaussian",
    orders: Literal["alternate", "random"] = "alternate",
    activation: str = "relu",
    clamp: float = 5.0,
    generator: torch.Generator | None = None,
) -> NormalizingFlow:
    """An inverse autoregressive flow: parallel ``rsample_and_log_prob`` (the density of
    its own samples from the cached noise), sequential ``log_prob`` of arbitrary points."""
    layers = autoregressive_stack(
        features, hidden_features, num_flows, "iaf", transform=transform, bins=bins,
        bound=bound, num_hidden=num_hidden, context_features=context_features, orders=orders,
        activation=activation, clamp=clamp, generator=generator,
    )  # fmt: skip
    return NormalizingFlow(make_base(base, (features,)), layers)
