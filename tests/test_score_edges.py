"""``pwave score`` on edge inputs: lengths that are not a multiple of the hop (only the real
samples count), files shorter than one hop, near-silent files, and chunk sizes.

Every expected number comes from :mod:`helpers.direct` (the teacher's per-step densities of
the dequantised audio, averaged over the fixed draws and summed over the file's own samples:
``docs/likelihood.md``), not from :mod:`pwave.inference.scoring`.
"""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.direct import bits_of_real_samples, teacher_input, teacher_log_prob_of_real_samples

from pwave.audio.config import FeatureConfig
from pwave.audio.io import load_audio, save_wav
from pwave.cli.score import add_arguments, run
from pwave.inference.scoring import score_audio
from pwave.inference.vocoder import Vocoder
from pwave.models.likelihood import DRAWS, SEED
from pwave.models.teacher import Teacher, TeacherConfig

SR, HOP, N_MELS, CTX = 8000, 16, 8, 1
FEATURES = FeatureConfig(
    sample_rate=SR, n_fft=64, hop_length=HOP, win_length=64, n_mels=N_MELS, fmax=4000.0,
    mel_mean=tuple(float(v) for v in np.linspace(-6.0, -3.0, N_MELS)),
    mel_std=tuple(float(v) for v in np.linspace(1.0, 2.0, N_MELS)),
)  # fmt: skip


def tiny_teacher(seed: int = 0) -> Teacher:
    torch.manual_seed(seed)
    cfg = TeacherConfig(
        features=FEATURES, mel_context_frames=CTX, upsample_factors=(4, 4), cond_channels=6,
        residual_channels=8, gate_channels=8, skip_channels=8, layers=3, num_flows=2,
    )  # fmt: skip
    teacher = Teacher(cfg).double()
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for net in teacher.wavenets:
            net.head_out.weight.normal_(0.0, 0.3, generator=g)
    return teacher.eval()


def tone(n: int, seed: int = 0, peak: float = 0.4) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    x = np.sin(2 * np.pi * rng.uniform(150, 400) * t) + 0.1 * rng.standard_normal(n)
    return (peak * x / np.abs(x).max()).astype(np.float32)


@pytest.fixture(scope="module")
def teacher() -> Teacher:
    return tiny_teacher()


@pytest.mark.parametrize("n", [20 * HOP + 5, 20 * HOP + HOP - 1, 3 * HOP + 1, 7])
def test_score_counts_only_the_real_samples(teacher, n):
    """A file of ``n`` samples is scored over those ``n`` (the zero padding to whole frames
    is run through the model, but neither summed nor counted), whatever the chunk size,
    with and without dequantisation."""
    vocoder = Vocoder(teacher, "cpu", "float32")
    audio = tone(n, seed=n)
    for draws in (0, DRAWS):
        expected_lp = teacher_log_prob_of_real_samples(teacher, audio, draws, SEED)
        expected_bits = bits_of_real_samples(teacher, audio, draws, SEED)
        for chunk_frames in (2, 5, 1000):
            seconds = chunk_frames * HOP / SR
            lp, bits = score_audio(vocoder, audio, chunk_seconds=seconds, draws=draws)
            assert lp == pytest.approx(expected_lp, rel=1e-7, abs=1e-7), (draws, chunk_frames)
            assert bits == pytest.approx(expected_bits, rel=1e-7, abs=1e-7), (draws, chunk_frames)
    # the default is the dequantised code length
    assert score_audio(vocoder, audio)[1] == pytest.approx(expected_bits, rel=1e-7)
    # the padding does matter: summing the model's density over it would be far off
    x, mel = teacher_input(teacher, audio)
    with torch.no_grad():
        with_padding = float(teacher.log_prob(x, mel, dequantize=False)[0])
    assert abs(with_padding - teacher_log_prob_of_real_samples(teacher, audio)) > 1e-3


def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return run(parser.parse_args([*argv, "--device", "cpu", "--no-progress", "--float64"]))


def test_cli_on_odd_lengths_and_near_silence(teacher, tmp_path, capsys):
    ckpt = tmp_path / "teacher.pt"
    teacher.save(ckpt)
    src = tmp_path / "in"
    lengths = {"odd_a": 25 * HOP + 3, "odd_b": 9 * HOP + 11, "short": 5}
    for i, (name, n) in enumerate(lengths.items()):
        save_wav(src / f"{name}.wav", tone(n, seed=i), SR, subtype="FLOAT")
    # near-silent (not exact zeros): below and above the silence flag's level (1e-4)
    save_wav(src / "hush.wav", tone(12 * HOP + 2, seed=7, peak=5e-5), SR, subtype="FLOAT")
    save_wav(src / "quiet.wav", tone(12 * HOP + 2, seed=8, peak=5e-3), SR, subtype="FLOAT")
    save_wav(src / "zeros.wav", np.zeros(12 * HOP + 2, np.float32), SR, subtype="FLOAT")
    out_csv = tmp_path / "scores.csv"
    code = cli("--teacher", str(ckpt), "--input", str(src), "--output", str(out_csv),
               "--chunk-seconds", str(4 * HOP / SR), "--background", "none")  # fmt: skip
    assert code == 0
    rows = {Path(r["path"]).stem: r for r in csv.DictReader(out_csv.open())}
    assert set(rows) == {*lengths, "hush", "quiet", "zeros"}
    for name, row in rows.items():
        audio = load_audio(row["path"]).audio
        assert row["status"] == "ok", name
        assert int(row["samples"]) == len(audio), name
        assert float(row["seconds"]) == pytest.approx(len(audio) / SR, abs=1e-6), name
        bits = float(row["bits_per_sample"])
        assert math.isfinite(bits), name
        expected = bits_of_real_samples(teacher, audio, DRAWS, SEED)
        assert bits == pytest.approx(expected, rel=1e-6), name
        lp = float(row["log_prob_nats"])
        assert bits == pytest.approx(-(lp / len(audio) + math.log(2 / 65536)) / math.log(2))
    for name in ("hush", "zeros"):
        assert "digital silence" in rows[name]["notes"], name
    for name in ("quiet", *lengths):
        assert "silence" not in rows[name]["notes"], name
    ranked = [float(r["bits_per_sample"]) for r in csv.DictReader(out_csv.open())]
    assert ranked == sorted(ranked)
