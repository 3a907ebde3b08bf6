r"""Objective metrics for generated vs reference audio on the same mel (aligned signals).

All functions take 1-D float arrays/tensors of equal length (the caller trims) and return
Python floats. Spectral metrics take a ``log_mel`` callable mapping ``[batch, time]``
audio to natural-log mel *magnitudes* ``[batch, n_mels, frames]`` -- pwave's own front
end -- so the mel math lives in one place (:mod:`pwave.audio`).

* log-mel spectral distance (dB):
  :math:`\frac1F\sum_f \sqrt{\frac1M\sum_m (20\log_{10} S_g - 20\log_{10} S_r)^2}`;
* mel-cepstral distortion (dB), from the cepstrum of the log mel amplitudes (DCT-II scaled
  so that :math:`\ln|S_m| = c_0 + 2\sum_k c_k\cos(\pi k (m+\frac12)/M)`, as SPTK's
  mel-cepstra), coefficients 1..K, no DTW (the signals are aligned by construction):
  :math:`\frac{10}{\ln 10}\,\frac1F\sum_f\sqrt{2\sum_{k=1}^{K}(c_{g,k}-c_{r,k})^2}`.
  It approximates the SPTK figure by the mel filterbank in place of mel-cepstral analysis.
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

    g = log_mel(_as_tensor(generated))[0].T.double().numpy()  # [frames, n_mels] ln|S|
    r = log_mel(_as_tensor(reference))[0].T.double().numpy()
    # Cepstrum of the log amplitude over M mel bands, c_k = (1/M) sum_m ln|S_m| cos(pi k (m+1/2)/M),
    # so that ln|S_m| = c_0 + 2 sum_k c_k cos(...): the convention of SPTK's mel-cepstra.
    # scipy's unnormalised DCT-II is 2 M c_k.
    m = g.shape[1]
    cg = dct(g, type=2, norm=None, axis=1)[:, 1 : order + 1] / (2.0 * m)
    cr = dct(r, type=2, norm=None, axis=1)[:, 1 : order + 1] / (2.0 * m)
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
