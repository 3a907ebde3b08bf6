"""Speech-like test audio for the front-end tests (harmonic tones in syllable-like segments)."""

from __future__ import annotations

import numpy as np


def speech_like(
    sample_rate: int, seconds: float = 1.2, seed: int = 0, gap: bool = False
) -> np.ndarray:
    """Harmonic tones (f0 100-240 Hz, 1/k harmonics up to 5 kHz) in 150 ms segments with a
    Hann envelope and a little noise, float64 in [-1, 1]; ``gap``: the middle tenth is
    digital silence."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    out = np.zeros(n)
    seg = int(0.15 * sample_rate)
    for start in range(0, n, seg):
        f0 = rng.uniform(100.0, 240.0)
        idx = slice(start, min(n, start + seg))
        env = np.hanning(idx.stop - idx.start)
        for k in range(1, int(5000 // f0)):
            out[idx] += env * np.sin(2 * np.pi * k * f0 * t[idx] + rng.uniform(0, 6.3)) / k
    out = 0.3 * out / np.abs(out).max() + 0.003 * rng.standard_normal(n)
    if gap:
        out[int(0.45 * n) : int(0.55 * n)] = 0.0
    return out
