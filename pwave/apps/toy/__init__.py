r"""Parallel WaveNet in miniature: a 2-D MAF teacher and its IAF student.

The two stages of Parallel WaveNet on a 2-D density whose log-density is known, so
that both divergences can be measured exactly (up to Monte Carlo error):

1. **Teacher** -- a spline MAF :math:`p_T` fitted by maximum likelihood on fresh data
   samples. Reported: :math:`\mathrm{KL}(p\,\|\,p_T) = \mathbb E_p[\log p - \log p_T]`
   (the teacher NLL on fresh data minus the true entropy :math:`H(p) = -\mathbb E_p \log
   p`; both averaged over the same samples, with the standard error of the paired
   difference).
2. **Student** -- a spline IAF :math:`q` distilled from the frozen teacher by Monte Carlo
   reverse KL: draw :math:`z`, push it through the student (one parallel pass), take
   :math:`\log q` from the cached noise and :math:`\log p_T` from the teacher (whose
   parameters are frozen; gradients flow through its input) and minimise
   :math:`\mathbb E_q[\log q - \log p_T] = \mathrm{KL}(q\,\|\,p_T)`.

Then it times sampling: the teacher samples sequentially (``D`` MADE passes per layer),
the student in parallel (one pass per layer).

Densities (all in 2-D)
----------------------
* ``8gaussians``: an equal-weight mixture of 8 isotropic Gaussians with standard
  deviation :math:`\sigma = 0.2`, centred at :math:`2(\cos\frac{2\pi k}{8},
  \sin\frac{2\pi k}{8})`, :math:`k = 0..7`:
  :math:`\log p(x) = \operatorname{logsumexp}_k \bigl[-\frac{|x - c_k|^2}{2\sigma^2}\bigr]
  - \log 8 - \log(2\pi\sigma^2)`.
* ``ring``: uniform angle, radius :math:`r \sim \mathcal N(2, 0.2^2)` truncated to
  :math:`r > 0`: :math:`p(x) = \mathcal N(r; 2, 0.2^2) / (2\pi r\, \Phi(2/0.2))`.
* ``checkerboard``: uniform on the 8 "black" unit squares of a 4x4 board on
  :math:`[-2, 2]^2` (density 1/8 there, 0 elsewhere).
* ``moons``: two interleaved half circles plus Gaussian noise (std 0.1), scaled by 1.5 and
  centred; a sampler only (no closed-form density, so no teacher KL).

Usage: ``pwave toy --output runs/toy``; writes ``metrics.json`` and ``toy.png`` into the
output folder. Modules: :mod:`~pwave.apps.toy.densities`, :mod:`~pwave.apps.toy.training`,
:mod:`~pwave.apps.toy.evaluation`, :mod:`~pwave.apps.toy.report` (picture, summary) and
:mod:`~pwave.apps.toy.run`.
"""

from pwave.apps.toy.densities import (
    DENSITIES,
    Checkerboard,
    EightGaussians,
    Ring,
    ToyDensity,
    TwoMoons,
    make_density,
)
from pwave.apps.toy.report import summary_text
from pwave.apps.toy.run import run_toy

__all__ = [
    "DENSITIES",
    "Checkerboard",
    "EightGaussians",
    "Ring",
    "ToyDensity",
    "TwoMoons",
    "make_density",
    "run_toy",
    "summary_text",
]
