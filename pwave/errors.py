"""Every error pwave raises on purpose, in one hierarchy.

All derive from :class:`PwaveError`; the command line prints any of them as one line
``pwave: error: ...`` and exits with code 2. Each also derives from the built-in error a
caller would expect (``ValueError`` for bad inputs, ``RuntimeError`` for a run that cannot
go on), so ``except ValueError`` keeps working.
"""

from __future__ import annotations

import os


class PwaveError(Exception):
    """Base class: an error whose message tells the user what went wrong and what to do."""


class UserError(PwaveError):
    """A command-line input that cannot be used (a missing file, a bad option value)."""


class FeatureMismatchError(PwaveError, ValueError):
    """Two feature configs that must agree do not; the message names every differing field."""


class AudioError(PwaveError, ValueError):
    """Base class for audio problems that a user has to fix in their data."""


class AudioReadError(AudioError):
    """A file that cannot be used; ``reason`` says why in a few words.

    ``kind`` is a stable short tag for counting: ``"missing"``, ``"permission"``,
    ``"empty"``, ``"unreadable"``, ``"no_samples"``, ``"nonfinite"`` or ``"other"``.
    """

    def __init__(self, path: str | os.PathLike, reason: str, kind: str = "other"):
        self.path = str(path)
        self.reason = reason
        self.kind = kind
        super().__init__(f"{self.path}: {reason}")


class InputError(PwaveError, ValueError):
    """An input file that cannot be synthesised; ``reason`` says why in a few words."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class CheckpointError(PwaveError, ValueError):
    """A saved model that cannot be read (missing, truncated, not a pwave checkpoint)."""


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint whose pickle asks for more than tensors and plain containers."""


class ExportError(CheckpointError):
    """An export folder that cannot be written or loaded; the message says why."""


class LayoutError(PwaveError, ValueError):
    """The folder does not look like the named layout; the message says what was expected."""


class PrepareError(PwaveError, RuntimeError):
    """Preparation cannot go on; the message says why and what to do."""


class NothingUsableError(PrepareError):
    """Every file of the corpus was skipped (the report lists why)."""


class ResumeError(PwaveError, RuntimeError):
    """The run folder's checkpoint does not fit the model being trained."""


class NonFiniteTrainingError(PwaveError, RuntimeError):
    """Training produced a non-finite loss or gradient too many optimizer steps in a row."""


__all__ = [
    "AudioError",
    "AudioReadError",
    "CheckpointError",
    "ExportError",
    "FeatureMismatchError",
    "InputError",
    "LayoutError",
    "NonFiniteTrainingError",
    "NothingUsableError",
    "PrepareError",
    "PwaveError",
    "ResumeError",
    "UnsafeCheckpointError",
    "UserError",
]
