r"""The media of the listening report: the Griffin-Lim reference and the spectrogram images.

* :func:`griffin_lim`: the non-neural reference on the same mel, librosa's mel inversion
  (``librosa.feature.inverse.mel_to_audio``: a non-negative least-squares inverse of the
  mel filterbank, then :data:`GRIFFIN_LIM_ITERATIONS` Griffin-Lim iterations), with a seeded
  phase initialisation and pwave's frame alignment, so it sounds like what a mel alone
  gives without any neural network.
* :func:`log_mel_db`: the log-mel image of a waveform in dB (:math:`20\log_{10}` of pwave's
  mel magnitudes), and :func:`colour_range` / :func:`write_spectrogram_png`: one colour
  scale per utterance, PNGs drawn with matplotlib's Agg backend (no display needed).
* :func:`pick_utterances`: the deterministic sample of a long corpus shown on the page.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch

from pwave.audio.config import FeatureConfig
from pwave.audio.mel import MelSpectrogram

#: Griffin-Lim iterations of the non-neural reference (librosa's default).
GRIFFIN_LIM_ITERATIONS = 32
#: The colour scale of a spectrogram image spans at most this many dB below its peak.
DYNAMIC_RANGE_DB = 80.0


def griffin_lim(
    log_mel: np.ndarray,
    config: FeatureConfig,
    n_iter: int = GRIFFIN_LIM_ITERATIONS,
    seed: int = 0,
) -> np.ndarray:
    """Audio ``[frames * hop]`` (float32 in [-1, 1]) from an unnormalised log-mel
    ``[n_mels, frames]`` of :class:`~pwave.audio.mel.MelSpectrogram` with ``config``.

    The same computation as ``librosa.feature.inverse.mel_to_audio(M, power=1, n_iter=32)``
    on the mel magnitudes ``M = base ** log_mel`` with the config's STFT and filterbank, but
    with the phase initialised from ``seed`` (reproducible) and shifted by half a hop, so
    frame ``k`` covers samples ``[k*hop, (k+1)*hop)`` as in pwave's front end.
    """
    import librosa

    log_mel = np.asarray(log_mel, dtype=np.float64)
    if log_mel.ndim != 2 or log_mel.shape[0] != config.n_mels:
        raise ValueError(f"log_mel must be [{config.n_mels}, frames], got {log_mel.shape}")
    base = math.e if config.log_base == "e" else 10.0
    magnitude = np.power(base, log_mel)
    stft = librosa.feature.inverse.mel_to_stft(
        magnitude,
        sr=config.sample_rate,
        n_fft=config.n_fft,
        power=1.0,
        fmin=config.fmin,
        fmax=config.fmax,
        htk=False,
        norm="slaney",
    )
    frames = log_mel.shape[1]
    length = frames * config.hop_length
    audio = librosa.griffinlim(
        stft,
        n_iter=n_iter,
        hop_length=config.hop_length,
        win_length=config.win_length,
        n_fft=config.n_fft,
        window="hann",
        center=True,
        length=(frames - 1) * config.hop_length,  # what frames centred frames span
        pad_mode="constant",
        random_state=seed,
    )
    shift = config.hop_length // 2  # librosa centres frame k on sample k*hop
    audio = np.concatenate([np.zeros(shift), audio, np.zeros(length)])[:length]
    return np.clip(audio, -1.0, 1.0).astype(np.float32)


def log_mel_db(audio: np.ndarray, mel: MelSpectrogram) -> np.ndarray:
    """``[n_mels, frames]`` log-mel magnitudes in dB (floored at the config's floor)."""
    x = torch.as_tensor(np.asarray(audio, dtype=np.float64)).unsqueeze(0)
    magnitude = mel.magnitude(x)[0].clamp_min(mel.config.log_floor)
    return (20.0 * torch.log10(magnitude)).numpy()


def colour_range(images: list[np.ndarray]) -> tuple[float, float]:
    """``(vmin, vmax)`` shared by ``images``: their peak, and at most
    :data:`DYNAMIC_RANGE_DB` below it."""
    vmax = max(float(np.max(im)) for im in images)
    vmin = min(float(np.min(im)) for im in images)
    return max(vmin, vmax - DYNAMIC_RANGE_DB), vmax


def write_spectrogram_png(
    image_db: np.ndarray,
    path: str | os.PathLike,
    seconds: float,
    vrange: tuple[float, float],
) -> Path:
    """Draw ``image_db [n_mels, frames]`` on the colour scale ``vrange`` (dB) to ``path``
    (3 x 2 inches at 200 dpi: sharp at 300 CSS pixels wide on any screen)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=(3.0, 2.0), dpi=200)
    ax = fig.add_subplot()
    shown = ax.imshow(
        image_db,
        origin="lower",
        aspect="auto",
        cmap="magma",
        vmin=vrange[0],
        vmax=vrange[1],
        extent=(0.0, seconds, 0, image_db.shape[0]),
        interpolation="nearest",
    )
    ax.set_xlabel("time (s)", fontsize=8)
    ax.set_ylabel("mel bin", fontsize=8)
    ax.tick_params(labelsize=7)
    fig.colorbar(shown, ax=ax, pad=0.02).ax.tick_params(labelsize=7)
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path


def _evenly_spaced(items: list[str], k: int) -> list[str]:
    if k >= len(items):
        return list(items)
    return [items[i * len(items) // k] for i in range(k)]


def pick_utterances(versions: dict[str, int], n: int) -> list[str]:
    """At most ``n`` of the names in ``versions`` (name -> how many versions of it exist),
    deterministically: those with the most versions first, evenly spaced over the sorted
    names within each tier; returned sorted by name."""
    if n <= 0:
        return []
    chosen: list[str] = []
    for count in sorted(set(versions.values()), reverse=True):
        room = n - len(chosen)
        if room <= 0:
            break
        tier = sorted(name for name, c in versions.items() if c == count)
        chosen += _evenly_spaced(tier, room)
    return sorted(chosen)
