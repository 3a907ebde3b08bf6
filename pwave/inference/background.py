"""The background model of ``pwave score``'s likelihood ratio, fitted on a corpus.

One order-``p`` linear predictor (:mod:`pwave.models.lpc`) fitted on every audio file under
a folder (e.g. the teacher's training recordings), read as ``pwave score`` reads the files it
scores (mono, at the teacher's rate) and dequantised like them (draw 0 of
:func:`~pwave.models.likelihood.dequantization_noise`), so that it models the same data.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from pwave.audio.io import AudioReadError, audio_extensions, load_audio
from pwave.errors import UserError
from pwave.models.likelihood import SEED, dequantization_noise
from pwave.models.lpc import LPCBaseline, fit_lpc


def _files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    exts = set(audio_extensions())
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in exts)


def fit_background(
    root: str | os.PathLike, sample_rate: int, order: int = 32, draws: int = 1, seed: int = SEED
) -> tuple[LPCBaseline, int]:
    """``(LPC fitted on the audio under root, files used)``; unreadable files are left out.

    ``draws > 0`` adds the first dequantisation draw to each file before the fit.
    Raises :class:`~pwave.errors.UserError` when no file can be used.
    """
    used = 0

    def waves() -> Iterator[np.ndarray]:
        nonlocal used
        for path in _files(Path(root)):
            try:
                x = load_audio(path, sample_rate=sample_rate, mono=True).audio.astype(np.float64)
            except AudioReadError:
                continue
            if draws > 0:
                x = x + dequantization_noise(x.shape[0], 0, seed).numpy()
            used += 1
            yield x

    try:
        model = fit_lpc(waves(), order=order)
    except ValueError as err:
        raise UserError(f"cannot fit the background on {root}: {err}") from None
    return model, used


__all__ = ["fit_background"]
