r"""The flow interface every transform in :mod:`pwave.flows` implements.

Direction convention (used everywhere in pwave):

* ``forward(z, context)`` is the **generative** direction :math:`z \to x`; it returns
  ``(x, logabsdet)`` with ``logabsdet`` :math:`= \log|\det \partial x / \partial z|`.
* ``inverse(x, context)`` is the **normalizing** direction :math:`x \to z`; it returns
  ``(z, logabsdet)`` with ``logabsdet`` :math:`= \log|\det \partial z / \partial x|`.

Inputs are batch-first, ``[batch, *event_shape]``; ``logabsdet`` has shape ``[batch]``.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn


class Flow(nn.Module):
    """An invertible map with a tractable log-Jacobian determinant."""

    def forward(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Generative direction ``z -> x``; returns ``(x, log|det dx/dz|)``."""
        raise NotImplementedError

    def inverse(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Normalizing direction ``x -> z``; returns ``(z, log|det dz/dx|)``."""
        raise NotImplementedError


class Compose(Flow):
    """Flows applied in sequence; log-determinants add.

    ``forward`` applies ``flows[0]`` first (to the base noise), ``inverse`` undoes
    them in reverse order.
    """

    def __init__(self, flows: Iterable[Flow]):
        super().__init__()
        self.flows = nn.ModuleList(flows)

    def forward(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        total = z.new_zeros(z.shape[0])
        for flow in self.flows:
            z, logabsdet = flow(z, context)
            total = total + logabsdet
        return z, total

    def inverse(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        total = x.new_zeros(x.shape[0])
        for flow in reversed(self.flows):
            x, logabsdet = flow.inverse(x, context)
            total = total + logabsdet
        return x, total


class Inverse(Flow):
    """Swap the two directions of a flow (e.g. use a MAF layer as an IAF layer)."""

    def __init__(self, flow: Flow):
        super().__init__()
        self.flow = flow

    def forward(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self.flow.inverse(z, context)

    def inverse(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self.flow(x, context)


def sum_except_batch(x: Tensor) -> Tensor:
    """Sum every dimension but the first: ``[batch, ...] -> [batch]``.

    Half-precision inputs (bf16/fp16 under autocast) are summed in float32: a log-density
    summed over thousands of samples in bf16 is off by whole nats.
    """
    dtype = torch.promote_types(x.dtype, torch.float32) if x.is_floating_point() else None
    return x.reshape(x.shape[0], -1).sum(dim=1, dtype=dtype)


def soft_clamp(log_scale: Tensor, bound: float = 5.0) -> Tensor:
    r"""Smoothly limit a log-scale to ``(-bound, bound)``: :math:`b \tanh(s / b)`.

    Near zero it is the identity, so initialisation is unaffected; far from zero the
    scale cannot overflow. Every affine transform in pwave uses it.
    """
    return bound * torch.tanh(log_scale / bound)
