"""Exact chunking of long utterances: windows with enough overlap that a chunked pass of a
causal model gives, chunk by chunk, exactly the samples of a whole-utterance pass."""

from __future__ import annotations

import math
from collections.abc import Sequence

from pwave.models.student import Student
from pwave.models.teacher import Teacher


def upsampler_reach(upsample_factors: Sequence[int]) -> int:
    r"""Samples by which the upsampler's smoothing convolutions can carry information:
    :math:`\sum_j f_j \prod_{i > j} f_i` (stage ``j`` smooths over ``±f_j`` steps at its
    rate); the context convolution's frames are handled by slicing the context-padded mel."""
    reach, scale = 0, 1
    for f in reversed([int(f) for f in upsample_factors]):
        reach += f * scale
        scale *= f
    return reach


def chunk_windows(
    frames: int, chunk_frames: int, left: int, right: int
) -> list[tuple[int, int, int, int]]:
    """Split ``frames`` into chunks ``[f0, f1)`` of ``chunk_frames`` and the windows
    ``[w0, w1) = [f0 - left, f1 + right)`` (clipped to the utterance) they are computed on.

    A causal model whose output at sample ``t`` reads at most ``left * hop`` past samples
    (receptive field plus the upsampler's reach) and whose conditioning reads at most
    ``right`` frames ahead gives, on each window, exactly the chunk's samples of a
    whole-utterance pass. Returns ``(f0, f1, w0, w1)`` tuples.
    """
    if chunk_frames < 1:
        raise ValueError(f"chunk_frames must be >= 1, got {chunk_frames}")
    out = []
    for f0 in range(0, frames, chunk_frames):
        f1 = min(frames, f0 + chunk_frames)
        out.append((f0, f1, max(0, f0 - left), min(frames, f1 + right)))
    return out


def context_frames_needed(model: Student | Teacher) -> tuple[int, int]:
    """``(left, right)`` frames of overlap that make chunked passes of ``model`` exact.

    Left: the samples one output reads in the past (the student's receptive field over the
    noise; the teacher's density reads ``num_flows`` receptive fields of audio) plus the
    upsampler's reach; right: the upsampler's reach ahead.
    """
    hop = model.features.hop_length
    reach = upsampler_reach(model.config.upsample_factors)
    past = model.receptive_field
    if isinstance(model, Teacher):
        past = model.config.num_flows * model.receptive_field
    return math.ceil((past + reach) / hop) + 1, math.ceil(reach / hop) + 1
