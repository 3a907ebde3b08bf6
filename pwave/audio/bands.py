r"""Mean power of audio in a few octave bands (a coarse spectral shape, for health checks).

:func:`band_powers` averages a Hann-windowed :func:`torch.stft` power spectrum over frames
and over the batch, scaled so that the bands of a stationary signal add up to its mean
square :math:`\overline{x^2}`: a sine of amplitude :math:`A` puts :math:`A^2/2` in the band
holding its frequency, white noise of variance :math:`\sigma^2` puts
:math:`\sigma^2 (f_\text{hi} - f_\text{lo}) / (f_s / 2)` in each band.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

#: Octave band edges in Hz (clipped to the Nyquist frequency by :func:`octave_bands`).
OCTAVE_EDGES_HZ = (0.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0)
#: Floor added to powers before taking decibels (-100 dB re full-scale mean square).
POWER_FLOOR = 1e-10


def octave_bands(sample_rate: int) -> list[tuple[float, float]]:
    """The bands ``[(0, 250), (250, 500), ..., (4000, 8000)]`` clipped to ``sample_rate / 2``
    (bands wholly above it are dropped; above 16 kHz one more band runs from 8 kHz to the
    Nyquist frequency, so that the bands always cover the whole spectrum)."""
    nyquist = sample_rate / 2
    edges = [e for e in OCTAVE_EDGES_HZ if e < nyquist] + [nyquist]
    return list(zip(edges[:-1], edges[1:]))


def band_label(band: tuple[float, float]) -> str:
    """A tag-safe name: ``(250.0, 500.0)`` -> ``"250_500hz"``."""
    return f"{band[0]:g}_{band[1]:g}hz"


def band_powers(
    audio: Tensor,
    sample_rate: int,
    bands: Sequence[tuple[float, float]] | None = None,
    n_fft: int = 512,
) -> Tensor:
    """Mean power of ``audio`` (``[T]`` or ``[batch, T]``) in each band, a float64 ``[bands]``.

    Each one-sided STFT bin (frequency ``k * sample_rate / n_fft``) is counted in the one band
    ``lo <= f < hi`` (the last band also takes the Nyquist bin). ``bands`` default to
    :func:`octave_bands`. Clips shorter than ``n_fft`` are zero-padded to one frame.
    """
    bands = list(bands) if bands is not None else octave_bands(sample_rate)
    x = audio.detach().to(torch.float64).reshape(-1, audio.shape[-1])
    if x.shape[-1] < n_fft:
        x = torch.nn.functional.pad(x, (0, n_fft - x.shape[-1]))
    window = torch.hann_window(n_fft, dtype=torch.float64, device=x.device)
    spec = torch.stft(
        x, n_fft, hop_length=n_fft // 4, window=window, center=False, return_complex=True
    )
    power = spec.abs().square().mean(dim=(0, 2))  # [n_fft // 2 + 1], mean over batch, frames
    weight = torch.full_like(power, 2.0)
    weight[0] = 1.0
    if n_fft % 2 == 0:
        weight[-1] = 1.0
    power = power * weight / (n_fft * window.square().sum())
    freqs = torch.arange(power.numel(), dtype=torch.float64, device=x.device) * sample_rate / n_fft
    out = []
    for i, (lo, hi) in enumerate(bands):
        last = i == len(bands) - 1
        inside = (freqs >= lo) & ((freqs <= hi) if last else (freqs < hi))
        out.append(power[inside].sum())
    return torch.stack(out)


def band_powers_db(audio: Tensor, sample_rate: int, **kwargs) -> Tensor:
    """:func:`band_powers` in decibels (``10 log10(power + POWER_FLOOR)``)."""
    return 10.0 * torch.log10(band_powers(audio, sample_rate, **kwargs) + POWER_FLOOR)


__all__ = [
    "OCTAVE_EDGES_HZ",
    "POWER_FLOOR",
    "band_label",
    "band_powers",
    "band_powers_db",
    "octave_bands",
]
