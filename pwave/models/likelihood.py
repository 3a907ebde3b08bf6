r"""Bits per 16-bit sample of audio under a density model: the one definition.

Training validation (:class:`~pwave.train.teacher.TeacherModule`), ``pwave evaluate --teacher``
and ``pwave score`` all report :func:`code_length` (see ``docs/likelihood.md``; the test
``tests/test_bits_definition.py`` feeds one utterance through all three).

A density :math:`p` on audio in :math:`[-1, 1]` is turned into a code length for 16-bit audio
by uniform dequantisation: with :math:`\Delta = 2/65536` (one 16-bit bin) and
:math:`u \sim U(-\Delta/2, \Delta/2)^T`,

.. math:: \text{bits}(x) = -\frac{1}{T \ln 2}\,
          \mathbb E_u\!\left[\log p(x + u) + T \ln \Delta\right]
          \;\ge\; -\frac{1}{T}\log_2 P(x),

an upper bound on the discrete code length :math:`-\log_2 P(x)` of the 16-bit samples
(:math:`P(x) = \int_{\text{bin}(x)} p`, by Jensen). The expectation is estimated with
:data:`DRAWS` fixed draws of the noise (seeded by :data:`SEED`: the same numbers on every
machine and in every command), and only the utterance's own ``T`` samples count, not the
zeros that pad it to a whole number of mel frames (they come after it, and the model is
causal, so they do not change the real samples' densities).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from pwave.models.teacher import Teacher
from pwave.units import BIN_WIDTH_16BIT, bits_per_sample

#: Draws of the dequantisation noise averaged by default ("a few": the per-utterance
#: spread between draws is far below 0.01 bit for a second of audio or more).
DRAWS = 4
#: Seed of the dequantisation noise of draw ``k`` (``SEED + k``).
SEED = 0

#: ``audio [B, T] -> log p(x_t | x_<t) [B, T]`` in nats (any float dtype).
PerSampleFn = Callable[[Tensor], Tensor]


def dequantization_noise(num_samples: int, draw: int, seed: int = SEED) -> Tensor:
    """Uniform noise of one 16-bit bin, ``U(-1/2, 1/2) * 2/65536``, ``[num_samples]`` float64
    on the CPU, drawn from ``torch.Generator().manual_seed(seed + draw)``: the same for a
    given ``(num_samples, draw, seed)`` on every machine and device."""
    gen = torch.Generator().manual_seed(int(seed) + int(draw))
    return (torch.rand(num_samples, generator=gen, dtype=torch.float64) - 0.5) * BIN_WIDTH_16BIT


def per_sample_log_prob(teacher: Teacher, audio: Tensor, mel: Tensor) -> Tensor:
    """``log p(x_t | x_<t, mel)`` in nats, ``[B, T]``, in one parallel pass (no gradients).

    ``audio [B, T]``, ``mel [B, n_mels, T / hop + 2 * mel_context_frames]``; the sum over ``t``
    is :meth:`Teacher.log_prob` without dequantisation.
    """
    with torch.no_grad():
        mu, log_scale = teacher.conditionals(audio, mel)
        return teacher.base.loc_scale_log_prob(audio, mu, log_scale)


def dequantized_log_probs(
    audio: Tensor, per_sample: PerSampleFn, draws: int = DRAWS, seed: int = SEED
) -> Tensor:
    """Per-sample log-densities ``[B, T]`` (float64, CPU) averaged over ``draws`` noise draws.

    Each draw scores ``audio + dequantization_noise(T, k, seed)`` (the same noise for every
    row). ``draws = 0`` scores ``audio`` as it is (the continuous density at those values: a
    diagnostic, not a code length).
    """
    if draws < 0:
        raise ValueError(f"draws must be >= 0, got {draws}")
    if audio.dim() != 2:
        raise ValueError(f"audio must be [B, T], got {tuple(audio.shape)}")
    if draws == 0:
        return per_sample(audio).double().cpu()
    total = torch.zeros(audio.shape, dtype=torch.float64)
    for k in range(draws):
        noise = dequantization_noise(audio.shape[-1], k, seed).to(audio.device, audio.dtype)
        total += per_sample(audio + noise).double().cpu()
    return total / draws


@dataclass
class CodeLength:
    """:func:`code_length` of a batch.

    Attributes:
        log_prob: ``[B]`` nats, summed over each utterance's real samples (mean over draws).
        num_samples: ``[B]`` real samples of each utterance.
        bits: ``[B]`` bits per 16-bit sample (:func:`~pwave.units.bits_per_sample`).
        per_sample: ``[B, T]`` float64 per-sample log-densities (mean over draws), padding
            included (for per-second curves; ignore ``t >= num_samples``).
    """

    log_prob: Tensor
    num_samples: Tensor
    bits: Tensor
    per_sample: Tensor


def lengths_tensor(num_samples: int | Sequence[int] | Tensor | None, batch: int, T: int) -> Tensor:
    """Real lengths ``[B]`` (int64): ``None`` means ``T`` for every row; each in ``1..T``."""
    if num_samples is None:
        n = torch.full((batch,), T, dtype=torch.int64)
    else:
        n = torch.as_tensor(num_samples, dtype=torch.int64).reshape(-1).cpu()
        n = n.expand(batch).clone() if n.numel() == 1 else n
    if n.shape != (batch,) or bool((n < 1).any()) or bool((n > T).any()):
        raise ValueError(f"num_samples must be {batch} lengths in 1..{T}, got {n.tolist()}")
    return n


def code_length(
    audio: Tensor,
    per_sample: PerSampleFn,
    num_samples: int | Sequence[int] | Tensor | None = None,
    draws: int = DRAWS,
    seed: int = SEED,
) -> CodeLength:
    """Bits per 16-bit sample of each row of ``audio [B, T]`` under ``per_sample``.

    Args:
        audio: the waveforms, zero-padded at the end to the model's length ``T``.
        per_sample: the model's per-sample log-densities (e.g. ``lambda x:
            per_sample_log_prob(teacher, x, mel)``, or a chunked or LPC equivalent).
        num_samples: real samples of each row (``None``: all ``T``); only those count.
        draws, seed: the dequantisation (:func:`dequantized_log_probs`).
    """
    n = lengths_tensor(num_samples, audio.shape[0], audio.shape[-1])
    lp = dequantized_log_probs(audio, per_sample, draws, seed)
    mask = torch.arange(audio.shape[-1])[None, :] < n[:, None]
    total = (lp * mask).sum(-1)
    bits = torch.stack([bits_per_sample(t, int(k)) for t, k in zip(total, n)])
    return CodeLength(total, n, bits, lp)


def teacher_code_length(
    teacher: Teacher,
    audio: Tensor,
    mel: Tensor,
    num_samples: int | Sequence[int] | Tensor | None = None,
    draws: int = DRAWS,
    seed: int = SEED,
) -> CodeLength:
    """:func:`code_length` under ``teacher`` in one parallel pass per draw (``audio [B, T]``,
    ``mel [B, n_mels, T / hop + 2 ctx]`` on the teacher's device and dtype)."""
    return code_length(
        audio, lambda x: per_sample_log_prob(teacher, x, mel), num_samples, draws, seed
    )


def real_lengths(audio: Tensor, hop: int) -> Tensor:
    """Real lengths ``[B]`` of audio zero-padded to whole frames, when nothing says them.

    A prepared utterance is its samples followed by fewer than ``hop`` zeros; this drops the
    exact zeros at the end of the last frame only (a recording that itself ends in digital
    zeros inside its last frame loses those few samples, at most ``hop - 1``).
    """
    B, T = audio.shape
    floor = max(T - hop + 1, 1)
    nonzero = (audio != 0).flip(-1).int().argmax(-1)  # zeros at the end of each row
    last_zero_run = torch.where((audio != 0).any(-1), nonzero, torch.full_like(nonzero, T))
    return torch.clamp(T - last_zero_run, min=floor).to(torch.int64).cpu()


__all__ = [
    "DRAWS",
    "SEED",
    "CodeLength",
    "code_length",
    "dequantization_noise",
    "dequantized_log_probs",
    "lengths_tensor",
    "per_sample_log_prob",
    "real_lengths",
    "teacher_code_length",
]
