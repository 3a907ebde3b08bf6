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
import pickletools
import re
import warnings
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
            numbers, strings and plain containers (it is refused, none of it is executed);
            the message names the object it asks for when that can be read safely.
        CheckpointError: the file is truncated, empty or not a ``torch.save`` file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        with warnings.catch_warnings():  # torch's note on pickle protocols is noise here
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        # torch's text invites loading the file unsafely: only a global's name is kept
        named = _GLOBAL_IN_MESSAGE.findall(str(err))
        if named or _is_zip(path):
            raise _refusal(path, named[0] if named else None) from None
        if _is_pickle_stream(path):  # e.g. a bare pickle: torch names no global, read one
            raise _refusal(path, _first_global(path)) from None
        raise _unreadable(path, "neither a zip archive nor a pickle stream") from None
    except Exception as err:  # noqa: BLE001 - whatever torch raises, the file is unreadable
        raise _unreadable(path, _unreadable_detail(path, err)) from None


#: How torch's weights-only unpickler names a refused global (``GLOBAL posix.system``).
_GLOBAL_IN_MESSAGE = re.compile(r"GLOBAL ([A-Za-z_][\w.]*)")
_ZIP_MAGIC = b"PK\x03\x04"


def _refusal(path: Path, global_name: str | None) -> UnsafeCheckpointError:
    what = f"it asks for {global_name}" if global_name else "objects other than tensors"
    return UnsafeCheckpointError(
        f"refusing to load {path}: it holds pickled objects that pwave will not unpickle "
        f"({what}). pwave reads tensors, numbers, strings and plain containers only and "
        "never unpickles anything else, which could run code. Use a checkpoint written by "
        "pwave (teacher.pt, student.pt, a `pwave train` .ckpt) or an export folder "
        "(`pwave export`)."
    )


def _unreadable(path: Path, detail: str) -> CheckpointError:
    return CheckpointError(
        f"cannot read {path}: not a torch checkpoint, or a damaged one (truncated, empty or "
        f"another format?): {detail}"
    )


def _unreadable_detail(path: Path, err: BaseException) -> str:
    if path.stat().st_size == 0:
        return "the file is empty (0 bytes)"
    if not _is_zip(path) and not _is_pickle_stream(path):
        return "neither a zip archive nor a pickle stream"
    return f"{type(err).__name__}: {_first_line(err)}"


def _is_zip(path: Path) -> bool:
    """Whether the file starts like a zip archive (the format of ``torch.save``)."""
    with open(path, "rb") as f:
        return f.read(len(_ZIP_MAGIC)) == _ZIP_MAGIC


def _is_pickle_stream(path: Path) -> bool:
    """Whether the file starts with one well-formed pickle (opcodes and stack checked by
    :func:`pickletools.dis`, nothing executed); random bytes fail within a few bytes."""
    with open(path, "rb") as f:
        try:
            pickletools.dis(f, out=_NullWriter())
        except Exception:  # noqa: BLE001 - any parse failure means "not a pickle"
            return False
    return True


def _first_global(path: Path) -> str | None:
    """``module.name`` of the first global the file's first pickle asks for, read with
    :func:`pickletools.genops` (nothing executed); ``None`` if there is none or on error."""
    strings: list[str] = []
    try:
        with open(path, "rb") as f:
            for op, arg, _ in pickletools.genops(f):
                if op.name == "GLOBAL":
                    return str(arg).replace(" ", ".")
                if op.name == "STACK_GLOBAL":
                    return ".".join(strings[-2:]) if len(strings) >= 2 else None
                if isinstance(arg, str):
                    strings.append(arg)
    except Exception:  # noqa: BLE001 - a detail for the message, never a reason to fail
        return None
    return None


class _NullWriter:
    def write(self, _text: str) -> int:
        return 0


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
