"""MAF/IAF layers and stacks: round trips, exact log-determinants, triangular Jacobians,
normalisation, and the cached-noise density of the IAF against its sequential inverse."""

from __future__ import annotations

import math

import pytest
import torch
from torch.autograd.functional import jacobian

from pwave.flows.autoregressive import (
    IAF,
    MAF,
    MaskedAffineAutoregressive,
    MaskedSplineAutoregressive,
)
from pwave.flows.base import Compose

DTYPE = torch.float64


@pytest.fixture(autouse=True)
def _seed():
    """Default initialisations draw from the global generator: make them reproducible."""
    torch.manual_seed(0)


def _perturb(module: torch.nn.Module, seed: int, scale: float = 0.5) -> None:
    """Move away from the near-identity init so that every test is non-trivial."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))


def _layer(kind: str, direction: str, features: int, order="natural", context=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    if kind == "affine":
        flow = MaskedAffineAutoregressive(
            features, 16, context_features=context, order=order, direction=direction, generator=g
        )
    else:
        flow = MaskedSplineAutoregressive(
            features,
            16,
            bins=5,
            bound=2.5,
            context_features=context,
            order=order,
            direction=direction,
            generator=g,
        )
    flow = flow.to(DTYPE)
    _perturb(flow, seed + 100)
    return flow


def _single_point_jacobian(fn, x: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
    def f(v):
        out, _ = fn(v[None], None if context is None else context[None])
        return out[0]

    return jacobian(f, x)


LAYERS = [(k, d) for k in ("affine", "spline") for d in ("maf", "iaf")]


@pytest.mark.parametrize("kind,direction", LAYERS)
@pytest.mark.parametrize("features", [2, 5])
@pytest.mark.parametrize("with_context", [False, True])
def test_layer_round_trip_and_logdet(kind, direction, features, with_context):
    context_features = 3 if with_context else None
    flow = _layer(kind, direction, features, order="random", context=context_features, seed=1)
    g = torch.Generator().manual_seed(0)
    z = 1.5 * torch.randn(6, features, generator=g, dtype=DTYPE)
    context = torch.randn(6, 3, generator=g, dtype=DTYPE) if with_context else None

    x, ld_fwd = flow(z, context)
    z_back, ld_inv = flow.inverse(x, context)
    torch.testing.assert_close(z_back, z, atol=1e-9, rtol=0)
    torch.testing.assert_close(ld_fwd + ld_inv, torch.zeros_like(ld_fwd), atol=1e-9, rtol=0)
    assert not torch.allclose(x, z)  # the perturbed layer is not the identity

    for i in range(2):
        c = None if context is None else context[i]
        jac = _single_point_jacobian(flow, z[i], c)
        torch.testing.assert_close(
            torch.linalg.slogdet(jac).logabsdet, ld_fwd[i], atol=1e-9, rtol=0
        )
        jac_inv = _single_point_jacobian(flow.inverse, x[i], c)
        torch.testing.assert_close(
            torch.linalg.slogdet(jac_inv).logabsdet, ld_inv[i], atol=1e-9, rtol=0
        )


def _assert_triangular(jac: torch.Tensor, order: torch.Tensor) -> None:
    """Output i may depend on input j only if order[j] <= order[i]; diagonal non-zero."""
    allowed = order[None, :] <= order[:, None]
    assert torch.all(jac[~allowed] == 0)
    assert torch.all(jac.diagonal() != 0)
    strict = order[None, :] < order[:, None]
    assert jac[strict].abs().sum() > 0  # something off-diagonal is realised


@pytest.mark.parametrize("kind,direction", LAYERS)
@pytest.mark.parametrize("order", ["natural", "reversed", "random", [1, 3, 0, 4, 2]])
def test_layer_jacobian_is_triangular_in_its_order(kind, direction, order):
    flow = _layer(kind, direction, 5, order=order, context=2, seed=3)
    g = torch.Generator().manual_seed(5)
    z = torch.randn(5, generator=g, dtype=DTYPE)
    c = torch.randn(2, generator=g, dtype=DTYPE)
    for resample in range(2):
        if resample:
            flow.resample_masks(torch.Generator().manual_seed(7))
        jac = _single_point_jacobian(flow, z, c)
        _assert_triangular(jac, flow.made.order)
        x = flow(z[None], c[None])[0][0]
        _assert_triangular(_single_point_jacobian(flow.inverse, x, c), flow.made.order)


@pytest.mark.parametrize("constructor", [MAF, IAF])
@pytest.mark.parametrize("transform", ["affine", "spline"])
def test_stacks_round_trip_logdet_and_context(constructor, transform):
    dist = constructor(4, 16, num_flows=3, transform=transform, bins=4, context_features=2).to(
        DTYPE
    )
    _perturb(dist, 11, scale=0.3)
    g = torch.Generator().manual_seed(1)
    z = torch.randn(5, 4, generator=g, dtype=DTYPE)
    c = torch.randn(5, 2, generator=g, dtype=DTYPE)
    x, ld = dist.flow(z, c)
    z_back, ld_inv = dist.flow.inverse(x, c)
    torch.testing.assert_close(z_back, z, atol=1e-9, rtol=0)
    torch.testing.assert_close(ld + ld_inv, torch.zeros_like(ld), atol=1e-9, rtol=0)
    jac = _single_point_jacobian(dist.flow, z[0], c[0])
    torch.testing.assert_close(torch.linalg.slogdet(jac).logabsdet, ld[0], atol=1e-9, rtol=0)
    # alternating orders: the composition is no longer triangular
    assert (jac.triu(1) != 0).any() and (jac.tril(-1) != 0).any()
    # context matters
    x_other, _ = dist.flow(z, c + 1.0)
    assert not torch.allclose(x, x_other)
    assert isinstance(dist.flow, Compose)
    orders = [layer.made.order.tolist() for layer in dist.flow.flows]
    assert orders[0] == [0, 1, 2, 3] and orders[1] == [3, 2, 1, 0]


@pytest.mark.parametrize("constructor", [MAF, IAF])
@pytest.mark.parametrize("transform", ["affine", "spline"])
@pytest.mark.parametrize("features", [1, 2])
def test_density_integrates_to_one(constructor, transform, features):
    torch.manual_seed(0)
    dist = constructor(features, 8, num_flows=2, transform=transform, bins=4, bound=2.0)
    dist = dist.to(DTYPE)
    _perturb(dist, 3, scale=0.4)
    if features == 1:
        n, lim = 40001, 14.0
        grid = torch.linspace(-lim, lim, n, dtype=DTYPE)[:, None]
        cell = 2 * lim / (n - 1)
    else:
        n, lim = 801, 12.0
        axis = torch.linspace(-lim, lim, n, dtype=DTYPE)
        grid = torch.cartesian_prod(axis, axis)
        cell = (2 * lim / (n - 1)) ** 2
    with torch.no_grad():
        log_p = torch.cat([dist.log_prob(chunk) for chunk in grid.split(65536)])
    mass = torch.exp(log_p).sum().item() * cell
    assert math.isfinite(mass)
    assert abs(mass - 1.0) < 1e-3, mass
    # non-trivial: the density is not the standard normal
    with torch.no_grad():
        base = torch.cat([dist.base.log_prob(chunk) for chunk in grid.split(65536)])
    assert (log_p - base).abs().max() > 0.1


@pytest.mark.parametrize("transform", ["affine", "spline"])
def test_iaf_cached_density_equals_sequential_inverse(transform):
    dist = IAF(3, 16, num_flows=3, transform=transform, bins=4, context_features=2).to(DTYPE)
    _perturb(dist, 5, scale=0.3)
    g = torch.Generator().manual_seed(2)
    c = torch.randn(64, 2, generator=g, dtype=DTYPE)
    x, log_q = dist.rsample_and_log_prob(context=c, generator=g)
    torch.testing.assert_close(dist.log_prob(x, c), log_q, atol=1e-8, rtol=0)


def test_maf_sample_density_matches_iaf_of_inverted_maf():
    """Two paths: MAF log_prob (parallel) on its own sequential samples agrees with the
    density accumulated while sampling."""
    dist = MAF(3, 16, num_flows=2, transform="spline", bins=4).to(DTYPE)
    _perturb(dist, 9, scale=0.3)
    x, log_q = dist.rsample_and_log_prob(50, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(dist.log_prob(x), log_q, atol=1e-8, rtol=0)


def test_gradients_reach_every_parameter():
    dist = MAF(3, 8, num_flows=2, transform="spline", bins=4, context_features=2)
    _perturb(dist, 0, scale=0.1)
    loss = -dist.log_prob(torch.randn(16, 3), torch.randn(16, 2)).mean()
    loss.backward()
    for name, p in dist.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_near_identity_at_init():
    dist = IAF(4, 16, num_flows=2, transform="spline")
    z = torch.randn(32, 4)
    x, ld = dist.flow(z)
    assert (x - z).abs().max() < 0.1 and ld.abs().max() < 0.1


# --- the rational-quadratic spline itself ----------------------------------------------
def _spline_params(shape, bins, seed, scale=2.0):
    g = torch.Generator().manual_seed(seed)
    w = scale * torch.randn(*shape, bins, generator=g, dtype=DTYPE)
    h = scale * torch.randn(*shape, bins, generator=g, dtype=DTYPE)
    d = scale * torch.randn(*shape, bins - 1, generator=g, dtype=DTYPE)
    return w, h, d


@pytest.mark.parametrize("bins", [1, 2, 7])
def test_spline_round_trip_and_derivative(bins):
    from pwave.flows.splines import rational_quadratic_spline

    x = torch.linspace(-4.0, 4.0, 801, dtype=DTYPE).reshape(3, 267)
    w, h, d = _spline_params(x.shape, bins, seed=bins)
    y, ld = rational_quadratic_spline(x, w, h, d, bound=3.0)
    x_back, ld_inv = rational_quadratic_spline(y, w, h, d, inverse=True, bound=3.0)
    torch.testing.assert_close(x_back, x, atol=1e-8, rtol=0)
    torch.testing.assert_close(ld + ld_inv, torch.zeros_like(ld), atol=1e-8, rtol=0)
    # derivative against autograd (element-wise map, so the gradient of the sum suffices)
    xg = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(rational_quadratic_spline(xg, w, h, d, bound=3.0)[0].sum(), xg)
    torch.testing.assert_close(torch.log(grad), ld, atol=1e-9, rtol=0)
    yg = y.clone().requires_grad_(True)
    (grad_inv,) = torch.autograd.grad(
        rational_quadratic_spline(yg, w, h, d, inverse=True, bound=3.0)[0].sum(), yg
    )
    torch.testing.assert_close(torch.log(grad_inv), ld_inv, atol=1e-7, rtol=0)
    if bins > 1:
        assert (ld.abs() > 1e-3).any()  # genuinely non-linear


def test_spline_shared_params_are_monotone_and_map_the_interval_onto_itself():
    from pwave.flows.splines import rational_quadratic_spline

    x = torch.linspace(-3.0, 3.0, 2001, dtype=DTYPE)
    w, h, d = _spline_params((), 6, seed=4)
    y, _ = rational_quadratic_spline(x, w, h, d, bound=3.0)
    assert torch.all(y.diff() > 0)
    torch.testing.assert_close(y[[0, -1]], x[[0, -1]], atol=1e-12, rtol=0)


def test_spline_is_identity_outside_bound_and_at_zero_params():
    from pwave.flows.splines import rational_quadratic_spline

    x = torch.tensor([-10.0, -3.0001, 3.0001, 7.5], dtype=DTYPE)
    w, h, d = _spline_params(x.shape, 5, seed=0)
    for inverse in (False, True):
        y, ld = rational_quadratic_spline(x, w, h, d, inverse=inverse, bound=3.0)
        assert torch.equal(y, x) and torch.equal(ld, torch.zeros_like(ld))
    inside = torch.linspace(-2.9, 2.9, 50, dtype=DTYPE)
    zeros = torch.zeros(5, dtype=DTYPE)
    y, ld = rational_quadratic_spline(inside, zeros, zeros, zeros[:4], bound=3.0)
    torch.testing.assert_close(y, inside, atol=1e-12, rtol=0)
    torch.testing.assert_close(ld, torch.zeros_like(ld), atol=1e-12, rtol=0)


def test_spline_gradients_are_finite_in_the_tails():
    from pwave.flows.splines import rational_quadratic_spline

    x = torch.tensor([-5.0, 0.3, 5.0], dtype=DTYPE)
    w, h, d = (t.requires_grad_(True) for t in _spline_params(x.shape, 4, seed=1))
    y, ld = rational_quadratic_spline(x, w, h, d, bound=2.0)
    (y.sum() + ld.sum()).backward()
    for t in (w, h, d):
        assert torch.isfinite(t.grad).all()
