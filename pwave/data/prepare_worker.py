"""The per-file work of ``pwave prepare``: decode, check, pad, compute the log-mel, cache.

A task is a plain, picklable dict built by :func:`make_tasks` (one per corpus entry);
:func:`process_file` turns it into a result dict and never raises:

* ``{"skip": {"path", "reason", "kind"}}`` for an unusable file (unreadable, empty,
  truncated, not audio, NaN/inf, all silence, shorter than one training segment);
* ``{"record": Utterance.to_dict()}`` for a used file, plus ``"stats": (frames,
  sum [n_mels], sum of squares [n_mels])`` of its log-mel (float64) in the train split.

A used file is loaded mono at the configured rate, padded with zeros at the end to
``frames * hop`` samples, and cached as ``audio/<id>.npy`` (``[frames * hop]`` float32) and
``mel/<id>.npy`` (``[n_mels, frames]`` float32). :func:`run_tasks` runs the tasks in this
process or in a process pool and yields the results in task order.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from pwave.audio.config import FeatureConfig
from pwave.audio.io import SILENCE_PEAK, AudioReadError, load_audio
from pwave.data.dataset import Utterance
from pwave.data.layouts import CorpusEntry

_MEL_CACHE: dict[str, Any] = {}


def make_tasks(
    entries: Sequence[CorpusEntry], out_dir: Path, config: FeatureConfig, min_samples: int
) -> list[dict[str, Any]]:
    """One task per entry: where to read, what to call it, where to write, what to check."""
    cfg_dict = config.to_dict()
    return [
        dict(
            path=str(e.path),
            id=e.id,
            speaker=e.speaker,
            split=e.split,
            out_dir=str(out_dir),
            feature_config=cfg_dict,
            min_samples=min_samples,
        )
        for e in entries
    ]


def _init_worker() -> None:
    import torch

    torch.set_num_threads(1)


def _mel_module(config_dict: dict[str, Any]):
    """The :class:`MelSpectrogram` of ``config_dict``, built once per process."""
    from pwave.audio.mel import MelSpectrogram

    key = json.dumps(config_dict, sort_keys=True)
    if key not in _MEL_CACHE:
        _MEL_CACHE.clear()
        _MEL_CACHE[key] = MelSpectrogram(FeatureConfig.from_dict(config_dict))
    return _MEL_CACHE[key]


def process_file(task: dict[str, Any]) -> dict[str, Any]:
    """Prepare one file; returns a record or a skip, never raises."""
    path = task["path"]
    try:
        return _process_file_unsafe(task)
    except AudioReadError as err:
        return {"skip": {"path": path, "reason": err.reason, "kind": err.kind}}
    except Exception as err:  # noqa: BLE001 - a bad file must never stop the run
        reason = f"unexpected error while processing: {type(err).__name__}: {err}"
        return {"skip": {"path": path, "reason": reason, "kind": "error"}}


def _unusable(audio: np.ndarray, task: dict[str, Any], sample_rate: int) -> dict[str, Any] | None:
    """The skip for ``[time]`` audio that is all silence or too short; ``None`` if usable."""
    path = task["path"]
    peak = float(np.abs(audio).max())
    if peak < SILENCE_PEAK:
        level = "every sample is 0" if peak == 0 else f"peak {20 * math.log10(peak):.1f} dBFS"
        return {"skip": {"path": path, "reason": f"all silence ({level})", "kind": "silence"}}
    seconds = audio.shape[0] / sample_rate
    if audio.shape[0] < task["min_samples"]:
        reason = (
            f"too short: {seconds:.3f} s < {task['min_samples'] / sample_rate:.3f} s "
            "(--segment-min-seconds)"
        )
        return {"skip": {"path": path, "reason": reason, "kind": "too_short"}}
    return None


def _process_file_unsafe(task: dict[str, Any]) -> dict[str, Any]:
    import torch

    cfg_dict = task["feature_config"]
    sr, hop = cfg_dict["sample_rate"], cfg_dict["hop_length"]
    path = task["path"]
    loaded = load_audio(path, sample_rate=sr, mono=True)
    audio = loaded.audio
    skip = _unusable(audio, task, sr)
    if skip is not None:
        return skip

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


def run_tasks(
    tasks: list[dict[str, Any]], num_workers: int, progress: bool
) -> Iterable[dict[str, Any]]:
    """Yield :func:`process_file` of every task, in order (``num_workers <= 1``: in-process).

    Raises:
        concurrent.futures.process.BrokenProcessPool: a worker process died.
    """
    from tqdm.auto import tqdm

    bar = dict(total=len(tasks), desc="prepare", unit="file", disable=not progress, leave=False)
    if num_workers <= 1:
        for t in tqdm(tasks, **bar):
            yield process_file(t)
        return
    chunk = max(1, min(32, len(tasks) // (num_workers * 8)))
    with ProcessPoolExecutor(max_workers=num_workers, initializer=_init_worker) as pool:
        yield from tqdm(pool.map(process_file, tasks, chunksize=chunk), **bar)
