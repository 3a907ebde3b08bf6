"""Properties of the classic flows: planar/radial, linear, element-wise, coupling, ActNorm,
residual. Every flow: round trip, log-determinants against ``slogdet`` of the autograd
Jacobian in both directions, gradients reaching every parameter, save/load; plus
normalisation of 2-D densities on a grid and the residual flow's power series."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch
from torch.autograd.functional import jacobian

from pwave.flows.actnorm import ActNorm
from pwave.flows.base import Flow
from pwave.flows.coupling import (
    AdditiveCoupling,
    AffineCoupling,
    DiagonalScaling,
    alternating_mask,
    realnvp,
)
from pwave.flows.distributions import StandardNormal
from pwave.flows.elementwise import ElementwiseRQSpline, LeakyReLUFlow, PiecewiseLinear
from pwave.flows.linear import (
    InvertibleConv1x1,
    LULinear,
    RandomPermutation,
    ReversePermutation,
)
from pwave.flows.normalizing_flow import NormalizingFlow
from pwave.flows.planar import PlanarFlow, RadialFlow
from pwave.flows.residual import ResidualFlow

DTYPE = torch.float64
BATCH = 3
SPATIAL = 3  # length of the [batch, channels, length] inputs of the 1x1 conv and ActNorm


@dataclass(frozen=True)
class Case:
    build: Callable[[int, torch.Generator], Flow]
    event: Callable[[int], tuple[int, ...]] = lambda d: (d,)
    inputs: str = "normal"  # "normal" or "unit" (uniform on (0, 1))
    context: int = 0  # context features
    has_params: bool = True


CASES: dict[str, Case] = {
    "planar": Case(lambda d, g: PlanarFlow(d, generator=g)),
    "radial": Case(lambda d, g: RadialFlow(d, generator=g)),
    "lu_linear": Case(lambda d, g: LULinear(d, perm=torch.randperm(d, generator=g))),
    "random_permutation": Case(lambda d, g: RandomPermutation(d, g), has_params=False),
    "reverse_permutation": Case(lambda d, g: ReversePermutation(d), has_params=False),
    "conv1x1": Case(lambda d, g: InvertibleConv1x1(d, g), event=lambda d: (d, SPATIAL)),
    "leaky_relu": Case(lambda d, g: LeakyReLUFlow(0.3), has_params=False),
    "piecewise_linear_unit": Case(lambda d, g: PiecewiseLinear(d, bins=5), inputs="unit"),
    "piecewise_linear_bounded": Case(lambda d, g: PiecewiseLinear(d, bins=6, bound=2.0)),
    "rq_spline": Case(lambda d, g: ElementwiseRQSpline(d, bins=6, bound=2.0)),
    "additive_coupling": Case(lambda d, g: AdditiveCoupling(alternating_mask(d, 0), None, 8)),
    "diagonal_scaling": Case(lambda d, g: DiagonalScaling(d)),
    "affine_coupling": Case(lambda d, g: AffineCoupling(alternating_mask(d, 1), None, 8)),
    "affine_coupling_context": Case(
        lambda d, g: AffineCoupling(alternating_mask(d, 0), None, 8, context_features=3),
        context=3,
    ),
    "actnorm": Case(lambda d, g: ActNorm(d), event=lambda d: (d, SPATIAL)),
    "residual": Case(lambda d, g: ResidualFlow(d, hidden_features=8, lipschitz=0.8)),
}
DIMS = [2, 5]


def perturb(flow: Flow, generator: torch.Generator, scale: float = 0.5) -> None:
    """Move every parameter away from its (near-identity) initialisation."""
    with torch.no_grad():
        for p in flow.parameters():
            p.add_(scale * torch.randn(p.shape, generator=generator, dtype=p.dtype))


def sample_inputs(case: Case, dim: int, n: int, generator: torch.Generator) -> torch.Tensor:
    shape = (n, *case.event(dim))
    if case.inputs == "unit":
        return torch.rand(shape, generator=generator, dtype=DTYPE)
    return 1.5 * torch.randn(shape, generator=generator, dtype=DTYPE)


def sample_context(case: Case, n: int, generator: torch.Generator) -> torch.Tensor | None:
    if not case.context:
        return None
    return torch.randn(n, case.context, generator=generator, dtype=DTYPE)


def make(name: str, dim: int, seed: int = 0, prepare: bool = True) -> Flow:
    """Build a float64 flow; ``prepare``: data-init (ActNorm), perturb, converge the
    spectral norms (residual) and switch to eval mode."""
    case = CASES[name]
    torch.manual_seed(seed)  # nn.Linear initialisers use the global RNG
    g = torch.Generator().manual_seed(seed + 1)  # seed 0 would draw the identity in 2-D
    flow = case.build(dim, g).to(DTYPE)
    if prepare:
        with torch.no_grad():
            x0 = sample_inputs(case, dim, 16, g)
            flow.inverse(x0, sample_context(case, 16, g))  # ActNorm's data-dependent init
        perturb(flow, g)
        if isinstance(flow, ResidualFlow):
            flow.power_iterate_(200)
        flow.eval()
    return flow


def data(name: str, dim: int, n: int = BATCH, seed: int = 1):
    case = CASES[name]
    g = torch.Generator().manual_seed(seed)
    return sample_inputs(case, dim, n, g), sample_context(case, n, g)


def per_sample_logabsdet_of_jacobian(fn, inputs: torch.Tensor, context) -> torch.Tensor:
    """``log|det d fn(v) / dv|`` for each sample of ``inputs``, via autograd + slogdet."""
    out = []
    for b in range(inputs.shape[0]):
        ctx = None if context is None else context[b : b + 1]

        def flat(v, b=b, ctx=ctx):
            return fn(v.reshape(1, *inputs.shape[1:]), ctx)[0].flatten()

        jac = jacobian(flat, inputs[b].flatten())
        sign, logabsdet = torch.linalg.slogdet(jac)
        assert sign != 0
        out.append(logabsdet)
    return torch.stack(out)


PARAMS = [(name, dim) for name in CASES for dim in DIMS]
IDS = [f"{name}-{dim}d" for name, dim in PARAMS]


@pytest.mark.parametrize(("name", "dim"), PARAMS, ids=IDS)
def test_round_trip_and_logdets_cancel(name, dim):
    flow = make(name, dim)
    z, ctx = data(name, dim, n=64)
    x, ld_fwd = flow(z, ctx)
    assert x.shape == z.shape and ld_fwd.shape == (64,)
    assert not torch.allclose(x, z, atol=1e-3), "the test map should not be the identity"
    z_back, ld_inv = flow.inverse(x, ctx)
    torch.testing.assert_close(z_back, z, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(ld_fwd + ld_inv, torch.zeros_like(ld_fwd), rtol=0, atol=1e-9)


@pytest.mark.parametrize(("name", "dim"), PARAMS, ids=IDS)
def test_logdet_matches_autograd_jacobian(name, dim):
    flow = make(name, dim)
    z, ctx = data(name, dim)
    x, ld_fwd = flow(z, ctx)
    torch.testing.assert_close(ld_fwd, per_sample_logabsdet_of_jacobian(flow, z, ctx))
    x = x.detach()
    _, ld_inv = flow.inverse(x, ctx)
    torch.testing.assert_close(ld_inv, per_sample_logabsdet_of_jacobian(flow.inverse, x, ctx))


@pytest.mark.parametrize(("name", "dim"), PARAMS, ids=IDS)
def test_gradients_reach_every_parameter(name, dim):
    flow = make(name, dim).train()
    params = dict(flow.named_parameters())
    assert bool(params) == CASES[name].has_params
    if not params:
        return
    z, ctx = data(name, dim, n=16)
    g = torch.Generator().manual_seed(5)
    x, ld_fwd = flow(z, ctx)
    z_back, ld_inv = flow.inverse(z, ctx)
    weights = [torch.randn(t.shape, generator=g, dtype=DTYPE) for t in (x, z_back)]
    loss = (x * weights[0]).sum() + (z_back * weights[1]).sum() + ld_fwd.sum() + ld_inv.sum()
    loss.backward()
    for pname, p in params.items():
        assert p.grad is not None, pname
        assert torch.isfinite(p.grad).all(), pname
        assert p.grad.abs().sum() > 0, pname


@pytest.mark.parametrize(("name", "dim"), PARAMS, ids=IDS)
def test_state_dict_round_trip(name, dim):
    flow = make(name, dim, seed=0)
    fresh = make(name, dim, seed=1, prepare=False)
    fresh.load_state_dict(flow.state_dict())
    fresh.eval()
    z, ctx = data(name, dim)
    for a, b in zip(flow(z, ctx), fresh(z, ctx)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    for a, b in zip(flow.inverse(z, ctx), fresh.inverse(z, ctx)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("name", ["planar", "residual"])
def test_numerical_inverse_parameter_gradients_match_finite_differences(name):
    """Implicit-function gradients of the numerical inverses vs central differences."""
    flow = make(name, 3)
    x, _ = data(name, 3, n=8)
    g = torch.Generator().manual_seed(7)
    weight = torch.randn(x.shape, generator=g, dtype=DTYPE)

    def objective() -> torch.Tensor:
        z, ld = flow.inverse(x)
        return (z * weight).sum() + ld.sum()

    objective().backward()
    directions = [torch.randn(p.shape, generator=g, dtype=DTYPE) for p in flow.parameters()]
    analytic = sum((p.grad * d).sum() for p, d in zip(flow.parameters(), directions))
    eps = 1e-5
    values = []
    with torch.no_grad():
        for sign in (1.0, -1.0):
            for p, d in zip(flow.parameters(), directions):
                p.add_(sign * eps * d)
            values.append(objective())
            for p, d in zip(flow.parameters(), directions):
                p.sub_(sign * eps * d)
    numeric = (values[0] - values[1]) / (2 * eps)
    torch.testing.assert_close(analytic, numeric, rtol=1e-6, atol=1e-6)


# --- normalisation -----------------------------------------------------------------------
def _grid_integral(dist: NormalizingFlow, extent: float, n: int) -> float:
    """Midpoint rule of ``exp(log_prob)`` over ``[-extent, extent]^2`` with ``n^2`` cells."""
    h = 2 * extent / n
    axis = torch.linspace(-extent + h / 2, extent - h / 2, n, dtype=DTYPE)
    grid = torch.cartesian_prod(axis, axis)
    with torch.no_grad():
        return float(torch.exp(dist.log_prob(grid)).sum() * h * h)


def _normalizing_flow(name: str) -> NormalizingFlow:
    """A perturbed 2-D RealNVP or planar stack with a standard normal base."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    if name == "realnvp":
        stack, scale = realnvp(2, num_layers=4, hidden_features=16), 0.15
    else:
        stack, scale = [PlanarFlow(2, generator=g) for _ in range(4)], 0.5
    dist = NormalizingFlow(StandardNormal((2,)), stack).to(DTYPE)
    perturb(dist, g, scale)
    return dist


