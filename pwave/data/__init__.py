"""Corpora, preparation, segment datasets and the built-in demo corpus (no Lightning).

* :mod:`pwave.data.layouts`: readers for folder / LJSpeech / VCTK / LibriTTS / CMU Arctic.
* :mod:`pwave.data.prepare`: :func:`prepare_corpus` and the ``pwave prepare`` command.
* :mod:`pwave.data.prepare_worker`: the per-file work of preparation (decode, check, mel).
* :mod:`pwave.data.prepare_report`: ``report.json`` / ``report.txt`` of a preparation.
* :mod:`pwave.data.dataset`: :class:`PreparedDataset`, a prepared dataset on disk.
* :mod:`pwave.data.segments`: aligned (audio, mel) segment datasets and the crop sampler.
* :mod:`pwave.data.demo`: :func:`generate_demo_corpus`, procedural speech-like audio.

Names are imported lazily, so ``import pwave.data`` stays cheap.
"""

from importlib import import_module
from typing import Any

_EXPORTS = {
    "CorpusEntry": "layouts",
    "LayoutError": "errors",
    "scan_layout": "layouts",
    "detect_layout": "layouts",
    "prepare_corpus": "prepare",
    "PrepareError": "errors",
    "NothingUsableError": "errors",
    "PreparedDataset": "dataset",
    "Utterance": "dataset",
    "generate_demo_corpus": "demo",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module = _EXPORTS[name]
        path = "pwave.errors" if module == "errors" else f"pwave.data.{module}"
        return getattr(import_module(path), name)
    raise AttributeError(f"module 'pwave.data' has no attribute {name!r}")
