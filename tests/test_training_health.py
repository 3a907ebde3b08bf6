"""Training health: octave-band powers, the student and teacher monitors, and the alarm in a
tiny student run whose samples are deliberately scaled by 0.01 (silent when unscaled)."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.signal import welch

from pwave.audio.bands import band_label, band_powers, band_powers_db, octave_bands
from pwave.evaluation.health import HealthThresholds, StudentHealth, TeacherHealth

ROOT = Path(__file__).resolve().parents[1]
DEBUG = str(ROOT / "pwave" / "configs" / "student" / "debug.yaml")


# --- band powers ---------------------------------------------------------------------------


def test_octave_bands_are_clipped_to_nyquist():
    assert octave_bands(16000) == [
        (0.0, 250.0), (250.0, 500.0), (500.0, 1000.0), (1000.0, 2000.0),
        (2000.0, 4000.0), (4000.0, 8000.0),
    ]  # fmt: skip
    assert octave_bands(8000)[-1] == (2000.0, 4000.0) and len(octave_bands(8000)) == 5
    assert octave_bands(22050)[-1] == (8000.0, 11025.0)
    assert band_label((250.0, 500.0)) == "250_500hz"


@pytest.mark.parametrize("freq, band", [(120.0, 0), (350.0, 1), (1500.0, 3), (3000.0, 4)])
def test_a_tone_lands_in_its_band(freq, band):
    sr, amp = 16000, 0.5
    t = torch.arange(2 * sr, dtype=torch.float64) / sr
    p = band_powers(amp * torch.sin(2 * math.pi * freq * t), sr)
    assert p[band].item() == pytest.approx(amp**2 / 2, rel=1e-3)
    others = torch.cat([p[:band], p[band + 1 :]])
    assert others.sum().item() < 1e-4 * amp**2 / 2  # Hann side lobes: below -40 dB


def test_white_noise_spreads_by_bandwidth():
    sr, sigma = 8000, 0.1
    gen = torch.Generator().manual_seed(0)
    noise = sigma * torch.randn(4, 2 * sr, generator=gen, dtype=torch.float64)
    p = band_powers(noise, sr)
    widths = torch.tensor([hi - lo for lo, hi in octave_bands(sr)], dtype=torch.float64)
    expected = sigma**2 * widths / (sr / 2)
    torch.testing.assert_close(p, expected, rtol=0.06, atol=0.0)
    assert p.sum().item() == pytest.approx(noise.square().mean().item(), rel=1e-2)


def test_band_powers_agree_with_scipy_welch():
    """An independent estimate: scipy's Welch density integrated over each band."""
    sr = 16000
    rng = np.random.default_rng(1)
    x = np.cumsum(rng.standard_normal(sr)) * 1e-3  # a red (speech-like falling) spectrum
    x -= x.mean()
    f, psd = welch(x, sr, window="hann", nperseg=512, noverlap=384, detrend=False)
    mine = band_powers(torch.from_numpy(x), sr).numpy()
    bands = octave_bands(sr)
    for i, (lo, hi) in enumerate(bands):
        inside = (f >= lo) & ((f <= hi) if i == len(bands) - 1 else (f < hi))
        assert mine[i] == pytest.approx(psd[inside].sum() * (f[1] - f[0]), rel=1e-6)


def test_scaling_by_0_01_is_minus_40_db():
    x = torch.randn(3, 8000, generator=torch.Generator().manual_seed(2))
    diff = band_powers_db(0.01 * x, 16000) - band_powers_db(x, 16000)
    torch.testing.assert_close(diff, torch.full_like(diff, -40.0), atol=1e-3, rtol=0)  # floor


# --- monitors ----------------------------------------------------------------------------


def _speech(seed: int, seconds: float = 1.0, sr: int = 16000) -> torch.Tensor:
    from pwave.data.demo import make_speaker, synthesize_utterance

    rng = np.random.default_rng(seed)
    return torch.from_numpy(synthesize_utterance(rng, seconds, make_speaker(1, 0), sample_rate=sr))


