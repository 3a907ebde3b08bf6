r"""``pwave score``: rank recordings by how typical they are under the teacher.

::

    pwave score --teacher runs/teacher-demo/teacher.pt --input wavs/ --output scores.csv

Each file gets its log-likelihood under the teacher in **bits per 16-bit sample**
(:func:`pwave.units.bits_per_sample`): the continuous density times the 16-bit bin
width :math:`\Delta = 2/65536`,

.. math:: \text{bits} = -\frac{\log p(x_{1:T} \mid \text{mel}) / T + \ln \Delta}{\ln 2},

where the mel is computed from the file itself, as in ``pwave prepare`` (mono, resampled to the
teacher's rate, zero-padded to a multiple of the hop, normalised, context-padded). Fewer bits
mean more typical audio; the folder is ranked from most to least typical, so recordings the
teacher finds unusual (noise, clipping, other domains) sink to the bottom -- a simple anomaly
detector. Only the file's own ``T`` samples are scored (not the padding). Digital silence
gets an absurdly good score (the density of a constant is huge) and is flagged.

Per-sample densities come from :meth:`Teacher.conditionals`:
:math:`\log p(x_t \mid x_{<t}) = \log p_0\big((x_t - \mu_t) e^{-s_t}\big) - s_t`, whose sum is
:meth:`Teacher.log_prob`. Long files are scored in chunks of ``--chunk-seconds``; each chunk is
run with extra frames on its left (the teacher's receptive field, once per flow, plus the
upsampler's reach: :func:`~pwave.sampling.chunking.context_frames_needed`) and a few on its
right, and
only its own samples are kept, so the chunked score equals the whole-file score up to rounding.

Bad files are skipped with their reason (printed, and listed at the end of the CSV).
"""

from __future__ import annotations

import csv
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from pwave.audio.io import SILENCE_PEAK, AudioReadError, audio_extensions, load_audio
from pwave.inference.vocoder import Vocoder
from pwave.models.teacher import Teacher
from pwave.sampling.chunking import chunk_windows, context_frames_needed
from pwave.units import bits_per_sample

CSV_FIELDS = (
    "rank",
    "path",
    "bits_per_sample",
    "log_prob_nats",
    "samples",
    "seconds",
    "status",
    "reason",
    "notes",
)


# --------------------------------------------------------------------------------------------
# Densities
# --------------------------------------------------------------------------------------------


def per_sample_log_prob(teacher: Teacher, audio: Tensor, mel: Tensor) -> Tensor:
    """``log p(x_t | x_<t, mel)`` in nats, ``[B, T]``, in one parallel pass (no gradients).

    ``audio [B, T]``, ``mel [B, n_mels, T / hop + 2 * mel_context_frames]``; the sum over ``t``
    is :meth:`Teacher.log_prob` without dequantisation.
    """
    with torch.no_grad():
        mu, log_scale = teacher.conditionals(audio, mel)
        return teacher.base.loc_scale_log_prob(audio, mu, log_scale)


def chunked_log_prob(teacher: Teacher, audio: Tensor, mel: Tensor, chunk_frames: int) -> Tensor:
    """Per-sample log-densities ``[T]`` (float64, CPU) of one utterance, chunk by chunk.

    Args:
        audio: ``[T]`` with ``T = frames * hop``, on the teacher's device and dtype.
        mel: ``[n_mels, frames + 2 * mel_context_frames]`` (normalised, context-padded).
        chunk_frames: frames kept per chunk; each is run with the overlap of
            :func:`~pwave.sampling.chunking.context_frames_needed` around it.
    """
    hop = teacher.features.hop_length
    ctx = teacher.config.mel_context_frames
    frames = audio.shape[-1] // hop
    if frames * hop != audio.shape[-1] or mel.shape[-1] != frames + 2 * ctx:
        raise ValueError(
            f"audio [{audio.shape[-1]}] and mel [{mel.shape[-1]} frames] do not describe the "
            f"same utterance (hop {hop}, {ctx} context frames per side)"
        )
    left, right = context_frames_needed(teacher)
    out = torch.empty(frames * hop, dtype=torch.float64)
    for f0, f1, w0, w1 in chunk_windows(frames, chunk_frames, left, right):
        lp = per_sample_log_prob(
            teacher, audio[None, w0 * hop : w1 * hop], mel[None, :, w0 : w1 + 2 * ctx]
        )[0]
        out[f0 * hop : f1 * hop] = lp[(f0 - w0) * hop : (f1 - w0) * hop].double().cpu()
    return out


@dataclass
class FileScore:
    """Score of one file.

    Attributes:
        path: the file.
        log_prob: ``log p(x | mel)`` in nats over its ``num_samples`` samples.
        num_samples: samples scored (at the teacher's rate, padding excluded).
        bits_per_sample: bits per 16-bit sample (lower = more typical).
        seconds: duration at the teacher's rate.
        notes: resampling, mix-down, silence ...
    """

    path: Path
    log_prob: float
    num_samples: int
    bits_per_sample: float
    seconds: float
    notes: list[str] = field(default_factory=list)


