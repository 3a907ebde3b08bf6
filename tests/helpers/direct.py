"""Direct computations that tests compare pwave's commands against (test-only).

Each function writes the documented recipe out step by step from the model's public
methods, without the inference code under test (its padding, chunking, noise and unit
handling).

Bits per 16-bit sample (``docs/likelihood.md``): the audio is zero-padded at the end to whole
mel frames (``T`` samples -> ``F * hop``), its mel computed from the padded audio; draw ``k``
of the dequantisation noise is ``(rand(F * hop) - 1/2) * 2/65536`` from
``torch.Generator().manual_seed(seed + k)`` in float64; the per-step log-densities of the
dequantised audio are averaged over the draws and summed over the ``T`` real samples only;
bits = ``-(log p / T + ln(2/65536)) / ln 2``. ``draws = 0`` scores the audio as it is.
"""

from __future__ import annotations

import copy
import math

import numpy as np
import torch

from pwave.audio.mel import MelSpectrogram, pad_context
from pwave.models.teacher import Teacher

LOG_BIN_16BIT = math.log(2.0 / 65536.0)


def teacher_input(teacher: Teacher, audio: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """``(padded audio [1, F * hop], model mel [1, n_mels, F + 2 ctx])`` in the teacher's dtype:
    the audio zero-padded at the end to whole frames (``F = ceil(T / hop)``), its log-mel,
    normalised with the feature statistics when there are any, edge-padded by the context."""
    front = MelSpectrogram(teacher.features)
    hop = teacher.features.hop_length
    n = len(audio)
    frames = -(-n // hop)
    padded = np.zeros(frames * hop, dtype=np.float32)
    padded[:n] = audio
    x = torch.from_numpy(padded)[None]
    mel = front(x)  # float32, as the front end runs at inference
    if front.has_stats:
        mel = front.normalize(mel)
    mel = pad_context(mel, teacher.config.mel_context_frames)
    dtype = next(teacher.parameters()).dtype
    return x.to(dtype), mel.to(dtype)


def _noise(length: int, draw: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed + draw)
    return (torch.rand(length, generator=gen, dtype=torch.float64) - 0.5) * (2.0 / 65536.0)


def teacher_log_prob_of_real_samples(
    teacher: Teacher, audio: np.ndarray, draws: int = 0, seed: int = 0
) -> float:
    """``sum_{t < T} log p(x_t + u_t | x_<t + u_<t, mel)`` in nats over the file's own ``T``
    samples only (the padding is run through the model but not counted), averaged over
    ``draws`` dequantisation draws ``u`` (none for ``draws = 0``); float64, on a copy."""
    teacher = copy.deepcopy(teacher).double().eval()
    x, mel = teacher_input(teacher, audio)
    totals = []
    with torch.no_grad():
        for k in range(max(draws, 1)):
            xk = x + _noise(x.shape[-1], k, seed) if draws else x
            mu, log_scale = teacher.conditionals(xk, mel)
            per_step = teacher.base.loc_scale_log_prob(xk, mu, log_scale)[0]
            whole = teacher.log_prob(xk, mel, dequantize=False)[0]
            # the per-step densities are the model's: they add up to its log_prob
            assert math.isclose(float(per_step.sum()), float(whole), rel_tol=1e-9, abs_tol=1e-9)
            totals.append(float(per_step[: len(audio)].sum()))
    return float(np.mean(totals))


def bits_of_real_samples(
    teacher: Teacher, audio: np.ndarray, draws: int = 0, seed: int = 0
) -> float:
    """Bits per 16-bit sample of ``audio`` under ``teacher``: ``-(log p / T + ln(2/65536)) /
    ln 2`` with ``T`` the real samples (see the module docstring for the draws)."""
    lp = teacher_log_prob_of_real_samples(teacher, audio, draws, seed)
    return -(lp / len(audio) + LOG_BIN_16BIT) / math.log(2.0)
