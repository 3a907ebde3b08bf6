r"""``pwave mels convert``: a mel in one convention to another (a preset's, a model's).

A :class:`MelConvention` is how a toolkit stores a mel: its :class:`FeatureConfig` (STFT,
filterbank, log base and floor), the per-bin statistics it was normalised with (if any) and
its layout (``[n_mels, frames]`` or ``[frames, n_mels]``).

* **Exact**, when both sides have the same linear mel spectrogram
  (:attr:`FeatureConfig.spectrum_settings` equal: only log base, floor, normalisation and
  layout differ): de-normalise, change the base (:math:`\log_b x = \ln x / \ln b`), clamp at
  the target floor, normalise. A round trip gives the input back to float rounding (values
  below the higher of the two floors come back at that floor).
* **Approximate** otherwise (other rate, FFT, hop, filterbank or number of bins): the linear
  mel is interpolated in time to the target's frame centres, mapped back to a non-negative
  linear spectrum (:func:`mel_to_spectrum`: least squares through the source filterbank,
  multiplicative updates), resampled on the target's FFT frequencies (holding the level at
  the source's first and last filter centres beyond them), scaled by the ratio of the window
  sums, and put through the target filterbank. Measured on speech-like
  harmonic test audio (1.2 s, f0 100-240 Hz, five seeds; tests/helpers/speech.py), against
  the target convention computed from the audio, in nats, on the target bins whose centre
  the source covers (mean / 95th percentile), then on all bins:

  ==========================  ================  =====================  ===============
  conversion                  covered bins      mean / p95 (covered)   mean / p95 (all)
  ==========================  ================  =====================  ===============
  hifigan -> vocos            85 of 100         0.17 / 0.56            0.45 / 0.93
  vocos -> hifigan            80 of 80          0.20 / 0.68            0.20 / 0.68
  parallelwavegan -> hifigan  76 of 80          0.13 / 0.47            0.17 / 0.55
  hifigan -> parallelwavegan  80 of 80          0.16 / 0.54            0.16 / 0.54
  ==========================  ================  =====================  ===============

  Target bins outside the source's range hold the nearest covered level;
  :func:`conversion_loss` gives their share. The first and last frames are a little worse
  (edge frames of the time interpolation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pwave.audio.config import FeatureConfig
from pwave.audio.mel import mel_filterbank, stft_padding

#: Multiplicative updates of :func:`mel_to_spectrum`.
NNLS_ITERATIONS = 50
#: Least share of its starting level a bin keeps in :func:`mel_to_spectrum`.
FLOOR_FRACTION = 0.05


@dataclass(frozen=True)
class MelConvention:
    """How mels are stored: features, normalisation statistics (or ``None``) and layout."""

    name: str
    features: FeatureConfig
    stats: tuple[np.ndarray, np.ndarray] | None = None
    time_axis: str = "last"

    @classmethod
    def of_preset(cls, name: str, stats_file: str | None = None) -> MelConvention:
        """A preset's convention. ``stats_file``: the toolkit's statistics the stored mels
        were normalised with (ParallelWaveGAN's ``stats.npy``/``.h5``, ESPnet's
        ``feats_stats.npz``); ``None`` for mels stored before normalisation."""
        from pwave.audio.presets import get_preset, load_stats_file

        preset = get_preset(name)
        stats = None
        if stats_file is not None:
            stats = load_stats_file(stats_file, preset.features.n_mels)
        return cls(preset.name, preset.features, stats, preset.time_axis)

    @classmethod
    def of_model(cls, features: FeatureConfig, normalized: bool = False) -> MelConvention:
        """What a pwave model reads: unnormalised ``[n_mels, frames]`` log-mels (or
        normalised with its own statistics when ``normalized``)."""
        stats = None
        if normalized:
            if not features.mel_mean:
                raise ValueError("this model carries no statistics to normalise with")
            stats = (np.asarray(features.mel_mean), np.asarray(features.mel_std))
        return cls("model", features.replace(mel_mean=(), mel_std=()), stats, "last")

    def to_log(self, stored: np.ndarray) -> np.ndarray:
        """Stored array -> unnormalised log-mel ``[n_mels, frames]`` float64."""
        x = np.asarray(stored, dtype=np.float64)
        if x.ndim == 3 and x.shape[0] == 1:
            x = x[0]
        if self.time_axis == "first":
            x = x.T
        if x.ndim != 2 or x.shape[0] != self.features.n_mels:
            layout = "[frames, n_mels]" if self.time_axis == "first" else "[n_mels, frames]"
            raise ValueError(
                f"{self.name} mels are {layout} with n_mels={self.features.n_mels}; "
                f"got shape {list(np.shape(stored))}"
            )
        if self.stats is not None:
            x = x * self.stats[1][:, None] + self.stats[0][:, None]
        return x

    def from_log(self, log_mel: np.ndarray) -> np.ndarray:
        """Unnormalised log-mel ``[n_mels, frames]`` -> the stored array (floored first)."""
        x = np.maximum(log_mel, _log(self.features.log_floor, self.features))
        if self.stats is not None:
            x = (x - self.stats[0][:, None]) / self.stats[1][:, None]
        return x.T if self.time_axis == "first" else x


def _log(x: float | np.ndarray, features: FeatureConfig):
    return np.log(x) / (1.0 if features.log_base == "e" else math.log(10.0))


def _exp(x: np.ndarray, features: FeatureConfig) -> np.ndarray:
    return np.exp(x * (1.0 if features.log_base == "e" else math.log(10.0)))


def is_exact(src: FeatureConfig, dst: FeatureConfig) -> bool:
    """Whether converting between the two needs only log and normalisation changes."""
    return src.spectrum_settings == dst.spectrum_settings


def frame_centres(features: FeatureConfig, frames: int) -> np.ndarray:
    """Centre of each frame in seconds (``center=True``: ``k hop``; else the middle of the
    window placed by :func:`stft_padding`)."""
    left, _ = stft_padding(features)
    offset = features.n_fft / 2 - left
    return (np.arange(frames) * features.hop_length + offset) / features.sample_rate


def target_frames(src: FeatureConfig, dst: FeatureConfig, frames: int) -> int:
    """Frames of the target for audio of ``frames * hop`` source samples."""
    seconds = frames * src.hop_length / src.sample_rate
    return max(1, math.ceil(seconds * dst.sample_rate / dst.hop_length - 1e-9))


def _freq_resample(src: FeatureConfig, dst: FeatureConfig) -> np.ndarray:
    """``[dst bins, src bins]`` linear interpolation over frequency, times the window-sum
    ratio (a sinusoid's STFT peak is ``A sum(w) / 2``). Frequencies outside the centres of
    the source's first and last mel filters hold the value at that centre."""
    f_src = np.fft.rfftfreq(src.n_fft, 1.0 / src.sample_rate)
    f_dst = np.fft.rfftfreq(dst.n_fft, 1.0 / dst.sample_rate)
    lo_f, hi_f = _covered(src)
    idx = np.interp(np.clip(f_dst, lo_f, hi_f), f_src, np.arange(len(f_src)))
    out = np.zeros((len(f_dst), len(f_src)))
    for i, pos in enumerate(idx):
        lo = int(math.floor(pos))
        hi = min(lo + 1, len(f_src) - 1)
        out[i, lo] += 1.0 - (pos - lo)
        out[i, hi] += pos - lo
    gain = _window_sum(dst) / _window_sum(src)
    return out * gain


def _covered(f: FeatureConfig) -> tuple[float, float]:
    """Centre frequencies (Hz) of the first and last mel filter of ``f``."""
    fb = mel_filterbank(f)
    freqs = np.fft.rfftfreq(f.n_fft, 1.0 / f.sample_rate)
    peaks = freqs[np.argmax(fb, axis=1)]
    return float(peaks[0]), float(peaks[-1])


def _window_sum(f: FeatureConfig) -> float:
    n = np.arange(f.win_length)
    return float(np.sum(0.5 - 0.5 * np.cos(2 * np.pi * n / f.win_length)))


def mel_to_spectrum(mel: np.ndarray, basis: np.ndarray, iterations: int = NNLS_ITERATIONS):
    """Non-negative spectrum ``s [bins, F]`` with ``basis @ s`` close to ``mel [n_mels, F]``.

    Starts from each band's mean level spread over its bins (``B^T`` weighted, always
    non-negative) and refines it with multiplicative least-squares updates
    ``s <- s * (B^T m) / (B^T B s)``, which keep ``s >= 0`` (Lee & Seung, 2001); no bin ends
    below ``FLOOR_FRACTION`` of its start (the updates drive some bins to 0, which a log
    turns into the floor).
    """
    area = np.maximum(basis.sum(axis=1, keepdims=True), 1e-12)
    cover = np.maximum(basis.sum(axis=0), 1e-12)[:, None]
    start = np.maximum((basis.T @ (mel / area)) / cover, 1e-20)  # band levels, spread
    spec = start.copy()
    gram, target = basis.T @ basis, basis.T @ mel
    for _ in range(iterations):
        spec *= target / np.maximum(gram @ spec, 1e-30)
    return np.maximum(spec, FLOOR_FRACTION * start)  # no bin driven to 0


def linear_mel_to_linear_mel(mel: np.ndarray, src: FeatureConfig, dst: FeatureConfig) -> np.ndarray:
    """Approximate conversion of a linear mel ``[src n_mels, F]`` -> ``[dst n_mels, F']``."""
    frames = mel.shape[1]
    out_frames = target_frames(src, dst, frames)
    t_src, t_dst = frame_centres(src, frames), frame_centres(dst, out_frames)
    # time first (linear interpolation of each bin at the target frame centres, edges held)
    timed = np.stack([np.interp(t_dst, t_src, row) for row in mel])
    spec = mel_to_spectrum(timed, mel_filterbank(src))
    if src.power == 2.0:
        spec = np.sqrt(spec)
    spec = _freq_resample(src, dst) @ spec
    if dst.power == 2.0:
        spec = spec**2
    return mel_filterbank(dst) @ spec


def convert(mel: np.ndarray, src: MelConvention, dst: MelConvention) -> tuple[np.ndarray, bool]:
    """``(converted stored array, exact)`` from ``src``'s convention to ``dst``'s."""
    log_src = src.to_log(mel)
    if is_exact(src.features, dst.features):
        scale = (1.0 if src.features.log_base == "e" else math.log(10.0)) / (
            1.0 if dst.features.log_base == "e" else math.log(10.0)
        )
        return dst.from_log(log_src * scale), True
    linear = np.maximum(_exp(log_src, src.features), src.features.log_floor)
    out = linear_mel_to_linear_mel(linear, src.features, dst.features)
    out = np.maximum(out, dst.features.log_floor)
    return dst.from_log(_log(out, dst.features)), False


def conversion_loss(src: FeatureConfig, dst: FeatureConfig) -> float:
    """Share (0..1) of the target's mel bins whose centre lies outside the source's filters
    (below the centre of its first, above that of its last): 0 for exact conversions. Those
    bins are filled by holding the nearest covered level (hifigan -> vocos: 0.15, the bins
    above 8 kHz; parallelwavegan -> hifigan: 0.05, below 80 Hz)."""
    if is_exact(src, dst):
        return 0.0
    lo, hi = _covered(src)
    freqs = np.fft.rfftfreq(dst.n_fft, 1.0 / dst.sample_rate)
    centres = freqs[np.argmax(mel_filterbank(dst), axis=1)]
    return float(np.mean((centres < lo) | (centres > hi)))


#: Largest :func:`conversion_loss` that :func:`convert_for_model` accepts.
MAX_LOSS = 0.1


def convert_for_model(
    mel: np.ndarray,
    preset: str,
    features: FeatureConfig,
    stats_file: str | None = None,
    max_loss: float = MAX_LOSS,
) -> tuple[np.ndarray, bool]:
    """A ``preset``'s stored mel as the unnormalised ``[n_mels, frames]`` log-mel a model with
    ``features`` reads (what ``pwave synthesize --mel-preset`` does on the fly): ``(mel,
    exact)``. Refused with :class:`~pwave.errors.FeatureMismatchError` when more than
    ``max_loss`` of the model's mel bins lie outside the preset's frequency range."""
    from pwave.errors import FeatureMismatchError

    src = MelConvention.of_preset(preset, stats_file)
    dst = MelConvention.of_model(features)
    loss = conversion_loss(src.features, dst.features)
    if loss > max_loss:
        raise FeatureMismatchError(
            f"converting {src.name} mels for this model is too lossy: {100 * loss:.0f}% of its "
            f"mel bins lie outside the {src.name} filterbank's range (at most "
            f"{100 * max_loss:.0f}% accepted); compute mels with the model's settings or "
            f"train on the {src.name} preset (pwave prepare --preset {src.name})"
        )
    return convert(mel, src, dst)
