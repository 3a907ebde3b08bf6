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

from pwave.errors import CheckpointError, UnsafeCheckpointError  # noqa: F401


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


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    line = text.splitlines()[0] if text else type(err).__name__
    return line[:300]


__all__ = [
    "CheckpointError",
    "UnsafeCheckpointError",
    "atomic_save",
    "atomic_write",
    "safe_load",
]
