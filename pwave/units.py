"""Units of audio likelihoods: the 16-bit bin and bits per sample (defined once, here)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

BIN_WIDTH_16BIT = 2.0 / 65536.0
"""Width of one 16-bit quantisation bin of audio in ``[-1, 1]``."""


def bits_per_sample(log_prob: Tensor | float, num_samples: int) -> Tensor:
    r"""Bits per 16-bit sample from a continuous log-density (nats) of ``num_samples`` samples.

    A continuous density :math:`p` on audio in :math:`[-1, 1]` gives each 16-bit bin of
    width :math:`\Delta = 2/65536` the probability :math:`P \approx p(x)\,\Delta`, so

    .. math:: \text{bits} = -\frac{1}{T}\,\frac{\log p(x_{1:T}) + T \log \Delta}{\ln 2}
              = -\frac{\log p(x_{1:T})}{T \ln 2} + 15.

    The uniform density on :math:`[-1, 1]` scores exactly 16 bits. Exact (an upper bound on
    the discrete code length) when ``x`` was dequantised with uniform noise of one bin width.

    Args:
        log_prob: ``log p(x)`` in nats, any shape (e.g. ``[batch]``), summed over time.
        num_samples: :math:`T`, the samples each log-density covers.

    Returns:
        Bits per sample, same shape as ``log_prob``, float32 or wider.
    """
    if num_samples <= 0:
        raise ValueError(f"num_samples must be positive, got {num_samples}")
    lp = torch.as_tensor(log_prob)
    if not lp.is_floating_point() or lp.dtype in (torch.float16, torch.bfloat16):
        lp = lp.float()
    return -(lp / num_samples + math.log(BIN_WIDTH_16BIT)) / math.log(2.0)
