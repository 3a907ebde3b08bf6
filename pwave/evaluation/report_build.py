"""A listening report from folders: what ``pwave evaluate --html`` and ``pwave demo`` write.

:func:`build_listening_report` takes the folder of real recordings, each synthesiser's
folder of copies (same file names), their metric rows and summaries, and the checkpoints;
it picks the utterances to show (:func:`~pwave.evaluation.report_media.pick_utterances`),
makes the Griffin-Lim reference of each from the recording's mel (scored like the others,
and timed), reads each synthesiser's speed from the ``report.json`` of ``pwave
synthesize`` in its folder and each run's steps and config from its run folder, and writes
the page with :func:`~pwave.evaluation.listening_report.write_listening_report`.
"""

from __future__ import annotations

import csv
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from pwave.audio.config import FeatureConfig
from pwave.audio.io import load_audio, save_wav
from pwave.audio.mel import MelSpectrogram
from pwave.errors import AudioReadError, CheckpointError
from pwave.evaluation.evaluate import BitsFn, _audio_files, _mel_config, evaluate_pair
from pwave.evaluation.listening_report import (
    ReportContent,
    ReportUtterance,
    media_path,
    write_listening_report,
)
from pwave.evaluation.report_media import GRIFFIN_LIM_ITERATIONS, griffin_lim, pick_utterances

#: Utterances shown by default (``--html-utterances``).
DEFAULT_UTTERANCES = 8
#: The file ``pwave synthesize`` writes into its output folder (speed, device, checkpoint).
SYNTHESIS_REPORT = "report.json"


@dataclass
class ReportSources:
    """What a listening report is made from.

    Attributes:
        reference: folder (or file) of real recordings.
        generated: synthesiser (``teacher``, ``student``, ...) -> folder of its copies.
        rows: synthesiser -> its metric rows (``utterance`` plus metrics), any subset.
        summaries: evaluation name -> summary (the page's summary table).
        feature_config: the models' mel front end (default: the defaults at the
            recordings' rate).
        checkpoints: model name -> checkpoint; its run folder gives the steps and config.
        teacher_bits: the teacher's scorer, to give the Griffin-Lim copies teacher bits.
        utterances: how many utterances to show at most.
        title: the page's heading.
    """

    reference: Path
    generated: dict[str, Path]
    rows: dict[str, list[dict]] = field(default_factory=dict)
    summaries: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    feature_config: FeatureConfig | None = None
    checkpoints: dict[str, Path] = field(default_factory=dict)
    teacher_bits: BitsFn | None = None
    utterances: int = DEFAULT_UTTERANCES
    title: str = "pwave listening report"


