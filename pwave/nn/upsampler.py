r"""Mel upsampler: frame-rate features ``[B, n_mels, frames + 2 * context]`` to sample-rate
conditioning ``[B, C_cond, frames * hop]``.

Two stages:

1. **Context conv** -- a non-causal convolution over frames with kernel ``2 * context + 1`` and
   no padding maps ``n_mels -> C_cond`` channels and consumes the ``context`` extra frames the
   data module adds on each side, leaving exactly ``frames`` columns (with ``context == 0`` it is
   a 1x1 convolution).
2. **Upsampling stack** -- for each factor ``f`` in ``upsample_factors``: repeat every column
   ``f`` times (nearest neighbour), then smooth with a depthwise convolution of kernel
   ``2 f + 1`` (replicate padding, initialised to a box average). The factors must multiply to
   ``hop_length``, so the output has exactly ``frames * hop`` columns; nothing is cropped.

Alignment: after stage 1, column ``i`` describes the mel frame ``i`` of the un-padded utterance
(the one whose context was consumed). Nearest-neighbour repetition assigns it the samples
``[i * hop, (i + 1) * hop)``; the smoothing convolutions blend neighbouring frames near the
block edges, within about ``sum(f_j * prod(factors after j))`` samples, roughly one hop.
So sample ``t`` is conditioned mainly on frame ``t // hop``, matching
``len(audio) == frames * hop``.

Each repeat-then-smooth stage is evaluated in polyphase form at the *input* rate
(:func:`repeat_then_smooth`): the same numbers as the written definition, with about
``(2 f + 1) / 3`` times fewer multiply-adds and no repeated tensor.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def check_upsample_factors(hop_length: int, upsample_factors: Sequence[int]) -> None:
    """Raise ``ValueError`` naming both numbers unless ``prod(upsample_factors) == hop_length``."""
    factors = [int(f) for f in upsample_factors]
    if not factors or any(f < 1 for f in factors):
        raise ValueError(f"upsample_factors must be positive integers, got {factors}")
    total = math.prod(factors)
    if total != hop_length:
        raise ValueError(
            f"upsample_factors {factors} multiply to {total}, but hop_length is {hop_length}; "
            f"choose factors whose product is {hop_length}"
        )


def polyphase_weights(weight: Tensor, factor: int) -> Tensor:
    """``[C, 2 f + 1]`` smoothing taps -> ``[C, f, 3]`` weights of :func:`repeat_then_smooth`.

    Entry ``[c, p, q]`` sums the taps ``j`` with ``(p + j) // f == q``: the taps of output
    phase ``p`` that land on input column ``m - 1 + q``.
    """
    f = factor
    taps = torch.arange(2 * f + 1, device=weight.device)
    phase = torch.arange(f, device=weight.device)
    column = (phase[:, None] + taps[None, :]) // f  # [f, 2 f + 1], values 0, 1, 2
    return torch.einsum("cj,pjq->cpq", weight, F.one_hot(column, 3).to(weight.dtype))


def repeat_then_smooth(c: Tensor, conv: nn.Conv1d, factor: int) -> Tensor:
    r"""``conv(repeat_interleave(c, factor, -1))`` without building the repeated signal.

    ``conv`` must be the depthwise, replicate-padded smoothing convolution of kernel
    ``2 f + 1`` and padding ``f`` built by :class:`MelUpsampler`. The repeated signal is
    :math:`x_n = c_{\lfloor n / f \rfloor}` (its ``f`` replicate-padded samples on each side
    are one more copy of the edge column), so output sample ``f m + p`` is
    :math:`\sum_j w_j\, c_{m - 1 + \lfloor (p + j) / f \rfloor}`: a 3-tap depthwise
    convolution over ``c`` (replicate-padded by one column) with ``f`` output phases, whose
    weights are :func:`polyphase_weights`.

    ``c [B, C, M] -> [B, C, M f]``.
    """
    B, C, M = c.shape
    f = factor
    if conv.kernel_size != (2 * f + 1,) or conv.groups != C or conv.padding != (f,):
        raise ValueError(f"expected a depthwise conv of kernel {2 * f + 1} and padding {f}")
    weight = polyphase_weights(conv.weight[:, 0, :], f)  # [C, f, 3]
    windows = F.pad(c, (1, 1), mode="replicate").unfold(-1, 3, 1)  # [B, C, M, 3] (a view)
    out = torch.matmul(windows, weight.transpose(1, 2))  # [B, C, M, f]: sample f m + p
    if conv.bias is not None:
        out.add_(conv.bias[:, None, None])  # in place: matmul saves its inputs, not out
    return out.reshape(B, C, M * f)


class MelUpsampler(nn.Module):
    """Learned mel-to-sample-rate upsampler.

    Args:
        n_mels: mel channels of the input.
        hop_length: samples per mel frame.
        upsample_factors: per-stage factors, product must equal ``hop_length``
            (e.g. ``(16, 16)`` for hop 256).
        cond_channels: output channels ``C_cond`` (default ``n_mels``).
        context_frames: extra frames the input carries on each side (consumed here).

    ``forward(mel [B, n_mels, frames + 2 * context_frames]) -> [B, C_cond, frames * hop_length]``.
    """

    def __init__(
        self,
        n_mels: int,
        hop_length: int,
        upsample_factors: Sequence[int],
        cond_channels: int | None = None,
        context_frames: int = 0,
    ):
        super().__init__()
        check_upsample_factors(hop_length, upsample_factors)
        if context_frames < 0:
            raise ValueError(f"context_frames must be >= 0, got {context_frames}")
        self.n_mels = n_mels
        self.hop_length = hop_length
        self.upsample_factors = tuple(int(f) for f in upsample_factors)
        self.cond_channels = n_mels if cond_channels is None else cond_channels
        self.context_frames = context_frames
        C = self.cond_channels
        self.context_conv = nn.Conv1d(n_mels, C, 2 * context_frames + 1)
        self.smooth = nn.ModuleList(
            nn.Conv1d(C, C, 2 * f + 1, padding=f, groups=C, padding_mode="replicate")
            for f in self.upsample_factors
        )
        with torch.no_grad():
            for conv, f in zip(self.smooth, self.upsample_factors):
                conv.weight.fill_(1.0 / (2 * f + 1))
                conv.bias.zero_()

    def num_samples(self, mel_frames: int) -> int:
        """Output length for an input with ``mel_frames`` columns (context included)."""
        return (mel_frames - 2 * self.context_frames) * self.hop_length

    def forward(self, mel: Tensor) -> Tensor:
        """``[B, n_mels, frames + 2 * context] -> [B, C_cond, frames * hop]``."""
        if mel.dim() != 3 or mel.shape[1] != self.n_mels:
            raise ValueError(f"mel must be [B, {self.n_mels}, frames], got {tuple(mel.shape)}")
        frames = mel.shape[-1] - 2 * self.context_frames
        if frames < 1:
            raise ValueError(
                f"mel has {mel.shape[-1]} frames but needs more than 2 * context_frames = "
                f"{2 * self.context_frames}"
            )
        c = self.context_conv(mel)
        for conv, f in zip(self.smooth, self.upsample_factors):
            c = repeat_then_smooth(c, conv, f)
        return c

    def extra_repr(self) -> str:
        return (
            f"n_mels={self.n_mels}, hop_length={self.hop_length}, "
            f"upsample_factors={self.upsample_factors}, cond_channels={self.cond_channels}, "
            f"context_frames={self.context_frames}"
        )
