"""Corpus layout readers: find the audio files of a corpus and assign train/dev/eval splits.

Each reader takes the corpus root and returns a :class:`LayoutScan`: one
:class:`CorpusEntry` per audio file (path, unique id, speaker, split), plus files that the
layout promised but that are missing, and corpus-level notes. Readers only look at names;
decoding and checking the audio is the job of :mod:`pwave.data.prepare`.

Split rules (deterministic; ``n`` = number of utterances):

* ``folder`` / ``demo``: a seeded shuffle of the sorted ids; ``dev_fraction`` and
  ``eval_fraction`` of them (at least one each when ``n >= 3``) go to dev and eval.
* ``ljspeech``: the common recipe: ids sorted, the last ``2k`` files are held out, the first
  ``k`` of them dev and the last ``k`` eval, with ``k = 250`` for the full corpus
  (scaled down to ``n // 20`` for smaller copies, at least one).
* ``vctk`` and ``arctic``: per speaker: each speaker's sorted utterances end with
  ``dev_fraction`` dev and ``eval_fraction`` eval utterances (at least one each when the
  speaker has >= 3), so every speaker is seen in training and evaluated.
* ``libritts``: the official subsets: ``train-*`` -> train, ``dev-*`` -> dev, ``test-*`` ->
  eval. Missing dev or test subsets are carved per speaker out of train (said in the notes).
"""

from __future__ import annotations

import inspect
import os
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pwave.audio.io import audio_extensions
from pwave.errors import LayoutError  # noqa: F401

SPLITS = ("train", "dev", "eval")
LAYOUTS = ("folder", "ljspeech", "vctk", "libritts", "arctic")
LIBRITTS_SUBSETS = (
    "train-clean-100",
    "train-clean-360",
    "train-other-500",
    "dev-clean",
    "dev-other",
    "test-clean",
    "test-other",
)


@dataclass
class CorpusEntry:
    """One audio file of a corpus."""

    path: Path
    id: str
    speaker: str
    split: str = "train"


@dataclass
class LayoutScan:
    """What a layout reader found: entries, files it expected but could not find, notes."""

    layout: str
    root: Path
    entries: list[CorpusEntry]
    missing: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- helpers


