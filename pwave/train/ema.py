r"""An exponential moving average of a model's weights (validation, export, checkpoints)."""

from __future__ import annotations

import copy

import torch
from torch import nn

from pwave.train.defaults import DEFAULTS


class EMA(nn.Module):
    r"""A frozen copy of a model whose weights track the model's by an exponential average.

    After each optimizer step, :meth:`update` sets, for every floating-point parameter and
    buffer,

    .. math:: \bar\theta \leftarrow d\,\bar\theta + (1 - d)\,\theta,

    with :math:`d = \min(\text{decay}, (1 + n) / (10 + n))` after :math:`n` earlier updates
    when ``warmup`` is on (so the average forgets the random initialisation quickly), else
    ``decay``. Non-float buffers are copied. The copy stays in eval mode and never requires
    gradients; as a submodule of a ``LightningModule`` it is saved in every checkpoint.

    Args:
        model: the model to track (deep-copied once here).
        decay: :math:`d`, in ``[0, 1]``; 0 copies the model at each update.
        warmup: use the :math:`(1+n)/(10+n)` ramp.
    """

    def __init__(self, model: nn.Module, decay: float = DEFAULTS.ema_decay, warmup: bool = True):
        super().__init__()
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"EMA decay must be in [0, 1], got {decay}")
        self.decay = float(decay)
        self.warmup = bool(warmup)
        self.module = copy.deepcopy(model)
        self.module.requires_grad_(False)
        self.module.eval()
        self.register_buffer("num_updates", torch.zeros((), dtype=torch.long))

    def train(self, mode: bool = True) -> EMA:
        """The average always stays in eval mode."""
        return super().train(False)

    def current_decay(self) -> float:
        """The decay the next :meth:`update` uses."""
        if not self.warmup:
            return self.decay
        n = int(self.num_updates)
        return min(self.decay, (1.0 + n) / (10.0 + n))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """One averaging step towards ``model`` (same architecture as the tracked copy)."""
        d = self.current_decay()
        ema_params = list(self.module.parameters())
        params = list(model.parameters())
        if len(ema_params) != len(params):
            raise ValueError("EMA.update: the model does not match the tracked copy")
        for e, p in zip(ema_params, params):
            e.lerp_(p.detach().to(e.dtype), 1.0 - d)
        for e, b in zip(self.module.buffers(), model.buffers()):
            if e.is_floating_point():
                e.lerp_(b.detach().to(e.dtype), 1.0 - d)
            else:
                e.copy_(b)
        self.num_updates += 1

    @torch.no_grad()
    def reset(self, model: nn.Module) -> None:
        """Copy ``model``'s weights into the average and restart the warm-up."""
        self.module.load_state_dict(model.state_dict())
        self.num_updates.zero_()

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)


__all__ = ["EMA"]
