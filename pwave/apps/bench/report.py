"""The report as text: the terminal table and the Markdown that docs/benchmarks.md quotes."""

from __future__ import annotations

import math
from typing import Any

TABLE_HEADER = (
    "case",
    "device",
    "dtype",
    "batch",
    "samples",
    "median time",
    "samples/s",
    "x real time",
    "vs naive",
    "peak MiB",
    "max|diff|",
)
VERDICTS = {True: "MET", False: "not met", None: "not measured"}


def fmt_rate(x: float) -> str:
    """``x`` samples/s with a k/M/G suffix and three significant digits (``-`` if not finite)."""
    if not math.isfinite(x):
        return "-"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= scale:
            return f"{x / scale:.3g}{unit}"
    return f"{x:.3g}"


def _optional(x: float | None, spec: str, suffix: str = "") -> str:
    return "-" if x is None else f"{x:{spec}}{suffix}"


def _table_row(r: dict[str, Any]) -> list[str]:
    """One result's cells; a failed case gives its first four cells and its status."""
    head = [r["case"], r["device"], r["dtype"], str(r["batch"])]
    if r["status"] != "ok":
        return head + ["-", r["status"]]
    return head + [
        str(r["samples"]),
        f"{r['median_s'] * 1e3:.4g} ms",
        fmt_rate(r["samples_per_s"]),
        f"{r['x_real_time']:.3g}",
        _optional(r["speedup_vs_naive"], ".3g", "x"),
        _optional(r["peak_memory_mib"], ".0f"),
        _optional(r["max_abs_diff"], ".1e"),
    ]


def _aligned(rows: list[list[str]]) -> list[str]:
    """Rows padded to common column widths (first column left-aligned, the rest right);
    a short row (failed case) has its last cell span the rest."""
    n = len(TABLE_HEADER)
    widths = [max(len(row[i]) for row in rows if i < len(row)) for i in range(n)]
    lines = []
    for row in rows:
        if len(row) < n:
            cells = "  ".join(c.ljust(widths[i]) for i, c in enumerate(row[:-1]))
            lines.append(cells + "  " + row[-1])
        else:
            cells = (
                c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))
            )
            lines.append("  ".join(cells))
    return lines


def format_table(report: dict[str, Any]) -> str:
    """The results as a fixed-width text table, then the bars."""
    lines = _aligned([list(TABLE_HEADER)] + [_table_row(r) for r in report["results"]])
    lines.insert(1, "-" * len(lines[0]))
    meta = report["meta"]
    lines += [
        "samples/s = batch x length / median time; x real time at the model's sample rate; "
        "vs naive: against the naive teacher at the same batch; max|diff|: largest difference "
        "from the float32 reference case of the same model (same noise).",
        "",
        f"device: {meta['device_name']}; torch {meta['torch']}; threads {meta['threads']}; "
        f"load average before/after: {meta['load_average_before']} / {meta['load_average_after']}",
        "bars (information, not assertions):",
    ]
    for b in report["bars"]:
        measured = "-" if b["measured"] is None else f"{b['measured']:.4g} {b['unit']}"
        cond = "" if b["conditions_match"] else " [this run differs from the bar's conditions]"
        lines.append(f"  {b['name']}: {measured} -> {VERDICTS[b['met']]}{cond}")
    return "\n".join(lines)


def _markdown_row(r: dict[str, Any]) -> str:
    head = f"| {r['case']} | {r['device']} | {r['dtype']} | {r['batch']} | "
    if r["status"] != "ok":
        return head + f"{r['status']} | | | | | |"
    return head + (
        f"{r['samples']} | {r['median_s'] * 1e3:.4g} ms | {fmt_rate(r['samples_per_s'])} | "
        f"{r['x_real_time']:.3g} | {_optional(r['speedup_vs_naive'], '.3g', 'x')} | "
        f"{_optional(r['max_abs_diff'], '.1e')} |"
    )


def format_markdown(report: dict[str, Any]) -> str:
    """The results and bars as Markdown tables (what docs/benchmarks.md quotes)."""
    meta = report["meta"]
    lines = [
        f"`{meta['command']}`",
        "",
        f"Device: {meta['device_name']}; torch {meta['torch']}; {meta['threads']} threads; "
        f"load average (1/5/15 min) before {meta['load_average_before']}, after "
        f"{meta['load_average_after']}.",
        "",
        "| case | device | dtype | batch | samples | median time | samples/s "
        "| x real time | vs naive | max abs diff |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [_markdown_row(r) for r in report["results"]]
    lines += ["", "| bar | measured | met |", "|---|---:|---|"]
    for b in report["bars"]:
        measured = "-" if b["measured"] is None else f"{b['measured']:.4g} {b['unit']}"
        verdict = {True: "yes", False: "no", None: "not measured"}[b["met"]]
        if not b["conditions_match"]:
            verdict += " (run differs from the bar's conditions)"
        lines.append(f"| {b['name']} | {measured} | {verdict} |")
    return "\n".join(lines) + "\n"
