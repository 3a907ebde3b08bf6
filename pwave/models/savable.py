"""How a Teacher or Student is stored and read back, with nothing above the models.

* :class:`SavableModel`: ``save(path)`` / ``cls.load(path)`` (``teacher.pt``/``student.pt``,
  written atomically, read weights-only) and ``cls.from_pretrained(folder)`` (an export
  folder of ``pwave export``: safetensors + ``config.json``, no pickle).
* :func:`read_export_config`: checks an export folder's ``config.json``; it refuses one whose
  feature fields are missing, or whose ``config.features`` and ``feature_config`` disagree,
  naming the fields.
* :func:`check_pair`: a teacher and a student meant for each other share features and context.

Loading any saved form without knowing its kind is :func:`pwave.model_io.load_model`.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import torch

from pwave.audio.config import OPTIONAL_DEFAULTS, FeatureConfig
from pwave.errors import CheckpointError, ExportError, FeatureMismatchError
from pwave.serialization import atomic_save, safe_load

EXPORT_FORMAT = "pwave.export"
EXPORT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
KINDS = ("student", "teacher")

#: Feature fields an export must state (newer fields with defaults may be left out).
_FEATURE_FIELDS = tuple(
    f.name for f in dataclasses.fields(FeatureConfig) if f.name not in OPTIONAL_DEFAULTS
)


class SavableModel:
    """Mixin: ``save(path)`` / ``cls.load(path)`` for a model with a config (Teacher, Student).

    The file is ``{format, version, config, feature_config, state_dict}`` in plain types and
    tensors, written atomically and read weights-only. Subclasses set ``CHECKPOINT_FORMAT``
    and provide ``config.to_dict()``, ``features`` and ``from_config_dict(d)``.
    """

    CHECKPOINT_FORMAT: str = ""
    CHECKPOINT_VERSION: int = 1

    @classmethod
    def kind(cls) -> str:
        """``"teacher"`` or ``"student"``: the last part of ``CHECKPOINT_FORMAT``."""
        return cls.CHECKPOINT_FORMAT.rsplit(".", 1)[-1]

    def save(self, path: str | os.PathLike) -> None:
        """Write the checkpoint (temp file + fsync + rename: never half a file)."""
        state = {k: v.detach().cpu() for k, v in self.state_dict().items()}  # type: ignore[attr-defined]
        atomic_save(
            {
                "format": self.CHECKPOINT_FORMAT,
                "version": self.CHECKPOINT_VERSION,
                "config": self.config.to_dict(),  # type: ignore[attr-defined]
                "feature_config": self.features.to_dict(),  # type: ignore[attr-defined]
                "state_dict": state,
            },
            path,
        )

    @classmethod
    def load(cls, path: str | os.PathLike, map_location: Any = "cpu"):
        """Rebuild a model written by :meth:`save`, in eval mode and in its saved precision."""
        ckpt = safe_load(path, map_location=map_location)  # weights only, never code
        if not isinstance(ckpt, dict) or ckpt.get("format") != cls.CHECKPOINT_FORMAT:
            raise CheckpointError(f"{path} is not a pwave {cls.kind()} checkpoint")
        model = cls.from_config_dict(ckpt["config"])  # type: ignore[attr-defined]
        state = ckpt["state_dict"]
        floats = [v.dtype for v in state.values() if v.is_floating_point()]
        if floats:  # keep the saved precision (a float64 model stays float64)
            model.to(floats[0])
        model.load_state_dict(state)
        return model.eval()

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike, map_location: Any = "cpu"):
        """Load an export folder of ``pwave export`` (safetensors + ``config.json``, no pickle)."""
        cfg = read_export_config(folder)
        if cfg["kind"] != cls.kind():
            held = cfg["kind"].capitalize()
            raise ExportError(f"{folder} holds a {held}, not a {cls.__name__}")
        return load_exported_weights(cls, folder, cfg, map_location)


def _feature_config(d: Any, where: str) -> FeatureConfig:
    if not isinstance(d, dict):
        raise ExportError(f"{where} is missing or not an object; re-export with `pwave export`")
    missing = [f for f in _FEATURE_FIELDS if f not in d]
    if missing:
        raise ExportError(
            f"{where} lacks the feature field(s) {missing}; every field of FeatureConfig must "
            "be given (re-export with `pwave export`)"
        )
    try:
        return FeatureConfig.from_dict(d)
    except (TypeError, ValueError) as err:
        raise ExportError(f"{where} is not a valid feature config: {err}") from None


def read_export_config(folder: str | os.PathLike) -> dict[str, Any]:
    """Read and check ``config.json`` of an export folder.

    Raises:
        ExportError: missing/invalid file, unknown format or kind, missing feature fields.
        pwave.audio.config.FeatureMismatchError: ``config.features`` and ``feature_config``
            differ (the message names the fields).
    """
    path = Path(folder) / CONFIG_FILE
    if not path.is_file():
        raise ExportError(f"no {CONFIG_FILE} in {folder}; is it a folder of `pwave export`?")
    try:
        cfg = json.loads(path.read_text())
    except (ValueError, OSError) as err:
        raise ExportError(f"{path} is not valid JSON: {err}") from None
    if not isinstance(cfg, dict) or cfg.get("format") != EXPORT_FORMAT:
        raise ExportError(f"{path} is not a pwave export config (format {EXPORT_FORMAT!r})")
    version = cfg.get("version")
    if not isinstance(version, int) or version < 1:
        raise ExportError(f"{path} has no valid export 'version' (an integer >= 1)")
    if version > EXPORT_VERSION:
        raise ExportError(
            f"{path} has export version {cfg.get('version')}; this pwave reads up to "
            f"{EXPORT_VERSION} (upgrade pwave)"
        )
    if cfg.get("kind") not in KINDS:
        raise ExportError(f"{path}: kind must be 'student' or 'teacher', got {cfg.get('kind')!r}")
    model_cfg = cfg.get("config")
    if not isinstance(model_cfg, dict):
        raise ExportError(f"{path} has no model 'config' object")
    declared = _feature_config(cfg.get("feature_config"), f"{path}: 'feature_config'")
    inside = _feature_config(model_cfg.get("features"), f"{path}: 'config.features'")
    inside.check_matches(declared, what="model config ('config.features')", against=path.name)
    return cfg


def load_exported_weights(
    cls: type, folder: str | os.PathLike, cfg: dict[str, Any], map_location: Any = "cpu"
):
    """Build ``cls`` (Teacher or Student) from a checked export ``cfg`` and the folder's
    ``model.safetensors`` (eval mode, saved floating-point dtype kept); never unpickles."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(folder)
    try:
        model = cls.from_config_dict(cfg["config"])
    except (TypeError, ValueError) as err:
        raise ExportError(f"{folder / CONFIG_FILE}: invalid {cfg['kind']} config: {err}") from None
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        raise ExportError(f"no {WEIGHTS_FILE} in {folder}")
    try:
        state = load_file(str(weights), device=str(torch.device(map_location)))
    except (SafetensorError, OSError, ValueError) as err:
        raise ExportError(f"{weights} cannot be read: {err}") from None
    expected = set(model.state_dict())
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        raise ExportError(
            f"{weights} does not fit the {cfg['kind']} described by {CONFIG_FILE}: "
            f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
            f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}"
        )
    floats = [v.dtype for v in state.values() if v.is_floating_point()]
    model = model.to(device=map_location, dtype=floats[0] if floats else None)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise ExportError(f"{weights} does not fit {CONFIG_FILE}: {err}") from None
    return model.eval()


def check_pair(teacher: Any, student: Any) -> None:
    """Refuse a teacher and a student that were not made for the same features.

    Both must have the same feature config (sample rate, hop, n_mels, ..., and the mel
    statistics) and the same number of mel context frames. Works on models (``.features``,
    ``.config.mel_context_frames``) and on their configs (``.features``,
    ``.mel_context_frames``).

    Raises:
        FeatureMismatchError: naming every differing field.
    """
    t_cfg, s_cfg = getattr(teacher, "config", teacher), getattr(student, "config", student)
    t_cfg.features.check_matches(s_cfg.features, what="teacher", against="student")
    t_ctx, s_ctx = t_cfg.mel_context_frames, s_cfg.mel_context_frames
    if t_ctx != s_ctx:
        raise FeatureMismatchError(
            f"the teacher reads {t_ctx} mel context frames per side but the student {s_ctx} "
            "(mel_context_frames); distil the student from this teacher again"
        )
