"""Named mel front ends of TTS toolkits: a :class:`FeatureConfig` plus the rules it cannot hold.

A vocoder sits behind an acoustic model that predicts mels in *its* toolkit's convention. A
pwave model prepared with one of these presets (``pwave prepare --preset NAME``) computes
exactly those log-mels from audio, so it reads that toolkit's (de-normalised) mels directly;
``pwave mels check`` / ``pwave mels convert`` diagnose and translate between conventions.

Each :class:`Preset` holds:

* ``features``: the STFT, filterbank and log settings (a :class:`FeatureConfig`, without
  statistics: ``pwave prepare`` computes pwave's own from the training set);
* ``normalization``: ``"none"``, or ``"meanvar"`` when the toolkit stores mels normalised per
  bin with a statistics file of its own (:func:`load_stats_file` reads it, and
  ``pwave mels convert --from-stats`` undoes it), which is not pwave's ``mel_mean``/``mel_std``;
* ``time_axis``: ``"last"`` (``[n_mels, frames]``, pwave's layout) or ``"first"`` (the
  ``[frames, n_mels]`` arrays that ParallelWaveGAN and ESPnet write);
* ``source`` and ``notes``: where the settings come from and what differs from pwave's
  computation, if anything.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pwave.audio.config import FeatureConfig


@dataclass(frozen=True)
class Preset:
    """One toolkit's mel convention (see the module docstring)."""

    name: str
    features: FeatureConfig
    normalization: str
    time_axis: str
    source: str
    notes: str = ""

    def describe(self) -> str:
        """One paragraph for ``--help`` and reports."""
        f = self.features
        fmax = f.fmax if f.fmax is not None else f.sample_rate / 2
        spec = "magnitude" if f.power == 1.0 else "power"
        log = "ln" if f.log_base == "e" else "log10"
        text = (
            f"{self.name}: {f.sample_rate} Hz, n_fft {f.n_fft}, hop {f.hop_length}, win "
            f"{f.win_length}, {f.n_mels} mels {f.fmin:g}-{fmax:g} Hz ({f.mel_scale} scale, "
            f"{f.mel_norm} norm), {spec}, {log}(max(x, {f.log_floor:g})), "
            f"{'centred' if f.center else 'half-hop'} frames, "
            f"normalisation {self.normalization}, arrays time-{self.time_axis}"
        )
        return text


#: HiFi-GAN ``meldataset.py`` (``mel_spectrogram``, config_v1.json), the same front end as
#: NVIDIA Tacotron 2 (``layers.TacotronSTFT``, hparams.py) and Matcha-TTS (which normalises
#: inside its acoustic model and de-normalises before the vocoder).
HIFIGAN = Preset(
    name="hifigan",
    features=FeatureConfig(
        sample_rate=22050,
        n_fft=1024,
        hop_length=256,
        win_length=1024,
        n_mels=80,
        fmin=0.0,
        fmax=8000.0,
        log_base="e",
        log_floor=1e-5,
        magnitude_eps=1e-9,
    ),  # fmt: skip
    normalization="none",
    time_axis="last",
    source=(
        "jik876/hifi-gan meldataset.py mel_spectrogram + config_v1.json; NVIDIA/tacotron2 "
        "layers.TacotronSTFT + hparams.py; shivammehta25/Matcha-TTS (same settings)"
    ),
    notes=(
        "reflect padding of (n_fft - hop) / 2 on each side, center=False, periodic Hann, "
        "sqrt(re^2 + im^2 + 1e-9), librosa Slaney filterbank, log(clamp(x, 1e-5)): pwave's "
        "own alignment and filterbank, exactly"
    ),
)

#: ParallelWaveGAN (kan-bayashi) ``bin/preprocess.py`` ``logmelfilterbank`` with
#: ``egs/ljspeech/voc1/conf/parallel_wavegan.v1.yaml``; mels are normalised per bin by
#: ``bin/normalize.py`` with the ``stats.h5`` / ``stats.npy`` of ``compute_statistics.py``.
PARALLELWAVEGAN = Preset(
    name="parallelwavegan",
    features=FeatureConfig(
        sample_rate=22050,
        n_fft=1024,
        hop_length=256,
        win_length=1024,
        n_mels=80,
        fmin=80.0,
        fmax=7600.0,
        log_base="10",
        log_floor=1e-10,
        center=True,
    ),  # fmt: skip
    normalization="meanvar",
    time_axis="first",
    source=(
        "kan-bayashi/ParallelWaveGAN parallel_wavegan/bin/preprocess.py logmelfilterbank; "
        "egs/ljspeech/voc1/conf/parallel_wavegan.v1.yaml; bin/compute_statistics.py"
    ),
    notes=(
        "librosa.stft(center=True, pad_mode='reflect') has T // hop + 1 frames and the audio "
        "is edge-padded to frames * hop; pwave keeps the first T // hop (drop the last frame "
        "of a ParallelWaveGAN mel, or pad the audio by one hop)"
    ),
)

