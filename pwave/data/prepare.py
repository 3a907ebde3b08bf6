"""``pwave prepare``: turn a corpus into a prepared dataset (see :mod:`pwave.data.dataset`).

Steps: scan the corpus with its layout reader (which also assigns the splits), then for
every file: decode, mix down, resample to the configured rate, reject unusable files
(unreadable, empty, truncated, not audio, NaN/inf, all silence, shorter than one training
segment), pad with zeros at the end to a multiple of the hop (so ``len(audio) ==
frames * hop``), compute the log-mel with :class:`~pwave.audio.mel.MelSpectrogram`, and
cache both as ``.npy``. Finally the train-split mel statistics go into the feature config,
and ``report.json`` / ``report.txt`` list every skipped file with its reason and every
change made to a file (resampling, mix-down, rescaling) or warning (clipping, 8-bit).

A bad file never stops the run; only "nothing usable" does, with
:class:`NothingUsableError` (after writing the report).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import numpy as np

from pwave.audio.config import FeatureConfig
from pwave.audio.features import FEATURE_CONFIG_FILE, MelStatsAccumulator, save_feature_config
from pwave.audio.io import SILENCE_PEAK, AudioReadError, load_audio
from pwave.audio.mel import stft_padding
from pwave.data.dataset import (
    MANIFEST_FILE,
    PREPARE_FILE,
    REPORT_JSON,
    REPORT_TXT,
    PreparedDataset,
    Utterance,
)
from pwave.data.layouts import LAYOUTS, SPLITS, LayoutError, LayoutScan, scan_folder, scan_layout
from pwave.errors import NothingUsableError, PrepareError  # noqa: F401

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

# Note prefixes (from pwave.audio.io.load_audio) -> report counter names.
_CHANGE_KINDS = {
    "resampled": "resampled",
    "mixed down": "mixed_down",
    "8-bit": "eight_bit",
    "clipping": "clipping",
    "peak": "rescaled",
}


# --------------------------------------------------------------------------- worker side

_MEL_CACHE: dict[str, Any] = {}


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)


def _mel_module(config_dict: dict[str, Any]):
    from pwave.audio.mel import MelSpectrogram

    key = json.dumps(config_dict, sort_keys=True)
    if key not in _MEL_CACHE:
        _MEL_CACHE.clear()
        _MEL_CACHE[key] = MelSpectrogram(FeatureConfig.from_dict(config_dict))
    return _MEL_CACHE[key]


def _process_file(task: dict[str, Any]) -> dict[str, Any]:
    """Prepare one file; returns a record or a skip, never raises."""
    path = task["path"]
    try:
        return _process_file_unsafe(task)
    except AudioReadError as err:
        return {"skip": {"path": path, "reason": err.reason, "kind": err.kind}}
    except Exception as err:  # noqa: BLE001 - a bad file must never stop the run
        reason = f"unexpected error while processing: {type(err).__name__}: {err}"
        return {"skip": {"path": path, "reason": reason, "kind": "error"}}


def _process_file_unsafe(task: dict[str, Any]) -> dict[str, Any]:
    import torch

    cfg_dict = task["feature_config"]
    sr, hop = cfg_dict["sample_rate"], cfg_dict["hop_length"]
    path = task["path"]
    loaded = load_audio(path, sample_rate=sr, mono=True)
    audio = loaded.audio
    peak = float(np.abs(audio).max())
    if peak < SILENCE_PEAK:
        level = "every sample is 0" if peak == 0 else f"peak {20 * math.log10(peak):.1f} dBFS"
        return {"skip": {"path": path, "reason": f"all silence ({level})", "kind": "silence"}}
    seconds = audio.shape[0] / sr
    if audio.shape[0] < task["min_samples"]:
        reason = (
            f"too short: {seconds:.3f} s < {task['min_samples'] / sr:.3f} s (--segment-min-seconds)"
        )
        return {"skip": {"path": path, "reason": reason, "kind": "too_short"}}

    frames = -(-audio.shape[0] // hop)
    audio = np.pad(audio, (0, frames * hop - audio.shape[0]))
    with torch.no_grad():
        mel = _mel_module(cfg_dict)(torch.from_numpy(audio)[None])[0].numpy()
    assert mel.shape[1] == frames, (mel.shape, frames)

    out_dir = Path(task["out_dir"])
    rel_audio, rel_mel = f"audio/{task['id']}.npy", f"mel/{task['id']}.npy"
    np.save(out_dir / rel_audio, audio.astype(np.float32))
    np.save(out_dir / rel_mel, mel.astype(np.float32))
    utt = Utterance(
        id=task["id"],
        split=task["split"],
        speaker=task["speaker"],
        audio=rel_audio,
        mel=rel_mel,
        source=path,
        num_samples=int(audio.shape[0]),
        frames=int(frames),
        duration=float(audio.shape[0] / sr),
        original_sample_rate=loaded.original_sample_rate,
        original_channels=loaded.original_channels,
        notes=tuple(loaded.notes),
    )
    out: dict[str, Any] = {"record": utt.to_dict()}
    if task["split"] == "train":
        m = mel.astype(np.float64)
        out["stats"] = (m.shape[1], m.sum(axis=1), np.square(m).sum(axis=1))
    return out


# --------------------------------------------------------------------------- report


def _change_kind(note: str) -> str | None:
    for prefix, kind in _CHANGE_KINDS.items():
        if note.startswith(prefix):
            return kind
    return None


def build_report(
    scan: LayoutScan,
    layout: str,
    source: str | None,
    out_dir: Path,
    records: list[dict[str, Any]],
    skipped: list[dict[str, str]],
    elapsed: float,
) -> dict[str, Any]:
    """The dict written to ``report.json``."""
    splits = {
        s: {
            "utterances": sum(r["split"] == s for r in records),
            "seconds": round(sum(r["duration"] for r in records if r["split"] == s), 3),
        }
        for s in SPLITS
    }
    changes: Counter[str] = Counter()
    notes = []
    for r in records:
        if r["notes"]:
            notes.append({"path": r["source"], "notes": list(r["notes"])})
            changes.update({k for k in map(_change_kind, r["notes"]) if k})
    total_seconds = sum(r["duration"] for r in records)
    found = len(scan.entries) + len(scan.missing)
    corpus_notes = list(scan.notes)
    for s in ("dev", "eval"):
        if records and not splits[s]["utterances"]:
            corpus_notes.append(f"the {s} split is empty (too few usable files)")
    return {
        "layout": layout,
        "source": source,
        "out_dir": str(out_dir),
        "found": found,
        "prepared": len(records),
        "skipped_count": len(skipped),
        "skip_reasons": dict(Counter(s["kind"] for s in skipped)),
        "splits": splits,
        "changes": {k: changes.get(k, 0) for k in _CHANGE_KINDS.values()},
        "total_audio_seconds": round(total_seconds, 3),
        "elapsed_seconds": round(elapsed, 3),
        "files_per_second": round(found / elapsed, 2) if elapsed > 0 else None,
        "audio_seconds_per_second": round(total_seconds / elapsed, 2) if elapsed > 0 else None,
        "corpus_notes": corpus_notes,
        "skipped": skipped,
        "notes": notes,
    }


def summary_line(report: dict[str, Any]) -> str:
    """One-line summary of a report."""
    sp = report["splits"]
    split_text = ", ".join(f"{s} {sp[s]['utterances']}" for s in SPLITS)
    changes = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in report["changes"].items() if v)
    line = (
        f"found {report['found']} file(s): prepared {report['prepared']} "
        f"({split_text}; {report['total_audio_seconds'] / 60:.1f} min), "
        f"skipped {report['skipped_count']}"
    )
    if report["skip_reasons"]:
        reasons = ", ".join(f"{v} {k}" for k, v in sorted(report["skip_reasons"].items()))
        line += f" ({reasons})"
    if changes:
        line += f"; changed or flagged: {changes}"
    return line


def report_text(report: dict[str, Any]) -> str:
    """Human-readable ``report.txt``."""
    lines = [
        f"pwave prepare: layout {report['layout']}, source {report['source']}",
        f"output: {report['out_dir']}",
        summary_line(report),
        f"time: {report['elapsed_seconds']:.1f} s "
        f"({report['files_per_second']} files/s, {report['audio_seconds_per_second']} audio s/s)",
        "",
    ]
    if report["corpus_notes"]:
        lines += ["Corpus notes:"] + [f"  {n}" for n in report["corpus_notes"]] + [""]
    lines.append(f"Skipped files ({report['skipped_count']}):")
    lines += [f"  {s['path']}: {s['reason']}" for s in report["skipped"]] or ["  none"]
    lines += ["", f"Files changed or flagged ({len(report['notes'])}):"]
    lines += [f"  {n['path']}: {'; '.join(n['notes'])}" for n in report["notes"]] or ["  none"]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- driver


def _settings(
    layout: str, source: Path | None, config: FeatureConfig, **options: Any
) -> dict[str, Any]:
    return {
        "layout": layout,
        "source": str(source) if source is not None else None,
        "feature_config": config.to_dict(),
        **options,
    }


def _run_tasks(
    tasks: list[dict[str, Any]], num_workers: int, progress: bool
) -> Iterable[dict[str, Any]]:
    from tqdm.auto import tqdm

    bar = dict(total=len(tasks), desc="prepare", unit="file", disable=not progress, leave=False)
    if num_workers <= 1:
        for t in tqdm(tasks, **bar):
            yield _process_file(t)
        return
    chunk = max(1, min(32, len(tasks) // (num_workers * 8)))
    with ProcessPoolExecutor(max_workers=num_workers, initializer=_init_worker) as pool:
        yield from tqdm(pool.map(_process_file, tasks, chunksize=chunk), **bar)


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
    options = dict(
        segment_min_seconds=segment_min_seconds,
        seed=seed,
        speaker_level=speaker_level,
        dev_fraction=dev_fraction,
        eval_fraction=eval_fraction,
    )
    if layout == "demo":
        options.update(demo_utterances=demo_utterances, demo_seconds=demo_seconds)
    settings = _settings(layout, src, config, **options)

    # Reuse or clear a previous run.
    if (out / PREPARE_FILE).exists() and (out / MANIFEST_FILE).exists():
        try:
            previous = json.loads((out / PREPARE_FILE).read_text())
        except ValueError:
            previous = None
        if previous == settings and not overwrite:
            say(f"reusing the prepared dataset in {out} (same settings; --overwrite rebuilds it)")
            return PreparedDataset(out)
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

    start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    try:
        if layout == "demo":
            from pwave.data.demo import generate_demo_corpus

            say(
                f"generating the demo corpus ({demo_utterances} x {demo_seconds} s) "
                f"in {out / DEMO_DIR}"
            )
            generate_demo_corpus(
                out / DEMO_DIR, demo_utterances, demo_seconds, seed, config.sample_rate
            )
            scan = scan_folder(out / DEMO_DIR, True, seed, dev_fraction, eval_fraction)
            scan.layout = "demo"
        else:
            scan = scan_layout(
                layout,
                src,
                speaker_level=speaker_level,
                seed=seed,
                dev_fraction=dev_fraction,
                eval_fraction=eval_fraction,
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

    (out / "audio").mkdir(exist_ok=True)
    (out / "mel").mkdir(exist_ok=True)
    min_samples = max(1, int(math.ceil(segment_min_seconds * config.sample_rate)))
    cfg_dict = config.to_dict()
    tasks = [
        dict(
            path=str(e.path),
            id=e.id,
            speaker=e.speaker,
            split=e.split,
            out_dir=str(out),
            feature_config=cfg_dict,
            min_samples=min_samples,
        )
        for e in scan.entries
    ]
    if num_workers is None:
        num_workers = min(4, os.cpu_count() or 1)

    records: list[dict[str, Any]] = []
    skipped = [{"path": p, "reason": r, "kind": "missing"} for p, r in scan.missing]
    stats = MelStatsAccumulator(config.n_mels)
    try:
        for result in _run_tasks(tasks, num_workers, progress):
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

    report = build_report(
        scan,
        scan.layout,
        str(src) if src else None,
        out,
        records,
        skipped,
        time.perf_counter() - start,
    )
    (out / REPORT_JSON).write_text(json.dumps(report, indent=2) + "\n")
    (out / REPORT_TXT).write_text(report_text(report))
    for s in skipped:
        say(f"skipped {s['path']}: {s['reason']}")
    for note in report["corpus_notes"]:
        say(f"note: {note}")
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

    config = stats.apply(config)
    save_feature_config(config, out / FEATURE_CONFIG_FILE)
    with open(out / MANIFEST_FILE, "w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r) + "\n")
    (out / PREPARE_FILE).write_text(json.dumps(settings, indent=2) + "\n")  # marks completion
    say(summary_line(report))
    say(f"report: {out / REPORT_TXT}")
    return PreparedDataset(out)
