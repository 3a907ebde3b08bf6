r"""Short-time Fourier transforms for the spectral auxiliary losses.

Only what the losses need: a magnitude (or power) spectrogram computed with
:func:`torch.stft`, differentiable, on any device and float dtype.

Shapes: audio ``[batch, time]`` -> spectrogram ``[batch, n_fft // 2 + 1, frames]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

WINDOWS = {
    "hann": torch.hann_window,
    "hamming": torch.hamming_window,
    "blackman": torch.blackman_window,
    "bartlett": torch.bartlett_window,
}


@dataclass(frozen=True)
class STFTResolution:
    """One STFT analysis setting (all in samples); ``win_length`` defaults to ``n_fft``."""

    n_fft: int = 1024
    hop_length: int = 256
    win_length: int | None = None

    def __post_init__(self) -> None:
        if self.win_length is None:
            object.__setattr__(self, "win_length", self.n_fft)
        if self.win_length > self.n_fft:
            raise ValueError(f"win_length={self.win_length} must be <= n_fft={self.n_fft}")
        if self.hop_length <= 0:
            raise ValueError(f"hop_length must be positive, got {self.hop_length}")


#: One resolution: 1024-point FFT, hop 256, full-length window.
DEFAULT_RESOLUTION = STFTResolution()

#: The three resolutions of the multi-resolution STFT loss of Parallel WaveGAN
#: (Yamamoto et al., 2020), as (n_fft, hop_length, win_length).
DEFAULT_RESOLUTIONS: tuple[STFTResolution, ...] = (
    STFTResolution(1024, 120, 600),
    STFTResolution(2048, 240, 1200),
    STFTResolution(512, 50, 240),
)


def make_window(name: str, win_length: int, like: Tensor) -> Tensor:
    """A periodic analysis window of ``win_length`` samples on ``like``'s device and dtype."""
    try:
        fn = WINDOWS[name.lower()]
    except KeyError:
        known = ", ".join(sorted(WINDOWS))
        raise ValueError(f"unknown window {name!r}; choose one of: {known}") from None
    return fn(win_length, periodic=True, device=like.device, dtype=like.dtype)


def stft_magnitude(
    audio: Tensor,
    resolution: STFTResolution = DEFAULT_RESOLUTION,
    window: str = "hann",
    power: float = 1.0,
    eps: float = 1e-9,
) -> Tensor:
    r"""Magnitude spectrogram :math:`|\mathrm{STFT}(x)|^{p}` of ``audio [batch, time]``.

    Frames are centred (reflect padding; zero padding for clips of at most ``n_fft // 2``
    samples, which reflection cannot pad), so ``frames = time // hop_length + 1``.
    The magnitude is :math:`\sqrt{\Re^2 + \Im^2 + \epsilon}` so that its gradient stays
    finite at exact zeros (silence); ``power=2`` gives the power spectrogram.

    Returns ``[batch, n_fft // 2 + 1, frames]``.
    """
    if audio.dim() != 2:
        raise ValueError(f"audio must be [batch, time], got shape {tuple(audio.shape)}")
    spec = torch.stft(
        audio,
        n_fft=resolution.n_fft,
        hop_length=resolution.hop_length,
        win_length=resolution.win_length,
        window=make_window(window, resolution.win_length, audio),
        center=True,
        pad_mode="reflect" if audio.shape[-1] > resolution.n_fft // 2 else "constant",
        return_complex=True,
    )
    squared = spec.real.square() + spec.imag.square()
    if power == 2.0:
        return squared
    return (squared + eps) ** (0.5 * power)
