"""Inference: the :class:`Vocoder` API, batch synthesis of files and likelihood scoring.

* :mod:`pwave.inference.vocoder`: :class:`Vocoder` (a model with its training front end),
  :func:`resolve_device`, :func:`resolve_dtype`;
* :mod:`pwave.inference.inputs`: finding, reading and batching the inputs of a run;
* :mod:`pwave.inference.batch_synthesis`: :func:`synthesize_paths` and its report
  (``pwave synthesize``);
* :mod:`pwave.inference.scoring`: likelihood ranking under a teacher (``pwave score``).

The names below are imported on first use (module ``__getattr__``), so importing this
package alone stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pwave.inference.batch_synthesis import synthesize_paths
    from pwave.inference.vocoder import SAMPLERS, Vocoder, resolve_device, resolve_dtype

# public name -> the module that defines it (imported when the name is first used)
_LAZY: dict[str, str] = {
    "SAMPLERS": "pwave.inference.vocoder",
    "Vocoder": "pwave.inference.vocoder",
    "resolve_device": "pwave.inference.vocoder",
    "resolve_dtype": "pwave.inference.vocoder",
    "synthesize_paths": "pwave.inference.batch_synthesis",
}

__all__ = ["SAMPLERS", "Vocoder", "resolve_device", "resolve_dtype", "synthesize_paths"]


def __getattr__(name: str) -> Any:
    """Import a public name on first use and cache it in the package namespace."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pwave.inference' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The package's names, the lazily imported public ones included."""
    return sorted(set(globals()) | set(_LAZY))
