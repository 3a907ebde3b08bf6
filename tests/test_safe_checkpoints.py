"""Safe checkpoints (issue 8.4): no loader runs code from a file; writes are atomic; a teacher
and a student made for different features are refused, naming the field."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from pwave.audio.config import FeatureConfig, FeatureMismatchError
from pwave.models.savable import check_pair
from pwave.models.student import Student, StudentConfig
from pwave.models.teacher import Teacher, TeacherConfig
from pwave.serialization import (
    CheckpointError,
    UnsafeCheckpointError,
    atomic_save,
    atomic_write,
    safe_load,
)

ROOT = Path(__file__).resolve().parents[1]
FEATURES = FeatureConfig(16000, 256, 64, 256, 20, fmax=8000.0)


def _teacher(features: FeatureConfig = FEATURES, factors=(8, 8), ctx: int = 1) -> Teacher:
    torch.manual_seed(0)
    cfg = TeacherConfig(
        features=features,
        upsample_factors=factors,
        cond_channels=4,
        residual_channels=4,
        gate_channels=8,
        skip_channels=4,
        layers=2,
        kernel_size=2,
        mel_context_frames=ctx,
    )
    return Teacher(cfg).eval()


def _student_config(features: FeatureConfig = FEATURES, factors=(8, 8), ctx: int = 1):
    return StudentConfig(
        features=features,
        mel_context_frames=ctx,
        upsample_factors=factors,
        cond_channels=4,
        flow_layers=(1, 1),
        flow_cycles=(1, 1),
        residual_channels=4,
        gate_channels=8,
        skip_channels=4,
    )


# --------------------------------------------------------------------------------------------
# Malicious pickles
# --------------------------------------------------------------------------------------------


class Payload:
    """Unpickling this runs ``touch <marker>`` through ``os.system``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _plant(tmp_path: Path, name: str, style: str) -> tuple[Path, Path]:
    """A checkpoint file ``name`` whose pickle would create ``marker`` when loaded."""
    marker = tmp_path / f"MARKER_{name.replace('.', '_')}_{style}"
    path = tmp_path / style / name
    path.parent.mkdir(parents=True, exist_ok=True)
    teacher = _teacher()
    if style == "pwave_file":  # a real teacher.pt layout with the payload tucked inside
        obj = {
            "format": "pwave-teacher",
            "version": 1,
            "config": teacher.config.to_dict(),
            "feature_config": FEATURES.to_dict(),
            "state_dict": teacher.state_dict(),
            "extra": Payload(marker),
        }
        torch.save(obj, path)
    elif style == "lightning":  # a Lightning-style .ckpt with a poisoned hyper-parameter
        obj = {
            "global_step": 3,
            "state_dict": {f"ema.module.{k}": v for k, v in teacher.state_dict().items()},
            "hyper_parameters": {"lr": 1e-3, "evil": Payload(marker)},
            "pwave": {"kind": "teacher", "config": teacher.config.to_dict()},
        }
        torch.save(obj, path)
    else:  # a bare pickle stream (the legacy, non-zip torch format)
        path.write_bytes(pickle.dumps(Payload(marker)))
    return path, marker


def _loaders():
    from pwave.model_io.loading import load_model
    from pwave.train.resume import AtomicCheckpointIO
    from pwave.train.teacher import load_teacher

    return {
        "safe_load": safe_load,
        "Teacher.load": Teacher.load,
        "Student.load": Student.load,
        "load_teacher": load_teacher,
        "resume (AtomicCheckpointIO)": AtomicCheckpointIO().load_checkpoint,
        "load_model": load_model,
    }


LOADERS = [
    "safe_load",
    "Teacher.load",
    "Student.load",
    "load_teacher",
    "resume (AtomicCheckpointIO)",
]
STYLES = ["pwave_file", "lightning", "bare_pickle"]


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("loader", LOADERS)
@pytest.mark.parametrize("suffix", [".pt", ".ckpt"])
def test_loaders_refuse_a_malicious_pickle_without_running_it(tmp_path, loader, style, suffix):
    path, marker = _plant(tmp_path, f"model{suffix}", style)
    with pytest.raises(UnsafeCheckpointError, match="refusing to load"):
        _loaders()[loader](path)
    assert not marker.exists(), f"{loader} executed the payload of {path.name}"


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize(
    "suffix",
    [".pt", ".ckpt"],
)
def test_synthesize_loader_refuses_a_malicious_pickle(tmp_path, style, suffix):
    path, marker = _plant(tmp_path, f"model{suffix}", style)
    with pytest.raises((CheckpointError, ValueError, pickle.UnpicklingError)):
        _loaders()["load_model"](path)
    assert not marker.exists(), f"load_model executed the payload of {path.name}"


