"""``pwave score``: bits per 16-bit sample under the teacher, chunked scoring, ranking."""

from __future__ import annotations

import argparse
import csv
import math

import numpy as np
import pytest
import torch

import pwave.inference.scoring as score_mod
from pwave.audio.config import FeatureConfig
from pwave.audio.io import load_audio, save_wav
from pwave.audio.mel import MelSpectrogram, pad_context
from pwave.cli.score import add_arguments, run
from pwave.inference.scoring import chunked_log_prob, per_sample_log_prob, score_audio
from pwave.inference.vocoder import Vocoder
from pwave.models.likelihood import DRAWS, dequantization_noise
from pwave.models.student import Student, StudentConfig
from pwave.models.teacher import Teacher, TeacherConfig

SR, HOP, N_MELS, CTX = 8000, 16, 8, 1
DT = torch.float64
FEATURES = FeatureConfig(
    sample_rate=SR,
    n_fft=64,
    hop_length=HOP,
    win_length=64,
    n_mels=N_MELS,
    fmax=4000.0,
    mel_mean=tuple(float(v) for v in np.linspace(-6.0, -3.0, N_MELS)),
    mel_std=tuple(float(v) for v in np.linspace(1.0, 2.0, N_MELS)),
)


def tiny_teacher(num_flows: int = 1, seed: int = 0) -> Teacher:
    torch.manual_seed(seed)
    cfg = TeacherConfig(
        features=FEATURES,
        mel_context_frames=CTX,
        upsample_factors=(4, 4),
        cond_channels=6,
        residual_channels=8,
        gate_channels=8,
        skip_channels=8,
        layers=3,
        num_flows=num_flows,
    )
    teacher = Teacher(cfg).to(DT)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for net in teacher.wavenets:
            net.head_out.weight.normal_(0.0, 0.3, generator=g)
    return teacher.eval()


