"""The run folder's data: the built-in demo corpus, prepared once where a run needs it.

With ``data.data_dir: demo`` (:data:`~pwave.train.options.DEMO_SENTINEL`) a teacher run
prepares the demo corpus into ``<run folder>/demo_data``; a student run reuses the one next
to its teacher file when its feature config matches, else prepares its own.
"""

from __future__ import annotations

import os
from pathlib import Path

from pwave.audio.config import FeatureConfig

#: Folder of the demo corpus inside a run folder.
DEMO_DIR = "demo_data"


def is_prepared(path: str | os.PathLike) -> bool:
    """Whether ``path`` holds a prepared dataset (its manifest and feature config)."""
    from pwave.audio.features import FEATURE_CONFIG_FILE
    from pwave.data.dataset import MANIFEST_FILE

    p = Path(path)
    return (p / MANIFEST_FILE).is_file() and (p / FEATURE_CONFIG_FILE).is_file()


def demo_data(
    run_dir: Path,
    features: FeatureConfig,
    teacher_file: str | os.PathLike | None,
    utterances: int,
    seconds: float,
) -> Path:
    """The prepared demo corpus for a run with ``features`` (statistics are recomputed).

    ``<teacher file's folder>/demo_data`` when it exists with the same feature config
    (statistics included), else ``<run_dir>/demo_data``, prepared now with ``utterances``
    utterances of ``seconds`` seconds.
    """
    from pwave.data.dataset import PreparedDataset
    from pwave.data.prepare import prepare_corpus
    from pwave.train.teacher import without_stats

    if teacher_file is not None:  # the teacher's own demo data, if it is still there
        candidate = Path(teacher_file).resolve().parent / DEMO_DIR
        if is_prepared(candidate) and PreparedDataset(candidate).feature_config == features:
            return candidate
    out = run_dir / DEMO_DIR
    prepare_corpus(
        None,
        out,
        layout="demo",
        feature_config=without_stats(features),
        demo_utterances=int(utterances),
        demo_seconds=float(seconds),
    )
    return out


__all__ = ["DEMO_DIR", "demo_data", "is_prepared"]
