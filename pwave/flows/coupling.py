r"""Coupling flows: NICE's additive coupling and diagonal rescaling (Dinh et al., 2014) and
RealNVP's affine coupling (Dinh et al., 2016), on vectors ``[batch, D]``.

A boolean ``mask`` splits the features: ``mask[i] = True`` features are transformed, the
others pass through unchanged and, with an optional ``context [batch, C]``, feed the
conditioner. The Jacobian is triangular (after reordering), so the log-determinant is the
sum of the transformed features' log-scales and both directions are exact and one pass.
Stacks alternate :func:`alternating_mask` parities so every feature gets transformed.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from pwave.flows.base import Flow, soft_clamp
from pwave.flows.distributions import affine_forward, affine_inverse


def alternating_mask(features: int, parity: int = 0) -> Tensor:
    """``mask[i] = (i % 2 == parity)``: the features a coupling layer transforms."""
    return torch.arange(features) % 2 == parity


class MLP(nn.Module):
    """A small conditioner ``[batch, in] (+ context [batch, C]) -> [batch, out]``.

    The last layer starts at zero, so a coupling layer built on it starts as the identity.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden_features: int = 64,
        num_hidden_layers: int = 2,
        context_features: int = 0,
    ):
        super().__init__()
        self.context_features = context_features
        layers: list[nn.Module] = []
        width = in_features + context_features
        for _ in range(num_hidden_layers):
            layers += [nn.Linear(width, hidden_features), nn.SiLU()]
            width = hidden_features
        last = nn.Linear(width, out_features)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.net = nn.Sequential(*layers, last)

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        if self.context_features:
            if context is None:
                raise ValueError(f"this conditioner needs a context of {self.context_features}")
            x = torch.cat([x, context], dim=-1)
        return self.net(x)


class _Coupling(Flow):
    """Shared plumbing: split by ``mask``, run the conditioner, write the transformed part.

    A custom ``conditioner`` is called as ``conditioner(kept [batch, n_kept], context)`` and
    must return ``[batch, n_transformed * params_per_feature]`` (per-feature parameters
    contiguous); by default it is an :class:`MLP`.
    """

    params_per_feature = 1

    def __init__(
        self,
        mask: Tensor,
        conditioner: nn.Module | None = None,
        hidden_features: int = 64,
        num_hidden_layers: int = 2,
        context_features: int = 0,
    ):
        super().__init__()
        mask = torch.as_tensor(mask, dtype=torch.bool)
        if mask.all() or not mask.any():
            raise ValueError("the mask must transform some features and keep others")
        self.register_buffer("transform_idx", mask.nonzero().flatten())
        self.register_buffer("identity_idx", (~mask).nonzero().flatten())
        n_id, n_tr = len(self.identity_idx), len(self.transform_idx)
        if conditioner is None:
            conditioner = MLP(
                n_id,
                n_tr * self.params_per_feature,
                hidden_features,
                num_hidden_layers,
                context_features,
            )
        self.conditioner = conditioner

    def _params(self, v: Tensor, context: Tensor | None) -> Tensor:
        """Conditioner output ``[batch, n_transformed, params_per_feature]``."""
        out = self.conditioner(v.index_select(1, self.identity_idx), context)
        return out.reshape(v.shape[0], len(self.transform_idx), self.params_per_feature)

    def _write(self, v: Tensor, part: Tensor) -> Tensor:
        return v.index_copy(1, self.transform_idx, part)


class AdditiveCoupling(_Coupling):
    r"""NICE additive coupling: :math:`x_{\bar m} = z_{\bar m}`,
    :math:`x_m = z_m + t(z_{\bar m}, c)`; volume preserving (log-determinant 0).

    Shapes: ``[batch, D]``; ``logabsdet: [batch]``.
    """

    def forward(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        shift = self._params(z, context)[..., 0]
        return self._write(z, z.index_select(1, self.transform_idx) + shift), z.new_zeros(
            z.shape[0]
        )

    def inverse(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        shift = self._params(x, context)[..., 0]
        return self._write(x, x.index_select(1, self.transform_idx) - shift), x.new_zeros(
            x.shape[0]
        )


class AffineCoupling(_Coupling):
    r"""RealNVP affine coupling: :math:`x_{\bar m} = z_{\bar m}`,
    :math:`x_m = z_m\, e^{s} + t` with :math:`(t, \tilde s) = \mathrm{NN}(z_{\bar m}, c)` and
    :math:`s = \mathrm{soft\_clamp}(\tilde s)`, so
    :math:`\log|\det \partial x/\partial z| = \sum_m s_m`.
    The step itself is :func:`pwave.flows.distributions.affine_forward` / ``affine_inverse``.

    Shapes: ``[batch, D]``; ``logabsdet: [batch]``.
    """

    params_per_feature = 2

    def __init__(
        self,
        mask: Tensor,
        conditioner: nn.Module | None = None,
        hidden_features: int = 64,
        num_hidden_layers: int = 2,
        context_features: int = 0,
        scale_bound: float = 5.0,
    ):
        super().__init__(mask, conditioner, hidden_features, num_hidden_layers, context_features)
        self.scale_bound = scale_bound

    def _shift_log_scale(self, v: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        params = self._params(v, context)
        return params[..., 0], soft_clamp(params[..., 1], self.scale_bound)

    def forward(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        shift, log_scale = self._shift_log_scale(z, context)
        part, logabsdet = affine_forward(z.index_select(1, self.transform_idx), shift, log_scale)
        return self._write(z, part), logabsdet

    def inverse(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        shift, log_scale = self._shift_log_scale(x, context)
        part, logabsdet = affine_inverse(x.index_select(1, self.transform_idx), shift, log_scale)
        return self._write(x, part), logabsdet


class DiagonalScaling(Flow):
    r"""NICE's final rescaling layer: :math:`x = z \odot e^{s}` with a learnable
    :math:`s \in \mathbb{R}^D` (initialised at 0), :math:`\log|\det| = \sum_i s_i`.

    Shapes: ``[batch, D]``; ``logabsdet: [batch]``.
    """

    def __init__(self, features: int):
        super().__init__()
        self.log_scale = nn.Parameter(torch.zeros(features))

    def forward(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return affine_forward(z, torch.zeros_like(z), self.log_scale.expand_as(z))

    def inverse(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return affine_inverse(x, torch.zeros_like(x), self.log_scale.expand_as(x))


def realnvp(
    features: int,
    num_layers: int = 4,
    hidden_features: int = 64,
    num_hidden_layers: int = 2,
    context_features: int = 0,
) -> list[Flow]:
    """A RealNVP stack: ``num_layers`` affine couplings with alternating masks."""
    return [
        AffineCoupling(
            alternating_mask(features, i % 2),
            hidden_features=hidden_features,
            num_hidden_layers=num_hidden_layers,
            context_features=context_features,
        )
        for i in range(num_layers)
    ]
