"""MADE: the masks enforce the autoregressive ordering exactly (Jacobian sparsity)."""

from __future__ import annotations

import pytest
import torch
from torch.autograd.functional import jacobian

from pwave.flows.made import MADE, make_order

D = 5


@pytest.fixture(autouse=True)
def _seed():
    """Default initialisations draw from the global generator: make them reproducible."""
    torch.manual_seed(0)


def _perturb(module: torch.nn.Module, seed: int) -> None:
    """Give every parameter non-trivial values so allowed dependencies are non-zero."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype))


def _input_jacobian(made: MADE, x: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
    """``[D_out, P, D_in]`` Jacobian at a single point."""
    jac = jacobian(lambda v: made(v[None], None if context is None else context[None])[0], x)
    return jac  # [D, P, D]


def _check_ordering(made: MADE, with_context: bool, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(D, generator=g, dtype=torch.float64)
    context = torch.randn(3, generator=g, dtype=torch.float64) if with_context else None
    jac = _input_jacobian(made, x, context).abs().sum(dim=1)  # [D_out, D_in]
    order = made.order
    allowed = order[None, :] < order[:, None]  # input j allowed for output i
    assert torch.all(jac[~allowed] == 0), "an output depends on a forbidden input"
    assert jac[allowed].sum() > 0, "no allowed dependency was realised (test cannot fail)"
    # every output that may depend on something does (deterministic degrees cover all)
    if with_context:
        cjac = jacobian(lambda c: made(x[None], c[None])[0], context).abs().sum(dim=(1, 2))
        assert torch.all(cjac > 0), "context must reach every output, including the first"


@pytest.mark.parametrize(
    "order", ["natural", "reversed", "random", [2, 0, 4, 1, 3], torch.tensor([4, 3, 0, 1, 2])]
)
@pytest.mark.parametrize("with_context", [False, True])
def test_masks_enforce_ordering(order, with_context):
    g = torch.Generator().manual_seed(1)
    made = MADE(
        D,
        16,
        num_hidden=2,
        params_per_feature=3,
        context_features=3 if with_context else None,
        order=order,
        generator=g,
    ).double()
    _perturb(made, 2)
    _check_ordering(made, with_context)
    for seed in range(3):
        made.resample_masks(torch.Generator().manual_seed(10 + seed))
        _check_ordering(made, with_context, seed)


def test_explicit_order_is_kept_and_resample_keeps_it():
    made = MADE(D, 8, order=[3, 1, 0, 4, 2])
    assert made.order.tolist() == [3, 1, 0, 4, 2]
    made.resample_masks(torch.Generator().manual_seed(0))
    assert made.order.tolist() == [3, 1, 0, 4, 2]


def test_resample_changes_masks():
    torch.manual_seed(0)
    made = MADE(D, 32, num_hidden=2)
    before = [layer.mask.clone() for layer in made.hidden_layers]
    made.resample_masks(torch.Generator().manual_seed(0))
    after = [layer.mask for layer in made.hidden_layers]
    assert any(not torch.equal(a, b) for a, b in zip(before, after))


def test_random_order_is_seeded():
    a = make_order(7, "random", torch.Generator().manual_seed(3))
    b = make_order(7, "random", torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and sorted(a.tolist()) == list(range(7))


def test_bad_order_raises():
    with pytest.raises(ValueError):
        make_order(3, [0, 0, 1])
    with pytest.raises(ValueError):
        make_order(3, "sideways")


def test_shapes_and_near_zero_init():
    torch.manual_seed(0)
    made = MADE(4, 16, num_hidden=3, params_per_feature=7, context_features=2)
    out = made(torch.randn(10, 4), torch.randn(10, 2))
    assert out.shape == (10, 4, 7)
    assert out.abs().max() < 0.5  # small last layer: flows built on it start near identity


def test_one_feature_depends_only_on_context():
    made = MADE(1, 32, context_features=2).double()
    _perturb(made, 0)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, generator=g, dtype=torch.float64)
    c = torch.randn(2, generator=g, dtype=torch.float64)
    assert torch.all(jacobian(lambda v: made(v[None], c[None]), x) == 0)
    assert jacobian(lambda v: made(x[None], v[None]), c).abs().sum() > 0
