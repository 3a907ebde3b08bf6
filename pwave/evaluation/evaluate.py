"""pwave evaluate: objective metrics of generated audio against references on the same mels.

Files are paired by name (``<stem>`` in --generated matches ``<stem>`` in --reference,
any audio extension); both are read at the model rate of the feature config (the
reference's rate by default), trimmed to the shorter length, and scored with log-mel
distance (dB), mel-cepstral distortion (dB), multi-resolution STFT distance, PESQ and STOI,
plus the teacher's NLL in bits per 16-bit sample when --teacher is given.
Writes ``metrics.csv`` (one row per utterance) and ``summary.json``; prints a summary.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from pwave.audio.io import audio_extensions
from pwave.audio.mel import MelSpectrogram
from pwave.evaluation.metrics import (
    log_mel_distance_db,
    mel_cepstral_distortion_db,
    natural_log_mel,
    pesq_score,
    stoi_score,
)

METRICS = ("log_mel_db", "mcd_db", "mr_stft", "pesq", "stoi")


def _audio_files(folder: Path) -> dict[str, Path]:
    exts = set(audio_extensions())
    if folder.is_file():
        return {folder.stem: folder}
    return {p.stem: p for p in sorted(folder.rglob("*")) if p.suffix.lower() in exts}


def pair_files(generated: Path, reference: Path) -> tuple[list[tuple[str, Path, Path]], list[str]]:
    """``(stem, generated, reference)`` for every stem in both folders, and unmatched stems."""
    gen, ref = _audio_files(generated), _audio_files(reference)
    pairs = [(stem, gen[stem], ref[stem]) for stem in sorted(gen) if stem in ref]
    unmatched = sorted(set(gen) ^ set(ref))
    return pairs, unmatched


def mr_stft_distance(generated: np.ndarray, reference: np.ndarray) -> float:
    """Multi-resolution STFT distance (spectral convergence + log-magnitude), as the loss."""
    from pwave.distill.losses import multi_resolution_stft_loss

    g = torch.as_tensor(generated, dtype=torch.float32).unsqueeze(0)
    r = torch.as_tensor(reference, dtype=torch.float32).unsqueeze(0)
    loss, _ = multi_resolution_stft_loss(g, r)
    return float(loss)


def evaluate_pair(
    generated: np.ndarray, reference: np.ndarray, sample_rate: int, mel: MelSpectrogram
) -> dict[str, float]:
    """All metrics for one aligned pair (trimmed to the shorter of the two)."""
    n = min(len(generated), len(reference))
    g, r = generated[:n], reference[:n]
    log_mel = natural_log_mel(mel)
    return {
        "log_mel_db": log_mel_distance_db(g, r, log_mel),
        "mcd_db": mel_cepstral_distortion_db(g, r, log_mel),
        "mr_stft": mr_stft_distance(g, r),
        "pesq": pesq_score(g, r, sample_rate),
        "stoi": stoi_score(g, r, sample_rate),
    }


def summarize(rows: list[dict], keys: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """Mean, std and count of each metric over rows, ignoring NaN (reported as count)."""
    out = {}
    for key in keys:
        vals = np.array([row[key] for row in rows if key in row], dtype=np.float64)
        finite = vals[np.isfinite(vals)]
        out[key] = {
            "mean": float(finite.mean()) if finite.size else float("nan"),
            "std": float(finite.std()) if finite.size else float("nan"),
            "count": int(finite.size),
        }
    return out
