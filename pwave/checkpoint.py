"""Checkpoint files that survive crashes and cannot run code when they are read.

* :func:`atomic_save` / :func:`atomic_write`: write to a temporary file next to the target,
  flush it to disk (``fsync``), then ``os.replace`` it over the target (and ``fsync`` the
  folder). A reader -- or a resumed run after ``SIGKILL`` or a power cut -- sees the old
  file or the new one, never half of one.
* :func:`safe_load`: ``torch.load(..., weights_only=True)`` -- tensors, numbers, strings and
  plain containers only; a file that needs anything else (a pickled class, a ``__reduce__``
  payload) is refused with :class:`UnsafeCheckpointError` before any of its code can run.
  Every loader in pwave (``Teacher.load``, ``Student.load``, ``load_teacher`` and the
  resume of ``pwave train``) goes through it.
* :func:`check_pair`: a teacher and a student meant for each other must share the feature
  config and the mel context; a mismatch is a
  :class:`~pwave.audio.config.FeatureMismatchError` that names the field.
"""

from __future__ import annotations

import contextlib
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import torch

from pwave.audio.config import FeatureMismatchError


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read (missing, truncated, not a checkpoint)."""


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint whose pickle asks for more than tensors and plain containers."""


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write(file)`` on a temporary file, then atomically move it to ``path``.

    The temporary file is ``<path>.tmp.<pid>`` in the same folder (so the rename never
    crosses file systems); it is removed if ``write`` fails. Creates the parent folder.
    Returns ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp.{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)
    return path


def atomic_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save(obj, path)``, atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda f: torch.save(obj, f))


def safe_load(path: str | os.PathLike, map_location: Any = "cpu") -> Any:
    """Read a ``torch.save`` file without unpickling arbitrary objects.

    Raises:
        FileNotFoundError: nothing at ``path``.
        UnsafeCheckpointError: the file's pickle refers to something other than tensors,
            numbers, strings and plain containers (it is refused, none of it is executed).
        CheckpointError: the file is truncated, empty or not a ``torch.save`` file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        detail = _first_line(err)
        raise UnsafeCheckpointError(
            f"refusing to load {path}: it holds pickled objects other than tensors and plain "
            f"containers ({detail}). pwave only reads weights-only checkpoints and never "
            "unpickles arbitrary objects, which could run code. Use a checkpoint written by "
            "pwave (teacher.pt, student.pt, a `pwave train` .ckpt) or an export folder "
            "(`pwave export`)."
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        raise CheckpointError(
            f"cannot read {path} as a checkpoint (truncated, empty or another format?): "
            f"{type(err).__name__}: {_first_line(err)}"
        ) from None


class SavableModel:
    """Mixin: ``save(path)`` / ``cls.load(path)`` for a model with a config (Teacher, Student).

    The file is ``{format, version, config, feature_config, state_dict}`` in plain types and
    tensors, written atomically and read weights-only. Subclasses set ``CHECKPOINT_FORMAT``
    and provide ``config.to_dict()``, ``features`` and ``from_config_dict(d)``.
    """

    CHECKPOINT_FORMAT: str = ""
    CHECKPOINT_VERSION: int = 1

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
            kind = cls.CHECKPOINT_FORMAT.rsplit(".", 1)[-1]
            raise ValueError(f"{path} is not a pwave {kind} checkpoint")
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
        from pwave.export import ExportError, load_pretrained

        model = load_pretrained(folder, map_location=map_location)
        if not isinstance(model, cls):
            raise ExportError(f"{folder} holds a {type(model).__name__}, not a {cls.__name__}")
        return model


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    line = text.splitlines()[0] if text else type(err).__name__
    return line[:300]


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


__all__ = [
    "CheckpointError",
    "UnsafeCheckpointError",
    "atomic_save",
    "atomic_write",
    "check_pair",
    "safe_load",
]
