r"""The mel front end: the one place where audio becomes log-mel features.

Everything that needs mel features (dataset preparation, training, synthesis from audio,
evaluation) calls :class:`MelSpectrogram`; its settings come from a
:class:`~pwave.audio.config.FeatureConfig`.

Definition (per frame :math:`k`, mel bin :math:`m`):

.. math::

    S_k(f) = \Big|\sum_n w(n)\, \tilde x(k\,h + n)\, e^{-2\pi i f n / N}\Big|, \qquad
    M_{m,k} = \log_b \max\Big(\sum_f B_{m,f}\, S_k(f),\ \epsilon\Big)

with window :math:`w` (periodic Hann of ``win_length`` centred in ``n_fft`` = :math:`N`),
hop :math:`h`, the Slaney-normalised mel filterbank :math:`B` of
``librosa.filters.mel``, magnitude (not power) spectra, log base :math:`b` and floor
:math:`\epsilon` = ``log_floor``. These are the defaults; the config can also ask for the
HTK mel scale and un-normalised triangles (``mel_scale``, ``mel_norm``:
``librosa.filters.mel(htk=True, norm=None)``, which is torchaudio's default filterbank),
power spectra (``power=2``: :math:`S_k(f)^2`), and :math:`\sqrt{S_k(f)^2 + \delta}` with
``magnitude_eps`` = :math:`\delta` (HiFi-GAN's ``1e-9``).

Alignment: :math:`\tilde x` is ``x`` reflect-padded by :math:`\lfloor (N-h)/2 \rfloor` on the
left and :math:`\lceil (N-h)/2 \rceil` on the right, with no further centring, so a signal of
``T`` samples gives exactly ``T // hop`` frames, and frame :math:`k` is centred on the middle
of samples ``[k*hop, (k+1)*hop)``. Audio whose length is a multiple of the hop therefore
satisfies ``T == frames * hop``. With ``center=True`` the padding is :math:`N/2` on the left
and :math:`N/2 - h` on the right (a negative right pad crops), so frame :math:`k` is centred on
sample :math:`k h` and the frames are the first ``T // hop`` of librosa/torch ``center=True``
(which pads :math:`N/2` on both sides and has one more frame).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pwave.audio.config import FeatureConfig


def mel_filterbank(config: FeatureConfig) -> np.ndarray:
    """``[n_mels, n_fft // 2 + 1]`` mel filterbank (``librosa.filters.mel``): Slaney scale and
    normalisation by default, HTK scale and/or peak-1 triangles as the config says."""
    import librosa

    return librosa.filters.mel(
        sr=config.sample_rate,
        n_fft=config.n_fft,
        n_mels=config.n_mels,
        fmin=config.fmin,
        fmax=config.fmax,
        htk=config.mel_scale == "htk",
        norm="slaney" if config.mel_norm == "slaney" else None,
        dtype=np.float64,
    )


def stft_padding(config: FeatureConfig) -> tuple[int, int]:
    """``(left, right)`` reflect padding that makes ``frames == T // hop`` (a negative
    ``right`` crops that many samples; only with ``center=True`` and ``hop > n_fft / 2``)."""
    total = config.n_fft - config.hop_length
    if total < 0:
        raise ValueError(f"n_fft={config.n_fft} must be >= hop_length={config.hop_length}")
    if config.center:
        return config.n_fft // 2, total - config.n_fft // 2
    return total // 2, total - total // 2


def silence_log_mel(config: FeatureConfig) -> float:
    """The (unnormalised) log-mel value of digital silence: ``log_b(log_floor)``."""
    return math.log(config.log_floor) / (1.0 if config.log_base == "e" else math.log(10.0))


class MelSpectrogram(nn.Module):
    """Log-mel spectrogram, ``[B, T] -> [B, n_mels, T // hop]``, on any device and dtype.

    The filterbank and window are buffers, so ``.to(device, dtype)`` moves them with the
    module. ``normalize`` / ``denormalize`` apply the per-bin statistics carried by the
    config (``mel_mean``, ``mel_std``).
    """

    def __init__(self, config: FeatureConfig):
        super().__init__()
        self.config = config
        self.pad_left, self.pad_right = stft_padding(config)
        window = torch.hann_window(config.win_length, periodic=True, dtype=torch.float64)
        # float64 buffers; cast to the input's dtype at use (exact for float64 inputs).
        self.register_buffer("window", window, persistent=False)
        basis = torch.from_numpy(mel_filterbank(config))
        self.register_buffer("mel_basis", basis, persistent=False)
        if config.mel_mean and config.mel_std:
            mean = torch.tensor(config.mel_mean, dtype=torch.float64)
            std = torch.tensor(config.mel_std, dtype=torch.float64)
            self.register_buffer("mel_mean", mean, persistent=False)
            self.register_buffer("mel_std", std, persistent=False)
        else:
            self.mel_mean = None
            self.mel_std = None

    @property
    def hop_length(self) -> int:
        return self.config.hop_length

    @property
    def n_mels(self) -> int:
        return self.config.n_mels

    @property
    def has_stats(self) -> bool:
        """Whether the config carries normalisation statistics."""
        return self.mel_mean is not None

    def num_frames(self, num_samples: int) -> int:
        """Frames produced for ``num_samples`` samples (``num_samples // hop``)."""
        return num_samples // self.config.hop_length

    def magnitude(self, audio: Tensor) -> Tensor:
        """Linear mel spectrogram, ``[B, T] -> [B, n_mels, T // hop]`` (of magnitudes, or of
        powers with ``power=2``)."""
        squeeze = audio.dim() == 1
        if squeeze:
            audio = audio.unsqueeze(0)
        if audio.dim() != 2:
            raise ValueError(f"audio must be [batch, time], got shape {tuple(audio.shape)}")
        cfg = self.config
        if audio.shape[-1] < cfg.hop_length:
            raise ValueError(
                f"audio has {audio.shape[-1]} samples, fewer than one hop ({cfg.hop_length})"
            )
        # Reflect needs pad < length; very short inputs fall back to zero padding.
        mode = "reflect" if audio.shape[-1] > max(self.pad_left, self.pad_right) else "constant"
        right = max(self.pad_right, 0)
        x = F.pad(audio.unsqueeze(1), (self.pad_left, right), mode=mode).squeeze(1)
        if self.pad_right < 0:
            x = x[..., : x.shape[-1] + self.pad_right]
        spec = torch.stft(
            x,
            n_fft=cfg.n_fft,
            hop_length=cfg.hop_length,
            win_length=cfg.win_length,
            window=self.window.to(device=x.device, dtype=x.dtype),
            center=False,
            return_complex=True,
        )
        spec = self._spectrum(spec)
        mel = torch.matmul(self.mel_basis.to(device=spec.device, dtype=spec.dtype), spec)
        return mel.squeeze(0) if squeeze else mel

    def _spectrum(self, stft: Tensor) -> Tensor:
        """``|X|`` (``power=1``) or ``|X|^2`` (``power=2``), with ``magnitude_eps`` added to
        ``|X|^2`` first when it is set."""
        eps, power = self.config.magnitude_eps, self.config.power
        if eps == 0.0:
            spec = stft.abs()
            return spec if power == 1.0 else spec.square()
        sq = stft.real.square() + stft.imag.square() + eps
        return sq.sqrt() if power == 1.0 else sq

    def forward(self, audio: Tensor) -> Tensor:
        """Log-mel features (unnormalised), ``[B, T] -> [B, n_mels, T // hop]``."""
        mel = self.magnitude(audio).clamp_min(self.config.log_floor)
        return torch.log(mel) if self.config.log_base == "e" else torch.log10(mel)

    def _stats(self, mel: Tensor) -> tuple[Tensor, Tensor]:
        if self.mel_mean is None:
            raise ValueError(
                "this feature config carries no normalisation statistics (mel_mean/mel_std); "
                "use the feature_config of a prepared dataset (pwave prepare computes them)"
            )
        shape = (-1, 1)
        mean = self.mel_mean.to(device=mel.device, dtype=mel.dtype).reshape(shape)
        std = self.mel_std.to(device=mel.device, dtype=mel.dtype).reshape(shape)
        return mean, std

    def normalize(self, mel: Tensor) -> Tensor:
        """``(mel - mean) / std`` per mel bin; ``mel`` is ``[..., n_mels, frames]``."""
        mean, std = self._stats(mel)
        return (mel - mean) / std

    def denormalize(self, mel: Tensor) -> Tensor:
        """Inverse of :meth:`normalize`."""
        mean, std = self._stats(mel)
        return mel * std + mean


def pad_context(mel: Tensor | np.ndarray, context: int) -> Tensor | np.ndarray:
    """Add ``context`` frames on each side of ``mel [..., n_mels, frames]`` by edge replication.

    This is the padding used at utterance edges for the upsampler's context frames: after it,
    ``out[..., context : context + frames]`` is the original ``mel`` and frame ``context + k``
    aligns with audio samples ``[k*hop, (k+1)*hop)``.
    """
    if context <= 0:
        return mel
    if isinstance(mel, np.ndarray):
        widths = [(0, 0)] * (mel.ndim - 1) + [(context, context)]
        return np.pad(mel, widths, mode="edge")
    shape = mel.shape
    flat = mel.reshape(-1, shape[-2], shape[-1])
    out = F.pad(flat, (context, context), mode="replicate")
    return out.reshape(*shape[:-1], shape[-1] + 2 * context)
