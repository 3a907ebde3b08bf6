r"""The linear-prediction baseline the teacher has to beat.

An order-:math:`p` Gaussian autoregressive model of the waveform,

.. math:: x_t = \sum_{k=1}^{p} a_k\, x_{t-k} + \sigma\,\varepsilon_t,
          \qquad \varepsilon_t \sim \mathcal N(0, 1),

fitted to the training audio by least squares (the covariance method: the normal equations
:math:`R a = r` with :math:`R = \sum_t \mathbf x_{t-1:t-p} \mathbf x_{t-1:t-p}^\top`,
:math:`r = \sum_t x_t\, \mathbf x_{t-1:t-p}`, summed over every utterance, samples before the
start of an utterance taken as zero), with :math:`\sigma^2` the mean squared residual (its
maximum-likelihood value). Its dev log-likelihood is
:math:`\sum_t \log \mathcal N(x_t;\ \sum_k a_k x_{t-k},\ \sigma^2)`, reported in bits per
16-bit sample by :func:`pwave.units.bits_per_sample`, exactly like the teacher's.

It lives here (below :mod:`pwave.inference` and :mod:`pwave.train`) because two places use
it: training validation scores it next to the teacher (:mod:`pwave.train.baseline`
re-exports it), and ``pwave score`` uses it as the background model of its likelihood ratio
(fitted per file, a complexity correction, or on a corpus).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from pwave.units import bits_per_sample

_CHUNK = 1 << 16


def _as_numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"expected a 1-D waveform, got shape {x.shape}")
    return x


def _lagged(padded: np.ndarray, order: int, start: int, stop: int) -> np.ndarray:
    """Rows ``t = start..stop-1`` of the lag matrix ``[x_{t-1}, ..., x_{t-order}]``.

    ``padded`` is ``x`` preceded by ``order`` zeros, so ``padded[t + order - k] == x[t - k]``.
    """
    windows = np.lib.stride_tricks.sliding_window_view(padded[start : stop + order - 1], order)
    return windows[:, ::-1]


@dataclass(frozen=True)
class LPCBaseline:
    """A fitted Gaussian AR model: ``coeffs [order]`` (:math:`a_1..a_p`) and ``sigma``."""

    coeffs: np.ndarray
    sigma: float

    @property
    def order(self) -> int:
        return int(self.coeffs.shape[0])

    def residual(self, audio) -> np.ndarray:
        """Prediction errors :math:`x_t - \\sum_k a_k x_{t-k}`, ``[T]`` (zero past)."""
        x = _as_numpy(audio)
        padded = np.concatenate([np.zeros(self.order), x])
        out = np.empty_like(x)
        for s in range(0, x.shape[0], _CHUNK):
            e = min(s + _CHUNK, x.shape[0])
            out[s:e] = x[s:e] - _lagged(padded, self.order, s, e) @ self.coeffs
        return out

    def per_sample_log_prob(self, audio) -> np.ndarray:
        """``log N(x_t; sum_k a_k x_{t-k}, sigma^2)`` in nats, ``[T]`` float64 (zero past)."""
        e = self.residual(audio)
        var = self.sigma**2
        return -0.5 * (math.log(2 * math.pi * var) + e * e / var)

    def log_prob(self, audio) -> float:
        """Log-likelihood of one waveform ``[T]`` in nats (float64)."""
        e = self.residual(audio)
        var = self.sigma**2
        return float(-0.5 * (e.shape[0] * (math.log(2 * math.pi * var)) + (e @ e) / var))

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON): ``{"kind": "lpc", "order", "coeffs", "sigma"}``."""
        return {
            "kind": "lpc",
            "order": self.order,
            "coeffs": [float(c) for c in self.coeffs],
            "sigma": self.sigma,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LPCBaseline:
        """The model :meth:`to_dict` wrote; ``ValueError`` for anything else."""
        if not isinstance(d, dict) or d.get("kind") != "lpc" or "coeffs" not in d:
            raise ValueError("not a saved LPC model (expected kind 'lpc' with coeffs, sigma)")
        coeffs = np.asarray(d["coeffs"], dtype=np.float64)
        sigma = float(d["sigma"])
        if coeffs.ndim != 1 or coeffs.size < 1 or not sigma > 0:
            raise ValueError("a saved LPC model needs order >= 1 coefficients and sigma > 0")
        return cls(coeffs=coeffs, sigma=sigma)

    def bits_per_sample(self, utterances: Iterable) -> float:
        """Bits per 16-bit sample over all samples of ``utterances`` (each ``[T]``)."""
        total_lp, total_n = 0.0, 0
        for u in utterances:
            x = _as_numpy(u)
            total_lp += self.log_prob(x)
            total_n += x.shape[0]
        if total_n == 0:
            raise ValueError("no audio to score")
        return float(bits_per_sample(torch.tensor(total_lp, dtype=torch.float64), total_n))


def fit_lpc(utterances: Iterable, order: int = 32, ridge: float = 1e-9) -> LPCBaseline:
    """Least-squares fit of an order-``order`` Gaussian AR model to ``utterances`` (each ``[T]``).

    Args:
        utterances: waveforms (numpy arrays or tensors), pooled into one set of normal
            equations.
        order: :math:`p`, the number of past samples.
        ridge: added to the diagonal of :math:`R`, relative to its mean diagonal (keeps
            the solve well posed on, e.g., pure tones).
    """
    if order < 1:
        raise ValueError(f"order must be >= 1, got {order}")
    R = np.zeros((order, order))
    r = np.zeros(order)
    yy = 0.0
    n = 0
    for u in utterances:
        x = _as_numpy(u)
        padded = np.concatenate([np.zeros(order), x])
        for s in range(0, x.shape[0], _CHUNK):
            e = min(s + _CHUNK, x.shape[0])
            X = _lagged(padded, order, s, e)
            y = x[s:e]
            R += X.T @ X
            r += X.T @ y
            yy += float(y @ y)
        n += x.shape[0]
    if n <= order:
        raise ValueError(f"need more than {order} samples to fit an order-{order} model, got {n}")
    scale = max(float(np.trace(R)) / order, 1e-30)
    a = np.linalg.solve(R + ridge * scale * np.eye(order), r)
    # Mean squared residual from the normal equations: (y'y - 2 a'r + a'Ra) / n.
    mse = (yy - 2.0 * a @ r + a @ R @ a) / n
    return LPCBaseline(coeffs=a, sigma=float(math.sqrt(max(mse, 1e-20))))


__all__ = ["LPCBaseline", "fit_lpc"]