def score_audio(
    vocoder: Vocoder, audio: np.ndarray, chunk_seconds: float = 10.0
) -> tuple[float, float]:
    """``(log p in nats, bits per 16-bit sample)`` of ``audio [T]`` at the teacher's rate.

    ``vocoder`` wraps the teacher (for its front end, device and dtype).
    """
    if vocoder.kind != "teacher":
        raise ValueError("scoring needs a teacher (a student's density is sequential to evaluate)")
    teacher: Teacher = vocoder.model
    num = int(audio.shape[-1])
    mel = vocoder.model_input(vocoder.audio_to_mel(audio))
    hop = vocoder.hop_length
    padded = np.pad(
        np.asarray(audio, dtype=np.float32), (0, (mel.shape[-1] - 2 * vocoder.context) * hop - num)
    )
    dev, dt = vocoder.device, vocoder.param_dtype
    chunk = max(1, round(chunk_seconds * vocoder.sample_rate / hop))
    lp = chunked_log_prob(
        teacher, torch.from_numpy(padded).to(dev, dt), mel.to(dev, dt), chunk_frames=chunk
    )
    total = float(lp[:num].sum())
    return total, float(bits_per_sample(torch.tensor(total, dtype=torch.float64), num))


def score_file(vocoder: Vocoder, path: Path, chunk_seconds: float = 10.0) -> FileScore:
    """Load ``path`` at the teacher's rate and score it; raises :class:`AudioReadError`."""
    loaded = load_audio(path, sample_rate=vocoder.sample_rate, mono=True)
    notes = list(loaded.notes)
    if float(np.abs(loaded.audio).max()) < SILENCE_PEAK:
        notes.append("digital silence: its score is not meaningful")
    log_prob, bits = score_audio(vocoder, loaded.audio, chunk_seconds)
    n = int(loaded.audio.shape[-1])
    return FileScore(path, log_prob, n, bits, n / vocoder.sample_rate, notes)


def find_audio(root: str | os.PathLike) -> list[Path]:
    """A file, or the audio files under a folder (recursively, sorted)."""
    root = Path(root)
    if root.is_file():
        return [root]
    exts = set(audio_extensions())
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in exts)


def score_paths(
    vocoder: Vocoder,
    input_path: str | os.PathLike,
    chunk_seconds: float = 10.0,
    progress: bool = True,
) -> tuple[list[FileScore], list[dict[str, str]]]:
    """Score every audio file under ``input_path``.

    Returns ``(scores ranked from most to least typical, skipped [{path, reason}])``.
    """
    from tqdm.auto import tqdm

    scores, skipped = [], []
    for p in tqdm(
        find_audio(input_path), desc="score", unit="file", disable=not progress, file=sys.stderr
    ):
        try:
            scores.append(score_file(vocoder, p, chunk_seconds))
        except AudioReadError as err:
            skipped.append({"path": str(p), "reason": err.reason})
        except Exception as err:  # noqa: BLE001 - a bad file must never stop the run
            skipped.append({"path": str(p), "reason": f"{type(err).__name__}: {err}"})
    scores.sort(key=lambda s: (s.bits_per_sample, str(s.path)))
    return scores, skipped


def write_csv(path: str | os.PathLike, scores: Sequence[FileScore], skipped) -> Path:
    """One row per ranked file (rank 1 = most typical), then one per skipped file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=CSV_FIELDS)
        w.writeheader()
        for rank, s in enumerate(scores, 1):
            w.writerow(
                {
                    "rank": rank,
                    "path": str(s.path),
                    "bits_per_sample": f"{s.bits_per_sample:.6f}",
                    "log_prob_nats": f"{s.log_prob:.6f}",
                    "samples": s.num_samples,
                    "seconds": f"{s.seconds:.6f}",
                    "status": "ok",
                    "reason": "",
                    "notes": "; ".join(s.notes),
                }
            )
        for s in skipped:
            w.writerow({"path": s["path"], "status": "skipped", "reason": s["reason"]})
    return path


def table_lines(scores: Sequence[FileScore], skipped) -> list[str]:
    """The printed ranking."""
    lines = [
        "bits per 16-bit sample under the teacher (lower = more typical), most typical first:",
        f"{'rank':>5}  {'bits/sample':>11}  {'seconds':>8}  path",
    ]
    for rank, s in enumerate(scores, 1):
        notes = f"  [{'; '.join(s.notes)}]" if s.notes else ""
        lines.append(f"{rank:>5}  {s.bits_per_sample:>11.4f}  {s.seconds:>8.2f}  {s.path}{notes}")
    if skipped:
        lines.append(f"skipped {len(skipped)} file(s):")
        lines += [f"  {s['path']}: {s['reason']}" for s in skipped]
    return lines


# --------------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------------


__all__ = [
    "FileScore",
    "chunked_log_prob",
    "per_sample_log_prob",
    "score_audio",
    "score_file",
    "score_paths",
    "write_csv",
]
