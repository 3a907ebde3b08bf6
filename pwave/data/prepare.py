"""``pwave prepare``: turn a corpus into a prepared dataset (see :mod:`pwave.data.dataset`).

Steps: scan the corpus with its layout reader (:mod:`pwave.data.layouts`, which also assigns
the splits), then for every file (:mod:`pwave.data.prepare_worker`): decode, mix down,
resample to the configured rate, reject unusable files (unreadable, empty, truncated, not
audio, NaN/inf, all silence, shorter than one training segment), pad with zeros at the end to
a multiple of the hop (so ``len(audio) == frames * hop``), compute the log-mel with
:class:`~pwave.audio.mel.MelSpectrogram`, and cache both as ``.npy``. Finally the train-split
mel statistics go into the feature config, and ``report.json`` / ``report.txt``
(:mod:`pwave.data.prepare_report`) list every skipped file with its reason and every change
made to a file (resampling, mix-down, rescaling) or warning (clipping, 8-bit, DC offset).

A bad file never stops the run; only "nothing usable" does, with
:class:`NothingUsableError` (after writing the report).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from pwave.audio.config import FeatureConfig
from pwave.audio.features import FEATURE_CONFIG_FILE, MelStatsAccumulator, save_feature_config
from pwave.audio.mel import stft_padding
from pwave.data.dataset import (
    MANIFEST_FILE,
    PREPARE_FILE,
    REPORT_JSON,
    REPORT_TXT,
    PreparedDataset,
)
from pwave.data.layouts import LAYOUTS, LayoutError, LayoutScan, scan_folder, scan_layout
from pwave.data.prepare_report import build_report, report_text, summary_line
from pwave.data.prepare_worker import make_tasks, run_tasks
from pwave.errors import NothingUsableError, PrepareError

__all__ = ["DEMO_DIR", "NothingUsableError", "PrepareError", "prepare_corpus"]

DEMO_DIR = "demo_wavs"
_OUTPUTS = (
    "audio",
    "mel",
    MANIFEST_FILE,
    FEATURE_CONFIG_FILE,
    REPORT_JSON,
    REPORT_TXT,
    PREPARE_FILE,
)


def prepare_corpus(
    source: str | os.PathLike | None,
    out_dir: str | os.PathLike,
    layout: str = "folder",
    feature_config: FeatureConfig | None = None,
    segment_min_seconds: float = 0.25,
    seed: int = 0,
    num_workers: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
    speaker_level: bool = False,
    dev_fraction: float = 0.05,
    eval_fraction: float = 0.05,
    demo_utterances: int = 48,
    demo_seconds: float = 4.0,
    log: Callable[[str], None] | None = print,
) -> PreparedDataset:
    """Prepare a corpus into ``out_dir`` and return it as a :class:`PreparedDataset`.

    Args:
        source: corpus root; ``None`` generates the demo corpus (:mod:`pwave.data.demo`).
        out_dir: output folder (created). If it already holds a dataset prepared with the
            same settings, that dataset is reused; with different settings this raises
            unless ``overwrite``.
        layout: ``"folder"``, ``"ljspeech"``, ``"vctk"``, ``"libritts"``, ``"arctic"``,
            ``"auto"`` (guess from names) or ``"demo"``.
        feature_config: mel settings (default ``FeatureConfig()``); any statistics in it are
            replaced by those of the train split.
        segment_min_seconds: files shorter than this (after resampling) are skipped.
        seed: seeds the random split of the folder and demo layouts and the demo audio.
        num_workers: processes decoding and computing features (default ``min(4, cpus)``;
            0 or 1 runs in this process).
        overwrite: rebuild ``out_dir`` even if it holds a different prepared dataset.
        progress: show a tqdm progress bar.
        speaker_level: folder layout only: the first sub-folder names the speaker.
        dev_fraction, eval_fraction: held-out fractions for the folder/demo/per-speaker splits.
        demo_utterances, demo_seconds: size of the generated demo corpus.
        log: where one-line messages go (``None`` for silence).

    Raises:
        PrepareError: bad arguments, a missing or unrecognisable corpus folder, or an output
            folder holding a different dataset.
        NothingUsableError: no file (or no train file) survived; the report is still written.
    """
    say = log or (lambda _msg: None)
    config = (feature_config or FeatureConfig()).replace(mel_mean=(), mel_std=())
    stft_padding(config)  # refuses n_fft < hop_length before any work is done
    layout, src, out = _check_arguments(source, out_dir, layout)
    settings: dict[str, Any] = {"layout": layout, "source": str(src) if src else None}
    settings.update(
        feature_config=config.to_dict(),
        segment_min_seconds=segment_min_seconds,
        seed=seed,
        speaker_level=speaker_level,
        dev_fraction=dev_fraction,
        eval_fraction=eval_fraction,
    )
    if layout == "demo":
        settings.update(demo_utterances=demo_utterances, demo_seconds=demo_seconds)
    if _reuse_or_clear(out, settings, overwrite):
        say(f"reusing the prepared dataset in {out} (same settings; --overwrite rebuilds it)")
        return PreparedDataset(out)
    if num_workers is None:
        num_workers = min(4, os.cpu_count() or 1)
    _build_dataset(src, out, config, settings, num_workers, progress, say)
    return PreparedDataset(out)


def _build_dataset(
    src: Path | None,
    out: Path,
    config: FeatureConfig,
    settings: dict[str, Any],
    num_workers: int,
    progress: bool,
    say: Callable[[str], None],
) -> None:
    """Scan, process every file, write the report, the statistics and the manifest.

    ``settings`` (what :func:`prepare_corpus` was asked for) is written last, to
    ``prepare.json``: its presence marks a finished dataset.
    """
    start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    scan = _scan_corpus(settings["layout"], src, out, settings, config.sample_rate, say)
    min_samples = max(1, int(math.ceil(settings["segment_min_seconds"] * config.sample_rate)))
    records, skipped, stats = _prepare_files(scan, out, config, min_samples, num_workers, progress)
    source_text = str(src) if src else None
    elapsed = time.perf_counter() - start
    report = build_report(scan, scan.layout, source_text, out, records, skipped, elapsed)
    _write_report(out, report, say)
    if not records:
        raise NothingUsableError(
            f"nothing usable in {src or 'the demo corpus'}: all {report['found']} file(s) were "
            f"skipped ({', '.join(f'{v} {k}' for k, v in report['skip_reasons'].items())}); "
            f"see {out / REPORT_TXT} for each file and reason"
        )
    if stats.count == 0:
        raise NothingUsableError(
            f"no usable file is in the train split ({len(records)} usable in dev/eval only); "
            f"add more audio or check {out / REPORT_TXT}"
        )
    save_feature_config(stats.apply(config), out / FEATURE_CONFIG_FILE)
    with open(out / MANIFEST_FILE, "w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r) + "\n")
    (out / PREPARE_FILE).write_text(json.dumps(settings, indent=2) + "\n")  # marks completion
    say(summary_line(report))
    say(f"report: {out / REPORT_TXT}")


def _check_arguments(
    source: str | os.PathLike | None, out_dir: str | os.PathLike, layout: str
) -> tuple[str, Path | None, Path]:
    """``(layout, source, out_dir)`` resolved (``"demo"`` without a source); or PrepareError."""
    if source is None and layout in ("folder", "auto", "demo"):
        layout = "demo"
    if layout == "demo" and source is not None:
        raise PrepareError("layout 'demo' generates its own audio: give no source folder")
    if layout != "demo" and source is None:
        raise PrepareError(f"layout {layout!r} needs a corpus folder (source)")
    if layout not in (*LAYOUTS, "auto", "demo"):
        raise PrepareError(
            f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}, auto, demo"
        )
    src = Path(source).expanduser().resolve() if source is not None else None
    out = Path(out_dir).expanduser().resolve()
    if src is not None and (out == src or src in out.parents):
        raise PrepareError(f"output folder {out} must not be inside the corpus folder {src}")
    for name in ("audio", "mel", DEMO_DIR):
        if src is not None and (src == out / name or out / name in src.parents):
            raise PrepareError(f"the corpus folder {src} must not be inside {out / name}")
    return layout, src, out


def _reuse_or_clear(out: Path, settings: dict[str, Any], overwrite: bool) -> bool:
    """True if ``out`` holds a finished dataset prepared with ``settings`` (and no overwrite).

    Otherwise deletes what an earlier run wrote there (only with ``overwrite`` if that run
    finished with other settings, else PrepareError) and returns False.
    """
    if (out / PREPARE_FILE).exists() and (out / MANIFEST_FILE).exists():
        try:
            previous = json.loads((out / PREPARE_FILE).read_text())
        except ValueError:
            previous = None
        if previous == settings and not overwrite:
            return True
        if not overwrite:
            raise PrepareError(
                f"{out} already holds a dataset prepared with other settings; pass "
                "--overwrite (overwrite=True) to rebuild it, or choose another output folder"
            )
    ours = any((out / n).exists() for n in (PREPARE_FILE, MANIFEST_FILE, REPORT_JSON))
    if ours:  # only ever delete what an earlier run of this function wrote
        for name in (*_OUTPUTS, DEMO_DIR):
            p = out / name
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
    return False


def _scan_corpus(
    layout: str,
    src: Path | None,
    out: Path,
    options: dict[str, Any],
    sample_rate: int,
    say: Callable[[str], None],
) -> LayoutScan:
    """Run the layout reader (for ``"demo"``: generate the corpus into ``out``, then scan it).

    ``options``: the settings of :func:`prepare_corpus` (seed, fractions, speaker level, demo size).

    Raises:
        PrepareError: the folder is not of that layout, or cannot be read.
        NothingUsableError: no audio file was found.
    """
    seed, dev, evl = options["seed"], options["dev_fraction"], options["eval_fraction"]
    try:
        if layout == "demo":
            from pwave.data.demo import generate_demo_corpus

            n, seconds = options["demo_utterances"], options["demo_seconds"]
            say(f"generating the demo corpus ({n} x {seconds} s) in {out / DEMO_DIR}")
            generate_demo_corpus(out / DEMO_DIR, n, seconds, seed, sample_rate)
            scan = scan_folder(out / DEMO_DIR, True, seed, dev, evl)
            scan.layout = "demo"
        else:
            assert src is not None
            scan = scan_layout(
                layout,
                src,
                speaker_level=options["speaker_level"],
                seed=seed,
                dev_fraction=dev,
                eval_fraction=evl,
            )
    except LayoutError as err:
        raise PrepareError(str(err)) from None
    except OSError as err:
        raise PrepareError(f"cannot read the corpus folder {src}: {err}") from None
    if not scan.entries:
        raise NothingUsableError(
            f"no audio files found under {src} for layout {scan.layout!r} "
            "(looked for .wav, .flac, .ogg, .mp3 ... files)"
        )
    return scan


def _prepare_files(
    scan: LayoutScan,
    out: Path,
    config: FeatureConfig,
    min_samples: int,
    num_workers: int,
    progress: bool,
) -> tuple[list[dict[str, Any]], list[dict[str, str]], MelStatsAccumulator]:
    """Process every entry of ``scan`` into ``out/audio`` and ``out/mel``.

    Returns:
        ``(records, skipped, stats)``: manifest rows of the used files in scan order,
        ``{"path", "reason", "kind"}`` per unusable or missing file, and the train-split
        mel statistics.
    """
    (out / "audio").mkdir(exist_ok=True)
    (out / "mel").mkdir(exist_ok=True)
    tasks = make_tasks(scan.entries, out, config, min_samples)
    records: list[dict[str, Any]] = []
    skipped = [{"path": p, "reason": r, "kind": "missing"} for p, r in scan.missing]
    stats = MelStatsAccumulator(config.n_mels)
    try:
        for result in run_tasks(tasks, num_workers, progress):
            if "skip" in result:
                skipped.append(result["skip"])
                continue
            records.append(result["record"])
            if "stats" in result:
                stats.merge(*result["stats"])
    except BrokenProcessPool:
        raise PrepareError(
            "a worker process died (a decoder crash on some file, or out of memory); "
            "run again with --num-workers 0 to find the file"
        ) from None
    return records, skipped, stats


def _write_report(out: Path, report: dict[str, Any], say: Callable[[str], None]) -> None:
    """Write ``report.json`` and ``report.txt``; say each skipped file and corpus note."""
    (out / REPORT_JSON).write_text(json.dumps(report, indent=2) + "\n")
    (out / REPORT_TXT).write_text(report_text(report))
    for s in report["skipped"]:
        say(f"skipped {s['path']}: {s['reason']}")
    for note in report["corpus_notes"]:
        say(f"note: {note}")