def read_rows_csv(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The rows of :func:`~pwave.evaluation.evaluate.write_rows_csv`, numbers as floats."""
    with open(path, newline="") as f:
        return [
            {k: (v if k == "utterance" else float(v)) for k, v in row.items() if v != ""}
            for row in csv.DictReader(f)
        ]


def run_info(checkpoint: str | os.PathLike) -> dict[str, Any]:
    """``{"checkpoint", "steps", "config"}`` of a trained model: the optimizer steps of its
    run folder's newest checkpoint (``checkpoints/last.ckpt``, or the ``.ckpt`` itself) and
    the run's merged ``config.yaml`` (``None`` for what cannot be found)."""
    from pwave.serialization import safe_load

    path = Path(checkpoint)
    folder = path if path.is_dir() else path.parent
    ckpt = path if path.suffix == ".ckpt" else folder / "checkpoints" / "last.ckpt"
    steps = None
    if ckpt.is_file():
        try:
            steps = int(safe_load(ckpt).get("global_step"))
        except (CheckpointError, OSError, RuntimeError, TypeError, ValueError, AttributeError):
            steps = None
    config = folder / "config.yaml"
    return {
        "checkpoint": str(path),
        "steps": steps,
        "config": config.read_text() if config.is_file() else None,
    }


def synthesis_speed(folder: str | os.PathLike) -> dict[str, Any] | None:
    """The speed ``pwave synthesize`` recorded in ``folder/report.json`` (``None`` without
    one): device, x real time, RTF and audio seconds of the whole run."""
    path = Path(folder) / SYNTHESIS_REPORT
    try:
        report = json.loads(path.read_text())
        total = report["total"]
        return {
            "device": f"{report.get('device', '')} {report.get('dtype', '')}".strip(),
            "x_real_time": total.get("x_real_time"),
            "rtf": total.get("rtf"),
            "audio_seconds": total.get("audio_seconds"),
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _griffin_lim_version(
    out: Path, name: str, reference: Path, sources: ReportSources
) -> tuple[Path, dict[str, float], float, float] | None:
    """Write the Griffin-Lim copy of ``reference`` into the report; returns its path, its
    metrics, its audio seconds and the wall seconds it took (``None`` if unreadable)."""
    try:
        ref = load_audio(reference)
    except AudioReadError:
        return None
    config = _mel_config(sources.feature_config, ref.sample_rate)
    mel = MelSpectrogram(config)
    log_mel = mel(torch.as_tensor(ref.audio, dtype=torch.float64).unsqueeze(0))[0].numpy()
    start = time.perf_counter()
    audio = griffin_lim(log_mel, config)
    wall = time.perf_counter() - start
    path = save_wav(media_path(out, "audio", "griffin_lim", name, "wav"), audio, ref.sample_rate)
    metrics = {"seconds": len(ref.audio) / ref.sample_rate}
    metrics.update(evaluate_pair(audio, ref.audio, ref.sample_rate, mel))
    bits_rate = sources.feature_config.sample_rate if sources.feature_config else None
    if sources.teacher_bits is not None and ref.sample_rate == bits_rate:
        metrics["teacher_bits"] = sources.teacher_bits(audio)
    return path, metrics, len(audio) / ref.sample_rate, wall


def _utterances(out: Path, sources: ReportSources) -> tuple[list[ReportUtterance], dict, int]:
    """The utterances shown, the Griffin-Lim speed, and how many could have been shown."""
    refs = _audio_files(sources.reference)
    gens = {kind: _audio_files(folder) for kind, folder in sources.generated.items()}
    rows = {
        kind: {row["utterance"]: row for row in kind_rows}
        for kind, kind_rows in sources.rows.items()
    }
    versions = {stem: 1 + sum(stem in g for g in gens.values()) for stem in refs}
    versions = {stem: n for stem, n in versions.items() if n > 1}
    utterances, gl_audio, gl_wall = [], 0.0, 0.0
    for stem in pick_utterances(versions, sources.utterances):
        utt = ReportUtterance(stem, {"reference": refs[stem]})
        for kind, files in gens.items():
            if stem in files:
                utt.audio[kind] = files[stem]
                if stem in rows.get(kind, {}):
                    utt.metrics[kind] = rows[kind][stem]
        made = _griffin_lim_version(out, stem, refs[stem], sources)
        if made is not None:
            utt.audio["griffin_lim"], utt.metrics["griffin_lim"] = made[0], made[1]
            gl_audio, gl_wall = gl_audio + made[2], gl_wall + made[3]
        utterances.append(utt)
    speed = {
        "device": f"cpu (librosa, {GRIFFIN_LIM_ITERATIONS} iterations)",
        "x_real_time": gl_audio / gl_wall if gl_wall > 0 else None,
        "rtf": gl_wall / gl_audio if gl_audio > 0 else None,
        "audio_seconds": gl_audio,
    }
    return utterances, speed, len(versions)


def build_listening_report(out: str | os.PathLike, sources: ReportSources) -> Path:
    """Write the listening report of ``sources`` into the folder ``out``; returns its
    ``index.html``."""
    out = Path(out)
    utterances, gl_speed, available = _utterances(out, sources)
    speeds = {}
    for kind, folder in sources.generated.items():
        speed = synthesis_speed(folder)
        if speed is not None:
            speeds[kind] = speed
    if utterances:
        speeds["griffin_lim"] = gl_speed
    notes = [
        f"Showing {len(utterances)} of {available} utterance(s) with a synthesised copy "
        "(a fixed pick: those with the most versions first, evenly spaced by name).",
        f"Griffin-Lim: librosa's mel inversion of the recording's mel (the features the "
        f"models see), {GRIFFIN_LIM_ITERATIONS} iterations, seed 0: what the mel alone gives.",
    ]
    content = ReportContent(
        title=sources.title,
        utterances=utterances,
        summaries=sources.summaries,
        feature_config=sources.feature_config,
        runs={name: run_info(path) for name, path in sources.checkpoints.items()},
        speeds=speeds,
        notes=notes,
    )
    return write_listening_report(out, content)


def evaluation_report(
    out: str | os.PathLike,
    generated: Path,
    reference: Path,
    rows: list[dict],
    summary: dict[str, dict[str, float]],
    feature_config: FeatureConfig | None = None,
    teacher_bits: BitsFn | None = None,
    teacher: Path | None = None,
    utterances: int = DEFAULT_UTTERANCES,
) -> Path:
    """The listening report of one ``pwave evaluate`` run (``--html``): the generated
    files, named by the ``kind`` of their ``report.json`` (``pwave synthesize``) or their
    folder's name, next to the references and Griffin-Lim; returns ``index.html``."""
    folder = generated if generated.is_dir() else generated.parent
    kind, checkpoints = folder.name or "generated", {}
    try:
        synthesis = json.loads((folder / SYNTHESIS_REPORT).read_text())
        kind = str(synthesis.get("kind") or kind)
        if synthesis.get("checkpoint"):
            checkpoints[kind] = Path(synthesis["checkpoint"])
    except (OSError, ValueError, AttributeError):
        pass
    if teacher is not None:
        checkpoints["teacher"] = Path(teacher)
    sources = ReportSources(
        reference=reference,
        generated={kind: generated},
        rows={kind: rows},
        summaries={kind: summary},
        feature_config=feature_config,
        checkpoints=checkpoints,
        teacher_bits=teacher_bits,
        utterances=utterances,
        title=f"pwave listening report: {generated}",
    )
    return build_listening_report(out, sources)