#: ESPnet2 TTS ``espnet2/tts/feats_extract/log_mel_fbank.py`` (``LogMelFbank``) with the
#: LJSpeech ``tts1`` feature settings and ``global_mvn`` from ``feats_stats.npz``.
ESPNET = Preset(
    name="espnet",
    features=PARALLELWAVEGAN.features,
    normalization="meanvar",
    time_axis="first",
    source=(
        "espnet/espnet espnet2/tts/feats_extract/log_mel_fbank.py, espnet2/layers/log_mel.py, "
        "egs2/ljspeech/tts1/conf (fs 22050, n_fft 1024, hop 256, fmin 80, fmax 7600), "
        "espnet2/layers/global_mvn.py with feats_stats.npz"
    ),
    notes=(
        "ESPnet floors the magnitude at sqrt(1e-10) = 1e-5 per FFT bin before the "
        "filterbank; pwave does not, which changes only bins of near-digital silence"
    ),
)

#: Vocos ``vocos/feature_extractors.py`` ``MelSpectrogramFeatures`` with
#: ``configs/vocos.yaml`` (torchaudio ``MelSpectrogram``: HTK scale, no filter
#: normalisation, ``power=1``, ``center=True``) and ``safe_log`` (``log(clip(x, 1e-7))``).
VOCOS = Preset(
    name="vocos",
    features=FeatureConfig(
        sample_rate=24000,
        n_fft=1024,
        hop_length=256,
        win_length=1024,
        n_mels=100,
        fmin=0.0,
        fmax=None,
        log_base="e",
        log_floor=1e-7,
        mel_scale="htk",
        mel_norm="none",
        center=True,
    ),  # fmt: skip
    normalization="none",
    time_axis="last",
    source=(
        "gemelo-ai/vocos vocos/feature_extractors.py MelSpectrogramFeatures, "
        "vocos/modules.py safe_log, configs/vocos.yaml"
    ),
    notes="torchaudio computes the filterbank in float32; pwave in float64",
)

PRESETS: dict[str, Preset] = {p.name: p for p in (HIFIGAN, PARALLELWAVEGAN, ESPNET, VOCOS)}
#: Other names people use for the same conventions.
ALIASES: dict[str, str] = {
    "tacotron2": "hifigan",
    "matcha": "hifigan",
    "pwg": "parallelwavegan",
}


def preset_names() -> tuple[str, ...]:
    """Every accepted preset name, aliases included (sorted)."""
    return tuple(sorted({*PRESETS, *ALIASES}))


def get_preset(name: str) -> Preset:
    """The preset called ``name`` (or an alias of it); ``ValueError`` listing the names."""
    key = ALIASES.get(name.lower(), name.lower())
    if key not in PRESETS:
        raise ValueError(f"unknown mel preset {name!r}; choose one of {', '.join(preset_names())}")
    return PRESETS[key]


def load_stats_file(path: str | os.PathLike, n_mels: int) -> tuple[np.ndarray, np.ndarray]:
    """``(mean [n_mels], std [n_mels])`` float64 from a toolkit's normalisation statistics.

    Reads ParallelWaveGAN's ``stats.npy`` (``[2, n_mels]``: mean, scale) or ``stats.h5``
    (datasets ``mean`` and ``scale``; needs ``h5py``), and ESPnet's ``feats_stats.npz``
    (``count``, ``sum``, ``sum_square``: population std, floored at ``1e-20`` variance as
    ESPnet's ``global_mvn`` does). A ``.npz`` with ``mean`` and ``std`` (or ``scale``) works too.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no statistics file at {path}")
    if path.suffix == ".h5":
        try:
            import h5py
        except ImportError as err:
            raise ValueError(
                f"{path}: reading .h5 statistics needs h5py (pip install h5py)"
            ) from err
        with h5py.File(path, "r") as fh:
            mean, std = np.asarray(fh["mean"]), np.asarray(fh["scale"])
    elif path.suffix == ".npz":
        data = np.load(path, allow_pickle=False)
        if "sum" in data and "count" in data:
            count = float(data["count"])
            mean = data["sum"] / count
            var = data["sum_square"] / count - mean**2
            std = np.sqrt(np.maximum(var, 1e-20))
        elif "mean" in data:
            mean = data["mean"]
            std = data["std"] if "std" in data else data["scale"]
        else:
            raise ValueError(f"{path}: expected count/sum/sum_square or mean/std arrays")
    else:
        stats = np.load(path, allow_pickle=False)
        if stats.ndim != 2 or stats.shape[0] != 2:
            raise ValueError(
                f"{path}: expected a [2, n_mels] array (mean, scale), got {stats.shape}"
            )
        mean, std = stats[0], stats[1]
    mean, std = np.asarray(mean, np.float64).ravel(), np.asarray(std, np.float64).ravel()
    if mean.shape != (n_mels,) or std.shape != (n_mels,):
        raise ValueError(f"{path}: statistics have {mean.size} bins, expected {n_mels}")
    return mean, std
