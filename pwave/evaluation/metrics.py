r"""Objective metrics for generated vs reference audio on the same mel (aligned signals).

All functions take 1-D float arrays/tensors of equal length (the caller trims) and return
Python floats. Spectral metrics take a ``log_mel`` callable mapping ``[batch, time]``
audio to natural-log mel *magnitudes* ``[batch, n_mels, frames]`` -- pwave's own front
end -- so the mel math lives in one place (:mod:`pwave.audio`).

* log-mel spectral distance (dB):
  :math:`\frac1F\sum_f \sqrt{\frac1M\sum_m (20\log_{10} S_g - 20\log_{10} S_r)^2}`;
* mel-cepstral distortion (dB), from the DCT-II of the log mel magnitudes, c1..c_K
  (no DTW: the signals are aligned by construction):
  :math:`\frac{10}{\ln 10}\,\frac1F\sum_f\sqrt{2\sum_{k=1}^{K}(c_{g,k}-c_{r,k})^2}`.
  (With magnitudes, 20 log10 is folded into the DCT of ln S; the constant matches the
  usual SPTK-style definition up to the filterbank approximation of the mel-cepstrum.)
* multi-resolution STFT distance: spectral convergence plus log-magnitude L1, averaged
  over resolutions (the same function the power loss uses);
* PESQ (wide-band at 16 kHz, narrow-band at 8 kHz) and STOI through the ``pesq`` and
  ``pystoi`` packages; other rates are resampled to 16 kHz first (PESQ) or used as is
  (STOI resamples internally to 10 kHz).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from pwave.audio.mel import MelSpectrogram

LogMelFn = Callable[[Tensor], Tensor]
DB_PER_NEPER = 20.0 / math.log(10.0)


def natural_log_mel(mel: MelSpectrogram) -> LogMelFn:
    """``audio [B, T] -> ln(max(mel magnitude, floor))`` with pwave's front end, whatever
    the config's own log base."""
    floor = mel.config.log_floor
    return lambda audio: torch.log(mel.magnitude(audio).clamp_min(floor))


def _as_tensor(x: np.ndarray | Tensor) -> Tensor:
    t = torch.as_tensor(x, dtype=torch.float32)
    return t.reshape(1, -1)


def log_mel_distance_db(generated, reference, log_mel: LogMelFn) -> float:
    """Mean over frames of the RMS (over mel bins) difference of the two log-mels, in dB."""
    g, r = log_mel(_as_tensor(generated)), log_mel(_as_tensor(reference))
    diff_db = DB_PER_NEPER * (g - r)
    return diff_db.pow(2).mean(dim=1).sqrt().mean().item()


def mel_cepstral_distortion_db(generated, reference, log_mel: LogMelFn, order: int = 24) -> float:
    """MCD in dB over cepstral coefficients 1..order of the DCT of the log mel magnitudes."""
    from scipy.fft import dct

    g = log_mel(_as_tensor(generated))[0].T.double().numpy()  # [frames, n_mels]
    r = log_mel(_as_tensor(reference))[0].T.double().numpy()
    # ln |S| -> cepstrum of the log *power* (x2) as in the standard MCD definition.
    cg = dct(2.0 * g, type=2, norm="ortho", axis=1)[:, 1 : order + 1]
    cr = dct(2.0 * r, type=2, norm="ortho", axis=1)[:, 1 : order + 1]
    per_frame = np.sqrt(2.0 * ((cg - cr) ** 2).sum(axis=1))
    return float((10.0 / math.log(10.0)) * per_frame.mean())


def pesq_score(generated, reference, sample_rate: int) -> float:
    """PESQ MOS-LQO: wide-band at 16 kHz, narrow-band at 8 kHz (others resampled to 16 kHz).

    Returns ``nan`` (and never raises) when PESQ cannot score the pair, e.g. no
    utterance detected in silence; the caller reports it.
    """
    from pesq import pesq

    ref = np.asarray(reference, dtype=np.float32)
    deg = np.asarray(generated, dtype=np.float32)
    if sample_rate not in (8000, 16000):
        import librosa

        ref = librosa.resample(ref, orig_sr=sample_rate, target_sr=16000)
        deg = librosa.resample(deg, orig_sr=sample_rate, target_sr=16000)
        sample_rate = 16000
    mode = "wb" if sample_rate == 16000 else "nb"
    try:
        return float(pesq(sample_rate, ref, deg, mode))
    except Exception:  # pesq raises its own error types for silent/short input
        return float("nan")


def stoi_score(generated, reference, sample_rate: int) -> float:
    """Short-time objective intelligibility in [0, 1] (pystoi, classic STOI)."""
    from pystoi import stoi

    ref = np.asarray(reference, dtype=np.float64)
    deg = np.asarray(generated, dtype=np.float64)
    return float(stoi(ref, deg, sample_rate, extended=False))
