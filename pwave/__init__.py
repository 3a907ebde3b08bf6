"""pwave: Parallel WaveNet for everyday use.

A WaveNet masked-autoregressive-flow teacher trained by maximum likelihood, an
inverse-autoregressive-flow student distilled from it, and the normalizing-flow
core both stand on (``pwave.flows``).

The public face is importable from here::

    from pwave import Teacher, Student, Vocoder, FeatureConfig, load_model

Each name is imported on first use (module ``__getattr__``), so ``import pwave`` alone stays
cheap: it imports neither torch nor Lightning, and ``pwave --version`` answers at once.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pwave.version import __version__

if TYPE_CHECKING:
    from pwave.audio.config import FeatureConfig
    from pwave.inference import Vocoder
    from pwave.model_io.loading import load_model
    from pwave.models.student import Student, StudentConfig
    from pwave.models.teacher import Teacher, TeacherConfig

# public name -> the module it is imported from (on first use)
_LAZY: dict[str, str] = {
    "FeatureConfig": "pwave.audio.config",
    "Student": "pwave.models.student",
    "StudentConfig": "pwave.models.student",
    "Teacher": "pwave.models.teacher",
    "TeacherConfig": "pwave.models.teacher",
    "Vocoder": "pwave.inference",
    "load_model": "pwave.model_io.loading",
}

__all__ = [
    "FeatureConfig",
    "Student",
    "StudentConfig",
    "Teacher",
    "TeacherConfig",
    "Vocoder",
    "__version__",
    "load_model",
]


def __getattr__(name: str) -> Any:
    """Import a public name on first use and cache it in the package namespace."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pwave' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The package's names, the lazily imported public ones included."""
    return sorted(set(globals()) | set(_LAZY))