@pytest.mark.parametrize("name", ["realnvp", "planar"])
def test_density_integrates_to_one(name):
    dist = _normalizing_flow(name)
    # The map is far from the identity (else the test would be vacuous) ...
    z = dist.base.sample(512, generator=torch.Generator().manual_seed(3))
    assert (dist.flow(z)[0] - z).abs().mean() > 0.1
    # ... and its samples lie well inside the grid, whose tails are then negligible.
    extent = 9.0
    samples = dist.sample(20000, generator=torch.Generator().manual_seed(4))
    assert samples.abs().max() < extent - 3.0
    # Midpoint rule with cell 0.045: measured error ~1e-5 (RealNVP), ~1e-8 (planar).
    total = _grid_integral(dist, extent, 400)
    assert abs(total - 1.0) < 1e-3, total


# --- flow-specific properties --------------------------------------------------------------
def test_planar_and_radial_constraints_hold_for_adversarial_parameters():
    planar, radial = PlanarFlow(3).to(DTYPE), RadialFlow(3).to(DTYPE)
    with torch.no_grad():
        planar.u.copy_(-10.0 * planar.w)  # raw w^T u << -1
        radial.beta_raw.fill_(-30.0)  # raw beta << -alpha
    assert planar.w @ planar.u_hat() > -1
    alpha, beta = radial.alpha_beta()
    assert beta > -alpha
    z, _ = data("planar", 3, n=32)
    for flow in (planar, radial):
        x, ld = flow(z)
        assert torch.isfinite(ld).all()
        torch.testing.assert_close(flow.inverse(x)[0], z, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize(
    "name",
    [
        "radial",
        "lu_linear",
        "piecewise_linear_unit",
        "piecewise_linear_bounded",
        "rq_spline",
        "additive_coupling",
        "diagonal_scaling",
        "affine_coupling",
    ],
)
def test_initialisation_is_identity(name):
    flow = make(name, 5, prepare=False)
    z, ctx = data(name, 5, n=16)
    if name == "lu_linear":  # W = P at initialisation: undo the permutation
        flow.p.copy_(torch.eye(5, dtype=DTYPE))
    x, ld = flow(z, ctx)
    torch.testing.assert_close(x, z)
    torch.testing.assert_close(ld, torch.zeros(16, dtype=DTYPE))


def test_conv1x1_starts_as_a_rotation():
    conv = InvertibleConv1x1(4, torch.Generator().manual_seed(0)).to(DTYPE)
    w = conv.weight()
    torch.testing.assert_close(
        w @ w.T, torch.eye(4, dtype=DTYPE), rtol=0, atol=1e-6
    )  # float32 init
    assert not torch.allclose(w.abs(), torch.eye(4, dtype=DTYPE), atol=1e-3)
    z = torch.randn(2, 4, 6, dtype=DTYPE)
    torch.testing.assert_close(conv(z)[1], torch.zeros(2, dtype=DTYPE))


@pytest.mark.parametrize("first", ["inverse", "forward"])
def test_actnorm_data_dependent_init(first):
    g = torch.Generator().manual_seed(0)
    v = 3.0 + 2.0 * torch.randn(32, 4, 7, generator=g, dtype=DTYPE) * torch.arange(1, 5).view(
        1, 4, 1
    )
    flow = ActNorm(4).to(DTYPE)
    out, _ = getattr(flow, first)(v)
    torch.testing.assert_close(out.mean(dim=(0, 2)), torch.zeros(4, dtype=DTYPE))
    torch.testing.assert_close(out.std(dim=(0, 2), correction=0), torch.ones(4, dtype=DTYPE))
    before = {k: t.clone() for k, t in flow.state_dict().items()}
    getattr(flow, first)(v + 10.0)  # a second batch must not re-initialise
    for k, t in flow.state_dict().items():
        torch.testing.assert_close(t, before[k])


@pytest.mark.parametrize("dim", DIMS)
def test_residual_power_series_within_truncation_bound(dim):
    exact = make("residual", dim)
    series = ResidualFlow(dim, hidden_features=8, lipschitz=0.8, logdet="series", n_terms=40)
    series = series.to(DTYPE).eval()
    series.load_state_dict(exact.state_dict())
    z, _ = data("residual", dim, n=16)
    ld_exact, ld_series = exact(z)[1], series(z)[1]
    bound = series.series_error_bound()
    assert bound < 1e-3
    assert (ld_exact - ld_series).abs().max() <= bound
    assert ld_exact.abs().max() > 1e-2  # the log-determinant is not trivially zero
    # Fewer terms are worse than more: the truncation really is what the bound controls.
    series.n_terms = 2
    assert (ld_exact - series(z)[1]).abs().max() > (ld_exact - ld_series).abs().max()


def test_residual_hutchinson_is_unbiased_for_the_truncated_series():
    dim, repeats = 5, 4000
    exact_trace = ResidualFlow(5, hidden_features=8, lipschitz=0.8, logdet="series", n_terms=6)
    hutch = ResidualFlow(
        5, hidden_features=8, lipschitz=0.8, logdet="series", n_terms=6, trace="hutchinson"
    )
    reference = make("residual", dim)
    for flow in (exact_trace, hutch):
        flow.to(DTYPE).eval().load_state_dict(reference.state_dict())
    z, _ = data("residual", dim, n=2)
    target = exact_trace(z)[1]
    torch.manual_seed(11)
    estimates = hutch(z.repeat(repeats, 1))[1].reshape(repeats, 2)
    stderr = estimates.std(dim=0) / repeats**0.5
    assert (stderr > 0).all()
    assert ((estimates.mean(dim=0) - target).abs() < 5 * stderr).all()


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", list(CASES))
def test_round_trip_on_cuda_float32(name):
    flow = make(name, 5).to(device="cuda", dtype=torch.float32)
    z, ctx = data(name, 5, n=64)
    z = z.to("cuda", torch.float32)
    ctx = None if ctx is None else ctx.to("cuda", torch.float32)
    x, ld_fwd = flow(z, ctx)
    z_back, ld_inv = flow.inverse(x, ctx)
    assert z_back.device.type == "cuda"
    torch.testing.assert_close(z_back, z, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(ld_fwd + ld_inv, torch.zeros_like(ld_fwd), rtol=0, atol=1e-4)
