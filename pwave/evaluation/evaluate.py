"""pwave evaluate: objective metrics of generated audio against references on the same mels.

Files are paired by name (``<stem>`` in --generated matches ``<stem>`` in --reference,
any audio extension); both are read at the model rate of the feature config (the
reference's rate by default), trimmed to the shorter length, and scored with log-mel
distance (dB), mel-cepstral distortion (dB), multi-resolution STFT distance, PESQ and STOI,
plus the teacher's NLL in bits per 16-bit sample when a scorer is given (``pwave evaluate
--teacher``; the scorer comes from :mod:`pwave.inference.scoring`, a layer beside this one,
so the caller builds it: :func:`~pwave.inference.scoring.score_audio`, the one definition of
:func:`pwave.models.likelihood.code_length` that training validation and ``pwave score``
report too -- fixed dequantisation draws, the file's own samples; ``docs/likelihood.md``).
:func:`write_rows_csv` writes one row per utterance (``metrics.csv``), :func:`format_summary`
the mean and std of every metric.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from pwave.audio.config import FeatureConfig
from pwave.audio.io import audio_extensions, load_audio
from pwave.audio.mel import MelSpectrogram
from pwave.errors import AudioReadError
from pwave.evaluation.metrics import (
    log_mel_distance_db,
    mel_cepstral_distortion_db,
    natural_log_mel,
    pesq_score,
    stoi_score,
)

METRICS = ("log_mel_db", "mcd_db", "mr_stft", "pesq", "stoi")

#: ``audio [T]`` at the scorer's rate -> the teacher's NLL in bits per 16-bit sample
#: (:func:`pwave.models.likelihood.code_length`, as ``pwave score`` reports it).
BitsFn = Callable[[np.ndarray], float]


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


def _mel_config(feature_config: FeatureConfig | None, rate: int) -> FeatureConfig:
    """The mel front end to compare at ``rate``: ``feature_config`` (default: the defaults)
    without normalisation, moved to ``rate`` when it differs."""
    config = (feature_config or FeatureConfig()).replace(mel_mean=(), mel_std=())
    if config.sample_rate != rate:
        config = config.replace(sample_rate=rate, fmax=min(config.fmax or rate / 2, rate / 2))
    return config


def evaluate_folders(
    generated: Path,
    reference: Path,
    sample_rate: int | None = None,
    feature_config: FeatureConfig | None = None,
    teacher_bits: BitsFn | None = None,
) -> tuple[list[dict], list[dict]]:
    """Score every pair of same-named files; returns ``(rows, problems)``, never raises for
    a bad file.

    Each row: ``utterance``, ``seconds``, the :data:`METRICS` and, with ``teacher_bits``
    (a scorer at ``feature_config.sample_rate``; pass the teacher's features), the
    teacher's bits per sample of the generated file (``teacher_bits``) and of the reference
    (``teacher_bits_reference``) for pairs read at that rate. Each problem: ``file`` and
    ``reason`` (no counterpart, unreadable).
    """
    pairs, unmatched = pair_files(generated, reference)
    problems = [{"file": stem, "reason": "no counterpart with the same name"} for stem in unmatched]
    if teacher_bits is not None and feature_config is None:
        raise ValueError("teacher_bits needs the teacher's feature_config (its sample rate)")
    rows: list[dict] = []
    for stem, gen_path, ref_path in tqdm(pairs, desc="evaluate", unit="file"):
        try:
            ref = load_audio(ref_path, sample_rate)
            rate = ref.sample_rate
            gen = load_audio(gen_path, rate)
        except AudioReadError as err:
            problems.append({"file": err.path, "reason": err.reason})
            continue
        mel = MelSpectrogram(_mel_config(feature_config, rate))
        row = {"utterance": stem, "seconds": len(ref.audio) / rate}
        row.update(evaluate_pair(gen.audio, ref.audio, rate, mel))
        if teacher_bits is not None and rate == feature_config.sample_rate:
            row["teacher_bits"] = teacher_bits(gen.audio)
            row["teacher_bits_reference"] = teacher_bits(ref.audio)
        rows.append(row)
    return rows, problems


def metric_keys(rows: list[dict]) -> tuple[str, ...]:
    """The numeric columns of ``rows`` (every key but ``utterance``), in first-seen order."""
    keys = dict.fromkeys(k for row in rows for k in row if k != "utterance")
    return tuple(keys)


def write_rows_csv(rows: list[dict], path: str | os.PathLike) -> Path:
    """One CSV line per row (per utterance), columns in first-seen order; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fields = ["utterance", *metric_keys(rows)] if rows else ["utterance"]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, restval="")
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_summary_csv(
    summaries: dict[str, dict[str, dict[str, float]]], path: str | os.PathLike
) -> Path:
    """Several :func:`summarize` results as CSV lines ``evaluation, metric, mean, std,
    count``; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["evaluation", "metric", "mean", "std", "count"])
        for name, summary in summaries.items():
            for key, s in summary.items():
                writer.writerow([name, key, s["mean"], s["std"], s["count"]])
    return path


def format_summary(summary: dict[str, dict[str, float]], n: int) -> str:
    """The mean and std of every metric as a small table, headed by the utterance count."""
    lines = [f"evaluation over {n} utterance(s)", f"{'metric':<24}{'mean':>10}{'std':>10}"]
    for key, s in summary.items():
        mean = "nan" if math.isnan(s["mean"]) else f"{s['mean']:.3f}"
        std = "nan" if math.isnan(s["std"]) else f"{s['std']:.3f}"
        lines.append(f"{key:<24}{mean:>10}{std:>10}")
    return "\n".join(lines)
