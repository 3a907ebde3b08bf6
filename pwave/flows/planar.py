r"""Planar and radial flows (Rezende & Mohamed, 2015, "Variational Inference with Normalizing
Flows"), on vectors ``[batch, D]``.

Both have a closed-form generative map ``forward`` (:math:`z \to x`) and log-determinant;
neither has a closed-form inverse in general, so ``inverse`` (:math:`x \to z`) is numerical:

* planar -- a monotone scalar equation along :math:`w`, solved by safeguarded Newton steps
  (Newton inside a shrinking bisection bracket), vectorised over the batch;
* radial -- a quadratic in the radius, solved in closed form.

Invertibility is enforced by the constrained reparameterisations of the paper's appendix.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from pwave.flows.base import Flow


class PlanarFlow(Flow):
    r"""Planar flow :math:`x = z + \hat u\, \tanh(w^\top z + b)`.

    With :math:`m(a) = -1 + \mathrm{softplus}(a)`, the constrained
    :math:`\hat u = u + \bigl(m(w^\top u) - w^\top u\bigr)\, w / \|w\|^2` gives
    :math:`c = w^\top \hat u > -1`, hence

    .. math:: \log\left|\det \frac{\partial x}{\partial z}\right|
              = \log\bigl(1 + c\,(1 - \tanh^2(w^\top z + b))\bigr) > -\infty.

    **Inverse (numerical).** Let :math:`a = w^\top z + b` and :math:`y = w^\top x + b`;
    projecting the map on :math:`w` gives the scalar equation :math:`a + c \tanh(a) = y`,
    strictly increasing in :math:`a` with the root in :math:`[y - |c|, y + |c|]`. It is
    solved to ``tol`` by Newton steps that fall back to bisection when they leave the
    bracket; then :math:`z = x - \hat u \tanh(a)`. A last Newton step is taken with autograd
    on, so gradients of the inverse are the implicit-function ones.

    Shapes: ``z, x: [batch, D]``; ``logabsdet: [batch]``. ``context`` is ignored.
    """

    def __init__(
        self,
        features: int,
        generator: torch.Generator | None = None,
        tol: float | None = None,
        max_iter: int = 100,
    ):
        super().__init__()
        self.features = features
        self.tol = tol
        self.max_iter = max_iter
        scale = features**-0.5
        self.w = nn.Parameter(torch.randn(features, generator=generator) * scale)
        # A small u keeps the map close to the identity at initialisation.
        self.u = nn.Parameter(torch.randn(features, generator=generator) * 0.01 * scale)
        self.b = nn.Parameter(torch.zeros(()))

    def u_hat(self) -> Tensor:
        r"""The constrained :math:`\hat u` (so that :math:`w^\top \hat u > -1`)."""
        wu = self.w @ self.u
        m = -1.0 + F.softplus(wu)
        return self.u + (m - wu) * self.w / (self.w @ self.w)

    def forward(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        u_hat = self.u_hat()
        h = torch.tanh(z @ self.w + self.b)  # [batch]
        x = z + h.unsqueeze(-1) * u_hat
        return x, torch.log1p((self.w @ u_hat) * (1.0 - h * h))

    def inverse(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        u_hat = self.u_hat()
        c = self.w @ u_hat
        y = x @ self.w + self.b  # [batch]
        with torch.no_grad():
            a0 = _solve_monotone_tanh(y.detach(), c.detach(), self.tol, self.max_iter)
        # One Newton step at the root: same value, implicit-function gradients.
        t0 = torch.tanh(a0)
        a = a0 - (a0 + c * t0 - y) / (1.0 + c * (1.0 - t0 * t0))
        h = torch.tanh(a)
        z = x - h.unsqueeze(-1) * u_hat
        return z, -torch.log1p(c * (1.0 - h * h))


def _solve_monotone_tanh(y: Tensor, c: Tensor, tol: float | None, max_iter: int) -> Tensor:
    """Solve ``a + c tanh(a) = y`` (``c > -1``) element-wise by safeguarded Newton."""
    if tol is None:
        tol = 100.0 * torch.finfo(y.dtype).eps
    lo, hi = y - c.abs(), y + c.abs()
    a = y.clone()
    for _ in range(max_iter):
        t = torch.tanh(a)
        f = a + c * t - y
        lo = torch.where(f < 0, a, lo)
        hi = torch.where(f > 0, a, hi)
        step = a - f / (1.0 + c * (1.0 - t * t))
        outside = (step < lo) | (step > hi) | ~torch.isfinite(step)
        step = torch.where(outside, 0.5 * (lo + hi), step)
        done = bool(((step - a).abs() <= tol * (1.0 + a.abs())).all())
        a = step
        if done:
            break
    return a


class RadialFlow(Flow):
    r"""Radial flow :math:`x = z + \hat\beta\, h(r)\,(z - z_0)`, :math:`r = \|z - z_0\|`,
    :math:`h(r) = 1 / (\alpha + r)`.

    Constraints: :math:`\alpha = \mathrm{softplus}(\tilde\alpha) > 0` and
    :math:`\hat\beta = -\alpha + \mathrm{softplus}(\tilde\beta) > -\alpha`. All-zero raw
    parameters give :math:`\hat\beta = 0`, the identity. In :math:`D` dimensions

    .. math:: \log\left|\det \frac{\partial x}{\partial z}\right|
              = (D - 1) \log\bigl(1 + \hat\beta h\bigr)
              + \log\Bigl(1 + \frac{\hat\beta\,\alpha}{(\alpha + r)^2}\Bigr).

    **Inverse (closed form, no iteration).** With :math:`R = \|x - z_0\|`, the radius
    solves :math:`r\,(1 + \hat\beta/(\alpha + r)) = R`, i.e. the quadratic
    :math:`r^2 + (\alpha + \hat\beta - R)\,r - \alpha R = 0`, whose unique non-negative
    root is taken in a cancellation-free form; then
    :math:`z = z_0 + (x - z_0) / (1 + \hat\beta h(r))`.

    Shapes: ``z, x: [batch, D]``; ``logabsdet: [batch]``. ``context`` is ignored.
    """

    def __init__(self, features: int, generator: torch.Generator | None = None):
        super().__init__()
        self.features = features
        self.z0 = nn.Parameter(torch.randn(features, generator=generator))
        self.alpha_raw = nn.Parameter(torch.zeros(()))
        self.beta_raw = nn.Parameter(torch.zeros(()))

    def alpha_beta(self) -> tuple[Tensor, Tensor]:
        r"""The constrained :math:`(\alpha, \hat\beta)`."""
        alpha = F.softplus(self.alpha_raw)
        return alpha, -alpha + F.softplus(self.beta_raw)

    def _logabsdet(self, r: Tensor, alpha: Tensor, beta: Tensor) -> Tensor:
        return (self.features - 1) * torch.log1p(beta / (alpha + r)) + torch.log1p(
            beta * alpha / (alpha + r) ** 2
        )

    def forward(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        alpha, beta = self.alpha_beta()
        diff = z - self.z0
        r = diff.norm(dim=-1)
        x = z + (beta / (alpha + r)).unsqueeze(-1) * diff
        return x, self._logabsdet(r, alpha, beta)

    def inverse(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        alpha, beta = self.alpha_beta()
        diff = x - self.z0
        big_r = diff.norm(dim=-1)
        q = alpha + beta - big_r
        root = torch.sqrt(q * q + 4.0 * alpha * big_r)
        # r = (root - q) / 2, rewritten as 2 alpha R / (root + q) when q > 0 (no cancellation).
        positive = q > 0
        safe_den = torch.where(positive, root + q, torch.ones_like(q))
        r = torch.where(positive, 2.0 * alpha * big_r / safe_den, 0.5 * (root - q))
        z = self.z0 + diff / (1.0 + beta / (alpha + r)).unsqueeze(-1)
        return z, -self._logabsdet(r, alpha, beta)
