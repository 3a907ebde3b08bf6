"""Corpora, preparation, the training data module and the built-in demo corpus.

* :mod:`pwave.data.layouts`: readers for folder / LJSpeech / VCTK / LibriTTS / CMU Arctic.
* :mod:`pwave.data.prepare`: :func:`prepare_corpus` and the ``pwave prepare`` command.
* :mod:`pwave.data.dataset`: :class:`PreparedDataset`, a prepared dataset on disk.
* :mod:`pwave.data.datamodule`: :class:`VocoderDataModule` (Lightning).
* :mod:`pwave.data.demo`: :func:`generate_demo_corpus`, procedural speech-like audio.
* :mod:`pwave.data.synthetic`: miniature corpus trees for tests and benchmarks.

Names are imported lazily, so ``import pwave.data`` does not import Lightning.
"""

from importlib import import_module
from typing import Any

_EXPORTS = {
    "CorpusEntry": "layouts",
    "LayoutError": "layouts",
    "scan_layout": "layouts",
    "detect_layout": "layouts",
    "prepare_corpus": "prepare",
    "PrepareError": "prepare",
    "NothingUsableError": "prepare",
    "PreparedDataset": "dataset",
    "Utterance": "dataset",
    "VocoderDataModule": "datamodule",
    "generate_demo_corpus": "demo",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(f"pwave.data.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'pwave.data' has no attribute {name!r}")