@pytest.mark.parametrize("scale, fires", [(0.01, True), (100.0, True), (1.0, False)])
def test_student_monitor_needs_patience_validations_off(scale, fires):
    health = StudentHealth(16000, HealthThresholds(band_db=10.0, patience=2))
    verdicts = []
    for v in range(3):
        real = _speech(v)[None]
        generated = scale * _speech(v)[None] + 1e-3 * torch.randn_like(real)  # not identical
        health.add(generated, real)
        verdicts.append(health.end())
    assert [x.alarm for x in verdicts] == ([False, True, True] if fires else [False] * 3)
    assert set(verdicts[0].band_db) == {band_label(b) for b in octave_bands(16000)}
    if fires:
        assert abs(verdicts[0].mean_db) > 10 and "alarm" in verdicts[1].message()
    assert health.end() is None  # nothing added since


def test_student_monitor_forgives_after_a_good_validation():
    assert StudentHealth(8000).thresholds.band_db == 15.0
    health = StudentHealth(8000)
    real = _speech(0, sr=8000)[None]
    alarms = []
    for scale in (0.01, 1.0, 0.01, 0.01):
        health.add(scale * real, real)
        alarms.append(health.end().alarm)
    assert alarms == [False, False, False, True]


def test_teacher_monitor_waits_for_the_grace_steps():
    assert TeacherHealth().thresholds.teacher_grace_steps == 1000
    health = TeacherHealth(HealthThresholds(teacher_grace_steps=500))
    for step, teacher, baseline, alarm in [
        (100, 12.0, 11.0, False),  # worse, but early
        (500, 12.0, 11.0, True),  # worse, late
        (600, 10.0, 11.0, False),  # better
    ]:
        health.add(teacher, baseline, 3)
        verdict = health.end(step)
        assert verdict.alarm is alarm
    health.add(12.0, 11.0, 1)
    health.add(10.0, 11.0, 3)  # weighted mean 10.5 < 11
    assert not health.end(1000).alarm
    assert health.end(1000) is None
    health.add(12.5, 11.84, 1)
    assert "11.84" in health.end(700).message()


# --- the alarm in a tiny student run --------------------------------------------------------


@pytest.fixture(scope="module")
def teacher_file(prepared_demo, tmp_path_factory) -> Path:
    from pwave.data.dataset import PreparedDataset
    from pwave.models.teacher import Teacher, TeacherConfig

    torch.manual_seed(0)
    cfg = TeacherConfig(
        features=PreparedDataset(prepared_demo).feature_config,
        upsample_factors=(8, 8),
        cond_channels=4,
        residual_channels=4,
        gate_channels=8,
        skip_channels=4,
        layers=3,
        kernel_size=2,
        mel_context_frames=1,
    )
    path = tmp_path_factory.mktemp("teacher") / "teacher.pt"
    Teacher(cfg).eval().save(path)
    return path


def _train_student(run_dir, data_dir, teacher) -> tuple[list[str], list[int]]:
    """Four steps validated after steps 2 and 4 (the debug config otherwise); the health
    warnings raised and the monitor's final run of off validations."""
    from pwave.train.cli import run_stage

    args = ["--config", DEBUG, "--trainer.default_root_dir", str(run_dir)]
    args += ["--data.data_dir", str(data_dir), "--teacher", str(teacher)]
    args += ["--trainer.max_steps", "4", "--trainer.val_check_interval", "2"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cli = run_stage("student", args)
    alarms = [str(w.message) for w in caught if "health alarm" in str(w.message)]
    return alarms, [cli.model.health.strikes]


def test_a_whispering_student_raises_the_alarm(prepared_demo, teacher_file, tmp_path, monkeypatch):
    from pwave.models.student import Student

    healthy, strikes = _train_student(tmp_path / "healthy", prepared_demo, teacher_file)
    assert healthy == [] and strikes == [0]

    original = Student.sample

    def whisper(self, *args, **kwargs):
        return 0.01 * original(self, *args, **kwargs)

    monkeypatch.setattr(Student, "sample", whisper)
    broken, strikes = _train_student(tmp_path / "broken", prepared_demo, teacher_file)
    assert len(broken) == 1 and "quieter" in broken[0] and strikes == [2]
    events = list((tmp_path / "broken").rglob("events.out.tfevents.*"))
    assert events, "no TensorBoard events"
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(events[0].parent)).Reload()
    flags = [e.value for e in acc.Scalars("student/health_alarm")]
    assert flags == [0.0, 1.0]
    assert "student/band_power_db_4000_8000hz" in acc.Tags()["scalars"]
