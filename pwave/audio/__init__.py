"""Waveform I/O and the mel front end.

* :mod:`pwave.audio.config`: :class:`FeatureConfig`, the mel settings carried by every artefact.
* :mod:`pwave.audio.features`: feature-config files and train-set mel statistics.
* :mod:`pwave.audio.io`: :func:`load_audio` / :func:`save_wav`.
* :mod:`pwave.audio.mel`: :class:`MelSpectrogram`, the one place audio becomes log-mel.
"""

from pwave.audio.config import FeatureConfig, FeatureMismatchError
from pwave.audio.features import MelStatsAccumulator, load_feature_config, save_feature_config
from pwave.audio.io import AudioError, AudioReadError, LoadedAudio, load_audio, resample, save_wav
from pwave.audio.mel import MelSpectrogram, mel_filterbank, pad_context, silence_log_mel

__all__ = [
    "AudioError",
    "AudioReadError",
    "FeatureConfig",
    "FeatureMismatchError",
    "LoadedAudio",
    "MelSpectrogram",
    "MelStatsAccumulator",
    "load_audio",
    "load_feature_config",
    "mel_filterbank",
    "pad_context",
    "resample",
    "save_feature_config",
    "save_wav",
    "silence_log_mel",
]
