"""Properties of the shared flow base: affine step, base densities, composition."""

import math

import pytest
import torch

from pwave.flows.base import Compose, Inverse, soft_clamp
from pwave.flows.distributions import (
    StandardLogistic,
    StandardNormal,
    affine_forward,
    affine_inverse,
    gaussian_kl,
    make_base,
)

F64 = torch.float64


class _Affine(torch.nn.Module):
    """A tiny element-wise affine flow used to exercise Compose/Inverse."""

    def __init__(self, mu: float, log_scale: float):
        super().__init__()
        self.mu = torch.nn.Parameter(torch.tensor(mu, dtype=F64))
        self.log_scale = torch.nn.Parameter(torch.tensor(log_scale, dtype=F64))

    def forward(self, z, context=None):
        return affine_forward(z, self.mu.expand_as(z), self.log_scale.expand_as(z))

    def inverse(self, x, context=None):
        return affine_inverse(x, self.mu.expand_as(x), self.log_scale.expand_as(x))


def test_affine_round_trip_and_logdet():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(4, 7, generator=g, dtype=F64)
    mu, ls = torch.randn(4, 7, generator=g, dtype=F64), torch.randn(4, 7, generator=g, dtype=F64)
    x, ld_f = affine_forward(z, mu, ls)
    z2, ld_i = affine_inverse(x, mu, ls)
    torch.testing.assert_close(z2, z)
    torch.testing.assert_close(ld_f + ld_i, torch.zeros(4, dtype=F64))
    jac = torch.autograd.functional.jacobian(lambda v: affine_forward(v, mu[0], ls[0])[0], z[0])
    torch.testing.assert_close(torch.linalg.slogdet(jac)[1], ld_f[0])


def test_compose_adds_logdets_and_inverse_swaps():
    flows = Compose([_Affine(0.3, 0.2), _Affine(-1.0, -0.5)])
    z = torch.randn(5, 3, dtype=F64)
    x, ld = flows(z)
    torch.testing.assert_close(x, (z * math.exp(0.2) + 0.3) * math.exp(-0.5) - 1.0)
    torch.testing.assert_close(ld, torch.full((5,), 3 * (0.2 - 0.5), dtype=F64))
    z2, ld_inv = flows.inverse(x)
    torch.testing.assert_close(z2, z)
    torch.testing.assert_close(ld_inv, -ld)
    swapped = Inverse(flows)
    torch.testing.assert_close(swapped(x)[0], z)


@pytest.mark.parametrize("cls", [StandardNormal, StandardLogistic])
def test_base_density_integrates_to_one_and_matches_loc_scale(cls):
    base = cls()
    grid = torch.linspace(-40, 40, 200_001, dtype=F64)
    dx = grid[1] - grid[0]
    mass = torch.exp(base.log_prob_elementwise(grid)).sum() * dx
    assert abs(mass.item() - 1.0) < 1e-6
    # Location-scale member equals the change of variables of the standard one.
    mu, ls = torch.tensor(0.7, dtype=F64), torch.tensor(-1.3, dtype=F64)
    density = torch.exp(base.loc_scale_log_prob(grid, mu, ls))
    assert abs((density.sum() * dx).item() - 1.0) < 1e-6
    # Entropy: -E[log p] by quadrature equals the closed form.
    entropy = -(density * base.loc_scale_log_prob(grid, mu, ls)).sum() * dx
    torch.testing.assert_close(entropy, base.loc_scale_entropy(ls), atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", ["gaussian", "logistic"])
def test_base_sampling_moments_and_seed(name):
    base = make_base(name)
    a = base.sample(200_000, event_shape=(), generator=torch.Generator().manual_seed(3))
    b = base.sample(200_000, event_shape=(), generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    var = 1.0 if name == "gaussian" else math.pi**2 / 3
    assert abs(a.mean().item()) < 0.02
    assert abs(a.var().item() / var - 1.0) < 0.02


def test_make_base_rejects_unknown_name():
    with pytest.raises(ValueError, match="unknown base distribution 'laplace'"):
        make_base("laplace")


def test_gaussian_kl_matches_monte_carlo():
    g = torch.Generator().manual_seed(1)
    mu_q, ls_q, mu_p, ls_p = (torch.randn(3, generator=g, dtype=F64) * 0.5 for _ in range(4))
    base = StandardNormal()
    z = torch.randn(400_000, 3, generator=g, dtype=F64)
    x = mu_q + z * torch.exp(ls_q)
    mc = base.loc_scale_log_prob(x, mu_q, ls_q) - base.loc_scale_log_prob(x, mu_p, ls_p)
    closed = gaussian_kl(mu_q, ls_q, mu_p, ls_p)
    stderr = mc.std(0) / math.sqrt(z.shape[0])
    assert torch.all((mc.mean(0) - closed).abs() < 5 * stderr + 1e-4)


def test_soft_clamp_is_bounded_and_identity_near_zero():
    s = torch.linspace(-100, 100, 1001, dtype=F64)
    out = soft_clamp(s, bound=3.0)
    assert out.abs().max() <= 3.0
    assert torch.all(out.diff() >= 0)  # monotone, so it keeps the ordering of scales
    assert soft_clamp(torch.tensor(6.0, dtype=F64), 3.0) < 3.0
    small = torch.linspace(-0.01, 0.01, 11, dtype=F64)
    torch.testing.assert_close(soft_clamp(small, 3.0), small, atol=1e-6, rtol=0)
