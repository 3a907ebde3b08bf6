r"""ActNorm (Kingma & Dhariwal, 2018, "Glow"): a per-channel affine map with
data-dependent initialisation."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from pwave.flows.base import Flow
from pwave.flows.distributions import affine_forward, affine_inverse


class ActNorm(Flow):
    r"""Per-channel affine flow :math:`x = z\, e^{s} + b` along dimension 1.

    .. math:: \log\left|\det \frac{\partial x}{\partial z}\right| = N \sum_c s_c,

    with :math:`N` the number of spatial positions. The step is
    :func:`pwave.flows.distributions.affine_forward` / ``affine_inverse``.

    **Data-dependent initialisation.** The first call (``forward`` or ``inverse``) sets
    :math:`s, b` from its batch so that *that call's output* has zero mean and unit
    variance per channel (statistics over the batch and spatial dimensions):

    * ``inverse(x)`` first (the usual case, data in): :math:`b = \bar x`,
      :math:`s = \log \mathrm{std}(x)`;
    * ``forward(z)`` first: :math:`s = -\log \mathrm{std}(z)`, :math:`b = -\bar z e^{s}`.

    The ``initialized`` flag is a buffer, so a loaded checkpoint is not re-initialised.

    Shapes: ``[batch, C]`` or ``[batch, C, *spatial]``; ``logabsdet: [batch]``.
    """

    def __init__(self, features: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.log_scale = nn.Parameter(torch.zeros(features))
        self.shift = nn.Parameter(torch.zeros(features))
        self.register_buffer("initialized", torch.tensor(False))

    @torch.no_grad()
    def _initialize(self, v: Tensor, inverse: bool) -> None:
        dims = [0, *range(2, v.dim())]
        mean = v.mean(dim=dims)
        std = v.std(dim=dims, correction=0).clamp_min(self.eps)
        if inverse:
            self.shift.copy_(mean)
            self.log_scale.copy_(torch.log(std))
        else:
            self.log_scale.copy_(-torch.log(std))
            self.shift.copy_(-mean / std)
        self.initialized.fill_(True)

    def _broadcast(self, v: Tensor) -> tuple[Tensor, Tensor]:
        shape = (1, -1) + (1,) * (v.dim() - 2)
        return self.shift.view(shape).expand_as(v), self.log_scale.view(shape).expand_as(v)

    def forward(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if not self.initialized:
            self._initialize(z, inverse=False)
        return affine_forward(z, *self._broadcast(z))

    def inverse(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if not self.initialized:
            self._initialize(x, inverse=True)
        return affine_inverse(x, *self._broadcast(x))