def test_unsafe_error_message_is_clear(tmp_path):
    path, marker = _plant(tmp_path, "teacher.pt", "pwave_file")
    with pytest.raises(UnsafeCheckpointError) as info:
        Teacher.load(path)
    text = str(info.value)
    assert str(path) in text and "never unpickles" in text
    assert not marker.exists()


#: torch's own advice on an unsafe file, which pwave's refusal must never repeat.
UNSAFE_ADVICE = ("weights_only", "two options", "will likely succeed")
#: The global the payload's pickle asks for (``os.system`` is ``posix.system`` on Linux).
PAYLOAD_GLOBAL = f"{os.system.__module__}.{os.system.__name__}"


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("loader", [*LOADERS, "load_model"])
def test_refusal_names_the_object_and_gives_no_unsafe_advice(tmp_path, loader, style):
    """The refusal says what the file holds, names the global it asks for, and never
    repeats torch's advice to load it unsafely."""
    path, marker = _plant(tmp_path, "model.pt", style)
    with pytest.raises(UnsafeCheckpointError) as info:
        _loaders()[loader](path)
    text = str(info.value)
    assert "will not unpickle" in text and PAYLOAD_GLOBAL in text, text
    for advice in UNSAFE_ADVICE:
        assert advice not in text, (advice, text)
    assert not marker.exists()


