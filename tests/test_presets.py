"""Front-end presets: pwave's log-mels against each toolkit's own computation.

The references are written here from the toolkits' published code (a few lines of torch or
librosa each, independent of :mod:`pwave.audio.mel`), and ParallelWaveGAN's own
``logmelfilterbank`` is used when the ``parallel-wavegan`` package is installed.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.speech import speech_like

from pwave.audio.config import FeatureConfig
from pwave.audio.mel import MelSpectrogram
from pwave.audio.presets import (
    ESPNET,
    HIFIGAN,
    PARALLELWAVEGAN,
    VOCOS,
    get_preset,
    load_stats_file,
    preset_names,
)

TOL = 1e-4  # the bar: max abs difference of log-mels
HANN_1024 = torch.hann_window(1024, dtype=torch.float64)


def pwave_logmel(features: FeatureConfig, audio: np.ndarray) -> np.ndarray:
    """pwave's log-mel ``[n_mels, T // hop]`` in float64."""
    return MelSpectrogram(features)(torch.from_numpy(audio)[None])[0].numpy()


# --------------------------------------------------------------------- references


def hifigan_reference(y: np.ndarray) -> np.ndarray:
    """HiFi-GAN ``meldataset.mel_spectrogram`` (config_v1), written out in torch."""
    import librosa

    n_fft, hop, win, sr = 1024, 256, 1024, 22050
    x = torch.from_numpy(y)[None, None]
    pad = int((n_fft - hop) / 2)
    x = torch.nn.functional.pad(x, (pad, pad), mode="reflect")[:, 0]
    window = torch.hann_window(win, dtype=torch.float64)
    spec = torch.stft(
        x, n_fft, hop_length=hop, win_length=win, window=window, center=False,
        pad_mode="reflect", normalized=False, onesided=True, return_complex=True,
    )  # fmt: skip
    spec = torch.sqrt(torch.view_as_real(spec).pow(2).sum(-1) + 1e-9)
    basis = torch.from_numpy(librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=80, fmin=0, fmax=8000))
    mel = torch.matmul(basis.double(), spec)
    return torch.log(torch.clamp(mel, min=1e-5) * 1)[0].numpy()


def _pwg_function():
    """ParallelWaveGAN's own ``logmelfilterbank`` when the package is installed (read from
    its source when its module's other imports, h5py etc., are missing), else ``None``."""
    try:
        from parallel_wavegan.bin.preprocess import logmelfilterbank

        return logmelfilterbank
    except ImportError:
        spec = importlib.util.find_spec("parallel_wavegan")
    if spec is None or not spec.submodule_search_locations:
        return None
    source = Path(spec.submodule_search_locations[0], "bin", "preprocess.py").read_text()
    node = next(
        n for n in ast.parse(source).body
        if isinstance(n, ast.FunctionDef) and n.name == "logmelfilterbank"
    )  # fmt: skip
    import librosa

    scope = {"np": np, "librosa": librosa}
    exec(compile(ast.Module([node], []), "preprocess.py", "exec"), scope)  # noqa: S102
    return scope["logmelfilterbank"]


def pwg_reference(y: np.ndarray) -> tuple[np.ndarray, str]:
    """``[frames, 80]`` ParallelWaveGAN log-mel (LJSpeech voc1 config) and which path made it."""
    fn = _pwg_function()
    if fn is not None:
        mel = fn(y, 22050, fft_size=1024, hop_size=256, win_length=None, window="hann",
                 num_mels=80, fmin=80, fmax=7600)  # fmt: skip
        return mel, "parallel_wavegan"
    import librosa  # the written formula of logmelfilterbank

    spc = np.abs(librosa.stft(y, n_fft=1024, hop_length=256, window="hann", pad_mode="reflect")).T
    basis = librosa.filters.mel(sr=22050, n_fft=1024, n_mels=80, fmin=80, fmax=7600)
    return np.log10(np.maximum(1e-10, spc @ basis.T)), "formula"


