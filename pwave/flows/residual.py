r"""Invertible residual flow (Behrmann et al., 2019, "Invertible Residual Networks"), on
vectors ``[batch, D]``.

.. math:: x = z + g(z), \qquad \mathrm{Lip}(g) \le c < 1,

with :math:`g` an MLP whose linear layers are spectrally normalised (power iteration) and
whose activations are 1-Lipschitz, so :math:`z \mapsto z + g(z)` is invertible.

Log-determinant (:math:`J_g = \partial g / \partial z`, eigenvalues inside the unit disc):

.. math:: \log\det(I + J_g) = \sum_{k \ge 1} \frac{(-1)^{k+1}}{k}\,\mathrm{tr}(J_g^k).

* ``logdet="exact"``: :math:`J_g` row by row with autograd, then ``slogdet`` (small ``D``).
* ``logdet="series"``: the first ``n_terms`` terms. With ``trace="exact"`` the traces come
  from powers of the exact :math:`J_g`; with ``trace="hutchinson"`` from
  :math:`\mathrm{tr}(J^k) \approx v^\top J^k v`, :math:`v \sim \mathcal N(0, I)`, using
  ``k`` vector-Jacobian products (unbiased for the truncated series; for large ``D``).
  The truncation error is at most :math:`D\,c^{n+1} / ((n+1)(1-c))`
  (:meth:`ResidualFlow.series_error_bound`).

**Inverse (numerical).** No closed form: the fixed point :math:`z_{k+1} = x - g(z_k)`,
:math:`z_0 = x`, a contraction with rate :math:`c`, iterated to tolerance. Gradients of
the inverse are the implicit-function ones: the returned :math:`z = x - g(z^\star)` is
one more step from the detached root, and a hook replaces its incoming gradient
:math:`\bar z` by the solution of :math:`w = \bar z - J_g(z^\star)^\top w` (another
contraction), which is :math:`(I + J_g)^{-\top} \bar z`.

**Spectral normalisation.** Each weight is scaled by :math:`c_\ell / \max(\sigma, c_\ell)`
with :math:`\sigma` the power-iteration estimate of its largest singular value and
:math:`\prod_\ell c_\ell = c`. In training mode one (``n_power_iterations``) update of the
power-iteration vectors happens at the start of each ``forward``/``inverse`` call, as in
``torch.nn.utils.parametrizations.spectral_norm``; so in training mode a forward and a
later inverse can differ by that update. Call :meth:`ResidualFlow.power_iterate_` after
changing weights by hand; ``eval()`` freezes the estimate.
"""

from __future__ import annotations

import warnings
from typing import Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from pwave.flows.base import Flow


class LipschitzLinear(nn.Module):
    r"""A linear layer whose weight is rescaled to spectral norm at most ``coeff``.

    Holds the power-iteration vector ``u`` (a buffer, saved with the state dict).
    """

    def __init__(self, in_features: int, out_features: int, coeff: float, init_scale: float = 1.0):
        super().__init__()
        self.coeff = coeff
        layer = nn.Linear(in_features, out_features)
        self.weight = nn.Parameter(layer.weight.detach() * init_scale)
        self.bias = nn.Parameter(layer.bias.detach() * init_scale)
        self.register_buffer("u", F.normalize(torch.randn(out_features), dim=0))

    @torch.no_grad()
    def power_iterate_(self, n_iterations: int = 1) -> None:
        """Refine the estimate of the top left-singular vector ``u`` in place."""
        u = self.u
        for _ in range(n_iterations):
            v = F.normalize(self.weight.T @ u, dim=0)
            u = F.normalize(self.weight @ v, dim=0)
        self.u.copy_(u)

    def normalized_weight(self) -> Tensor:
        r""":math:`W\, c / \max(\hat\sigma, c)`, differentiable in :math:`W`."""
        u = self.u.clone()  # a later in-place power iteration must not touch the graph
        v = F.normalize(self.weight.T @ u, dim=0).detach()
        sigma = u @ self.weight @ v
        return self.weight * (self.coeff / sigma.clamp_min(self.coeff))


