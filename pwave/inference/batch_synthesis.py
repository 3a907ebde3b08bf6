r"""Batch synthesis of files (``pwave synthesize``): recordings or mels in, audio out.

::

    pwave synthesize --checkpoint runs/student-demo/student.pt --input wavs/ --output out/

Inputs (``--input`` is a file or a folder, searched recursively):

* **audio files** (anything :func:`pwave.audio.io.load_audio` reads): copy synthesis. The
  audio is mixed to mono, resampled to the model's rate (reported), zero-padded at the end to
  a multiple of the hop and turned into a log-mel by :class:`~pwave.audio.mel.MelSpectrogram`
  -- exactly what ``pwave prepare`` does -- so the model sees the features it was trained on;
* **mels** ``.npy`` of shape ``[n_mels, frames]``: unnormalised log-mel, as ``pwave prepare``
  writes them (``<prepared dataset>/mel/*.npy``).

Every mel is then fed to the model as the training data module feeds it
(:mod:`pwave.train.datamodule`): normalised per bin with the statistics in the model's feature
config and edge-padded with ``mel_context_frames`` frames on each side. A mel of ``F`` frames
gives ``F * hop`` samples, written as a 16-bit wav at the model's rate.

Checkpoints: a student or teacher saved by ``pwave train`` (``student.pt`` / ``teacher.pt``,
or a Lightning ``.ckpt`` of the run), or an export folder of :mod:`pwave.model_io.export`;
the kind is read from the file (:func:`~pwave.model_io.loading.load_model`). The student
generates a whole utterance in one parallel pass; a teacher works too, with its sequential
cached sampler (slow: one sample at a time).

Batching: inputs are sorted by length and grouped into batches of at most
``--batch-seconds`` padded seconds; a shorter mel of a batch is padded at its end by repeating
its last (context-padded) column, and its output is trimmed. The noise of item ``i`` comes from
its own generator seeded with ``seed + i`` (``i`` = position in path order), so an output
does not depend on the batch it ran in, except within about two frames of the end of a shorter
item (both models are causal, but the upsampler's smoothing near the end sees the padding).
A student input longer than ``--batch-seconds`` runs alone, in chunks that overlap by the
student's receptive field (:func:`~pwave.sampling.chunking.chunk_windows`), which bounds
memory and gives the same audio as one pass; a teacher input runs whole.

Speed is reported per file and in total as the real-time factor, **RTF = wall time / audio
time (lower is better)**, and as "x real time" (audio seconds per wall second). A file's share
of a batch's wall time is proportional to its length.

Bad inputs (unreadable, empty, NaN/inf, a zero-length mel, a mel with the wrong number of
bins, random bytes, a folder named like an input ...) are skipped with their path and reason,
printed and written to ``report.json`` in the output folder; the exit code is non-zero only
if nothing could be synthesised.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from pwave.audio.io import save_wav
from pwave.errors import InputError
from pwave.inference.inputs import Job, find_inputs, make_batches, output_paths, read_input
from pwave.inference.vocoder import Vocoder

REPORT_FILE = "report.json"
RTF_DEFINITION = (
    "RTF = wall time / audio time (lower is better); x real time = audio time / wall time"
)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _ratio(num: float, den: float) -> float | None:
    return round(num / den, 6) if den > 0 else None


def synthesize_paths(
    vocoder: Vocoder,
    input_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    batch_seconds: float = 30.0,
    temperature: float = 1.0,
    seed: int = 0,
    progress: bool = True,
    log: Callable[[str], None] | None = print,
    checkpoint: str | None = None,
) -> dict[str, Any]:
    """Synthesise every input under ``input_path`` into ``out_dir``; returns the report.

    Writes ``<out_dir>/<relative path>.wav`` per good input and ``<out_dir>/report.json``.
    A bad input is skipped with its reason; nothing here raises for a bad input. Input ``i``
    (in path order, :func:`~pwave.inference.inputs.find_inputs`) draws its noise with seed
    ``seed + i``.
    """
    say = log or (lambda _msg: None)
    start = time.perf_counter()
    root, out = Path(input_path), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths, ignored = find_inputs(root, exclude=out)
    jobs, unread = read_jobs(vocoder, paths, output_paths(paths, root, out), seed, progress)
    warm_up(vocoder, jobs, seed, temperature)
    done, failed, model_wall = run_jobs(vocoder, jobs, batch_seconds, temperature, progress)
    done.sort(key=lambda d: d["input"])
    skipped = sorted(unread + failed, key=lambda d: d["path"])
    report = build_report(
        vocoder,
        settings={"temperature": temperature, "seed": seed, "batch_seconds": batch_seconds},
        paths={"checkpoint": checkpoint, "input": str(root), "output": str(out)},
        found=len(paths),
        ignored=ignored,
        done=done,
        skipped=skipped,
        model_wall=model_wall,
        run_wall=time.perf_counter() - start,
    )
    (out / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n")
    for line in report_lines(report):
        say(line)
    return report


def read_jobs(
    vocoder: Vocoder, paths: Sequence[Path], outputs: Sequence[Path], seed: int, progress: bool
) -> tuple[list[Job], list[dict[str, str]]]:
    """``(jobs, skipped)``: a :class:`~pwave.inference.inputs.Job` per readable input (input
    ``i`` gets seed ``seed + i``) and ``{"path", "reason"}`` per input that cannot be read."""
    from tqdm.auto import tqdm

    jobs: list[Job] = []
    skipped: list[dict[str, str]] = []
    pairs = list(zip(paths, outputs))
    bar = tqdm(pairs, desc="read", unit="file", disable=not progress, leave=False, file=sys.stderr)
    for i, (p, o) in enumerate(bar):
        try:
            source, mel, notes = read_input(vocoder, p)
        except InputError as err:
            skipped.append({"path": str(p), "reason": err.reason})
            continue
        except Exception as err:  # noqa: BLE001 - a bad file must never stop the run
            skipped.append(
                {"path": str(p), "reason": f"unexpected error: {type(err).__name__}: {err}"}
            )
            continue
        jobs.append(Job(p, o, source, mel, seed + i, notes))
    return jobs, skipped


def warm_up(vocoder: Vocoder, jobs: Sequence[Job], seed: int, temperature: float) -> None:
    """One short untimed pass, so that lazy initialisation does not count in the first file."""
    if not jobs:
        return
    with contextlib.suppress(Exception):  # a real failure shows up (per file) later
        warm = jobs[0].mel[:, :2]
        vocoder.synthesize_batch(
            [vocoder.model_input(warm)], [vocoder.noise(warm.shape[1], seed, temperature)]
        )


def run_jobs(
    vocoder: Vocoder, jobs: Sequence[Job], batch_seconds: float, temperature: float, progress: bool
) -> tuple[list[dict[str, Any]], list[dict[str, str]], float]:
    """Synthesise and write every job in batches (:func:`~pwave.inference.inputs.make_batches`).

    A batch that fails (e.g. out of memory) is retried one job at a time; a single job that
    fails is skipped with its reason. Returns ``(done, skipped, model wall seconds)``:
    one :func:`write_batch` entry per written file, ``{"path", "reason"}`` per failure.
    """
    from tqdm.auto import tqdm

    sr = vocoder.sample_rate
    done: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    bar = tqdm(
        total=len(jobs), desc="synthesize", unit="file", disable=not progress, file=sys.stderr
    )
    model_wall = 0.0
    queue = make_batches(jobs, vocoder.hop_length, sr, batch_seconds)
    budget = max(1, int(batch_seconds * sr))
    while queue:
        batch = queue.pop(0)
        try:
            audios, wall = synthesize_jobs(vocoder, batch, budget, temperature)
        except Exception as err:  # noqa: BLE001 - e.g. out of memory: retry one by one
            if vocoder.device.type == "cuda":
                torch.cuda.empty_cache()
            if len(batch) > 1:
                queue[:0] = [[j] for j in batch]
                continue
            reason = f"synthesis failed: {type(err).__name__}: {err}"
            skipped.append({"path": str(batch[0].path), "reason": reason})
            bar.update(1)
            continue
        model_wall += wall
        written, failed = write_batch(batch, audios, wall, sr)
        done += written
        skipped += failed
        bar.update(len(batch))
    bar.close()
    return done, skipped, model_wall


def synthesize_jobs(
    vocoder: Vocoder, batch: Sequence[Job], budget: int, temperature: float
) -> tuple[list[Tensor], float]:
    """``(audio [frames * hop] per job, wall seconds)`` for one batch; a single job longer
    than ``budget`` samples runs in chunks (:meth:`Vocoder.synthesize_long`)."""
    inputs = [vocoder.model_input(j.mel) for j in batch]
    noises = [vocoder.noise(j.frames, j.seed, temperature) for j in batch]
    _sync(vocoder.device)
    t0 = time.perf_counter()
    if len(batch) == 1 and noises[0].shape[-1] > budget:  # too long: in chunks
        audios = [vocoder.synthesize_long(inputs[0], noises[0], budget)]
    else:
        audios = vocoder.synthesize_batch(inputs, noises)
    _sync(vocoder.device)
    return audios, time.perf_counter() - t0


def write_batch(
    batch: Sequence[Job], audios: Sequence[Tensor], wall: float, sample_rate: int
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Write each job's wav; ``(done, skipped)`` entries for the report.

    A file's share of the batch's ``wall`` seconds is proportional to its length; an output
    with NaN/inf, or one that cannot be written, is skipped with its reason.
    """
    done: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    total = sum(a.shape[-1] for a in audios)
    for job, audio in zip(batch, audios):
        if not torch.isfinite(audio).all():
            skipped.append({"path": str(job.path), "reason": "the model produced NaN/inf"})
            continue
        try:
            save_wav(job.output, audio.numpy(), sample_rate)
        except Exception as err:  # noqa: BLE001
            reason = f"cannot write {job.output}: {type(err).__name__}: {err}"
            skipped.append({"path": str(job.path), "reason": reason})
            continue
        seconds = audio.shape[-1] / sample_rate
        share = wall * audio.shape[-1] / total
        done.append(
            {
                "input": str(job.path),
                "output": str(job.output),
                "source": job.source,
                "frames": job.frames,
                "samples": int(audio.shape[-1]),
                "seconds": round(seconds, 6),
                "wall_seconds": round(share, 6),
                "rtf": _ratio(share, seconds),
                "x_real_time": _ratio(seconds, share),
                "notes": job.notes,
            }
        )
    return done, skipped