def safe_id(text: str) -> str:
    """Turn a relative path or name into a file-name-safe id."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "utt"


def _unique_ids(entries: list[CorpusEntry]) -> None:
    seen: dict[str, int] = {}
    for e in entries:
        base = e.id
        if base in seen:
            seen[base] += 1
            e.id = f"{base}_{seen[base]}"
        else:
            seen[base] = 1


def _is_audio(path: Path) -> bool:
    return path.suffix.lower() in audio_extensions()


def _walk_audio(root: Path) -> tuple[list[Path], int, int]:
    """Sorted audio files under ``root`` (recursive); also counts of ignored files.

    A folder named like an audio file (``take.wav/``) is listed too, so that preparation
    reports it as unusable rather than leaving it out silently; its contents are walked.
    """
    files, other, hidden = [], 0, 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        kept = []
        for d in dirnames:
            if d.startswith("."):
                hidden += 1
                continue
            kept.append(d)
            if _is_audio(Path(d)):
                files.append(Path(dirpath) / d)
        dirnames[:] = sorted(kept)
        for name in filenames:
            p = Path(dirpath) / name
            if name.startswith("."):
                hidden += 1
            elif _is_audio(p):
                files.append(p)
            else:
                other += 1
    return sorted(files), other, hidden


def holdout_count(n: int, fraction: float, cap: int | None = None) -> int:
    """How many of ``n`` utterances to hold out: ``round(n * fraction)``, >= 1 if ``n >= 3``."""
    if n < 3 or fraction <= 0:
        return 0
    k = max(1, int(round(n * fraction)))
    if cap is not None:
        k = min(k, cap)
    return min(k, (n - 1) // 2)


def split_random(entries: list[CorpusEntry], seed: int, dev_fraction: float, eval_fraction: float):
    """Seeded shuffle of the id-sorted entries; the first ones go to dev, then eval."""
    order = sorted(range(len(entries)), key=lambda i: entries[i].id)
    perm = np.random.default_rng(seed).permutation(len(order))
    order = [order[i] for i in perm]
    n_dev = holdout_count(len(entries), dev_fraction)
    n_eval = holdout_count(len(entries), eval_fraction)
    for rank, i in enumerate(order):
        entries[i].split = "dev" if rank < n_dev else "eval" if rank < n_dev + n_eval else "train"


def split_tail(entries: list[CorpusEntry], n_dev: int, n_eval: int) -> None:
    """Sorted by id: the last ``n_dev + n_eval`` are held out (dev first, then eval)."""
    ordered = sorted(entries, key=lambda e: e.id)
    n = len(ordered)
    for rank, e in enumerate(ordered):
        from_end = n - rank
        e.split = "eval" if from_end <= n_eval else "dev" if from_end <= n_eval + n_dev else "train"


def split_per_speaker(
    entries: list[CorpusEntry], dev_fraction: float, eval_fraction: float
) -> None:
    """For each speaker, :func:`split_tail` with per-speaker counts."""
    by_spk: dict[str, list[CorpusEntry]] = defaultdict(list)
    for e in entries:
        by_spk[e.speaker].append(e)
    for group in by_spk.values():
        n = len(group)
        split_tail(group, holdout_count(n, dev_fraction), holdout_count(n, eval_fraction))


# --------------------------------------------------------------------------- readers


def scan_folder(
    root: str | os.PathLike,
    speaker_level: bool = False,
    seed: int = 0,
    dev_fraction: float = 0.05,
    eval_fraction: float = 0.05,
) -> LayoutScan:
    """Every audio file under ``root`` (recursive), and every folder named like one.

    With ``speaker_level`` the first folder under ``root`` names the speaker
    (``root/<speaker>/.../x.wav``); otherwise every file is speaker ``"default"``.
    """
    root = Path(root)
    files, other, hidden = _walk_audio(root)
    entries = []
    for p in files:
        rel = p.relative_to(root)
        speaker = rel.parts[0] if speaker_level and len(rel.parts) > 1 else "default"
        entries.append(CorpusEntry(p, safe_id("__".join(rel.with_suffix("").parts)), speaker))
    _unique_ids(entries)
    split_random(entries, seed, dev_fraction, eval_fraction)
    scan = LayoutScan("folder", root, entries)
    if other:
        scan.notes.append(f"ignored {other} file(s) without an audio extension")
    if hidden:
        scan.notes.append(f"ignored {hidden} hidden file(s)/folder(s) (names starting with '.')")
    return scan


def scan_ljspeech(root: str | os.PathLike, holdout: int = 250) -> LayoutScan:
    """LJSpeech: ``root/metadata.csv`` (``id|text|normalized``) and ``root/wavs/<id>.wav``."""
    root = Path(root)
    wavs = root / "wavs"
    meta = root / "metadata.csv"
    if not wavs.is_dir():
        raise LayoutError(f"{root} is not an LJSpeech folder: expected {wavs}/ with the wav files")
    scan = LayoutScan("ljspeech", root, [])
    present = {p.stem: p for p in sorted(wavs.iterdir()) if _is_audio(p)}
    if meta.exists():
        ids = []
        for line in meta.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.strip():
                ids.append(line.split("|", 1)[0].strip())
        for utt in ids:
            if utt in present:
                scan.entries.append(CorpusEntry(present[utt], safe_id(utt), "LJ"))
            else:
                scan.missing.append(
                    (str(wavs / f"{utt}.wav"), "listed in metadata.csv but missing")
                )
        extra = sorted(set(present) - set(ids))
        if extra:
            scan.notes.append(f"ignored {len(extra)} audio file(s) in wavs/ not in metadata.csv")
    else:
        scan.notes.append("no metadata.csv: using every audio file in wavs/")
        scan.entries = [CorpusEntry(p, safe_id(s), "LJ") for s, p in present.items()]
    _unique_ids(scan.entries)
    k = ljspeech_holdout(len(scan.entries), holdout)
    split_tail(scan.entries, k, k)
    return scan


def ljspeech_holdout(n: int, holdout: int = 250) -> int:
    """Dev (= eval) size for an LJSpeech copy of ``n`` files: 250 for the full 13,100."""
    return min(holdout, max(1, n // 20)) if n >= 3 else 0


def _vctk_audio_dir(root: Path) -> Path:
    spk = re.compile(r"^[ps]\d+$")
    if any(spk.match(d.name) for d in root.iterdir() if d.is_dir()):
        return root
    preferred = ["wav48_silence_trimmed", "wav48", "wav24", "wav22", "wav16"]
    dirs = {d.name: d for d in root.iterdir() if d.is_dir() and d.name.startswith("wav")}
    for name in preferred + sorted(dirs):
        if name in dirs:
            return dirs[name]
    raise LayoutError(
        f"{root} is not a VCTK folder: expected wav48_silence_trimmed/ or wav48/ holding "
        "one folder per speaker (p225/, p226/ ...)"
    )


def scan_vctk(
    root: str | os.PathLike,
    mic: str = "mic1",
    dev_fraction: float = 0.05,
    eval_fraction: float = 0.05,
) -> LayoutScan:
    """VCTK 0.80 (``wav48/p225/p225_001.wav``) or 0.92 (``wav48_silence_trimmed/...``).

    0.92 files are named ``wav48_silence_trimmed/p225/p225_001_mic1.flac``.

    Files with a ``_mic1`` / ``_mic2`` suffix are filtered to ``mic``; the id drops the suffix.
    """
    root = Path(root)
    audio_dir = _vctk_audio_dir(root)
    scan = LayoutScan("vctk", root, [])
    other_mic = 0
    for spk_dir in sorted(d for d in audio_dir.iterdir() if d.is_dir()):
        for p in sorted(spk_dir.iterdir()):
            if not _is_audio(p) or p.name.startswith("."):
                continue
            m = re.match(r"^(.*)_(mic\d)$", p.stem)
            if m and m.group(2) != mic:
                other_mic += 1
                continue
            utt = m.group(1) if m else p.stem
            scan.entries.append(CorpusEntry(p, safe_id(utt), spk_dir.name))
    if other_mic:
        scan.notes.append(f"kept {mic} recordings; ignored {other_mic} file(s) of other mics")
    _unique_ids(scan.entries)
    split_per_speaker(scan.entries, dev_fraction, eval_fraction)
    return scan


def scan_libritts(
    root: str | os.PathLike, dev_fraction: float = 0.05, eval_fraction: float = 0.05
) -> LayoutScan:
    """LibriTTS (or LibriTTS-R): ``<subset>/<speaker>/<chapter>/<utt>.wav``.

    ``root`` is the corpus folder holding the subsets, or one subset folder itself.
    """
    root = Path(root)
    if root.name in LIBRITTS_SUBSETS:
        subsets = [root]
    else:
        subsets = [root / s for s in LIBRITTS_SUBSETS if (root / s).is_dir()]
    if not subsets:
        raise LayoutError(
            f"{root} is not a LibriTTS folder: expected one of the subsets "
            f"{', '.join(LIBRITTS_SUBSETS)} (or to be one)"
        )
    scan = LayoutScan("libritts", root, [])
    kinds = set()
    for sub in subsets:
        kind = {"train": "train", "dev": "dev", "test": "eval"}[sub.name.split("-")[0]]
        kinds.add(kind)
        files, _, _ = _walk_audio(sub)
        for p in files:
            rel = p.relative_to(sub)
            speaker = rel.parts[0] if len(rel.parts) > 1 else "unknown"
            scan.entries.append(CorpusEntry(p, safe_id(p.stem), speaker, kind))
    _unique_ids(scan.entries)
    if "train" not in kinds:
        scan.notes.append("no train-* subset found: split every speaker's utterances instead")
        split_per_speaker(scan.entries, dev_fraction, eval_fraction)
    else:
        train = [e for e in scan.entries if e.split == "train"]
        missing = [k for k in ("dev", "eval") if k not in kinds]
        if missing:
            scan.notes.append(
                f"no {'/'.join('test-*' if k == 'eval' else 'dev-*' for k in missing)} subset "
                "found: held out the last utterances of each speaker of train instead"
            )
            split_per_speaker(
                train,
                dev_fraction if "dev" in missing else 0.0,
                eval_fraction if "eval" in missing else 0.0,
            )
    return scan


def scan_arctic(
    root: str | os.PathLike, dev_fraction: float = 0.05, eval_fraction: float = 0.05
) -> LayoutScan:
    """CMU Arctic: ``cmu_us_<spk>_arctic/wav/arctic_a0001.wav``.

    ``root`` holds such voice folders, or is one.
    """
    root = Path(root)
    if (root / "wav").is_dir():
        voices = [root]
    else:
        voices = sorted(d for d in root.iterdir() if d.is_dir() and (d / "wav").is_dir())
    if not voices:
        raise LayoutError(
            f"{root} is not a CMU Arctic folder: expected cmu_us_<speaker>_arctic/wav/*.wav "
            "(or to be such a voice folder)"
        )
    scan = LayoutScan("arctic", root, [])
    for voice in voices:
        m = re.match(r"^cmu_us_(.+?)_arctic", voice.name)
        speaker = m.group(1) if m else voice.name
        for p in sorted((voice / "wav").iterdir()):
            if _is_audio(p) and not p.name.startswith("."):
                scan.entries.append(CorpusEntry(p, safe_id(f"{speaker}_{p.stem}"), speaker))
    _unique_ids(scan.entries)
    split_per_speaker(scan.entries, dev_fraction, eval_fraction)
    return scan


def detect_layout(root: str | os.PathLike) -> str:
    """Guess the layout of ``root`` from its names (falls back to ``"folder"``)."""
    root = Path(root)
    if (root / "wavs").is_dir() and (root / "metadata.csv").exists():
        return "ljspeech"
    names = {d.name for d in root.iterdir() if d.is_dir()} if root.is_dir() else set()
    if root.name in LIBRITTS_SUBSETS or names & set(LIBRITTS_SUBSETS):
        return "libritts"
    if any(n.startswith("wav48") for n in names):
        return "vctk"
    if (root / "wav").is_dir() or any(re.match(r"^cmu_us_.+_arctic", n) for n in names):
        return "arctic"
    return "folder"


READERS: dict[str, Callable[..., LayoutScan]] = {
    "folder": scan_folder,
    "ljspeech": scan_ljspeech,
    "vctk": scan_vctk,
    "libritts": scan_libritts,
    "arctic": scan_arctic,
}


def scan_layout(layout: str, root: str | os.PathLike, **options) -> LayoutScan:
    """Run the reader for ``layout`` (``"auto"`` detects it); options go to the reader."""
    root = Path(root)
    if not root.exists():
        raise LayoutError(f"corpus folder {root} does not exist")
    if not root.is_dir():
        raise LayoutError(f"corpus path {root} is not a folder")
    if layout == "auto":
        layout = detect_layout(root)
    if layout not in READERS:
        raise LayoutError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}, auto")
    reader = READERS[layout]
    accepted = inspect.signature(reader).parameters
    return reader(root, **{k: v for k, v in options.items() if k in accepted})
