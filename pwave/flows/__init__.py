"""The generic normalizing-flow core of pwave (knows nothing about audio).

Direction convention: ``forward(z, context)`` is generative (z -> x) and ``inverse(x, context)``
is normalizing (x -> z); both return ``(output, logabsdet)`` with ``logabsdet`` of shape
``[batch]``. ``NormalizingFlow(base, flows)`` turns a flow into a distribution; ``MAF`` and
``IAF`` build the autoregressive ones from MADE conditioners.
"""

from pwave.flows.actnorm import ActNorm
from pwave.flows.autoregressive import (
    IAF,
    MAF,
    AutoregressiveFlow,
    MaskedAffineAutoregressive,
    MaskedSplineAutoregressive,
)
from pwave.flows.base import Compose, Flow, Inverse, soft_clamp, sum_except_batch
from pwave.flows.coupling import AdditiveCoupling, AffineCoupling, DiagonalScaling, realnvp
from pwave.flows.distributions import (
    StandardLogistic,
    StandardNormal,
    affine_forward,
    affine_inverse,
    gaussian_kl,
    make_base,
)
from pwave.flows.elementwise import ElementwiseRQSpline, LeakyReLUFlow, PiecewiseLinear
from pwave.flows.linear import (
    InvertibleConv1x1,
    LULinear,
    Permutation,
    RandomPermutation,
    ReversePermutation,
)
from pwave.flows.made import MADE
from pwave.flows.normalizing_flow import NormalizingFlow
from pwave.flows.planar import PlanarFlow, RadialFlow
from pwave.flows.residual import ResidualFlow
from pwave.flows.splines import rational_quadratic_spline

__all__ = [
    "IAF",
    "MADE",
    "MAF",
    "ActNorm",
    "AdditiveCoupling",
    "AffineCoupling",
    "AutoregressiveFlow",
    "Compose",
    "DiagonalScaling",
    "ElementwiseRQSpline",
    "Flow",
    "Inverse",
    "InvertibleConv1x1",
    "LULinear",
    "LeakyReLUFlow",
    "MaskedAffineAutoregressive",
    "MaskedSplineAutoregressive",
    "NormalizingFlow",
    "Permutation",
    "PiecewiseLinear",
    "PlanarFlow",
    "RadialFlow",
    "RandomPermutation",
    "ResidualFlow",
    "ReversePermutation",
    "StandardLogistic",
    "StandardNormal",
    "affine_forward",
    "affine_inverse",
    "gaussian_kl",
    "make_base",
    "rational_quadratic_spline",
    "realnvp",
    "soft_clamp",
    "sum_except_batch",
]
