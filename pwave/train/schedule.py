r"""The learning-rate schedule: linear warm-up, then no, exponential or cosine decay."""

from __future__ import annotations

import math
from typing import Literal

DecayKind = Literal["none", "exponential", "cosine"]


def lr_factor(
    step: int,
    warmup_steps: int = 0,
    decay: DecayKind = "exponential",
    decay_steps: int = 100_000,
    decay_rate: float = 0.5,
    min_ratio: float = 0.0,
) -> float:
    r"""Multiplier of the base learning rate at optimizer step ``step`` (0-based).

    * warm-up, ``step < warmup_steps``: :math:`(\text{step} + 1) / \text{warmup\_steps}`;
    * then, with :math:`t = \text{step} - \text{warmup\_steps}` and
      :math:`r` = ``min_ratio``, :math:`r + (1 - r)\,f(t)` where :math:`f` is

      - ``"none"``: 1;
      - ``"exponential"``: :math:`\text{decay\_rate}^{\,t / \text{decay\_steps}}`
        (the rate is multiplied by ``decay_rate`` every ``decay_steps`` steps);
      - ``"cosine"``: :math:`\tfrac12\,(1 + \cos(\pi \min(t / \text{decay\_steps}, 1)))`.
    """
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    t = step - max(warmup_steps, 0)
    if decay == "none":
        f = 1.0
    elif decay == "exponential":
        f = decay_rate ** (t / max(decay_steps, 1))
    elif decay == "cosine":
        f = 0.5 * (1.0 + math.cos(math.pi * min(t / max(decay_steps, 1), 1.0)))
    else:
        raise ValueError(f"unknown lr decay {decay!r}; use 'none', 'exponential' or 'cosine'")
    return min_ratio + (1.0 - min_ratio) * f


__all__ = ["DecayKind", "lr_factor"]