def build_report(
    vocoder: Vocoder,
    *,
    settings: dict[str, Any],
    paths: dict[str, str | None],
    found: int,
    ignored: Sequence[Path],
    done: list[dict[str, Any]],
    skipped: list[dict[str, str]],
    model_wall: float,
    run_wall: float,
) -> dict[str, Any]:
    """The report of :func:`synthesize_paths` (written as ``report.json``).

    ``settings``: ``temperature``, ``seed`` and ``batch_seconds`` of the run; ``paths``:
    ``checkpoint``, ``input`` and ``output``; ``found``: the number of inputs; ``done`` /
    ``skipped``: from :func:`run_jobs` (sorted); wall times in seconds (``model_wall``:
    synthesis only; ``run_wall``: the whole run).
    """
    audio_seconds = sum(d["seconds"] for d in done)
    dtype = str(vocoder.param_dtype).removeprefix("torch.")
    return {
        "checkpoint": paths["checkpoint"],
        "kind": vocoder.kind,
        "device": str(vocoder.device),
        "dtype": "bf16 autocast" if vocoder.uses_autocast else dtype,
        "sample_rate": vocoder.sample_rate,
        "hop_length": vocoder.hop_length,
        "temperature": settings["temperature"],
        "seed": settings["seed"],
        "batch_seconds": settings["batch_seconds"],
        "input": paths["input"],
        "output": paths["output"],
        "found": found,
        "synthesized_count": len(done),
        "skipped_count": len(skipped),
        "ignored": [str(p) for p in ignored],
        "rtf_definition": RTF_DEFINITION,
        "total": {
            "audio_seconds": round(audio_seconds, 6),
            "model_wall_seconds": round(model_wall, 6),
            "rtf": _ratio(model_wall, audio_seconds),
            "x_real_time": _ratio(audio_seconds, model_wall),
            "run_wall_seconds": round(run_wall, 6),
            "run_rtf": _ratio(run_wall, audio_seconds),
        },
        "files": done,
        "skipped": skipped,
    }


