"""``NormalizingFlow``: a base density pushed through a flow, as a distribution."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from pwave.flows.base import Compose, Flow
from pwave.flows.distributions import StandardDistribution


class NormalizingFlow(nn.Module):
    r"""The distribution of ``x = flow.forward(z)`` with ``z ~ base``.

    .. math:: \log p(x) = \log p_0(f^{-1}(x)) + \log\left|\det \partial f^{-1}/\partial x\right|

    With a ``context``, sampling draws one sample per context row, so ``n`` must equal
    ``context.shape[0]`` (or be ``None``).
    """

    def __init__(self, base: StandardDistribution, flows: Flow | list[Flow]):
        super().__init__()
        self.base = base
        self.flow = flows if isinstance(flows, Flow) else Compose(flows)

    def log_prob(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        """``[batch, *event] -> [batch]`` log-density in nats (uses ``flow.inverse``)."""
        z, logabsdet = self.flow.inverse(x, context)
        return self.base.log_prob(z) + logabsdet

    def _num_samples(self, n: int | None, context: Tensor | None) -> int:
        if context is None:
            if n is None:
                raise ValueError("give the number of samples n (or a context)")
            return n
        if n is not None and n != context.shape[0]:
            raise ValueError(f"n={n} but context has {context.shape[0]} rows; they must match")
        return context.shape[0]

    def rsample_and_log_prob(
        self,
        n: int | None = None,
        context: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Reparameterised samples and their log-density from the cached noise, one pass.

        ``log q(x) = log p0(z) - log|det dx/dz|``: no inversion is needed.
        """
        z = self.base.sample(self._num_samples(n, context), generator=generator)
        x, logabsdet = self.flow(z, context)
        return x, self.base.log_prob(z) - logabsdet

    def rsample(
        self,
        n: int | None = None,
        context: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Reparameterised samples ``[n, *event]``."""
        z = self.base.sample(self._num_samples(n, context), generator=generator)
        return self.flow(z, context)[0]

    @torch.no_grad()
    def sample(
        self,
        n: int | None = None,
        context: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Samples ``[n, *event]`` without gradient."""
        return self.rsample(n, context, generator)
