"""The inputs of batch synthesis: finding them, reading them into mels, and batching them.

* :func:`find_inputs`: audio files and ``.npy`` mels under a folder (recursively);
* :func:`read_input`: one file -> unnormalised log-mel ``[n_mels, frames]`` (audio through
  the vocoder's front end, mels checked by :func:`load_mel_file`), or an
  :class:`~pwave.errors.InputError` that says why it cannot be used;
* :class:`Job`, :func:`output_paths`, :func:`make_batches`: one input to synthesise, where its
  wav goes, and groups of jobs of similar length within a padded-seconds budget.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pwave.audio.io import AudioReadError, audio_extensions, load_audio
from pwave.errors import InputError
from pwave.inference.vocoder import Vocoder

MEL_EXTENSION = ".npy"


def input_extensions() -> tuple[str, ...]:
    """File extensions (lower case, with dot) taken as inputs when scanning a folder."""
    return (*audio_extensions(), MEL_EXTENSION)


def find_inputs(
    root: str | os.PathLike, exclude: str | os.PathLike | None = None
) -> tuple[list[Path], list[Path]]:
    """``(inputs, ignored)`` under ``root`` (recursively, sorted).

    ``inputs``: files with an audio or ``.npy`` extension, and also dangling links and
    folders with such a name (``x.wav/``), kept so that the report lists them as skipped with
    their reason (:func:`read_input` refuses them); ``ignored``: the other files. A file
    ``root`` is an input whatever its name. Paths under ``exclude`` (e.g. the output folder)
    are left out of both.
    """
    root = Path(root)
    if root.is_file():
        return [root], []
    exts = set(input_extensions())
    ex = Path(exclude).resolve() if exclude is not None else None
    inputs, ignored = [], []
    for p in sorted(root.rglob("*")):
        if ex is not None and (p.resolve() == ex or ex in p.resolve().parents):
            continue
        named_like_input = p.suffix.lower() in exts
        dangling = p.is_symlink() and not p.exists()
        if p.is_file() or dangling:
            (inputs if named_like_input else ignored).append(p)
        elif p.is_dir() and named_like_input:
            inputs.append(p)
    return inputs, ignored


def load_mel_file(path: str | os.PathLike, n_mels: int) -> np.ndarray:
    """Read and check a saved mel ``[n_mels, frames]`` (``.npy``, no pickles).

    Raises:
        InputError: unreadable, not a plain numeric array, wrong shape or bin count,
            zero frames, or NaN/inf values.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as err:
        raise InputError(path, f"cannot open: {err.strerror or err}") from None
    if size == 0:
        raise InputError(path, "empty file (0 bytes)")
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        msg = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise InputError(path, f"not a readable .npy array ({size} bytes: {msg})") from None
    if not isinstance(arr, np.ndarray) or not (
        np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
    ):
        raise InputError(path, f"not a numeric mel array (dtype {getattr(arr, 'dtype', '?')})")
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2:
        raise InputError(path, f"a mel must be [n_mels, frames]; got shape {list(arr.shape)}")
    if arr.shape[0] != n_mels:
        hint = (
            f"; it looks transposed ([frames, n_mels]): save it as [{n_mels}, frames]"
            if arr.shape[1] == n_mels
            else ""
        )
        raise InputError(
            path, f"mel has {arr.shape[0]} bins but the model expects n_mels={n_mels}{hint}"
        )
    if arr.shape[1] == 0:
        raise InputError(path, "zero-length mel (0 frames)")
    arr = arr.astype(np.float32)
    finite = np.isfinite(arr)
    if not finite.all():
        raise InputError(path, f"mel contains {int(arr.size - finite.sum())} NaN/inf value(s)")
    return arr


@dataclass
class Job:
    """One input to synthesise.

    Attributes:
        path: the input file; ``output``: the wav to write.
        source: ``"audio"`` (copy synthesis) or ``"mel"``.
        mel: ``[n_mels, frames]`` unnormalised log-mel.
        seed: seed of the item's noise generator.
        notes: changes made while reading (resampling, mix-down ...).
    """

    path: Path
    output: Path
    source: str
    mel: np.ndarray
    seed: int
    notes: list[str] = field(default_factory=list)

    @property
    def frames(self) -> int:
        return int(self.mel.shape[1])


def read_input(vocoder: Vocoder, path: Path) -> tuple[str, np.ndarray, list[str]]:
    """``(source, mel [n_mels, frames], notes)`` for one input file; raises :class:`InputError`."""
    if path.is_dir():
        raise InputError(path, f"a folder named like a {path.suffix} file, not a file")
    if path.suffix.lower() == MEL_EXTENSION:
        return "mel", load_mel_file(path, vocoder.n_mels), []
    try:
        loaded = load_audio(path, sample_rate=vocoder.sample_rate, mono=True)
    except AudioReadError as err:
        raise InputError(path, err.reason) from None
    return "audio", vocoder.audio_to_mel(loaded.audio), list(loaded.notes)


def output_paths(inputs: Sequence[Path], root: Path, out_dir: Path) -> list[Path]:
    """``out_dir / <path relative to root>.wav`` per input (``name.ext.wav`` on a clash)."""
    taken: set[Path] = set()
    outs = []
    for p in inputs:
        rel = Path(p.name) if root.is_file() else p.relative_to(root)
        out = out_dir / rel.with_suffix(".wav")
        if out in taken:
            out = out_dir / rel.parent / (rel.name + ".wav")
        taken.add(out)
        outs.append(out)
    return outs


def make_batches(jobs: Sequence[Job], hop: int, sample_rate: int, batch_seconds: float):
    """Sort ``jobs`` by length and group them so that ``batch size * longest <= batch_seconds``
    (a longer job runs alone). Returns a list of job lists."""
    order = sorted(jobs, key=lambda j: (j.frames, str(j.path)))
    budget = batch_seconds * sample_rate
    batches: list[list[Job]] = []
    for job in order:
        n = job.frames * hop  # sorted, so the newest job is the longest of its batch
        if batches and (len(batches[-1]) + 1) * n <= budget:
            batches[-1].append(job)
        else:
            batches.append([job])
    return batches