def espnet_reference(y: np.ndarray) -> np.ndarray:
    """ESPnet2 ``LogMelFbank`` (Stft center=True, amplitude sqrt(clamp(power, 1e-10)),
    ``LogMel`` librosa basis, clamp 1e-10, log10), ``[frames, 80]``."""
    import librosa

    x = torch.from_numpy(y)[None]
    stft = torch.stft(
        x, 1024, hop_length=256, win_length=1024, window=HANN_1024,
        center=True, pad_mode="reflect", normalized=False, onesided=True, return_complex=True,
    )  # fmt: skip
    power = stft.real**2 + stft.imag**2
    amp = torch.sqrt(torch.clamp(power, min=1e-10)).transpose(1, 2)  # [1, frames, bins]
    melmat = torch.from_numpy(
        librosa.filters.mel(sr=22050, n_fft=1024, n_mels=80, fmin=80, fmax=7600).T
    ).double()
    mel = torch.clamp(torch.matmul(amp, melmat), min=1e-10)
    return (mel.log() / torch.log(torch.tensor(10.0, dtype=torch.float64)))[0].numpy()


def htk_filterbank(n_freqs: int, f_max: float, n_mels: int, sample_rate: int) -> torch.Tensor:
    """torchaudio ``melscale_fbanks(mel_scale="htk", norm=None)``: ``[n_freqs, n_mels]``."""
    all_freqs = torch.linspace(0, sample_rate // 2, n_freqs, dtype=torch.float64)
    m_max = 2595.0 * math.log10(1.0 + f_max / 700.0)
    m_pts = torch.linspace(0.0, m_max, n_mels + 2, dtype=torch.float64)
    f_pts = 700.0 * (10 ** (m_pts / 2595.0) - 1.0)
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts.unsqueeze(0) - all_freqs.unsqueeze(1)
    down = (-1.0 * slopes[:, :-2]) / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    return torch.max(torch.zeros(1, dtype=torch.float64), torch.min(down, up))


def vocos_reference(y: np.ndarray) -> np.ndarray:
    """Vocos ``MelSpectrogramFeatures`` (torchaudio MelSpectrogram, center=True, power=1,
    HTK, no norm) and ``safe_log``, written out: ``[100, frames]``."""
    x = torch.from_numpy(y)[None]
    stft = torch.stft(
        x, 1024, hop_length=256, win_length=1024, window=HANN_1024,
        center=True, pad_mode="reflect", normalized=False, onesided=True, return_complex=True,
    )  # fmt: skip
    fb = htk_filterbank(513, 12000.0, 100, 24000)
    mel = torch.matmul(stft.abs().transpose(-1, -2), fb).transpose(-1, -2)
    return torch.log(torch.clip(mel, min=1e-7))[0].numpy()


# --------------------------------------------------------------------- parity


def test_hifigan_preset_matches_meldataset():
    y = speech_like(22050)
    ref = hifigan_reference(y)
    ours = pwave_logmel(HIFIGAN.features, y)
    assert ours.shape == ref.shape == (80, len(y) // 256)
    assert np.abs(ours - ref).max() <= TOL


def test_parallelwavegan_preset_matches_logmelfilterbank():
    y = speech_like(22050, seed=1)
    ref, path = pwg_reference(y)
    ours = pwave_logmel(PARALLELWAVEGAN.features, y)
    frames = len(y) // 256
    assert ref.shape == (frames + 1, 80)  # center=True: one frame more, time first
    assert np.abs(ours - ref[:frames].T).max() <= TOL, path


def test_espnet_preset_matches_logmelfbank():
    y = speech_like(22050, seed=2)
    ref = espnet_reference(y)
    ours = pwave_logmel(ESPNET.features, y)
    assert np.abs(ours - ref[: ours.shape[1]].T).max() <= TOL


def test_vocos_preset_matches_feature_extractor():
    y = speech_like(24000, seed=3)
    ref = vocos_reference(y)
    ours = pwave_logmel(VOCOS.features, y)
    assert ref.shape[1] == ours.shape[1] + 1
    assert np.abs(ours - ref[:, : ours.shape[1]]).max() <= TOL


# --------------------------------------------------------------------- config


def test_old_feature_dicts_load_and_write_unchanged():
    old = {
        "sample_rate": 16000, "n_fft": 1024, "hop_length": 256, "win_length": 1024,
        "n_mels": 80, "fmin": 0.0, "fmax": 8000.0, "log_base": "e", "log_floor": 1e-5,
        "mel_mean": [], "mel_std": [],
    }  # fmt: skip
    cfg = FeatureConfig.from_dict(old)
    assert cfg == FeatureConfig()
    assert cfg.to_dict() == old  # the new fields are written only away from their defaults
    for name in preset_names():
        f = get_preset(name).features
        assert FeatureConfig.from_dict(json.loads(json.dumps(f.to_dict()))) == f


def test_new_fields_are_validated_and_compared():
    with pytest.raises(ValueError, match="mel_scale"):
        FeatureConfig(mel_scale="mel")
    with pytest.raises(ValueError, match="power"):
        FeatureConfig(power=3.0)
    diff = FeatureConfig().differences(FeatureConfig(center=True))
    assert diff == ["center: False != True"]
    with pytest.raises(ValueError, match="unknown mel preset"):
        get_preset("melgan9000")
    assert get_preset("Tacotron2") is HIFIGAN


def test_power_and_centre_switches():
    """power=2 is the mel of |X|^2; center=True frames are librosa center=True's first T//hop."""
    import librosa

    cfg = FeatureConfig(sample_rate=16000, n_fft=512, hop_length=128, win_length=512,
                        n_mels=20, fmax=None, power=2.0, center=True, log_floor=1e-12)  # fmt: skip
    y = speech_like(16000, seconds=0.5, seed=4)
    ref = librosa.feature.melspectrogram(
        y=y, sr=16000, n_fft=512, hop_length=128, n_mels=20, power=2.0, pad_mode="reflect"
    )
    ours = pwave_logmel(cfg, y)
    assert np.abs(ours - np.log(np.maximum(ref[:, : ours.shape[1]], 1e-12))).max() <= TOL
    big_hop = cfg.replace(hop_length=300, n_fft=512, win_length=512)  # right pad < 0: a crop
    assert MelSpectrogram(big_hop)(torch.from_numpy(y)[None]).shape[-1] == len(y) // 300


def test_stats_files(tmp_path):
    rng = np.random.default_rng(0)
    mean, scale = rng.normal(size=4), rng.uniform(0.5, 2, size=4)
    np.save(tmp_path / "stats.npy", np.stack([mean, scale]))
    m, s = load_stats_file(tmp_path / "stats.npy", 4)
    assert np.allclose(m, mean) and np.allclose(s, scale)
    x = rng.normal(size=(100, 4)) * scale + mean
    np.savez(tmp_path / "feats_stats.npz", count=100, sum=x.sum(0), sum_square=(x**2).sum(0))
    m, s = load_stats_file(tmp_path / "feats_stats.npz", 4)
    assert np.allclose(m, x.mean(0)) and np.allclose(s, x.std(0))
    with pytest.raises(ValueError, match="expected 5"):
        load_stats_file(tmp_path / "stats.npy", 5)


def test_prepare_with_preset_computes_the_preset_mels(tmp_path):
    import soundfile as sf

    from pwave.cli.prepare import main

    src = tmp_path / "corpus"
    src.mkdir()
    for i in range(4):
        sf.write(src / f"utt{i}.wav", speech_like(22050, 0.8, seed=10 + i), 22050, "FLOAT")
    out = tmp_path / "data"
    args = [str(src), "--layout", "folder", "--preset", "hifigan", "--output", str(out)]
    args += ["--num-workers", "0", "--no-progress", "--dev-fraction", "0", "--eval-fraction", "0"]
    assert main(args) == 0
    saved = FeatureConfig.from_dict(json.loads((out / "feature_config.json").read_text()))
    assert saved.replace(mel_mean=(), mel_std=()) == HIFIGAN.features
    row = json.loads((out / "manifest.jsonl").read_text().splitlines()[0])
    mel, audio = np.load(out / row["mel"]), np.load(out / row["audio"]).astype(np.float64)
    assert np.abs(mel - hifigan_reference(audio)).max() <= 1e-3  # float32 caches
