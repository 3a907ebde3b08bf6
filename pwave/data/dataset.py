"""Reading a prepared dataset (the output of :func:`pwave.data.prepare.prepare_corpus`).

Folder layout::

    <root>/feature_config.json   FeatureConfig, with the train-set mel_mean / mel_std
    <root>/manifest.jsonl        one JSON object per utterance (see :class:`Utterance`)
    <root>/audio/<id>.npy        [num_samples] float32 in [-1, 1], num_samples == frames * hop
    <root>/mel/<id>.npy          [n_mels, frames] float32, unnormalised log-mel
    <root>/report.json, report.txt   what was prepared, skipped (with reasons) and changed
    <root>/prepare.json          the settings it was prepared with (used to reuse the cache)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from pwave.audio.config import FeatureConfig
from pwave.audio.features import FEATURE_CONFIG_FILE, load_feature_config
from pwave.data.layouts import SPLITS

MANIFEST_FILE = "manifest.jsonl"
REPORT_JSON = "report.json"
REPORT_TXT = "report.txt"
PREPARE_FILE = "prepare.json"


@dataclass(frozen=True)
class Utterance:
    """One manifest row. Paths (``audio``, ``mel``) are relative to the dataset root."""

    id: str
    split: str
    speaker: str
    audio: str
    mel: str
    source: str
    num_samples: int
    frames: int
    duration: float
    original_sample_rate: int
    original_channels: int
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["notes"] = list(self.notes)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Utterance:
        known = {f.name for f in fields(cls)}
        d = {k: v for k, v in d.items() if k in known}
        d["notes"] = tuple(d.get("notes", ()))
        return cls(**d)


class PreparedDataset:
    """A prepared dataset on disk: feature config, manifest and cached arrays."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        manifest = self.root / MANIFEST_FILE
        if not manifest.exists() or not (self.root / FEATURE_CONFIG_FILE).exists():
            raise FileNotFoundError(
                f"{self.root} is not a prepared dataset (no {MANIFEST_FILE} / "
                f"{FEATURE_CONFIG_FILE}); run `pwave prepare` first"
            )
        self.feature_config: FeatureConfig = load_feature_config(self.root)
        with open(manifest, encoding="utf-8") as fh:
            self.utterances = [Utterance.from_dict(json.loads(line)) for line in fh if line.strip()]

    def __len__(self) -> int:
        return len(self.utterances)

    def split(self, name: str) -> list[Utterance]:
        """Utterances of one split (``"train"``, ``"dev"`` or ``"eval"``), in manifest order."""
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; choose one of {', '.join(SPLITS)}")
        return [u for u in self.utterances if u.split == name]

    @property
    def speakers(self) -> list[str]:
        return sorted({u.speaker for u in self.utterances})

    def load_audio(self, utt: Utterance, mmap: bool = False) -> np.ndarray:
        """``[num_samples]`` float32 samples of ``utt``."""
        return np.load(self.root / utt.audio, mmap_mode="r" if mmap else None)

    def load_mel(self, utt: Utterance, mmap: bool = False) -> np.ndarray:
        """``[n_mels, frames]`` float32 unnormalised log-mel of ``utt``."""
        return np.load(self.root / utt.mel, mmap_mode="r" if mmap else None)

    def export_wavs(self, split: str, out_dir: str | os.PathLike, limit: int | None = None) -> Path:
        """Write the split's (prepared, resampled) audio as 16-bit wavs ``<out_dir>/<id>.wav``.

        These are the references that copy-synthesis and evaluation compare against.
        """
        from pwave.audio.io import save_wav

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        utts = self.split(split)[:limit]
        if not utts:
            raise ValueError(f"{self.root} has no utterance in the {split!r} split")
        for utt in utts:
            save_wav(out / f"{utt.id}.wav", self.load_audio(utt), self.feature_config.sample_rate)
        return out

    @property
    def report(self) -> dict[str, Any] | None:
        """The preparation report (``report.json``) as a dict, if present."""
        path = self.root / REPORT_JSON
        return json.loads(path.read_text()) if path.exists() else None

    def check_feature_config(self, other: FeatureConfig, what: str = "model") -> None:
        """Raise :class:`~pwave.audio.config.FeatureMismatchError` if ``other`` differs."""
        other.check_matches(self.feature_config, what=what, against=f"dataset {self.root}")

    def summary(self) -> str:
        parts = []
        for s in SPLITS:
            utts = self.split(s)
            parts.append(f"{s}: {len(utts)} utt, {sum(u.duration for u in utts) / 60:.1f} min")
        return f"{self.root} ({len(self.speakers)} speaker(s); " + "; ".join(parts) + ")"
