r"""Linear flows along the feature/channel axis (dimension 1): permutations, an
LU-parameterised linear map and Glow's invertible 1x1 convolution.

All act on ``[batch, C]`` or ``[batch, C, *spatial]`` and mix only dimension 1, the same
map at every spatial position; a log-determinant counts once per position.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from pwave.flows.base import Flow


def _positions(x: Tensor) -> int:
    """Number of spatial positions of ``[batch, C, *spatial]`` (1 for ``[batch, C]``)."""
    return math.prod(x.shape[2:])


class Permutation(Flow):
    r"""Fixed permutation of dimension 1: :math:`x_i = z_{\pi(i)}`; log-determinant 0.

    ``perm`` is a permutation of ``range(C)`` and is saved with the state dict.
    """

    def __init__(self, perm: Tensor):
        super().__init__()
        perm = torch.as_tensor(perm, dtype=torch.long)
        if not torch.equal(perm.sort().values, torch.arange(len(perm))):
            raise ValueError(f"not a permutation of range({len(perm)}): {perm.tolist()}")
        self.register_buffer("perm", perm)
        self.register_buffer("inv_perm", torch.argsort(perm))

    def forward(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return z.index_select(1, self.perm), z.new_zeros(z.shape[0])

    def inverse(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return x.index_select(1, self.inv_perm), x.new_zeros(x.shape[0])


class RandomPermutation(Permutation):
    """A permutation of ``features`` drawn once from ``generator`` (then fixed and saved)."""

    def __init__(self, features: int, generator: torch.Generator | None = None):
        super().__init__(torch.randperm(features, generator=generator))


class ReversePermutation(Permutation):
    """Reverse the order of dimension 1: :math:`x_i = z_{C-1-i}`."""

    def __init__(self, features: int):
        super().__init__(torch.arange(features - 1, -1, -1))


class LULinear(Flow):
    r"""Invertible linear map of dimension 1, :math:`x = W z + b`, with :math:`W = P L U`.

    :math:`P` is a fixed permutation matrix (a buffer), :math:`L` unit lower-triangular,
    :math:`U` upper-triangular with diagonal :math:`\sigma \odot e^{s}` (fixed signs
    :math:`\sigma`, learnable log-magnitudes :math:`s`). Hence

    .. math:: \log|\det \partial x / \partial z| = N \textstyle\sum_i s_i,

    with :math:`N` the number of spatial positions, and the inverse
    :math:`z = U^{-1} L^{-1} P^\top (x - b)` is two triangular solves (exact).
    Initialisation: :math:`W = P` (the identity unless ``perm`` is given), :math:`b = 0`.

    Shapes: ``[batch, C, *spatial]`` (or ``[batch, C]``); ``logabsdet: [batch]``.
    """

    def __init__(self, features: int, perm: Tensor | None = None, bias: bool = True):
        super().__init__()
        self.features = features
        eye = torch.eye(features)
        self.register_buffer("p", eye if perm is None else eye[torch.as_tensor(perm)])
        self.register_buffer("sign", torch.ones(features))
        self.lower = nn.Parameter(torch.zeros(features, features))
        self.upper = nn.Parameter(torch.zeros(features, features))
        self.log_diag = nn.Parameter(torch.zeros(features))
        self.bias = nn.Parameter(torch.zeros(features)) if bias else None

    def factors(self) -> tuple[Tensor, Tensor]:
        """The triangular factors ``(L, U)`` with ``W = P @ L @ U``."""
        eye = torch.eye(self.features, dtype=self.lower.dtype, device=self.lower.device)
        lower = torch.tril(self.lower, -1) + eye
        upper = torch.triu(self.upper, 1) + torch.diag(self.sign * torch.exp(self.log_diag))
        return lower, upper

    def weight(self) -> Tensor:
        """The matrix ``W = P L U`` of shape ``[C, C]``."""
        lower, upper = self.factors()
        return self.p @ lower @ upper

    def _logabsdet(self, x: Tensor) -> Tensor:
        return (_positions(x) * self.log_diag.sum()).expand(x.shape[0])

    def forward(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        rows = z.movedim(1, -1) @ self.weight().T
        if self.bias is not None:
            rows = rows + self.bias
        return rows.movedim(-1, 1), self._logabsdet(z)

    def inverse(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        rows = x.movedim(1, -1)
        if self.bias is not None:
            rows = rows - self.bias
        shape = rows.shape
        rows = rows.reshape(-1, self.features) @ self.p  # (P^T y)^T for each row y
        lower, upper = self.factors()
        # Row form of z = U^{-1} L^{-1} P^T y: solve M L^T = Y P, then Z U^T = M.
        rows = torch.linalg.solve_triangular(
            lower.T, rows, upper=True, left=False, unitriangular=True
        )
        rows = torch.linalg.solve_triangular(upper.T, rows, upper=False, left=False)
        return rows.reshape(shape).movedim(-1, 1), -self._logabsdet(x)


class InvertibleConv1x1(LULinear):
    r"""Glow's invertible :math:`1\times1` convolution (Kingma & Dhariwal, 2018) in LU form.

    The same map as :class:`LULinear` (no bias by default) applied to the channels of
    ``[batch, C, *spatial]``, so :math:`\log|\det| = (\text{positions}) \sum_i s_i`.
    Initialised as in Glow from a random rotation :math:`Q = P L U` (``torch.linalg.lu``),
    which is volume preserving (log-determinant 0) but mixes all channels.
    """

    def __init__(self, channels: int, generator: torch.Generator | None = None, bias: bool = False):
        super().__init__(channels, bias=bias)
        q, _ = torch.linalg.qr(torch.randn(channels, channels, generator=generator))
        p, lower, upper = torch.linalg.lu(q)
        diag = torch.diagonal(upper)
        with torch.no_grad():
            self.p.copy_(p)
            self.sign.copy_(torch.sign(diag))
            self.lower.copy_(torch.tril(lower, -1))
            self.upper.copy_(torch.triu(upper, 1))
            self.log_diag.copy_(torch.log(diag.abs()))
