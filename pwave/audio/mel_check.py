r"""``pwave mels check``: is a mel made elsewhere what this model reads, and if not, why not?

Each finding names one fault, says what was seen and what to change:

* **layout**: ``transposed`` (``[frames, n_mels]``), ``n_mels`` (neither axis has the
  model's bin count), ``unreadable`` (not a numeric ``.npy``), ``nonfinite``;
* **values**, from the per-bin mean and spread of all frames of all files against the
  model's training statistics :math:`(\mu_b, \sigma_b)` (``mel_mean``/``mel_std``): an
  unnormalised log-mel in the model's convention has bin means near :math:`\mu_b` and
  spreads near :math:`\sigma_b`. Each known mistake is an affine map of such a mel with
  predicted statistics, and the closest one (in squared z-score of the bin means plus squared
  log-ratio of the spreads, averaged over bins) is taken:

  ==========================  ==============================  =========================
  what the file holds          bin mean                        bin spread
  ==========================  ==============================  =========================
  the model's log-mel          :math:`\mu_b`                   :math:`\sigma_b`
  normalised once              0                               1
  normalised twice             :math:`-\mu_b / \sigma_b`       :math:`1 / \sigma_b`
  the other log base           :math:`c\,\mu_b`                :math:`c\,\sigma_b`
  decibels (20 log10)          :math:`c\,\mu_b`                :math:`c\,\sigma_b`
  ==========================  ==============================  =========================

  (:math:`c` the ratio of the logs: ``1/ln 10`` for log10 read as ln, ``ln 10`` the other
  way, ``20/ln 10`` for dB.) Which of them is a fault depends on what the caller passes:
  pwave's ``.npy`` mels and ``Vocoder.vocode_mel`` take unnormalised log-mels
  (``normalized=False``); ``vocode_mel(..., normalized=True)`` takes normalised ones. Then the
  **floor**: a minimum below the model's silence value :math:`\log_b(\text{log\_floor})`
  (values it never saw), or many values stuck at a higher one (a higher floor);
* **frames**, with ``--audio``: the frame count against ``ceil(T / hop)`` at the model's rate
  for the recording of the same stem; off by more than one frame means another hop or rate
  (the hop the file implies is printed).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pwave.audio.config import FeatureConfig
from pwave.audio.mel import silence_log_mel

#: Worst fit (mean squared z-score + squared log spread ratio) still taken as a known convention.
MAX_FIT = 6.0
#: Names of the conventions :func:`diagnose_values` tells apart (besides log base and dB).
MODEL, ONCE, TWICE = "the model's log-mel", "normalised once", "normalised twice"
#: Frame-count differences up to this are a note (trim/pad), beyond it a fault.
FRAME_TOLERANCE = 1


@dataclass
class Finding:
    """One result of the check.

    Attributes:
        kind: stable tag (``transposed``, ``n_mels``, ``log_base``, ``log_floor``,
            ``missing_normalization``, ``double_normalization``, ``frames``, ``unknown``,
            ``unreadable``, ``nonfinite``, ``audio``).
        fault: ``True`` when the mel cannot be used as it is.
        message: what was seen; ``fix``: what to change.
        path: the file, or ``None`` for a finding about all files.
    """

    kind: str
    fault: bool
    message: str
    fix: str = ""
    path: str | None = None

    def text(self) -> str:
        where = f"{self.path}: " if self.path else "all files: "
        head = f"{'FAULT' if self.fault else 'note'} [{self.kind}] {where}{self.message}"
        return head + (f"\n    -> {self.fix}" if self.fix else "")


@dataclass
class MelCheckReport:
    """All findings of :func:`check_mels`; ``usable`` is ``False`` when any is a fault."""

    files: int
    findings: list[Finding] = field(default_factory=list)
    convention: str = ""

    @property
    def usable(self) -> bool:
        return not any(f.fault for f in self.findings)

    def kinds(self) -> set[str]:
        return {f.kind for f in self.findings if f.fault}

    def text(self) -> str:
        lines = [f.text() for f in self.findings]
        faults = sum(f.fault for f in self.findings)
        verdict = "usable" if self.usable else f"NOT usable ({faults} fault(s))"
        lines.append(f"{self.files} mel file(s) checked: {verdict}")
        if self.convention:
            lines.append(f"values read as: {self.convention}")
        return "\n".join(lines)


def read_mel_array(path: Path) -> np.ndarray:
    """The array in ``path`` (``.npy``, no pickles; a leading axis of 1 dropped), float64."""
    arr = np.load(path, allow_pickle=False)
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"not a numeric array (dtype {arr.dtype})")
    return arr.astype(np.float64)


def check_layout(
    arr: np.ndarray, n_mels: int, path: str
) -> tuple[np.ndarray | None, list[Finding]]:
    """``(mel [n_mels, frames] or None, findings)``: transposes a ``[frames, n_mels]`` array
    (reporting it) so that its values can still be checked."""
    if arr.ndim != 2:
        return None, [
            Finding(
                "n_mels",
                True,
                f"shape {list(arr.shape)} is not 2-D",
                f"save a [{n_mels}, frames] array",
                path,
            )
        ]
    if not np.isfinite(arr).all():
        bad = int(arr.size - np.isfinite(arr).sum())
        return None, [
            Finding(
                "nonfinite",
                True,
                f"{bad} NaN/inf value(s)",
                "recompute the mel; a log of 0 needs a floor",
                path,
            )
        ]
    if arr.shape[0] == n_mels:
        return arr, []
    if arr.shape[1] == n_mels:
        msg = f"transposed: shape {list(arr.shape)} is [frames, n_mels]"
        return arr.T, [
            Finding("transposed", True, msg, f"save mel.T, shape [{n_mels}, {arr.shape[0]}]", path)
        ]
    from pwave.audio.presets import PRESETS

    known = sorted({p.name for p in PRESETS.values() if p.features.n_mels in arr.shape})
    hint = f" ({' or '.join(known)} use {arr.shape[0]} bins)" if known else ""
    msg = f"wrong number of mel bins: shape {list(arr.shape)}, the model has n_mels={n_mels}{hint}"
    fix = f"compute {n_mels}-bin mels with the model's settings, or `pwave mels convert`"
    return None, [Finding("n_mels", True, msg, fix, path)]


def _candidates(features: FeatureConfig, mean: np.ndarray, std: np.ndarray):
    """``(name, predicted mean, predicted std, scale)`` per convention (see module doc)."""
    ln10 = math.log(10.0)
    other = (
        ("log10 values, the model uses ln", 1 / ln10)
        if features.log_base == "e"
        else ("ln values, the model uses log10", ln10)
    )
    db = 20.0 / ln10 if features.log_base == "e" else 20.0
    return [
        (MODEL, mean, std, 1.0),
        (ONCE, np.zeros_like(mean), np.ones_like(std), None),
        (TWICE, -mean / std, 1.0 / std, None),
        (other[0], other[1] * mean, other[1] * std, other[1]),
        ("decibels (20 log10)", db * mean, db * std, db),
    ]


def diagnose_values(
    mels: list[np.ndarray], features: FeatureConfig, normalized: bool = False
) -> tuple[str, list[Finding]]:
    """``(convention read, findings)`` for mels ``[n_mels, frames]`` pooled over files."""
    if not features.mel_mean or not features.mel_std:
        return "", [
            Finding("unknown", False, "the model carries no mel statistics: values not checked")
        ]
    mu, sd = np.asarray(features.mel_mean), np.asarray(features.mel_std)
    data = np.concatenate(mels, axis=1)
    m_obs, s_obs = data.mean(axis=1), np.maximum(data.std(axis=1), 1e-6)
    fits = []
    for name, m_pred, s_pred, scale in _candidates(features, mu, sd):
        err = np.mean(((m_obs - m_pred) / s_pred) ** 2) + np.mean(np.log(s_obs / s_pred) ** 2)
        fits.append((float(err), name, scale))
    err, name, scale = min(fits)
    if err > MAX_FIT:
        msg = (
            f"the values fit no known convention of this model's log-mel (best: {name}, "
            f"misfit {err:.1f}; bin means {m_obs.mean():.2f} vs the model's {mu.mean():.2f})"
        )
        fix = "another filterbank or front end? compute the mels with the model's settings"
        return "unrecognised", [Finding("unknown", True, msg, fix)]
    findings = _normalization_findings(name, normalized)
    if scale is not None and name != MODEL:
        msg = f"{name}: bin means and spreads are {scale:.3f} x the model's"
        findings.append(Finding("log_base", True, msg, _base_fix(features, scale)))
    if scale is not None:
        findings += _floor_findings(data / scale, features)
    return f"{name} (misfit {err:.2f})", findings


def _base_fix(features: FeatureConfig, scale: float) -> str:
    base = "ln" if features.log_base == "e" else "log10"
    return f"divide by {scale:.6g} (mel / {scale:.6g} is {base}), or `pwave mels convert`"


def _normalization_findings(name: str, normalized: bool) -> list[Finding]:
    """The normalisation faults for the convention ``name`` and what the caller passes."""
    if name == TWICE:
        return [
            Finding(
                "double_normalization",
                True,
                "double normalisation: normalised twice with the model's statistics",
                "normalise once (x - mel_mean) / mel_std, from the log-mel",
            )
        ]
    if name == ONCE and not normalized:
        msg = (
            "already normalised (bin means ~0, spreads ~1): pwave normalises its input, so "
            "it would be normalised twice (double normalisation)"
        )
        fix = (
            "de-normalise (x * std + mean with the statistics used), e.g. `pwave mels "
            "convert --from-stats`, or pass normalized=True to Vocoder.vocode_mel"
        )
        return [Finding("double_normalization", True, msg, fix)]
    if name != ONCE and normalized:
        msg = "un-normalised log-mel where normalised input was asked for"
        fix = "normalise with the model's mel_mean/mel_std, or pass normalized=False"
        return [Finding("missing_normalization", True, msg, fix)]
    return []


def _floor_findings(data: np.ndarray, features: FeatureConfig) -> list[Finding]:
    """Floor faults of unnormalised values ``data`` (in the model's log base)."""
    silence = silence_log_mel(features)
    low = float(data.min())
    tol = 1e-3 * max(1.0, abs(silence))
    if low < silence - tol:
        below = int((data < silence - tol).sum())
        msg = (
            f"log floor lower than the model's: {below} value(s) below its silence value "
            f"{silence:.3f} = log({features.log_floor:g}), down to {low:.3f}"
        )
        return [Finding("log_floor", True, msg, f"clamp at {silence:.4f} (np.maximum)")]
    stuck = int((np.abs(data - low) <= 1e-6 * max(1.0, abs(low))).sum())
    if low > silence + tol and stuck >= max(10, data.size // 10000):
        msg = (
            f"{stuck} values sit at {low:.3f}, above the model's floor {silence:.3f}: "
            "these mels were floored higher (quiet parts are clipped)"
        )
        return [Finding("log_floor", False, msg, "recompute with the model's log_floor")]
    return []


def check_frames(
    frames: int, samples: int, audio_rate: int, features: FeatureConfig, path: str
) -> list[Finding]:
    """Frame count of a mel against the recording of the same stem."""
    at_model = samples * features.sample_rate / audio_rate
    expected = math.ceil(at_model / features.hop_length - 1e-9)
    notes = []
    if audio_rate != features.sample_rate:
        msg = (
            f"the audio is at {audio_rate} Hz, the model at {features.sample_rate} Hz "
            "(compared after resampling)"
        )
        notes.append(Finding("audio", False, msg, "", path))
    diff = frames - expected
    if diff == 0:
        return notes
    if abs(diff) <= FRAME_TOLERANCE:
        msg = f"{frames} frames for {expected} expected ({'+' if diff > 0 else ''}{diff})"
        fix = (
            "a center=True front end has one frame more: drop the last"
            if diff > 0
            else "pad the mel by repeating its last frame"
        )
        return [*notes, Finding("frames", False, msg, fix, path)]
    hop = samples / frames
    msg = (
        f"frame count does not match the audio: {frames} frames for {samples} samples at "
        f"{audio_rate} Hz; the model's hop {features.hop_length} at {features.sample_rate} Hz "
        f"gives {expected}. The file implies a hop of {hop:.1f} samples "
        f"({1000 * hop / audio_rate:.2f} ms, the model's is "
        f"{1000 * features.hop_length / features.sample_rate:.2f} ms)"
    )
    fix = f"recompute with hop_length {features.hop_length} at {features.sample_rate} Hz"
    return [*notes, Finding("frames", True, msg, fix, path)]


def find_mel_files(source: str | os.PathLike) -> list[Path]:
    """``source`` itself if a file, else the ``.npy`` files under it (recursively, sorted)."""
    source = Path(source)
    if source.is_file():
        return [source]
    if not source.is_dir():
        raise FileNotFoundError(f"no mel file or folder at {source}")
    return sorted(p for p in source.rglob("*.npy") if p.is_file())


def _audio_by_stem(audio_dir: Path | None) -> dict[str, Path]:
    if audio_dir is None:
        return {}
    from pwave.audio.io import audio_extensions

    exts = set(audio_extensions())
    return {p.stem: p for p in sorted(audio_dir.rglob("*")) if p.suffix.lower() in exts}


def check_mels(
    features: FeatureConfig,
    source: str | os.PathLike,
    audio_dir: str | os.PathLike | None = None,
    normalized: bool = False,
) -> MelCheckReport:
    """Check every mel ``.npy`` in ``source`` (a file or folder) for a model with ``features``.

    Args:
        features: the model's feature config, with its training statistics.
        audio_dir: recordings named like the mels (same stem), to check frame counts.
        normalized: the mels are meant to be normalised already (``vocode_mel(...,
            normalized=True)``); pwave's ``.npy`` inputs are not.
    """
    import soundfile as sf

    paths = find_mel_files(source)
    if not paths:
        raise FileNotFoundError(f"no .npy mel files under {source}")
    audio = _audio_by_stem(Path(audio_dir) if audio_dir is not None else None)
    report, usable = MelCheckReport(files=len(paths)), []
    for p in paths:
        try:
            arr = read_mel_array(p)
        except (ValueError, OSError, EOFError) as err:
            report.findings.append(
                Finding(
                    "unreadable", True, str(err).splitlines()[0], "save a float .npy array", str(p)
                )
            )
            continue
        mel, found = check_layout(arr, features.n_mels, str(p))
        report.findings += found
        if mel is None:
            continue
        usable.append(mel)
        if audio_dir is not None and p.stem not in audio:
            report.findings.append(Finding("audio", False, "no recording of this stem", "", str(p)))
        elif audio_dir is not None:
            info = sf.info(str(audio[p.stem]))
            report.findings += check_frames(
                mel.shape[1], info.frames, info.samplerate, features, str(p)
            )
    if usable:
        report.convention, found = diagnose_values(usable, features, normalized)
        report.findings += found
    return report