@pytest.mark.parametrize(
    "command",
    [
        "synthesize --checkpoint {ckpt} --input {src} --output {out} --device cpu",
        "score --teacher {ckpt} --input {src} --device cpu",
        "export --checkpoint {ckpt} --output {out}",
    ],
    ids=["synthesize", "score", "export"],
)
def test_commands_refuse_a_malicious_checkpoint_in_one_plain_line(tmp_path, capsys, command):
    from pwave.cli import main

    path, marker = _plant(tmp_path, "model.pt", "pwave_file")
    (tmp_path / "in.wav").write_bytes(b"")
    names = {"ckpt": str(path), "src": str(tmp_path / "in.wav"), "out": str(tmp_path / "out")}
    assert main([arg.format(**names) for arg in command.split()]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("pwave: error:") and len(err.splitlines()) == 1, err
    assert "will not unpickle" in err and PAYLOAD_GLOBAL in err
    for advice in UNSAFE_ADVICE:
        assert advice not in err, (advice, err)
    assert not marker.exists()


@pytest.mark.parametrize(
    "content",
    [
        np.random.default_rng(0).bytes(3000),
        np.random.default_rng(1).bytes(100_000),
        b"\x80\x02" + np.random.default_rng(2).bytes(3000),  # a pickle header, then noise
        b"hello, this is a text file and not a checkpoint\n" * 20,
        b'{"format": "pwave-teacher", "state_dict": {}}',
    ],
    ids=["random", "random-large", "pickle-header-then-noise", "text", "json"],
)
def test_files_that_are_no_checkpoint_read_as_unreadable_not_unsafe(tmp_path, content):
    """Random bytes or text are a plain CheckpointError ("not a torch checkpoint"), never a
    refusal of pickled objects, and carry none of torch's advice either."""
    path = tmp_path / "model.pt"
    path.write_bytes(content)
    for load in (safe_load, _loaders()["load_model"]):
        with pytest.raises(CheckpointError) as info:
            load(path)
        text = str(info.value)
        assert not isinstance(info.value, UnsafeCheckpointError), text
        assert "not a torch checkpoint" in text and "pickled objects" not in text, text
        for advice in UNSAFE_ADVICE:
            assert advice not in text, (advice, text)


def test_training_refuses_to_resume_from_a_malicious_checkpoint(prepared_demo, tmp_path):
    from pwave.train.cli import main

    run_dir = tmp_path / "run"
    marker = tmp_path / "MARKER_resume"
    (run_dir / "checkpoints").mkdir(parents=True)
    torch.save({"global_step": 1, "evil": Payload(marker)}, run_dir / "checkpoints" / "last.ckpt")
    args = [
        "--config",
        str(ROOT / "pwave" / "configs" / "teacher" / "debug.yaml"),
        "--trainer.default_root_dir",
        str(run_dir),
        "--data.data_dir",
        str(prepared_demo),
    ]
    assert main("teacher", args) == 2  # a one-line error, not a traceback
    assert not marker.exists()


def test_truncated_and_foreign_files_are_clear_errors(tmp_path):
    path = tmp_path / "teacher.pt"
    _teacher().save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        Teacher.load(path)
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(CheckpointError):
        safe_load(tmp_path / "empty.pt")
    with pytest.raises(FileNotFoundError):
        safe_load(tmp_path / "missing.pt")
    # a student file is not a teacher: refused by kind
    _student = Student(_student_config())
    _student.save(tmp_path / "student.pt")
    with pytest.raises(ValueError, match="not a pwave teacher"):
        Teacher.load(tmp_path / "student.pt")


# --------------------------------------------------------------------------------------------
# Atomic writes
# --------------------------------------------------------------------------------------------


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "model.pt"
    atomic_save({"w": torch.ones(3)}, path)

    def half_then_crash(f):
        f.write(b"PK\x03\x04 half a checkpoint")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(path, half_then_crash)
    torch.testing.assert_close(safe_load(path)["w"], torch.ones(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt"]


WRITER = """
import sys, torch
from pwave.serialization import atomic_save
path = sys.argv[1]
x = torch.arange(2_000_000, dtype=torch.float64)
i = 0
while True:
    i += 1
    atomic_save({"i": i, "x": x + i}, path)
"""


def test_sigkill_during_writes_never_leaves_a_broken_file(tmp_path):
    """A process rewriting a 16 MB checkpoint in a loop is killed at several moments; the
    file on disk is always a whole, loadable checkpoint."""
    path = tmp_path / "busy.pt"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    seen = []
    for delay in (0.0, 0.05, 0.13):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], env=env)
        deadline = time.monotonic() + 60
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        ckpt = safe_load(path)
        torch.testing.assert_close(ckpt["x"][:3], torch.arange(3, dtype=torch.float64) + ckpt["i"])
        seen.append(ckpt["i"])
    assert all(i >= 1 for i in seen)


# --------------------------------------------------------------------------------------------
# Teacher / student pairs
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field, features, factors",
    [
        ("sample_rate", FEATURES.replace(sample_rate=22050, fmax=8000.0), (8, 8)),
        ("hop_length", FEATURES.replace(hop_length=128), (16, 8)),
        ("n_mels", FEATURES.replace(n_mels=16), (8, 8)),
    ],
)
def test_mismatched_pair_is_refused_naming_the_field(tmp_path, field, features, factors):
    teacher = _teacher()
    student = Student(_student_config(features, factors))
    with pytest.raises(FeatureMismatchError, match=field):
        check_pair(teacher, student)
    # Through the saved files, as a user would pair them.
    teacher.save(tmp_path / "teacher.pt")
    student.save(tmp_path / "student.pt")
    with pytest.raises(FeatureMismatchError, match=field):
        check_pair(Teacher.load(tmp_path / "teacher.pt"), Student.load(tmp_path / "student.pt"))
    # Distillation refuses to start from such a pair.
    from pwave.train.student import StudentModule

    with pytest.raises(FeatureMismatchError, match=field):
        StudentModule(
            student=_student_config(features, factors), teacher_path=str(tmp_path / "teacher.pt")
        )


def test_matching_pair_passes_and_context_mismatch_is_named():
    check_pair(_teacher(), Student(_student_config()))
    with pytest.raises(FeatureMismatchError, match="mel_context_frames"):
        check_pair(_teacher(ctx=2), Student(_student_config()))
    stats = FEATURES.replace(mel_mean=(0.0,) * 20, mel_std=(1.0,) * 20)
    with pytest.raises(FeatureMismatchError, match="mel_mean"):
        check_pair(_teacher(stats), Student(_student_config()))


def test_resuming_a_run_for_other_features_is_refused():
    from pwave.train.teacher import check_checkpoint_features

    ckpt = {"pwave": {"feature_config": FEATURES.replace(n_mels=16).to_dict()}}
    with pytest.raises(FeatureMismatchError, match="n_mels"):
        check_checkpoint_features(ckpt, FEATURES, "student")
    check_checkpoint_features({"pwave": {"feature_config": FEATURES.to_dict()}}, FEATURES, "x")
