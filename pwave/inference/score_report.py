"""What ``pwave score`` writes: the printed ranking, a CSV or JSON a script can read, and the
per-second curves.

Every file row carries both scores and both ranks: ``bits_per_sample`` (the teacher's, raw)
with ``rank_raw``, and ``ratio_bits`` (teacher minus background) with ``rank_ratio``;
``rank`` is the order the rows are in (by the ratio when there is a background, else raw).
Rank 1 is the most typical file.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pwave.inference.scoring import FileScore, ScoreOptions, rank_key
from pwave.units import BIN_WIDTH_16BIT

CSV_FIELDS = (
    "rank",
    "path",
    "bits_per_sample",
    "background_bits",
    "ratio_bits",
    "rank_raw",
    "rank_ratio",
    "log_prob_nats",
    "samples",
    "seconds",
    "status",
    "reason",
    "notes",
)
CURVE_FIELDS = ("path", "start_s", "end_s", "bits_per_sample", "background_bits", "ratio_bits")


def ranks(scores: Sequence[FileScore], by: str) -> dict[str, int | None]:
    """``{path: rank}`` by ``"raw"`` or ``"ratio"`` (1 = most typical; ``None``: no value)."""
    order = sorted(scores, key=lambda s: rank_key(s, by))
    out: dict[str, int | None] = {}
    for i, s in enumerate(order, 1):
        out[str(s.path)] = None if rank_key(s, by)[0] else i
    return out


def _num(value: float | None, digits: int = 6) -> str:
    return "" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def file_records(scores: Sequence[FileScore]) -> list[dict[str, Any]]:
    """One plain dict per ranked file (the JSON ``files`` entries, CSV rows)."""
    raw, ratio = ranks(scores, "raw"), ranks(scores, "ratio")
    out = []
    for rank, s in enumerate(scores, 1):
        out.append(
            {
                "rank": rank,
                "path": str(s.path),
                "bits_per_sample": s.bits_per_sample,
                "background_bits": s.background_bits,
                "ratio_bits": s.ratio_bits,
                "rank_raw": raw[str(s.path)],
                "rank_ratio": ratio[str(s.path)],
                "log_prob_nats": s.log_prob,
                "samples": s.num_samples,
                "seconds": s.seconds,
                "notes": list(s.notes),
            }
        )
    return out


def write_csv(path: str | os.PathLike, scores: Sequence[FileScore], skipped) -> Path:
    """One row per ranked file (rank 1 = most typical), then one per skipped file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=CSV_FIELDS)
        w.writeheader()
        for r in file_records(scores):
            row = dict(r, status="ok", reason="", notes="; ".join(r["notes"]))
            for key in ("bits_per_sample", "background_bits", "ratio_bits", "log_prob_nats"):
                row[key] = _num(r[key])
            row["seconds"] = _num(r["seconds"])
            row["rank_ratio"] = "" if r["rank_ratio"] is None else r["rank_ratio"]
            w.writerow(row)
        for s in skipped:
            w.writerow({"path": s["path"], "status": "skipped", "reason": s["reason"]})
    return path


def write_json(
    path: str | os.PathLike,
    scores: Sequence[FileScore],
    skipped,
    options: ScoreOptions,
    background: str,
) -> Path:
    """``{"definition", "background", "ranked_by", "files": [...], "skipped": [...]}``; each
    file as in :func:`file_records`, plus its ``curve`` when curves were computed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    files = file_records(scores)
    for rec, s in zip(files, scores):
        for key in ("bits_per_sample", "background_bits", "ratio_bits", "log_prob_nats"):
            rec[key] = None if rec[key] is None else _finite(rec[key])
        if s.curve:
            rec["curve"] = [
                {
                    "start_s": a,
                    "end_s": b,
                    "bits_per_sample": _finite(t),
                    "background_bits": _finite(g),
                }
                for a, b, t, g in s.curve
            ]
    doc = {
        "definition": {
            "unit": "bits per 16-bit sample",
            "bin_width": BIN_WIDTH_16BIT,
            "dequantization_draws": options.draws,
            "dequantization_seed": options.seed,
        },
        "background": background,
        "ranked_by": "raw" if options.background is None else "ratio",
        "files": files,
        "skipped": list(skipped),
    }
    path.write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n")
    return path


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def write_curve_csv(path: str | os.PathLike, scores: Sequence[FileScore]) -> Path:
    """Per-window bits of every file, in ranking order: ``path, start_s, end_s,
    bits_per_sample, background_bits, ratio_bits``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=CURVE_FIELDS)
        w.writeheader()
        for s in scores:
            for a, b, t, g in s.curve:
                w.writerow(
                    {
                        "path": str(s.path),
                        "start_s": f"{a:.6f}",
                        "end_s": f"{b:.6f}",
                        "bits_per_sample": _num(t),
                        "background_bits": _num(g),
                        "ratio_bits": _num(t - g),
                    }
                )
    return path


def table_lines(scores: Sequence[FileScore], skipped) -> list[str]:
    """The printed ranking: raw and ratio bits with their ranks."""
    by_ratio = any(s.background_bits is not None for s in scores)
    head = "likelihood ratio (teacher - background)" if by_ratio else "teacher bits"
    lines = [
        f"bits per 16-bit sample (lower = more typical), ranked by {head}, most typical first:",
        f"{'rank':>5}  {'teacher':>8} {'(rank)':>6}  {'backgr.':>8}  {'ratio':>8} {'(rank)':>6}"
        f"  {'seconds':>8}  path",
    ]
    for r in file_records(scores):
        notes = f"  [{'; '.join(r['notes'])}]" if r["notes"] else ""
        bg = _num(r["background_bits"], 4) or "-"
        ratio = _num(r["ratio_bits"], 4) or "-"
        rr = f"({r['rank_ratio']})" if r["rank_ratio"] is not None else ""
        lines.append(
            f"{r['rank']:>5}  {r['bits_per_sample']:>8.4f} {'(' + str(r['rank_raw']) + ')':>6}"
            f"  {bg:>8}  {ratio:>8} {rr:>6}  {r['seconds']:>8.2f}  {r['path']}{notes}"
        )
    if skipped:
        lines.append(f"skipped {len(skipped)} file(s):")
        lines += [f"  {s['path']}: {s['reason']}" for s in skipped]
    return lines


__all__ = [
    "CSV_FIELDS",
    "CURVE_FIELDS",
    "file_records",
    "ranks",
    "table_lines",
    "write_csv",
    "write_curve_csv",
    "write_json",
]
