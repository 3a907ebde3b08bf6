"""One loader for every saved form of a pwave model: :func:`load_model`.

Accepted, detected from the file itself (never from its name alone):

* ``teacher.pt`` / ``student.pt`` written by :meth:`SavableModel.save` (``pwave train``);
* a Lightning ``.ckpt`` written by ``pwave train`` (its EMA weights, ``ema.module.*``);
* an export folder of ``pwave export`` (or the ``model.safetensors`` inside it).

Every path reads weights only: a checkpoint can never run code, whatever its suffix.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from pwave.errors import CheckpointError
from pwave.models.savable import load_exported_weights, read_export_config
from pwave.models.student import Student
from pwave.models.teacher import Teacher
from pwave.serialization import safe_load

Model = Student | Teacher

#: Key under which Lightning checkpoints of ``pwave train`` carry the plain-dict configs.
LIGHTNING_INFO_KEY = "pwave"
#: Prefix of the EMA weights in a Lightning checkpoint's ``state_dict``.
EMA_PREFIX = "ema.module."

MODEL_CLASSES: dict[str, type[Teacher] | type[Student]] = {"teacher": Teacher, "student": Student}


def model_kind(model: Model) -> str:
    """``"student"`` or ``"teacher"``."""
    if isinstance(model, Student):
        return "student"
    if isinstance(model, Teacher):
        return "teacher"
    raise TypeError(f"expected a pwave Student or Teacher, got {type(model).__name__}")


def load_pretrained(folder: str | os.PathLike, map_location: Any = "cpu") -> Model:
    """The :class:`Student` or :class:`Teacher` of an export folder (eval mode, no pickle)."""
    cfg = read_export_config(folder)
    return load_exported_weights(MODEL_CLASSES[cfg["kind"]], folder, cfg, map_location)


def ema_state_dict(ckpt: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The EMA model's weights of a Lightning checkpoint of ``pwave train``, unprefixed."""
    n = len(EMA_PREFIX)
    return {k[n:]: v for k, v in ckpt.get("state_dict", {}).items() if k.startswith(EMA_PREFIX)}


def model_from_lightning(path: Path, ckpt: dict[str, Any], map_location: Any = "cpu") -> Model:
    """The EMA model of a Lightning checkpoint of ``pwave train teacher|student`` (eval mode)."""
    info = ckpt.get(LIGHTNING_INFO_KEY)
    kind = info.get("kind") if isinstance(info, dict) else None
    if kind not in MODEL_CLASSES:
        raise CheckpointError(f"{path} is not a checkpoint of `pwave train teacher|student`")
    cls = MODEL_CLASSES[kind]
    model = cls(cls.config_class.from_dict(info["config"]))
    state = ema_state_dict(ckpt)
    if not state:
        raise CheckpointError(f"{path} holds no EMA {kind} weights ({EMA_PREFIX}*)")
    model.load_state_dict(state)
    return model.to(map_location).eval()


def load_model(
    path: str | os.PathLike, map_location: str | torch.device = "cpu", kind: str | None = None
) -> Model:
    """Load a student or teacher from any form pwave writes (see the module docstring).

    Args:
        path: a ``.pt``, a Lightning ``.ckpt``, an export folder or its ``model.safetensors``.
        map_location: where the weights go.
        kind: ``"teacher"`` or ``"student"`` to refuse the other kind; ``None`` accepts both.

    Raises:
        FileNotFoundError: nothing at ``path``.
        CheckpointError: not a pwave model (or not of ``kind``); the message says what was
            expected. :class:`~pwave.errors.UnsafeCheckpointError` for a file that holds
            objects pwave will not unpickle.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no checkpoint at {p}")
    model = _load_any(p, map_location)
    if kind is not None and model_kind(model) != kind:
        raise CheckpointError(f"{p} holds a {model_kind(model)}, not a {kind}")
    return model


def _load_any(p: Path, map_location: Any) -> Model:
    if p.is_dir() or p.suffix == ".safetensors":
        return load_pretrained(p if p.is_dir() else p.parent, map_location=map_location)
    try:  # weights only, never code
        ckpt = safe_load(p, map_location=map_location)
    except CheckpointError as err:  # same class (unsafe stays unsafe), the path in front
        raise type(err)(f"{p} is not a pwave checkpoint: {err}") from None
    if isinstance(ckpt, dict):
        for cls in MODEL_CLASSES.values():
            if ckpt.get("format") == cls.CHECKPOINT_FORMAT:
                return cls.load(p, map_location=map_location)
        if LIGHTNING_INFO_KEY in ckpt:
            return model_from_lightning(p, ckpt, map_location)
    raise CheckpointError(
        f"{p} is not a pwave checkpoint: expected student.pt / teacher.pt (written by "
        "`pwave train`), a Lightning .ckpt of `pwave train`, or an export folder "
        "(`pwave export`)"
    )


__all__ = [
    "EMA_PREFIX",
    "LIGHTNING_INFO_KEY",
    "Model",
    "ema_state_dict",
    "load_model",
    "load_pretrained",
    "model_from_lightning",
    "model_kind",
]
