"""Helpers around :class:`~pwave.audio.config.FeatureConfig`: files and statistics.

* :func:`save_feature_config` / :func:`load_feature_config`: the JSON file
  (``feature_config.json``) stored with every prepared dataset, checkpoint and export.
* :class:`MelStatsAccumulator`: per-bin mean and standard deviation of log-mel frames,
  accumulated in float64 over many utterances (the training-set normalisation statistics).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from pwave.audio.config import FeatureConfig

FEATURE_CONFIG_FILE = "feature_config.json"
#: Lower bound on the per-bin standard deviation (bins that never vary would divide by 0).
MIN_STD = 1e-3


def save_feature_config(config: FeatureConfig, path: str | os.PathLike) -> Path:
    """Write ``config`` as JSON; ``path`` may be a folder (then ``feature_config.json`` in it)."""
    path = Path(path)
    if path.is_dir():
        path = path / FEATURE_CONFIG_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config.to_dict(), indent=2) + "\n")
    return path


def load_feature_config(path: str | os.PathLike) -> FeatureConfig:
    """Read a feature config from JSON/YAML, or from a folder holding ``feature_config.json``.

    A training config (``configs/teacher/*.yaml``) works too: its ``model.teacher.features``
    (or ``model.student.features``) is read, so recipes prepare data to match their model.
    """
    path = Path(path)
    if path.is_dir():
        path = path / FEATURE_CONFIG_FILE
    if not path.exists():
        raise FileNotFoundError(f"no feature config at {path}")
    text = path.read_text()
    if path.suffix in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(text)
    else:
        data = json.loads(text)
    if isinstance(data, dict) and "feature_config" in data:  # a bigger config holding one
        data = data["feature_config"]
    if isinstance(data, dict) and isinstance(data.get("model"), dict):  # a training config
        model = data["model"]
        for stage in ("teacher", "student"):
            if isinstance(model.get(stage), dict) and "features" in model[stage]:
                data = model[stage]["features"]
                break
        else:
            raise ValueError(f"{path} is a training config without model.teacher.features")
    return FeatureConfig.from_dict(data)


class MelStatsAccumulator:
    """Running per-bin sums of log-mel frames; ``mean``/``std`` are population statistics.

    ``add(mel [n_mels, frames])`` per utterance (or ``merge`` partial accumulators from
    workers), then ``apply(config)`` returns the config with ``mel_mean``/``mel_std`` set.
    """

    def __init__(self, n_mels: int):
        self.n_mels = n_mels
        self.count = 0
        self.sum = np.zeros(n_mels, dtype=np.float64)
        self.sum_sq = np.zeros(n_mels, dtype=np.float64)

    def add(self, mel: np.ndarray) -> None:
        mel = np.asarray(mel, dtype=np.float64)
        if mel.ndim != 2 or mel.shape[0] != self.n_mels:
            raise ValueError(f"expected mel [{self.n_mels}, frames], got {mel.shape}")
        self.count += mel.shape[1]
        self.sum += mel.sum(axis=1)
        self.sum_sq += np.square(mel).sum(axis=1)

    def merge(self, count: int, total: np.ndarray, total_sq: np.ndarray) -> None:
        self.count += int(count)
        self.sum += total
        self.sum_sq += total_sq

    @property
    def mean(self) -> np.ndarray:
        if self.count == 0:
            raise ValueError("no frames accumulated")
        return self.sum / self.count

    @property
    def std(self) -> np.ndarray:
        var = self.sum_sq / self.count - np.square(self.mean)
        return np.maximum(np.sqrt(np.maximum(var, 0.0)), MIN_STD)

    def apply(self, config: FeatureConfig) -> FeatureConfig:
        """``config`` with these statistics as ``mel_mean`` / ``mel_std``."""
        return config.replace(
            mel_mean=tuple(float(v) for v in self.mean),
            mel_std=tuple(float(v) for v in self.std),
        )
