"""The models a benchmark times: shipped configs by name (``demo``, ``paper``, ``debug``, ...),
YAML files or checkpoints, resolved to float32 eval-mode modules, and their descriptions."""

from __future__ import annotations

from typing import Any, TypeVar

from pwave.model_io.loading import load_model
from pwave.models.student import Student
from pwave.models.teacher import Teacher

ModelT = TypeVar("ModelT", Teacher, Student)


#: Old name of the smallest shipped preset, kept so that ``--teacher-config tiny`` still works.
ALIASES = {"tiny": "debug"}


def model_section(kind: str, config: str) -> dict[str, Any]:
    """The ``model.<kind>`` dict of a shipped config name or a YAML file (its ``# base:``
    chain merged, :func:`pwave.configs.load_config`); a file holding only the model section
    (``<kind>:`` or the bare fields) works too."""
    from pwave.configs import config_names, load_config
    from pwave.errors import UserError

    try:
        data = load_config(kind, ALIASES.get(config, config))
    except UserError:
        names = ", ".join(config_names(kind))
        raise ValueError(
            f"--{kind}-config {config!r} is neither a shipped config ({names}) nor a file"
        ) from None
    if isinstance(data.get("model"), dict) and kind in data["model"]:
        return data["model"][kind]
    if isinstance(data.get(kind), dict):
        return data[kind]
    return data


def _resolve(model_cls: type[ModelT], kind: str, config: str, checkpoint: str | None) -> ModelT:
    """A float32 eval-mode model from a checkpoint, a shipped config name or a YAML file."""
    if checkpoint:
        return load_model(checkpoint, kind=kind).float().eval()
    return model_cls(model_cls.config_class.from_dict(model_section(kind, config))).float().eval()


def resolve_teacher(config: str = "demo", checkpoint: str | None = None) -> Teacher:
    """A float32 eval-mode teacher from a checkpoint, a shipped config name or a YAML file."""
    return _resolve(Teacher, "teacher", config, checkpoint)


def resolve_student(config: str = "demo", checkpoint: str | None = None) -> Student:
    """A float32 eval-mode student from a checkpoint, a shipped config name or a YAML file."""
    return _resolve(Student, "student", config, checkpoint)


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
