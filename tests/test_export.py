"""``pwave export``: safetensors folders round-trip without pickle, bad configs are refused,
and the ONNX sampling pass agrees with PyTorch."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch

from pwave.audio.config import FeatureConfig, FeatureMismatchError
from pwave.cli.export import add_arguments, run
from pwave.errors import ExportError
from pwave.model_io.export import ONNX_FILE, export_safetensors, fold_weight_norm
from pwave.model_io.loading import load_model, load_pretrained
from pwave.models.savable import CONFIG_FILE, WEIGHTS_FILE
from pwave.models.student import Student, StudentConfig
from pwave.models.teacher import Teacher, TeacherConfig

HOP, N_MELS, CTX = 16, 8, 2
FEATURES = FeatureConfig(
    sample_rate=8000,
    n_fft=64,
    hop_length=HOP,
    win_length=64,
    n_mels=N_MELS,
    fmax=4000.0,
    mel_mean=tuple(float(v) for v in np.linspace(-6.0, -3.0, N_MELS)),
    mel_std=tuple(float(v) for v in np.linspace(1.0, 2.0, N_MELS)),
)


def randomise(model, seed: int):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for net in model.wavenets:
            net.head_out.weight.normal_(0.0, 0.3, generator=g)
    return model.eval()


def tiny_student(seed: int = 0, **kw) -> Student:
    torch.manual_seed(seed)
    cfg = dict(
        features=FEATURES, mel_context_frames=CTX, upsample_factors=(4, 4), cond_channels=6,
        flow_layers=(3, 2), flow_cycles=(1, 1), residual_channels=8, gate_channels=8,
        skip_channels=8, base="logistic",
    )  # fmt: skip
    cfg.update(kw)
    return randomise(Student(StudentConfig(**cfg)), seed + 1)


def tiny_teacher(seed: int = 0) -> Teacher:
    torch.manual_seed(seed)
    cfg = TeacherConfig(
        features=FEATURES, mel_context_frames=CTX, upsample_factors=(4, 4), cond_channels=6,
        residual_channels=8, gate_channels=8, skip_channels=8, layers=3, num_flows=2,
    )  # fmt: skip
    return randomise(Teacher(cfg), seed + 1)


def mel_and_noise(frames: int = 9, batch: int = 2, seed: int = 0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    mel = torch.randn(batch, N_MELS, frames + 2 * CTX, generator=g, dtype=dtype)
    return mel, torch.randn(batch, frames * HOP, generator=g, dtype=dtype)


def no_torch_load(*args, **kwargs):
    raise AssertionError("load_pretrained must not call torch.load (no pickle)")


def test_student_round_trip_without_torch_load(tmp_path, monkeypatch):
    student = tiny_student()
    export_safetensors(student, tmp_path / "exp")
    assert (tmp_path / "exp" / WEIGHTS_FILE).is_file()
    cfg = json.loads((tmp_path / "exp" / CONFIG_FILE).read_text())
    assert cfg["kind"] == "student" and cfg["feature_config"] == FEATURES.to_dict()
    monkeypatch.setattr(torch, "load", no_torch_load)
    loaded = load_pretrained(tmp_path / "exp")
    assert isinstance(loaded, Student) and not loaded.training
    assert loaded.config == student.config
    mel, z = mel_and_noise()
    assert torch.equal(loaded.sample(mel, z=z), student.sample(mel, z=z))
    # The synthesis loader recognises the folder too, and so do the model classes.
    assert isinstance(load_model(tmp_path / "exp"), Student)
    again = Student.from_pretrained(tmp_path / "exp")
    assert torch.equal(again.sample(mel, z=z), student.sample(mel, z=z))
    with pytest.raises(ExportError, match="holds a Student, not a Teacher"):
        Teacher.from_pretrained(tmp_path / "exp")


def test_teacher_round_trip_keeps_float64(tmp_path, monkeypatch):
    teacher = tiny_teacher().double()
    export_safetensors(teacher, tmp_path / "exp")
    monkeypatch.setattr(torch, "load", no_torch_load)
    loaded = load_pretrained(tmp_path / "exp")
    assert isinstance(loaded, Teacher)
    assert next(loaded.parameters()).dtype == torch.float64
    mel, _ = mel_and_noise(dtype=torch.float64)
    audio = 0.1 * torch.randn(2, 9 * HOP, dtype=torch.float64)
    assert torch.equal(loaded.log_prob(audio, mel), teacher.log_prob(audio, mel))


def edit_config(folder, change):
    path = folder / CONFIG_FILE
    cfg = json.loads(path.read_text())
    change(cfg)
    path.write_text(json.dumps(cfg))


def test_loader_refuses_missing_or_mismatched_feature_fields(tmp_path):
    export_safetensors(tiny_student(), tmp_path / "exp")
    original = (tmp_path / "exp" / CONFIG_FILE).read_text()

    def restore():
        (tmp_path / "exp" / CONFIG_FILE).write_text(original)

    edit_config(tmp_path / "exp", lambda c: c["feature_config"].pop("n_mels"))
    with pytest.raises(ExportError, match=r"feature_config.*lacks.*n_mels"):
        load_pretrained(tmp_path / "exp")
    restore()
    edit_config(tmp_path / "exp", lambda c: c["config"]["features"].pop("hop_length"))
    with pytest.raises(ExportError, match=r"config\.features.*lacks.*hop_length"):
        load_pretrained(tmp_path / "exp")
    restore()
    edit_config(tmp_path / "exp", lambda c: c.pop("feature_config"))
    with pytest.raises(ExportError, match="feature_config"):
        load_pretrained(tmp_path / "exp")
    restore()
    edit_config(tmp_path / "exp", lambda c: c["feature_config"].update(sample_rate=16000))
    with pytest.raises(FeatureMismatchError, match="sample_rate: 8000 != 16000"):
        load_pretrained(tmp_path / "exp")
    restore()
    edit_config(tmp_path / "exp", lambda c: c["config"].update(flow_layers=[3, 3]))
    with pytest.raises(ExportError, match="does not fit"):
        load_pretrained(tmp_path / "exp")
    restore()
    edit_config(tmp_path / "exp", lambda c: c.update(format="something.else"))
    with pytest.raises(ExportError, match="not a pwave export"):
        load_pretrained(tmp_path / "exp")
    restore()
    assert isinstance(load_pretrained(tmp_path / "exp"), Student)


def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return run(parser.parse_args(list(argv)))


def test_cli_refuses_onnx_for_a_teacher(tmp_path):
    from pwave.errors import UserError

    tiny_teacher().save(tmp_path / "teacher.pt")
    with pytest.raises(UserError, match="teacher"):
        cli("--checkpoint", str(tmp_path / "teacher.pt"), "--output", str(tmp_path / "e"), "--onnx")
    assert cli("--checkpoint", str(tmp_path / "teacher.pt"), "--output", str(tmp_path / "e")) == 0
    assert isinstance(load_pretrained(tmp_path / "e"), Teacher)


def test_fold_weight_norm_keeps_the_function_and_the_original():
    from torch.nn.utils import parametrize

    student = tiny_student(seed=1)
    mel, z = mel_and_noise()
    before = student.sample(mel, z=z)
    plain = fold_weight_norm(student)
    assert not any(parametrize.is_parametrized(m) for m in plain.modules())
    assert any(parametrize.is_parametrized(m) for m in student.modules())
    torch.testing.assert_close(plain.sample(mel, z=z), before, rtol=1e-5, atol=1e-6)
    assert torch.equal(student.sample(mel, z=z), before)


def test_onnx_sampling_pass_matches_pytorch(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    student = tiny_student(seed=3, mel_context_frames=CTX)
    student.save(tmp_path / "student.pt")
    assert cli("--checkpoint", str(tmp_path / "student.pt"), "--output", str(tmp_path / "e"),
               "--onnx") == 0  # fmt: skip
    cfg = json.loads((tmp_path / "e" / CONFIG_FILE).read_text())
    assert cfg["onnx"]["file"] == ONNX_FILE and cfg["onnx"]["max_abs_diff_vs_pytorch"] < 1e-4
    session = ort.InferenceSession(str(tmp_path / "e" / ONNX_FILE))
    for frames, batch in ((13, 3), (1, 1), (30, 2)):  # dynamic batch and time axes
        mel, z = mel_and_noise(frames, batch, seed=frames)
        (got,) = session.run(["audio"], {"mel": mel.numpy(), "z": z.numpy()})
        ref = student.sample(mel, z=z).numpy()
        assert got.shape == (batch, frames * HOP)
        np.testing.assert_allclose(got, ref, rtol=0, atol=1e-4)