def _fmt(x: float | None, spec: str) -> str:
    return "n/a" if x is None else format(x, spec)


def report_lines(report: dict[str, Any]) -> list[str]:
    """Human-readable summary of a :func:`synthesize_paths` report."""
    lines = []
    for d in report["files"]:
        notes = f" [{'; '.join(d['notes'])}]" if d["notes"] else ""
        lines.append(
            f"  {d['input']} -> {d['output']}: {d['seconds']:.2f} s, RTF {_fmt(d['rtf'], '.4f')}"
            f" ({_fmt(d['x_real_time'], '.1f')}x real time){notes}"
        )
    t = report["total"]
    lines.append(
        f"synthesised {report['synthesized_count']} of {report['found']} file(s) with the "
        f"{report['kind']} on {report['device']} ({report['dtype']}): {t['audio_seconds']:.2f} s "
        f"of audio in {t['model_wall_seconds']:.2f} s of synthesis: RTF = wall time / audio "
        f"time = {_fmt(t['rtf'], '.4f')} (lower is better), {_fmt(t['x_real_time'], '.1f')}x "
        f"real time; whole run incl. reading and writing: {t['run_wall_seconds']:.2f} s "
        f"(RTF {_fmt(t['run_rtf'], '.4f')})"
    )
    if report["skipped"]:
        lines.append(f"skipped {report['skipped_count']} file(s):")
        lines += [f"  {s['path']}: {s['reason']}" for s in report["skipped"]]
    if report["ignored"]:
        lines.append(
            f"ignored {len(report['ignored'])} file(s) that are neither audio nor .npy mels"
        )
    lines.append(f"report: {Path(report['output']) / REPORT_FILE}")
    return lines
