r"""MADE: a masked autoencoder for distribution estimation (Germain et al., 2015).

An MLP whose weight matrices are masked so that output :math:`i` depends only on the
inputs that come before :math:`i` in an autoregressive ordering (and freely on an
optional context). It is the conditioner of the MAF and IAF layers in
:mod:`pwave.flows.autoregressive`.

Degrees
-------
Every unit gets a degree. Input :math:`i` has degree :math:`m(i) = \mathrm{order}[i] + 1
\in \{1..D\}`, where ``order[i]`` is the **position** of feature :math:`i` in the
autoregressive ordering (``order = [0, 1, .., D-1]`` is the natural ordering). Hidden
units get degrees in :math:`\{m_{\min}, .., D-1\}` with :math:`m_{\min} = 0` when a
context is given (degree-0 units see only the context) and 1 otherwise. The masks are

.. math::
    M^{\text{hidden}}_{kj} = [\,m(k) \ge m(j)\,], \qquad
    M^{\text{out}}_{ik} = [\,m(i) > m(k)\,],

so, composing the layers, output :math:`i` is connected to input :math:`j` only if
:math:`m(j) < m(i)`: strict autoregression.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

Order = str | Sequence[int] | Tensor | None

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "elu": nn.ELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
}


def make_order(
    features: int, order: Order = None, generator: torch.Generator | None = None
) -> Tensor:
    """Autoregressive positions ``[features]`` (a permutation of ``0..features-1``).

    ``order`` is ``None``/``"natural"`` (``0..D-1``), ``"reversed"``, ``"random"`` (drawn
    with ``generator``) or an explicit permutation: ``order[i]`` is the position of
    feature ``i``.
    """
    if order is None or (isinstance(order, str) and order == "natural"):
        return torch.arange(features)
    if isinstance(order, str):
        if order == "reversed":
            return torch.arange(features - 1, -1, -1)
        if order == "random":
            return torch.randperm(features, generator=generator)
        raise ValueError(f"unknown order {order!r}; use natural, reversed, random or a permutation")
    result = torch.as_tensor(order, dtype=torch.long).flatten().cpu()
    if result.numel() != features or not torch.equal(result.sort().values, torch.arange(features)):
        raise ValueError(f"order must be a permutation of 0..{features - 1}, got {result.tolist()}")
    return result


class MaskedLinear(nn.Linear):
    """``nn.Linear`` whose weight is multiplied by a fixed 0/1 ``mask`` buffer ``[out, in]``."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        super().__init__(in_features, out_features, bias)
        self.register_buffer("mask", torch.ones(out_features, in_features))

    def set_mask(self, mask: Tensor) -> None:
        self.mask.copy_(mask.to(self.mask))

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


class MADE(nn.Module):
    """Masked MLP: ``made(x [batch, D], context [batch, C]) -> [batch, D, params_per_feature]``.

    Args:
        features: ``D``.
        hidden_features: width of every hidden layer.
        num_hidden: number of hidden layers (>= 1).
        params_per_feature: outputs per feature (2 for affine, ``3K-1`` for a K-bin spline).
        context_features: size of an optional conditioning vector (connected freely).
        order: see :func:`make_order`.
        activation: ``"relu"``, ``"gelu"``, ``"elu"``, ``"silu"`` or ``"tanh"``.
        generator: used for a ``"random"`` order.
        output_init_scale: the last layer's default init is multiplied by this (biases
            zeroed), so that the flows built on MADE start near the identity.

    Hidden degrees start deterministic (cycled evenly over the allowed range);
    :meth:`resample_masks` draws new random ones, keeping the input/output ordering.
    """

    def __init__(
        self,
        features: int,
        hidden_features: int,
        num_hidden: int = 2,
        params_per_feature: int = 2,
        context_features: int | None = None,
        order: Order = None,
        activation: str = "relu",
        generator: torch.Generator | None = None,
        output_init_scale: float = 1e-2,
    ):
        super().__init__()
        if num_hidden < 1:
            raise ValueError("MADE needs at least one hidden layer")
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"unknown activation {activation!r}; choose from {sorted(ACTIVATIONS)}"
            )
        self.features = features
        self.hidden_features = hidden_features
        self.num_hidden = num_hidden
        self.params_per_feature = params_per_feature
        self.context_features = context_features
        self.min_hidden_degree = 0 if (context_features or features == 1) else 1

        self.register_buffer("order", make_order(features, order, generator))
        self.register_buffer(
            "hidden_degrees", torch.zeros(num_hidden, hidden_features, dtype=torch.long)
        )

        sizes = [features] + [hidden_features] * num_hidden
        self.hidden_layers = nn.ModuleList(
            MaskedLinear(a, b) for a, b in zip(sizes[:-1], sizes[1:])
        )
        self.context_layer = (
            nn.Linear(context_features, hidden_features) if context_features else None
        )
        self.output_layer = MaskedLinear(hidden_features, features * params_per_feature)
        self.activation = ACTIVATIONS[activation]()

        with torch.no_grad():
            self.output_layer.weight.mul_(output_init_scale)
            self.output_layer.bias.zero_()

        low, high = self.min_hidden_degree, max(features - 1, self.min_hidden_degree)
        cycled = low + torch.arange(hidden_features) % (high - low + 1)
        self._set_degrees(cycled.expand(num_hidden, hidden_features))

    @property
    def input_degrees(self) -> Tensor:
        """``m(i) = order[i] + 1`` for each input feature, ``[D]``."""
        return self.order + 1

    def _set_degrees(self, hidden_degrees: Tensor) -> None:
        self.hidden_degrees.copy_(hidden_degrees)
        previous = self.input_degrees.to(self.hidden_degrees.device)
        for layer, degrees in zip(self.hidden_layers, self.hidden_degrees):
            layer.set_mask(degrees[:, None] >= previous[None, :])
            previous = degrees
        out_degrees = self.input_degrees.to(previous.device).repeat_interleave(
            self.params_per_feature
        )
        self.output_layer.set_mask(out_degrees[:, None] > previous[None, :])

    @torch.no_grad()
    def resample_masks(self, generator: torch.Generator | None = None) -> None:
        """Draw new random hidden degrees (connectivity-agnostic training).

        Each layer's degrees are drawn uniformly from ``[min of previous layer, D-1]``
        so that no unit is disconnected; the input/output ordering is kept.
        """
        high = max(self.features - 1, self.min_hidden_degree)
        low = self.min_hidden_degree
        device = generator.device if generator is not None else torch.device("cpu")
        rows = []
        for _ in range(self.num_hidden):
            row = torch.randint(
                low, high + 1, (self.hidden_features,), generator=generator, device=device
            )
            rows.append(row)
            low = int(row.min())
        self._set_degrees(torch.stack(rows).to(self.hidden_degrees.device))

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """``[batch, D]`` (and ``[batch, C]``) -> ``[batch, D, params_per_feature]``."""
        h = self.hidden_layers[0](x)
        if self.context_layer is not None:
            if context is None:
                raise ValueError("this MADE was built with context_features; pass a context")
            h = h + self.context_layer(context)
        h = self.activation(h)
        for layer in self.hidden_layers[1:]:
            h = self.activation(layer(h))
        out = self.output_layer(h)
        return out.reshape(x.shape[0], self.features, self.params_per_feature)
