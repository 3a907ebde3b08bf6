"""The mel front end: shapes, hop alignment, independent references, stats, padding."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest
import torch

from pwave.audio.config import FeatureConfig
from pwave.audio.features import MelStatsAccumulator, load_feature_config, save_feature_config
from pwave.audio.mel import MelSpectrogram, pad_context, silence_log_mel, stft_padding


def _signal(n: int, seed: int = 0, dtype=torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (0.3 * torch.randn(n, generator=g, dtype=torch.float64)).to(dtype)


@pytest.mark.parametrize("extra", [0, 1, 37])
def test_shape_is_time_over_hop(tiny_feature_config, extra):
    mel = MelSpectrogram(tiny_feature_config)
    hop = tiny_feature_config.hop_length
    x = torch.stack([_signal(10 * hop + extra, s, torch.float32) for s in range(3)])
    out = mel(x)
    assert out.shape == (3, tiny_feature_config.n_mels, 10)
    assert mel(x[0]).shape == (tiny_feature_config.n_mels, 10)  # unbatched input
    assert torch.isfinite(out).all()


def test_odd_padding_and_default_config_shapes():
    cfg = FeatureConfig(n_fft=1024, hop_length=256, win_length=800)
    assert stft_padding(cfg) == (384, 384)
    odd = FeatureConfig(n_fft=255, hop_length=64, win_length=200, n_mels=10)
    assert stft_padding(odd) == (95, 96)
    assert MelSpectrogram(odd)(_signal(64 * 7)).shape == (10, 7)
    assert MelSpectrogram(cfg)(_signal(256 * 5)).shape == (80, 5)


def test_matches_librosa_melspectrogram(tiny_feature_config):
    """Independent path: librosa's STFT + mel on the same reflect-padded signal."""
    import librosa

    cfg = tiny_feature_config.replace(win_length=200, fmin=50.0, fmax=7000.0)
    x = _signal(64 * 40, seed=4)
    left, right = stft_padding(cfg)
    padded = np.pad(x.numpy(), (left, right), mode="reflect")
    ref = librosa.feature.melspectrogram(
        y=padded,
        sr=cfg.sample_rate,
        n_fft=cfg.n_fft,
        hop_length=cfg.hop_length,
        win_length=cfg.win_length,
        window="hann",
        center=False,
        power=1.0,
        n_mels=cfg.n_mels,
        fmin=cfg.fmin,
        fmax=cfg.fmax,
        htk=False,
        norm="slaney",
    )
    ours = MelSpectrogram(cfg).magnitude(x[None])[0].numpy()
    assert ours.shape == ref.shape == (cfg.n_mels, 40)
    np.testing.assert_allclose(ours, ref, rtol=1e-7, atol=1e-10)
    logmel = MelSpectrogram(cfg)(x).numpy()
    np.testing.assert_allclose(logmel, np.log(np.maximum(ref, cfg.log_floor)), atol=1e-8)


@pytest.mark.skipif(importlib.util.find_spec("torchaudio") is None, reason="needs torchaudio")
def test_matches_torchaudio_melspectrogram(tiny_feature_config):
    import torchaudio

    cfg = tiny_feature_config
    x = _signal(64 * 30, seed=5, dtype=torch.float32)
    left, right = stft_padding(cfg)
    padded = torch.nn.functional.pad(x[None, None], (left, right), mode="reflect")[0]
    ta = torchaudio.transforms.MelSpectrogram(
        sample_rate=cfg.sample_rate,
        n_fft=cfg.n_fft,
        win_length=cfg.win_length,
        hop_length=cfg.hop_length,
        f_min=cfg.fmin,
        f_max=cfg.fmax,
        n_mels=cfg.n_mels,
        window_fn=torch.hann_window,
        power=1.0,
        center=False,
        norm="slaney",
        mel_scale="slaney",
    )
    ref = ta(padded)
    ours = MelSpectrogram(cfg).magnitude(x[None])
    torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-5)


def test_shift_by_one_hop_shifts_one_frame(tiny_feature_config):
    cfg = tiny_feature_config
    hop, mel = cfg.hop_length, MelSpectrogram(cfg)
    x = _signal(hop * 30, seed=6)
    a, b = mel(x), mel(x[hop:])
    edge = math.ceil(stft_padding(cfg)[1] / hop) + 1  # frames touched by the edge padding
    torch.testing.assert_close(b[:, edge:-edge], a[:, edge + 1 : a.shape[1] - edge])