def _lipswish(x: Tensor) -> Tensor:
    """``silu(x) / 1.1``: smooth and 1-Lipschitz (``max |silu'| ~ 1.0998``)."""
    return F.silu(x) / 1.1


class ResidualFlow(Flow):
    r"""i-ResNet block :math:`x = z + g(z)` (see the module docstring for the math).

    Args:
        features: ``D``.
        hidden_features, num_hidden_layers: size of the MLP ``g``.
        lipschitz: the bound :math:`c < 1` on :math:`\mathrm{Lip}(g)`.
        logdet: ``"exact"`` or ``"series"``; ``n_terms`` terms of the power series.
        trace: ``"exact"`` or ``"hutchinson"`` (series only); ``n_probes`` Gaussian probes.
        tol, max_iter: fixed-point tolerance (relative to ``1 + |z|``; default
            ``100 * eps`` of the dtype) and iteration cap, for the inverse and its gradient.

    Shapes: ``z, x: [batch, D]``; ``logabsdet: [batch]``. ``context`` is ignored.
    The Hutchinson probes use the global RNG (seed it with ``torch.manual_seed``).
    """

    def __init__(
        self,
        features: int,
        hidden_features: int = 32,
        num_hidden_layers: int = 1,
        lipschitz: float = 0.9,
        logdet: Literal["exact", "series"] = "exact",
        n_terms: int = 10,
        trace: Literal["exact", "hutchinson"] = "exact",
        n_probes: int = 1,
        n_power_iterations: int = 1,
        tol: float | None = None,
        max_iter: int = 1000,
    ):
        super().__init__()
        if not 0.0 < lipschitz < 1.0:
            raise ValueError(f"lipschitz must be in (0, 1), got {lipschitz}")
        if logdet not in ("exact", "series") or trace not in ("exact", "hutchinson"):
            raise ValueError(f"unknown logdet={logdet!r} or trace={trace!r}")
        self.features, self.lipschitz = features, lipschitz
        self.logdet, self.n_terms, self.trace, self.n_probes = logdet, n_terms, trace, n_probes
        self.n_power_iterations, self.tol, self.max_iter = n_power_iterations, tol, max_iter
        sizes = [features] + [hidden_features] * num_hidden_layers + [features]
        coeff = lipschitz ** (1.0 / (len(sizes) - 1))
        self.layers = nn.ModuleList(
            # The last layer starts small: the block starts close to the identity.
            LipschitzLinear(a, b, coeff, init_scale=0.1 if i == len(sizes) - 2 else 1.0)
            for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]))
        )
        self.power_iterate_(20)

    def power_iterate_(self, n_iterations: int = 1) -> None:
        """Refine every layer's spectral-norm estimate (no gradient)."""
        for layer in self.layers:
            layer.power_iterate_(n_iterations)

    def series_error_bound(self) -> float:
        r"""Bound on the truncation error of the ``n_terms`` series:
        :math:`D c^{n+1} / ((n+1)(1-c))`, since :math:`|\mathrm{tr}(J^k)| \le D c^k`."""
        n, c = self.n_terms, self.lipschitz
        return self.features * c ** (n + 1) / ((n + 1) * (1.0 - c))

    # --- the residual function ---------------------------------------------------------
    def _weights(self) -> list[tuple[Tensor, Tensor]]:
        if self.training:
            self.power_iterate_(self.n_power_iterations)
        return [(layer.normalized_weight(), layer.bias) for layer in self.layers]

    @staticmethod
    def _g(z: Tensor, weights: list[tuple[Tensor, Tensor]]) -> Tensor:
        for i, (w, b) in enumerate(weights):
            z = F.linear(z, w, b)
            if i < len(weights) - 1:
                z = _lipswish(z)
        return z

    def _jacobian(self, gz: Tensor, z: Tensor, create_graph: bool) -> Tensor:
        """``J[b, i, j] = d g_i / d z_j`` by ``D`` backward passes."""
        rows = [
            torch.autograd.grad(gz[:, i].sum(), z, create_graph=create_graph, retain_graph=True)[0]
            for i in range(gz.shape[1])
        ]
        return torch.stack(rows, dim=1)

    def _log_det(self, gz: Tensor, z: Tensor, create_graph: bool) -> Tensor:
        r""":math:`\log\det(I + J_g(z))` per batch item (exact or series, see module doc)."""
        if self.logdet == "exact" or self.trace == "exact":
            jac = self._jacobian(gz, z, create_graph)
            if self.logdet == "exact":
                eye = torch.eye(self.features, dtype=z.dtype, device=z.device)
                return torch.linalg.slogdet(eye + jac).logabsdet
            total, power = z.new_zeros(z.shape[0]), jac
            for k in range(1, self.n_terms + 1):
                total = (
                    total + (-1) ** (k + 1) * torch.diagonal(power, dim1=-2, dim2=-1).sum(-1) / k
                )
                power = power @ jac
            return total
        total = z.new_zeros(z.shape[0])
        for _ in range(self.n_probes):
            v = torch.randn_like(z)
            w = v
            for k in range(1, self.n_terms + 1):
                w = torch.autograd.grad(gz, z, w, create_graph=create_graph, retain_graph=True)[0]
                total = total + (-1) ** (k + 1) * (w * v).sum(-1) / k
        return total / self.n_probes

    def _with_log_det(self, z: Tensor, weights) -> tuple[Tensor, Tensor, Tensor]:
        """``(z', g(z'), log det(I + J_g(z')))`` with ``z'`` a node of the graph."""
        grad_on = torch.is_grad_enabled()
        with torch.enable_grad():
            node = z.clone() if z.requires_grad else z.detach().requires_grad_(True)
            gz = self._g(node, weights)
            log_det = self._log_det(gz, node, create_graph=grad_on)
        if not grad_on:
            return node.detach(), gz.detach(), log_det.detach()
        return node, gz, log_det

    # --- the two directions ------------------------------------------------------------
    def forward(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        node, gz, log_det = self._with_log_det(z, self._weights())
        return node + gz, log_det

    def inverse(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        weights = self._weights()
        frozen = [(w.detach(), b.detach()) for w, b in weights]
        z_star = self._fixed_point(lambda z: x.detach() - self._g(z, frozen), x.detach(), "inverse")
        z = x - self._g(z_star, weights)  # = z_star, with the one-step graph to x and params
        if z.requires_grad:
            z.register_hook(self._implicit_grad_hook(z_star, frozen))
        _, _, log_det = self._with_log_det(z, weights)
        return z, -log_det

    def _fixed_point(self, step, start: Tensor, what: str) -> Tensor:
        tol = self.tol if self.tol is not None else 100.0 * torch.finfo(start.dtype).eps
        current = start
        with torch.no_grad():
            for _ in range(self.max_iter):
                new = step(current)
                if bool(((new - current).abs() <= tol * (1.0 + new.abs())).all()):
                    return new
                current = new
        warnings.warn(
            f"ResidualFlow {what}: fixed point not reached in {self.max_iter} "
            "iterations; is Lip(g) < 1 (call power_iterate_)?",
            stacklevel=3,
        )
        return current

    def _implicit_grad_hook(self, z_star: Tensor, frozen):
        r"""Hook mapping :math:`\bar z \mapsto (I + J_g(z^\star))^{-\top} \bar z`."""

        def hook(grad: Tensor) -> Tensor:
            with torch.enable_grad():
                node = z_star.detach().requires_grad_(True)
                gz = self._g(node, frozen)

                def step(w: Tensor) -> Tensor:
                    with torch.enable_grad():
                        vjp = torch.autograd.grad(gz, node, w, retain_graph=True)[0]
                    return grad - vjp

                return self._fixed_point(step, grad, "gradient")

        return hook
