"""The models a benchmark times: presets (``demo``, ``paper``, ``tiny``), YAML files or
checkpoints, resolved to float32 eval-mode modules, and their one-line descriptions."""

from __future__ import annotations

import os
from typing import Any, TypeVar

from pwave.audio.config import FeatureConfig
from pwave.models.student import Student, StudentConfig
from pwave.models.teacher import Teacher, TeacherConfig

ModelT = TypeVar("ModelT", Teacher, Student)


def tiny_teacher_config() -> TeacherConfig:
    """A very small teacher (16 kHz, hop 16, 4 layers) for tests and smoke runs."""
    return TeacherConfig(
        features=FeatureConfig(
            sample_rate=16000, n_fft=64, hop_length=16, win_length=64, n_mels=8, fmax=8000.0
        ),
        upsample_factors=(4, 4),
        cond_channels=4,
        residual_channels=4,
        gate_channels=8,
        skip_channels=4,
        kernel_size=3,
        layers=4,
    )


def tiny_student_config() -> StudentConfig:
    """A very small student matching :func:`tiny_teacher_config`'s features."""
    return StudentConfig(
        features=tiny_teacher_config().features,
        upsample_factors=(4, 4),
        cond_channels=4,
        flow_layers=(2, 3),
        flow_cycles=(1, 1),
        residual_channels=4,
        gate_channels=8,
        skip_channels=4,
        kernel_size=3,
        base="gaussian",
    )


#: Preset names of ``--teacher-config`` / ``--student-config`` and their configs.
TEACHER_PRESETS = {
    "demo": TeacherConfig.demo,
    "paper": TeacherConfig.paper,
    "tiny": tiny_teacher_config,
}
STUDENT_PRESETS = {
    "demo": StudentConfig.demo,
    "paper": StudentConfig.paper,
    "tiny": tiny_student_config,
}


def _config_from_yaml(path: str, kind: str) -> dict[str, Any]:
    """The ``kind`` config dict in a YAML file: ``model.<kind>``, ``<kind>`` or the top level."""
    import yaml

    with open(path) as f:
        data = yaml.safe_load(f) or {}
    if isinstance(data.get("model"), dict) and kind in data["model"]:
        return data["model"][kind]
    if isinstance(data.get(kind), dict):
        return data[kind]
    return data


def _resolve(
    model_cls: type[ModelT], presets: dict, kind: str, config: str, checkpoint: str | None
) -> ModelT:
    """A float32 eval-mode model from a checkpoint, a preset name or a YAML file."""
    if checkpoint:
        return model_cls.load(checkpoint).float().eval()
    if config in presets:
        cfg = presets[config]()
    elif os.path.exists(config):
        cfg = model_cls.config_class.from_dict(_config_from_yaml(config, kind))
    else:
        raise ValueError(f"--{kind}-config {config!r} is neither demo|paper|tiny nor a file")
    return model_cls(cfg).float().eval()


def resolve_teacher(config: str = "demo", checkpoint: str | None = None) -> Teacher:
    """A float32 eval-mode teacher from a checkpoint, a preset name or a YAML file."""
    return _resolve(Teacher, TEACHER_PRESETS, "teacher", config, checkpoint)


def resolve_student(config: str = "demo", checkpoint: str | None = None) -> Student:
    """A float32 eval-mode student from a checkpoint, a preset name or a YAML file."""
    return _resolve(Student, STUDENT_PRESETS, "student", config, checkpoint)


def describe_model(model: Teacher | Student, name: str) -> dict[str, Any]:
    """Size, receptive field, rate and widths of ``model`` (recorded in the report)."""
    c = model.config
    info: dict[str, Any] = {
        "name": name,
        "parameters": sum(p.numel() for p in model.parameters()),
        "receptive_field": model.receptive_field,
        "sample_rate": c.features.sample_rate,
        "hop_length": c.features.hop_length,
        "residual_channels": c.residual_channels,
        "gate_channels": c.gate_channels,
        "skip_channels": c.skip_channels,
        "kernel_size": c.kernel_size,
    }
    if isinstance(model, Teacher):
        info.update(layers=c.layers, cycles=c.cycles, num_flows=c.num_flows)
    else:
        info.update(flow_layers=list(c.flow_layers), flow_cycles=list(c.flow_cycles))
    return info
