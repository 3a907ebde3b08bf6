"""The listening report: one self-contained folder that shows and plays what the models make.

::

    report/
      index.html           the page: plain HTML and inline CSS, no script, no network
      summary.json         the summary table of the page, as numbers
      audio/<kind>/<utterance>.wav
      img/<kind>/<utterance>.png

Per utterance, side by side: the real recording (kind ``reference``), each synthesiser's
copy (``teacher``, ``student``, ...) and the non-neural Griffin-Lim reference
(``griffin_lim``), each with an audio player, its log-mel spectrogram (one colour scale per
utterance) and its metrics. At the top: the summary table, the speed of each synthesiser,
the runs (steps trained, config) and the feature config. Every path in the page is relative
and every text is escaped, so the folder can be moved, zipped and opened from the file
system in any browser. :func:`write_listening_report` writes it from a
:class:`ReportContent`; :mod:`pwave.evaluation.report_build` assembles one from folders.
"""

from __future__ import annotations

import html
import json
import math
import os
import platform
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from pwave.audio.config import FeatureConfig
from pwave.audio.io import load_audio, save_wav
from pwave.audio.mel import MelSpectrogram
from pwave.evaluation.evaluate import _mel_config
from pwave.evaluation.report_media import colour_range, log_mel_db, write_spectrogram_png
from pwave.version import __version__

#: What each kind of audio is called on the page; other kinds are shown by their name.
KIND_LABELS = {
    "reference": "real recording",
    "teacher": "teacher (WaveNet MAF)",
    "student": "student (IAF)",
    "griffin_lim": "Griffin-Lim, 32 iterations (no network)",
}
#: Column order of an utterance: the recording, the models, the non-neural reference.
KIND_ORDER = ("reference", "teacher", "student")
LAST_KIND = "griffin_lim"
#: Metric names on the page, with the direction that is better.
METRIC_LABELS = {
    "seconds": "seconds",
    "log_mel_db": "log-mel distance (dB) ↓",
    "mcd_db": "MCD (dB) ↓",
    "mr_stft": "MR-STFT distance ↓",
    "pesq": "PESQ ↑",
    "stoi": "STOI ↑",
    "teacher_bits": "teacher bits/sample ↓",
    "teacher_bits_reference": "teacher bits/sample of the recording",
}
SUMMARY_FILE = "summary.json"
INDEX_FILE = "index.html"
STYLE = """
body{font-family:sans-serif;margin:1.5em;color:#222;background:#fff;max-width:110em}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.4em 0}
td,th{border:1px solid #ccc;padding:.2em .5em;text-align:right;font-size:.9em}
th{background:#f2f2f2}td.name,th.name{text-align:left}
.row{display:flex;flex-wrap:wrap;gap:1em}
.card{border:1px solid #ddd;border-radius:4px;padding:.5em;width:300px}
.card h3{font-size:1em;margin:.2em 0}.card img{width:300px;display:block}
.card audio{width:100%}.card table{width:100%}
pre{background:#f6f6f6;padding:.5em;overflow:auto;font-size:.8em}
.note{color:#555;font-size:.9em}
"""


@dataclass
class ReportUtterance:
    """One utterance on the page.

    Attributes:
        name: its name (the file stem).
        audio: kind (``reference``, ``teacher``, ``student``, ``griffin_lim``, ...) -> an
            audio file; any subset.
        metrics: kind -> that version's metrics against the reference (a row of
            :func:`pwave.evaluation.evaluate.evaluate_folders`).
    """

    name: str
    audio: dict[str, Path]
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass
class ReportContent:
    """Everything the page shows.

    Attributes:
        title: the page's heading.
        utterances: the utterances shown, in order.
        summaries: evaluation name -> :func:`~pwave.evaluation.evaluate.summarize` result
            (the summary table; also written to ``summary.json``).
        feature_config: the mel front end (also draws the spectrograms).
        runs: model name -> ``{"checkpoint", "steps", "config"}`` (any of them).
        speeds: synthesiser -> ``{"device", "x_real_time", "rtf", "audio_seconds"}``.
        notes: sentences shown under the heading.
    """

    title: str
    utterances: list[ReportUtterance]
    summaries: dict[str, dict[str, dict[str, float]]]
    feature_config: FeatureConfig | None = None
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    speeds: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def ordered_kinds(kinds: list[str] | set[str] | dict[str, Any]) -> list[str]:
    """``kinds`` in page order: recording, teacher, student, others by name, Griffin-Lim."""
    kinds = set(kinds)
    first = [k for k in KIND_ORDER if k in kinds]
    middle = sorted(kinds - set(KIND_ORDER) - {LAST_KIND})
    return first + middle + ([LAST_KIND] if LAST_KIND in kinds else [])


