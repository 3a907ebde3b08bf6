"""Reproducibility (issue 8.6) and mixed-precision densities (issue 8.2) on CPU.

* the same seed and config give bitwise-identical student and teacher samples (models built
  and sampled twice, and ``pwave synthesize`` run twice), and a different seed does not;
* two tiny training runs with the same seed and config give the same dev losses and the
  same exported weights, bit for bit; a different seed gives different ones;
* under bf16 autocast the log-densities stay float32 and close to the float32 values.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pwave.audio.config import FeatureConfig
from pwave.data.dataset import PreparedDataset
from pwave.models.student import Student, StudentConfig
from pwave.models.teacher import Teacher, TeacherConfig
from pwave.serialization import safe_load
from pwave.train.cli import run_stage

ROOT = Path(__file__).resolve().parents[1]
FEATURES = FeatureConfig(16000, 256, 64, 256, 20, fmax=8000.0)


def _teacher(seed: int, features: FeatureConfig = FEATURES, randomize: bool = True) -> Teacher:
    torch.manual_seed(seed)
    cfg = TeacherConfig(
        features=features,
        upsample_factors=(8, 8),
        cond_channels=4,
        residual_channels=4,
        gate_channels=8,
        skip_channels=4,
        layers=3,
        kernel_size=2,
        mel_context_frames=1,
    )
    teacher = Teacher(cfg).eval()
    if not randomize:
        return teacher
    with torch.no_grad():  # leave the near-identity initialisation: outputs that depend on
        g = torch.Generator().manual_seed(seed)  # every weight
        for net in teacher.wavenets:
            net.head_out.weight.normal_(0.0, 0.3, generator=g)
    return teacher


def _student(seed: int) -> Student:
    torch.manual_seed(seed)
    cfg = StudentConfig(
        features=FEATURES,
        mel_context_frames=1,
        upsample_factors=(8, 8),
        cond_channels=4,
        flow_layers=(2, 1),
        flow_cycles=(1, 1),
        residual_channels=4,
        gate_channels=8,
        skip_channels=4,
    )
    student = Student(cfg).eval()
    with torch.no_grad():
        g = torch.Generator().manual_seed(seed)
        for net in student.wavenets:
            net.head_out.weight.normal_(0.0, 0.3, generator=g)
    return student


def _mel(frames: int = 12, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(2, FEATURES.n_mels, frames + 2, generator=g)


# --------------------------------------------------------------------------------------------
# Samples
# --------------------------------------------------------------------------------------------


def test_student_samples_are_bitwise_reproducible():
    mel = _mel()

    def draw(model_seed: int, noise_seed: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(noise_seed)
        return _student(model_seed).sample(mel, generator=gen)

    a, b = draw(0, 5), draw(0, 5)
    assert torch.equal(a, b)
    assert not torch.equal(a, draw(0, 6))  # another noise seed
    assert not torch.equal(a, draw(1, 5))  # another model seed


def test_teacher_samples_are_bitwise_reproducible():
    mel = _mel(frames=3)

    def draw(model_seed: int, noise_seed: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(noise_seed)
        return _teacher(model_seed).sample(mel, generator=gen)

    a, b = draw(0, 5), draw(0, 5)
    assert torch.equal(a, b)
    assert not torch.equal(a, draw(0, 6))
    assert not torch.equal(a, draw(1, 5))


def test_synthesize_twice_gives_identical_files(tmp_path):
    from pwave.cli.synthesize import main as synthesize_main

    ckpt = tmp_path / "student.pt"
    _student(0).save(ckpt)
    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(0)
    for k in range(3):
        np.save(src / f"m{k}.npy", rng.normal(-5, 2, (FEATURES.n_mels, 9 + 4 * k)).astype("f4"))

    def run(out: str, seed: int) -> dict[str, bytes]:
        argv = ["--checkpoint", str(ckpt), "--input", str(src), "--output", str(tmp_path / out),
                "--device", "cpu", "--seed", str(seed), "--no-progress", "--quiet"]  # fmt: skip
        assert synthesize_main(argv) == 0
        return {p.name: p.read_bytes() for p in sorted((tmp_path / out).glob("*.wav"))}

    first, second = run("a", 3), run("b", 3)
    assert len(first) == 3 and first == second
    assert run("c", 4) != first


# --------------------------------------------------------------------------------------------
# Training runs
# --------------------------------------------------------------------------------------------


def _train(stage: str, run_dir: Path, data: Path, *extra: str):
    args = [
        "--config",
        str(ROOT / "pwave" / "configs" / stage / "debug.yaml"),
        "--trainer.default_root_dir",
        str(run_dir),
        "--data.data_dir",
        str(data),
        *extra,
    ]
    cli = run_stage(stage, args)
    key = "teacher/dev_bits_per_sample" if stage == "teacher" else "student/dev_loss"
    dev = cli.trainer.callback_metrics[key].item()
    weights = safe_load(run_dir / f"{stage}.pt")["state_dict"]
    return dev, weights


def _same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_teacher_training_is_reproducible(prepared_demo, tmp_path):
    extra = ("--model.lpc_order", "0")
    dev_a, w_a = _train("teacher", tmp_path / "a", prepared_demo, *extra)
    dev_b, w_b = _train("teacher", tmp_path / "b", prepared_demo, *extra)
    assert dev_a == dev_b and _same_weights(w_a, w_b)
    dev_c, w_c = _train("teacher", tmp_path / "c", prepared_demo, *extra, "--seed_everything", "1")
    assert dev_c != dev_a and not _same_weights(w_a, w_c)


def test_student_training_is_reproducible(prepared_demo, tmp_path):
    teacher = tmp_path / "teacher.pt"
    _teacher(0, PreparedDataset(prepared_demo).feature_config, randomize=False).save(teacher)
    extra = ("--teacher", str(teacher), "--model.sample_seconds", "0")
    dev_a, w_a = _train("student", tmp_path / "a", prepared_demo, *extra)
    dev_b, w_b = _train("student", tmp_path / "b", prepared_demo, *extra)
    assert dev_a == dev_b and _same_weights(w_a, w_b)
    dev_c, w_c = _train("student", tmp_path / "c", prepared_demo, *extra, "--seed_everything", "1")
    assert dev_c != dev_a and not _same_weights(w_a, w_c)


# --------------------------------------------------------------------------------------------
# Mixed precision
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["teacher", "student"])
def test_bf16_autocast_sums_log_densities_in_float32(which):
    """Under bf16 autocast the per-sample terms are bf16, but their sum over 16384 samples
    must be a float32 sum: equal to the float64 sum of the same terms up to float32
    rounding (a bf16 sum of about -3e4 is off by up to 128 nats)."""
    frames = 256
    T = frames * FEATURES.hop_length
    mel = _mel(frames)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        if which == "teacher":
            model = _teacher(0)
            audio = 0.1 * torch.randn(2, T, generator=torch.Generator().manual_seed(1))
            density = model.log_prob(audio, mel)
            z, _, log_scales = model._inverse_all(audio, model.condition(mel))
        else:
            model = _student(0)
            z = torch.randn(2, T, generator=torch.Generator().manual_seed(1))
            out = model(mel, z)
            density, log_scales = out.log_q, [out.log_scale]
        exact = model.base.log_prob_elementwise(z.double()).sum(-1)
        exact = exact - sum(ls.double().sum(-1) for ls in log_scales)
    assert density.dtype == torch.float32
    torch.testing.assert_close(density.double(), exact, rtol=1e-6, atol=1e-2)
