"""``WaveNetFlowModel``: what the teacher (MAF) and the student (IAF) are both made of.

One mel upsampler shared by ``K`` WaveNets, each mapping its (one-step shifted) input and the
conditioning to a per-step ``(mu, log_scale)``; a base density; soft-bounded log-scales whose
total starts at ``config.init_log_scale``; save/load through :class:`SavableModel`. The two
subclasses differ only in which side of each affine step the WaveNet reads (``x`` for the
teacher, ``z`` for the student) and in how many layers each flow has.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from pwave.audio.config import FeatureConfig
from pwave.flows.base import soft_clamp
from pwave.flows.distributions import make_base
from pwave.models.savable import SavableModel
from pwave.nn.upsampler import MelUpsampler
from pwave.nn.wavenet import WaveNet, shift_right


def bounded_log_scale(raw: Tensor, low: float, high: float) -> Tensor:
    """Soft-clamp ``raw`` into ``(low, high)``: ``soft_clamp(raw - c, (high - low) / 2) + c``
    with ``c`` the centre; slope 1 at the centre."""
    centre = 0.5 * (low + high)
    return soft_clamp(raw - centre, 0.5 * (high - low)) + centre


def unbounded_log_scale(value: float, low: float, high: float) -> float:
    """Inverse of :func:`bounded_log_scale` for a number strictly inside ``(low, high)``
    (used to set the raw log-scale bias that gives a chosen initial log-scale)."""
    centre, half = 0.5 * (low + high), 0.5 * (high - low)
    return centre + half * math.atanh((value - centre) / half)


class WaveNetFlowModel(SavableModel, nn.Module):
    """Shared skeleton; ``config`` needs the WaveNet, upsampler and log-scale fields that
    :class:`~pwave.models.teacher.TeacherConfig` and
    :class:`~pwave.models.student.StudentConfig` both have.

    Args:
        config: the model config (kept as ``self.config``).
        flows: ``(layers, cycles)`` of each flow's WaveNet, in the order the flows apply.
    """

    config_class: type = object

    def __init__(self, config: Any, flows: Sequence[tuple[int, int]]):
        super().__init__()
        self.config = config
        feats = config.features
        self.upsampler = MelUpsampler(
            n_mels=feats.n_mels,
            hop_length=feats.hop_length,
            upsample_factors=config.upsample_factors,
            cond_channels=config.cond_channels,
            context_frames=config.mel_context_frames,
        )
        self.wavenets = nn.ModuleList(
            WaveNet(
                in_channels=1,
                out_channels=2,
                residual_channels=config.residual_channels,
                gate_channels=config.gate_channels,
                skip_channels=config.skip_channels,
                kernel_size=config.kernel_size,
                layers=layers,
                cycles=cycles,
                cond_channels=config.cond_channels,
                use_weight_norm=config.use_weight_norm,
            )
            for layers, cycles in flows
        )
        # Each flow starts at an equal share of the total initial log-scale.
        raw = unbounded_log_scale(
            config.init_log_scale / len(flows), config.log_scale_min, config.log_scale_max
        )
        with torch.no_grad():
            for net in self.wavenets:
                net.head_out.bias[1] = raw
        self.base = make_base(config.base)

    @classmethod
    def from_config_dict(cls, d: dict[str, Any]):
        return cls(cls.config_class.from_dict(d))

    @property
    def features(self) -> FeatureConfig:
        return self.config.features

    @property
    def num_flows(self) -> int:
        return len(self.wavenets)

    def condition(self, mel: Tensor) -> Tensor:
        """Upsample mel ``[B, n_mels, frames + 2 ctx]`` to ``[B, C_cond, frames * hop]``."""
        return self.upsampler(mel)

    def split_params(self, out: Tensor) -> tuple[Tensor, Tensor]:
        """WaveNet output ``[B, 2, ...]`` -> ``(mu, log_scale)`` each ``[B, ...]`` (bounded)."""
        c = self.config
        return out[:, 0], bounded_log_scale(out[:, 1], c.log_scale_min, c.log_scale_max)

    def flow_params(self, k: int, y: Tensor, cond: Tensor) -> tuple[Tensor, Tensor]:
        """``(mu, log_scale)`` ``[B, T]`` of flow ``k`` read from ``y [B, T]`` (the teacher's
        flow output, the student's flow input); parallel, column ``t`` sees ``y[:, :t]`` only."""
        return self.split_params(self.wavenets[k](shift_right(y).unsqueeze(1), cond))
