"""Waveform I/O and the mel front end.

* :mod:`pwave.audio.config`: :class:`FeatureConfig`, the mel settings carried by every artefact.
* :mod:`pwave.audio.features`: feature-config files and train-set mel statistics.
* :mod:`pwave.audio.io`: :func:`load_audio` / :func:`save_wav`.
* :mod:`pwave.audio.mel`: :class:`MelSpectrogram`, the one place audio becomes log-mel.

Names are imported lazily, so ``import pwave.audio`` (and reading a feature config or a wav
file) does not import torch.
"""

from importlib import import_module
from typing import Any

_EXPORTS = {
    "AudioError": "io",
    "AudioReadError": "io",
    "FeatureConfig": "config",
    "FeatureMismatchError": "config",
    "LoadedAudio": "io",
    "MelSpectrogram": "mel",
    "MelStatsAccumulator": "features",
    "load_audio": "io",
    "load_feature_config": "features",
    "mel_filterbank": "mel",
    "pad_context": "mel",
    "resample": "io",
    "save_feature_config": "features",
    "save_wav": "io",
    "silence_log_mel": "mel",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(f"pwave.audio.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'pwave.audio' has no attribute {name!r}")
