r"""``pwave score``: rank recordings by how typical they are under the teacher.

::

    pwave score --teacher runs/teacher-demo/teacher.pt --input wavs/ --output scores.json

Each file gets its code length under the teacher in **bits per 16-bit sample**, the one
definition of :func:`pwave.models.likelihood.code_length` (uniform dequantisation noise of
one 16-bit bin, :data:`~pwave.models.likelihood.DRAWS` fixed draws averaged, only the file's
own samples counted; ``docs/likelihood.md``), where the mel is computed from the file itself,
as in ``pwave prepare`` (mono, resampled to the teacher's rate, zero-padded to a multiple of
the hop, normalised, context-padded).

Raw likelihoods rank out-of-domain audio poorly (simple signals get high likelihood under
any model: Nalisnick et al. 2019), so each file also gets the bits of a **background model**,
the order-32 linear-prediction model of :mod:`pwave.models.lpc`, fitted on the file itself
(a complexity correction in the spirit of Serra et al. 2020) or on a corpus, under the same
definition, and the **likelihood ratio** ``ratio = teacher bits - background bits`` (Ren et
al. 2019): how much better than a generic predictor the teacher explains the file. Fewer
bits mean more typical; files are ranked by the ratio when there is a background, else by
the raw bits. Digital silence gets an absurdly good raw score and is flagged.

Per-sample densities come from :meth:`Teacher.conditionals` (their sum is
:meth:`Teacher.log_prob`). Long files are scored in chunks of ``chunk_seconds``; each chunk is
run with extra frames on its left (the teacher's receptive field, once per flow, plus the
upsampler's reach: :func:`~pwave.sampling.chunking.context_frames_needed`) and a few on its
right, and only its own samples are kept, so the chunked score equals the whole-file score up
to rounding. Per-second curves (``curve_seconds``) show where a long recording turns atypical.

Bad files are skipped with their reason. Writers (CSV, JSON, curves, the table) are in
:mod:`pwave.inference.score_report`.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from pwave.audio.io import SILENCE_PEAK, AudioReadError, audio_extensions, load_audio
from pwave.inference.vocoder import Vocoder
from pwave.models.likelihood import (
    DRAWS,
    SEED,
    CodeLength,
    code_length,
    dequantization_noise,
    per_sample_log_prob,
)
from pwave.models.lpc import LPCBaseline, fit_lpc
from pwave.models.teacher import Teacher
from pwave.sampling.chunking import chunk_windows, context_frames_needed
from pwave.units import bits_per_sample

#: The background fitted on each file itself.
PER_FILE = "file"


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


@dataclass(frozen=True)
class ScoreOptions:
    """How files are scored.

    Attributes:
        chunk_seconds: files are scored in chunks of this length (exact; memory only).
        draws, seed: the dequantisation of :func:`~pwave.models.likelihood.code_length`
            (``draws = 0``: the density at the float values as they are, a diagnostic).
        background: :data:`PER_FILE` (an LPC fitted on each file), a fitted
            :class:`~pwave.models.lpc.LPCBaseline`, or ``None`` (raw bits only).
        lpc_order: order of the per-file LPC.
        curve_seconds: window of the per-second curves (``0``: no curves).
    """

    chunk_seconds: float = 10.0
    draws: int = DRAWS
    seed: int = SEED
    background: str | LPCBaseline | None = PER_FILE
    lpc_order: int = 32
    curve_seconds: float = 0.0


@dataclass
class FileScore:
    """Score of one file.

    Attributes:
        path: the file.
        log_prob: the teacher's ``log p(x | mel)`` in nats over its ``num_samples`` samples.
        num_samples: samples scored (at the teacher's rate, padding excluded).
        bits_per_sample: the teacher's bits per 16-bit sample (lower = more typical).
        seconds: duration at the teacher's rate.
        background_bits: the background model's bits per 16-bit sample (``None``: none).
        notes: resampling, mix-down, silence ...
        curve: per-window ``(start_s, end_s, teacher bits, background bits or nan)``.
    """

    path: Path
    log_prob: float
    num_samples: int
    bits_per_sample: float
    seconds: float
    background_bits: float | None = None
    notes: list[str] = field(default_factory=list)
    curve: list[tuple[float, float, float, float]] = field(default_factory=list)

    @property
    def ratio_bits(self) -> float | None:
        """Teacher bits minus background bits (the likelihood ratio, in bits per sample)."""
        if self.background_bits is None:
            return None
        return self.bits_per_sample - self.background_bits


def _teacher_input(vocoder: Vocoder, audio: np.ndarray) -> tuple[Tensor, Tensor]:
    """``(padded audio [1, frames * hop], model mel [n_mels, frames + 2 ctx])`` (CPU)."""
    if vocoder.kind != "teacher":
        raise ValueError("scoring needs a teacher (a student's density is sequential to evaluate)")
    mel = vocoder.model_input(vocoder.audio_to_mel(audio))
    n = int(audio.shape[-1])
    padded = np.zeros((mel.shape[-1] - 2 * vocoder.context) * vocoder.hop_length, np.float32)
    padded[:n] = audio
    return torch.from_numpy(padded)[None], mel


def teacher_code_length_of(
    vocoder: Vocoder, audio: np.ndarray, options: ScoreOptions = ScoreOptions()
) -> CodeLength:
    """:func:`~pwave.models.likelihood.code_length` of ``audio [T]`` (at the teacher's rate)
    under the vocoder's teacher, chunked; ``per_sample`` is ``[1, frames * hop]``."""
    padded, mel = _teacher_input(vocoder, audio)
    dev, dt = vocoder.device, vocoder.param_dtype
    chunk = max(1, round(options.chunk_seconds * vocoder.sample_rate / vocoder.hop_length))
    mel = mel.to(dev, dt)

    def per_sample(x: Tensor) -> Tensor:
        return chunked_log_prob(vocoder.model, x[0], mel, chunk_frames=chunk)[None]

    return code_length(padded.to(dev, dt), per_sample, int(audio.shape[-1]), options.draws,
                       options.seed)  # fmt: skip


def score_audio(
    vocoder: Vocoder,
    audio: np.ndarray,
    chunk_seconds: float = 10.0,
    draws: int = DRAWS,
    seed: int = SEED,
) -> tuple[float, float]:
    """``(log p in nats, bits per 16-bit sample)`` of ``audio [T]`` at the teacher's rate,
    by the one definition (:func:`~pwave.models.likelihood.code_length`).

    ``vocoder`` wraps the teacher (for its front end, device and dtype).
    """
    options = ScoreOptions(chunk_seconds=chunk_seconds, draws=draws, seed=seed, background=None)
    c = teacher_code_length_of(vocoder, audio, options)
    return float(c.log_prob[0]), float(c.bits[0])


def background_code_length(
    audio: np.ndarray, frames_samples: int, options: ScoreOptions
) -> CodeLength | None:
    """The background model's :func:`~pwave.models.likelihood.code_length` of ``audio [T]``
    (zero-padded to ``frames_samples`` like the teacher's input, so the noise is the same),
    or ``None`` without a background or for a file too short to fit a per-file LPC."""
    bg = options.background
    if bg is None:
        return None
    n = int(audio.shape[-1])
    padded = torch.zeros(1, frames_samples, dtype=torch.float64)
    padded[0, :n] = torch.from_numpy(np.asarray(audio, dtype=np.float64))
    if bg == PER_FILE:
        if n <= 4 * options.lpc_order:
            return None
        # fitted on the first dequantised draw: the data the background is scored on
        fit_on = padded[0, :n].clone()
        if options.draws > 0:
            fit_on += dequantization_noise(frames_samples, 0, options.seed)[:n]
        bg = fit_lpc([fit_on.numpy()], order=options.lpc_order)
    if not isinstance(bg, LPCBaseline):
        raise ValueError(f"background must be {PER_FILE!r}, an LPCBaseline or None, got {bg!r}")
    model = bg

    def per_sample(x: Tensor) -> Tensor:
        return torch.from_numpy(model.per_sample_log_prob(x[0].double().cpu().numpy()))[None]

    return code_length(padded, per_sample, n, options.draws, options.seed)


def curve(
    teacher: CodeLength, background: CodeLength | None, sample_rate: int, window_seconds: float
) -> list[tuple[float, float, float, float]]:
    """Per-window ``(start_s, end_s, teacher bits, background bits or nan)`` over the real
    samples (the last window may be shorter)."""
    n = int(teacher.num_samples[0])
    step = max(1, round(window_seconds * sample_rate))
    out = []
    for s in range(0, n, step):
        e = min(n, s + step)
        t_bits = float(bits_per_sample(teacher.per_sample[0, s:e].sum(), e - s))
        b_bits = float("nan")
        if background is not None:
            b_bits = float(bits_per_sample(background.per_sample[0, s:e].sum(), e - s))
        out.append((s / sample_rate, e / sample_rate, t_bits, b_bits))
    return out


def score_file(vocoder: Vocoder, path: Path, options: ScoreOptions = ScoreOptions()) -> FileScore:
    """Load ``path`` at the teacher's rate and score it; raises :class:`AudioReadError`."""
    loaded = load_audio(path, sample_rate=vocoder.sample_rate, mono=True)
    audio = loaded.audio
    notes = list(loaded.notes)
    if float(np.abs(audio).max()) < SILENCE_PEAK:
        notes.append("digital silence: its score is not meaningful")
    teacher = teacher_code_length_of(vocoder, audio, options)
    background = background_code_length(audio, teacher.per_sample.shape[-1], options)
    if options.background is not None and background is None:
        notes.append(f"too short for a per-file background (order {options.lpc_order})")
    n = int(audio.shape[-1])
    score = FileScore(
        path=path,
        log_prob=float(teacher.log_prob[0]),
        num_samples=n,
        bits_per_sample=float(teacher.bits[0]),
        seconds=n / vocoder.sample_rate,
        background_bits=None if background is None else float(background.bits[0]),
        notes=notes,
    )
    if options.curve_seconds > 0:
        score.curve = curve(teacher, background, vocoder.sample_rate, options.curve_seconds)
    return score


def find_audio(root: str | os.PathLike) -> list[Path]:
    """A file, or the audio files under a folder (recursively, sorted)."""
    root = Path(root)
    if root.is_file():
        return [root]
    exts = set(audio_extensions())
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in exts)


def rank_key(score: FileScore, by: str) -> tuple[bool, float, str]:
    """Sort key: ``by = "ratio"`` or ``"raw"``; files without a ratio go last."""
    value = score.ratio_bits if by == "ratio" else score.bits_per_sample
    missing = value is None or not np.isfinite(value)
    return (missing, 0.0 if missing else float(value), str(score.path))


def score_paths(
    vocoder: Vocoder,
    input_path: str | os.PathLike,
    options: ScoreOptions | float = ScoreOptions(),
    progress: bool = True,
) -> tuple[list[FileScore], list[dict[str, str]]]:
    """Score every audio file under ``input_path`` (``options`` may be a chunk length).

    Returns ``(scores ranked from most to least typical -- by the ratio when there is a
    background, else by the raw bits --, skipped [{path, reason}])``.
    """
    from tqdm.auto import tqdm

    if not isinstance(options, ScoreOptions):
        options = ScoreOptions(chunk_seconds=float(options))
    scores, skipped = [], []
    for p in tqdm(
        find_audio(input_path), desc="score", unit="file", disable=not progress, file=sys.stderr
    ):
        try:
            scores.append(score_file(vocoder, p, options))
        except AudioReadError as err:
            skipped.append({"path": str(p), "reason": err.reason})
        except Exception as err:  # noqa: BLE001 - a bad file must never stop the run
            skipped.append({"path": str(p), "reason": f"{type(err).__name__}: {err}"})
    by = "raw" if options.background is None else "ratio"
    scores.sort(key=lambda s: rank_key(s, by))
    return scores, skipped


__all__ = [
    "PER_FILE",
    "FileScore",
    "ScoreOptions",
    "background_code_length",
    "chunked_log_prob",
    "curve",
    "per_sample_log_prob",
    "score_audio",
    "score_file",
    "score_paths",
    "teacher_code_length_of",
]