@pytest.mark.parametrize("offset", [1, 20, 32, 50, 63])
def test_click_lands_in_frame_n_over_hop(tiny_feature_config, offset):
    cfg = tiny_feature_config
    x = torch.zeros(cfg.hop_length * 12, dtype=torch.float64)
    n = 5 * cfg.hop_length + offset
    x[n] = 1.0
    energy = MelSpectrogram(cfg).magnitude(x).sum(0)
    assert int(energy.argmax()) == n // cfg.hop_length


def test_silence_gives_the_floor_and_log10(tiny_feature_config):
    cfg = tiny_feature_config
    zeros = torch.zeros(2, cfg.hop_length * 4)
    out = MelSpectrogram(cfg)(zeros)
    assert torch.allclose(out, torch.full_like(out, silence_log_mel(cfg)))
    x = _signal(cfg.hop_length * 8, seed=2)
    ln = MelSpectrogram(cfg)(x)
    lg = MelSpectrogram(cfg.replace(log_base="10"))(x)
    torch.testing.assert_close(lg, ln / math.log(10.0))


def test_float32_agrees_with_float64_and_gradients_flow(tiny_feature_config):
    mel = MelSpectrogram(tiny_feature_config)
    x = _signal(64 * 16, seed=3)
    torch.testing.assert_close(mel(x.float()).double(), mel(x), atol=2e-4, rtol=1e-4)
    xg = x.clone().requires_grad_(True)
    mel(xg).sum().backward()
    assert xg.grad is not None and torch.isfinite(xg.grad).all() and xg.grad.abs().sum() > 0


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cpu_gpu_parity(tiny_feature_config):
    mel = MelSpectrogram(tiny_feature_config)
    x = _signal(64 * 50, seed=7, dtype=torch.float32)[None].repeat(2, 1)
    cpu = mel(x)
    gpu = mel.to("cuda")(x.to("cuda")).cpu()
    torch.testing.assert_close(gpu, cpu, atol=1e-4, rtol=1e-4)


def test_normalize_round_trip_and_missing_stats(tiny_feature_config):
    cfg = tiny_feature_config
    g = torch.Generator().manual_seed(0)
    mean = tuple(torch.randn(cfg.n_mels, generator=g, dtype=torch.float64).tolist())
    std = tuple((torch.rand(cfg.n_mels, generator=g, dtype=torch.float64) + 0.5).tolist())
    mel = MelSpectrogram(cfg.replace(mel_mean=mean, mel_std=std))
    m = mel(_signal(64 * 10))
    z = mel.normalize(m)
    torch.testing.assert_close(z[:, 3], (m[:, 3] - torch.tensor(mean)) / torch.tensor(std))
    torch.testing.assert_close(mel.denormalize(z), m)
    with pytest.raises(ValueError, match="no normalisation statistics"):
        MelSpectrogram(cfg).normalize(m)


def test_pad_context_numpy_and_torch_agree():
    g = torch.Generator().manual_seed(1)
    mel = torch.randn(2, 5, 7, generator=g)
    out = pad_context(mel, 3)
    np.testing.assert_array_equal(pad_context(mel.numpy(), 3), out.numpy())
    assert out.shape == (2, 5, 13)
    torch.testing.assert_close(out[..., 3:10], mel)
    torch.testing.assert_close(out[..., :3], mel[..., :1].expand(2, 5, 3))
    torch.testing.assert_close(out[..., 10:], mel[..., -1:].expand(2, 5, 3))
    assert pad_context(mel, 0) is mel


def test_feature_config_file_round_trip(tmp_path, tiny_feature_config):
    cfg = tiny_feature_config.replace(mel_mean=(0.5,) * 20, mel_std=(2.0,) * 20)
    save_feature_config(cfg, tmp_path / "fc.json")
    assert load_feature_config(tmp_path / "fc.json") == cfg
    save_feature_config(cfg, tmp_path)  # a folder -> feature_config.json
    assert load_feature_config(tmp_path) == cfg


def test_stats_accumulator_matches_numpy():
    rng = np.random.default_rng(0)
    mels = [rng.normal(size=(4, n)) * 3 + 1 for n in (5, 9, 2)]
    acc = MelStatsAccumulator(4)
    for m in mels:
        acc.add(m)
    merged = MelStatsAccumulator(4)
    for m in mels:
        merged.merge(m.shape[1], m.sum(1), (m**2).sum(1))
    allm = np.concatenate(mels, axis=1)
    np.testing.assert_allclose(acc.mean, allm.mean(1))
    np.testing.assert_allclose(acc.std, allm.std(1))
    np.testing.assert_allclose(merged.std, acc.std)
    cfg = acc.apply(FeatureConfig(n_mels=4))
    np.testing.assert_allclose(cfg.mel_mean, allm.mean(1))
