"""The picture of a run (``bench.png``): samples/s per case on a shared log axis.

Two panels: the samplers (audio generated per second) on top, and below them the forward
passes of a distillation step (audio scored per second, hatched), so that the two kinds of
speed are never read as one ranking. A dashed line marks real time at each model rate; the
legend sits outside the panels, to the right.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from pwave.apps.bench.report import fmt_rate

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

COLOURS = {"teacher": "tab:red", "student": "tab:blue"}
DENSITY_HATCH = "///"
RATE_STYLES = ("--", ":", "-.")
PANEL_TITLES = {
    False: "sampling: audio generated per second",
    True: "forward pass with autograd (a distillation step's halves): audio scored per second",
}


def is_density_case(result: dict[str, Any]) -> bool:
    """Whether a result is a forward (density) pass rather than a sampler."""
    return "(fwd)" in result["case"]


def _draw_panel(ax: Axes, rows: list[dict[str, Any]], density: bool, rates: list[int]) -> None:
    """One panel: a bar per row (top to bottom in run order), its value at the bar's end,
    and a vertical line at each real-time rate."""
    values = [r["samples_per_s"] for r in rows]
    ax.barh(
        range(len(rows)),
        values,
        color=[COLOURS[r["model"]] for r in rows],
        hatch=DENSITY_HATCH if density else None,
        edgecolor="white" if density else None,
    )
    labels = [f"{r['case']} [{r['dtype']}, B={r['batch']}]" for r in rows]
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    ax.set_ylim(len(rows) - 0.5, -0.5)  # first row on top
    for i, v in enumerate(values):
        ax.text(
            v * 1.08,
            i,
            fmt_rate(v),
            va="center",
            fontsize=8,
            bbox={"facecolor": "white", "edgecolor": "none", "pad": 1.0, "alpha": 0.85},
        )  # on a white patch, so a real-time line behind it never cuts through the digits
    for rate, style in zip(rates, RATE_STYLES * len(rates)):
        ax.axvline(rate, color="k", linestyle=style, linewidth=0.8)
    ax.set_title(PANEL_TITLES[density], fontsize=9, loc="left")


def _legend_handles(rates: list[int], with_density: bool) -> list:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Patch(color=c, label=model) for model, c in COLOURS.items()]
    if with_density:
        handles.append(
            Patch(facecolor="grey", edgecolor="white", hatch=DENSITY_HATCH, label="forward pass")
        )
    for rate, style in zip(rates, RATE_STYLES * len(rates)):
        handles.append(Line2D([], [], color="k", linestyle=style, label=f"real time, {rate} Hz"))
    return handles


def bench_figure(report: dict[str, Any]) -> Figure:
    """The figure of ``report``: one panel for the samplers and one for the forward passes
    (whichever were run), bars of samples/s on a shared log axis, legend outside."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in report["results"] if r["status"] == "ok"]
    panels = [
        (density, rows)
        for density in (False, True)
        if (rows := [r for r in ok if is_density_case(r) == density])
    ] or [(False, [])]
    rates = sorted({r["sample_rate"] for r in ok})
    heights = [max(1, len(rows)) for _, rows in panels]
    fig, axes = plt.subplots(
        len(panels),
        1,
        sharex=True,
        squeeze=False,
        figsize=(11, 0.38 * sum(heights) + 0.9 * len(panels) + 1.2),
        gridspec_kw={"height_ratios": heights},
        layout="constrained",
    )
    for ax, (density, rows) in zip(axes[:, 0], panels):
        _draw_panel(ax, rows, density, rates)
    values = [r["samples_per_s"] for r in ok] + rates
    ax = axes[-1, 0]
    ax.set_xscale("log")
    if values:
        ax.set_xlim(min(values) / 2, max(values) * 4)  # room for the labels at the bar ends
    ax.set_xlabel("samples / s (log scale)")
    fig.legend(
        handles=_legend_handles(rates, any(density for density, _ in panels)),
        loc="outside right upper",
        fontsize=8,
    )
    meta = report["meta"]
    fig.suptitle(
        f"pwave bench on {meta['device_name']} (torch {meta['torch']}, {meta['threads']} threads)",
        fontsize=10,
    )
    return fig


def plot_report(report: dict[str, Any], path: str | os.PathLike) -> None:
    """Draw :func:`bench_figure` into ``path`` (PNG)."""
    import matplotlib.pyplot as plt

    fig = bench_figure(report)
    fig.savefig(path, dpi=110)
    plt.close(fig)
