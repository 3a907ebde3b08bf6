"""The report of ``pwave prepare``: ``report.json``, ``report.txt`` and the summary line.

The report lists every skipped file with its reason, every file that was changed
(resampled, mixed down, rescaled) or flagged (clipping, 8-bit, DC offset) with its notes,
counts of both, the per-split sizes, and corpus-level notes (what the layout reader ignored,
empty held-out splits).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from pwave.data.layouts import SPLITS, LayoutScan

#: Note prefixes (from :func:`pwave.audio.io.load_audio`) -> report counter names.
CHANGE_KINDS = {
    "resampled": "resampled",
    "mixed down": "mixed_down",
    "8-bit": "eight_bit",
    "clipping": "clipping",
    "peak": "rescaled",
    "DC offset": "dc_offset",
}


def _change_kind(note: str) -> str | None:
    for prefix, kind in CHANGE_KINDS.items():
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
    """The dict written to ``report.json``.

    Args:
        scan: what the layout reader found (counted as found: entries and missing files).
        records: manifest rows (:meth:`Utterance.to_dict`) of the prepared files.
        skipped: ``{"path", "reason", "kind"}`` per unusable file.
        elapsed: seconds the preparation took.
    """
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
        "changes": {k: changes.get(k, 0) for k in CHANGE_KINDS.values()},
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