def signal(n: int, kind: str, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SR
    if kind == "tone":
        x = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.01 * rng.standard_normal(n)
    else:
        x = 0.5 * rng.uniform(-1, 1, n)
    return x.astype(np.float32)


def by_hand_bits(teacher: Teacher, audio: np.ndarray, draws: int = DRAWS) -> float:
    """Mel front end and teacher.log_prob written out step by step (``audio`` a whole number
    of frames), averaged over the fixed dequantisation draws of the definition."""
    mel_fn = MelSpectrogram(FEATURES)
    x = torch.from_numpy(audio)
    mel = pad_context(mel_fn.normalize(mel_fn(x[None])), CTX).to(DT)
    noises = [dequantization_noise(len(audio), k) for k in range(draws)] or [0.0]
    lp = np.mean(
        [teacher.log_prob(x[None].to(DT) + u, mel, dequantize=False)[0].item() for u in noises]
    )
    return -(lp / len(audio) + math.log(2 / 65536)) / math.log(2)


def test_chunked_scoring_equals_the_whole_utterance():
    teacher = tiny_teacher(num_flows=2)
    g = torch.Generator().manual_seed(0)
    frames = 40
    audio = 0.3 * torch.randn(frames * HOP, generator=g, dtype=DT)
    mel = torch.randn(N_MELS, frames + 2 * CTX, generator=g, dtype=DT)
    whole = per_sample_log_prob(teacher, audio[None], mel[None])[0]
    torch.testing.assert_close(whole.sum(), teacher.log_prob(audio[None], mel[None], False)[0])
    for chunk in (1, 7, 40, 100):
        torch.testing.assert_close(chunked_log_prob(teacher, audio, mel, chunk), whole)


def test_chunking_without_the_overlap_would_be_wrong(monkeypatch):
    """The overlap matters: with none, the chunk starts lose their past (the test can fail)."""
    teacher = tiny_teacher(num_flows=2)
    g = torch.Generator().manual_seed(1)
    audio = 0.3 * torch.randn(20 * HOP, generator=g, dtype=DT)
    mel = torch.randn(N_MELS, 20 + 2 * CTX, generator=g, dtype=DT)
    whole = per_sample_log_prob(teacher, audio[None], mel[None])[0]
    monkeypatch.setattr(score_mod, "context_frames_needed", lambda t: (0, 0))
    assert not torch.allclose(chunked_log_prob(teacher, audio, mel, 5), whole)


def test_score_audio_matches_log_prob_by_hand():
    teacher = tiny_teacher()
    vocoder = Vocoder(teacher, "cpu", "float32")
    audio = signal(30 * HOP, "tone")
    log_prob, bits = score_audio(vocoder, audio, chunk_seconds=8 * HOP / SR)
    assert bits == pytest.approx(by_hand_bits(teacher, audio), rel=1e-9, abs=1e-9)
    assert bits == pytest.approx(-(log_prob / len(audio) + math.log(2 / 65536)) / math.log(2))
    # draws = 0: the density at the samples as they are (a diagnostic)
    _, plain = score_audio(vocoder, audio, chunk_seconds=8 * HOP / SR, draws=0)
    assert plain == pytest.approx(by_hand_bits(teacher, audio, draws=0), rel=1e-9, abs=1e-9)


def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return run(parser.parse_args([*argv, "--device", "cpu", "--no-progress", "--float64"]))


def test_cli_ranks_a_folder_and_skips_bad_files(tmp_path, capsys):
    teacher = tiny_teacher()
    teacher.save(tmp_path / "teacher.pt")
    src = tmp_path / "in"
    for i, kind in enumerate(("tone", "noise", "tone", "noise")):
        save_wav(src / f"{kind}_{i}.wav", signal((20 + 5 * i) * HOP, kind, seed=i), SR)
    (src / "empty.wav").write_bytes(b"")
    (src / "junk.flac").write_bytes(np.random.default_rng(0).bytes(2000))
    out_csv = tmp_path / "scores.csv"
    assert cli("--teacher", str(tmp_path / "teacher.pt"), "--input", str(src), "--output",
               str(out_csv), "--chunk-seconds", str(7 * HOP / SR), "--background", "none",
               ) == 0  # fmt: skip

    rows = list(csv.DictReader(out_csv.open()))
    ok = [r for r in rows if r["status"] == "ok"]
    skipped = {r["path"].rsplit("/", 1)[-1]: r["reason"] for r in rows if r["status"] == "skipped"}
    assert [int(r["rank"]) for r in ok] == [1, 2, 3, 4]
    bits = [float(r["bits_per_sample"]) for r in ok]
    assert bits == sorted(bits)
    for r in ok:
        audio = load_audio(r["path"]).audio
        assert float(r["bits_per_sample"]) == pytest.approx(by_hand_bits(teacher, audio), 1e-7)
        assert int(r["samples"]) == len(audio)
    assert set(skipped) == {"empty.wav", "junk.flac"}
    assert "empty" in skipped["empty.wav"] and "not a readable audio" in skipped["junk.flac"]
    printed = capsys.readouterr().out
    assert "lower = more typical" in printed and "junk.flac" in printed


def test_cli_refuses_a_student_and_fails_without_scores(tmp_path):
    from pwave.errors import UserError

    student = Student(
        StudentConfig(
            features=FEATURES, mel_context_frames=CTX, upsample_factors=(4, 4), cond_channels=4,
            flow_layers=(1,), flow_cycles=(1,), residual_channels=4, gate_channels=4,
            skip_channels=4,
        )
    )  # fmt: skip
    student.save(tmp_path / "student.pt")
    save_wav(tmp_path / "a.wav", signal(400, "tone"), SR)
    with pytest.raises(UserError, match="needs the teacher"):
        cli("--teacher", str(tmp_path / "student.pt"), "--input", str(tmp_path / "a.wav"))
    tiny_teacher().save(tmp_path / "teacher.pt")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.wav").write_bytes(b"RIFF")
    assert cli("--teacher", str(tmp_path / "teacher.pt"), "--input", str(tmp_path / "bad")) == 1