def media_path(out: str | os.PathLike, folder: str, kind: str, name: str, ext: str) -> Path:
    """Where a report keeps the ``kind`` version of utterance ``name`` (``folder`` is
    ``audio`` or ``img``)."""
    return Path(out) / folder / kind / f"{name}.{ext}"


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _src(out: Path, path: Path) -> str:
    return quote(path.relative_to(out).as_posix())


def _number(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{float(value):.{digits}f}"


def _copy_audio(src: Path, dst: Path) -> None:
    """``src`` into the report as a wav (copied as is when it already is one)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if src.resolve() == dst.resolve():
        return
    if src.suffix.lower() == ".wav":
        shutil.copyfile(src, dst)
    else:  # browsers differ on other formats; 16-bit wav plays everywhere
        loaded = load_audio(src)
        save_wav(dst, loaded.audio, loaded.sample_rate)


def _utterance_media(out: Path, utt: ReportUtterance, config: FeatureConfig | None) -> dict:
    """Copy ``utt``'s audio into the report and draw its spectrograms on one colour scale;
    returns kind -> ``(wav, png, seconds)``."""
    images, seconds = {}, {}
    mel = None
    for kind in ordered_kinds(utt.audio):
        dst = media_path(out, "audio", kind, utt.name, "wav")
        _copy_audio(Path(utt.audio[kind]), dst)
        loaded = load_audio(dst)
        if mel is None or mel.config.sample_rate != loaded.sample_rate:
            mel = MelSpectrogram(_mel_config(config, loaded.sample_rate))
        images[kind] = log_mel_db(loaded.audio, mel)
        seconds[kind] = loaded.duration
    vrange = colour_range(list(images.values()))
    media = {}
    for kind, image in images.items():
        png = media_path(out, "img", kind, utt.name, "png")
        write_spectrogram_png(image, png, seconds[kind], vrange)
        media[kind] = (media_path(out, "audio", kind, utt.name, "wav"), png, seconds[kind])
    return media


def _metric_rows(metrics: dict[str, float], keys: list[str]) -> str:
    rows = []
    for key in keys:
        if key in metrics:
            label = _esc(METRIC_LABELS.get(key, key))
            value = _number(metrics[key])
            rows.append(
                f'<tr><td class="name">{label}</td><td data-metric="{_esc(key)}">{value}</td></tr>'
            )
    return "<table>" + "".join(rows) + "</table>" if rows else ""


def _card(out: Path, utt: ReportUtterance, kind: str, media: tuple[Path, Path, float]) -> str:
    wav, png, seconds = media
    label = KIND_LABELS.get(kind, kind)
    if kind == "reference":  # the recording's own likelihood, from any version's row
        bits = [
            m["teacher_bits_reference"]
            for m in utt.metrics.values()
            if "teacher_bits_reference" in m
        ]
        metrics = {"seconds": seconds, **({"teacher_bits": bits[0]} if bits else {})}
    else:
        metrics = utt.metrics.get(kind, {})
    keys = [k for k in METRIC_LABELS if k not in ("seconds", "teacher_bits_reference")]
    keys = ["seconds", *keys] if kind == "reference" else keys
    return (
        f'<div class="card" data-kind="{_esc(kind)}">'
        f"<h3>{_esc(label)}</h3>"
        f'<audio controls preload="metadata" src="{_src(out, wav)}" '
        f'data-seconds="{seconds:.6f}"></audio>'
        f'<img src="{_src(out, png)}" alt="{_esc(utt.name)}: log-mel spectrogram, {_esc(label)}">'
        f'<a href="{_src(out, wav)}">wav</a>' + _metric_rows(metrics, keys) + "</div>"
    )


def summary_table(summaries: dict[str, dict[str, dict[str, float]]]) -> str:
    """The summary as an HTML table: one row per metric, one column per evaluation, cells
    ``mean ± std (count)`` with the exact numbers in ``data-mean`` / ``data-std``."""
    names = list(summaries)
    metrics = list(dict.fromkeys(k for s in summaries.values() for k in s))
    head = "".join(f"<th>{_esc(n)}</th>" for n in names)
    lines = [f'<table id="summary"><tr><th class="name">metric</th>{head}</tr>']
    for key in metrics:
        cells = []
        for name in names:
            s = summaries[name].get(key)
            if s is None:
                cells.append("<td></td>")
                continue
            cells.append(
                f'<td data-evaluation="{_esc(name)}" data-metric="{_esc(key)}" '
                f'data-mean="{_esc(repr(float(s["mean"])))}" '
                f'data-std="{_esc(repr(float(s["std"])))}" data-count="{int(s["count"])}">'
                f"{_number(s['mean'])} ± {_number(s['std'])} ({int(s['count'])})</td>"
            )
        label = _esc(METRIC_LABELS.get(key, key))
        lines.append(f'<tr><td class="name">{label}</td>{"".join(cells)}</tr>')
    return "\n".join(lines) + "</table>"


def _speed_table(speeds: dict[str, dict[str, Any]]) -> str:
    if not speeds:
        return '<p class="note">no speed measured</p>'
    lines = [
        '<table id="speed"><tr><th class="name">synthesiser</th><th class="name">device</th>'
        "<th>x real time</th><th>RTF (wall / audio, lower is better)</th>"
        "<th>audio seconds</th></tr>"
    ]
    for name, s in speeds.items():
        lines.append(
            f'<tr><td class="name">{_esc(KIND_LABELS.get(name, name))}</td>'
            f'<td class="name">{_esc(s.get("device", ""))}</td>'
            f"<td>{_number(s.get('x_real_time'), 2)}</td><td>{_number(s.get('rtf'), 4)}</td>"
            f"<td>{_number(s.get('audio_seconds'), 2)}</td></tr>"
        )
    return "\n".join(lines) + "</table>"


def _runs_section(runs: dict[str, dict[str, Any]]) -> str:
    parts = []
    for name, run in runs.items():
        steps = run.get("steps")
        steps_text = f"{steps} optimizer steps" if steps is not None else "steps unknown"
        parts.append(
            f"<h3>{_esc(KIND_LABELS.get(name, name))}: {_esc(steps_text)}</h3>"
            f'<p class="note">{_esc(run.get("checkpoint", ""))}</p>'
        )
        if run.get("config"):
            parts.append(
                f"<details><summary>run config</summary><pre>{_esc(run['config'])}</pre></details>"
            )
    return "\n".join(parts) or '<p class="note">no run information</p>'


def _features_table(config: FeatureConfig | None) -> str:
    if config is None:
        return '<p class="note">the defaults, at the recordings&#x27; rate</p>'
    d = {k: v for k, v in config.to_dict().items() if k not in ("mel_mean", "mel_std")}
    d["normalisation statistics"] = f"{len(config.mel_mean)} bins" if config.mel_mean else "none"
    rows = "".join(
        f'<tr><td class="name">{_esc(k)}</td><td>{_esc(v)}</td></tr>' for k, v in d.items()
    )
    return f'<table id="features">{rows}</table>'


def _page(content: ReportContent, body: list[str]) -> str:
    notes = "".join(f'<p class="note">{_esc(n)}</p>' for n in content.notes)
    machine = f"{platform.platform()}, {os.cpu_count()} CPU(s)"
    made = time.strftime("%Y-%m-%d %H:%M")
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{_esc(content.title)}</title><style>{STYLE}</style></head><body>",
            f"<h1>{_esc(content.title)}</h1>",
            f'<p class="note">pwave {_esc(__version__)}, {_esc(made)}, on {_esc(machine)}</p>',
            notes,
            "<h2>Summary</h2>",
            summary_table(content.summaries),
            '<div class="row"><div><h2>Speed on this machine</h2>',
            _speed_table(content.speeds),
            "</div><div><h2>Runs</h2>",
            _runs_section(content.runs),
            "</div><div><h2>Feature config</h2>",
            _features_table(content.feature_config),
            "</div></div>",
            f"<h2>Utterances ({len(content.utterances)})</h2>",
            '<p class="note">Each row shares one colour scale (dB). Metrics compare each '
            "version with the real recording.</p>",
            *body,
            "</body></html>",
        ]
    )


def write_listening_report(out: str | os.PathLike, content: ReportContent) -> Path:
    """Write the report folder ``out`` (see the module doc); returns ``out/index.html``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    body = []
    for utt in content.utterances:
        media = _utterance_media(out, utt, content.feature_config)
        cards = "".join(_card(out, utt, kind, media[kind]) for kind in media)
        body.append(
            f'<section class="utterance" id="u-{_esc(quote(utt.name))}">'
            f'<h2>{_esc(utt.name)}</h2><div class="row">{cards}</div></section>'
        )
    summary = json.loads(json.dumps(content.summaries, default=_jsonable))
    (out / SUMMARY_FILE).write_text(json.dumps(summary, indent=2))
    index = out / INDEX_FILE
    index.write_text(_page(content, body), encoding="utf-8")
    return index


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
