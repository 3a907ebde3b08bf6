"""The toy's outputs for people: the picture (``toy.png``) and the terminal summary."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from pwave.apps.toy.densities import ToyDensity
from pwave.apps.toy.evaluation import batched
from pwave.flows.normalizing_flow import NormalizingFlow


def plot(
    path: Path, density: ToyDensity, data: Tensor, teacher: NormalizingFlow, student_x: Tensor
) -> None:
    """Side by side: data samples, the true density (when known), the teacher's density and
    the student's samples, on the density's square."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lim = density.extent
    bins = 200
    axis = torch.linspace(-lim, lim, bins)
    grid = torch.cartesian_prod(axis, axis)
    panels = [("data samples", data, None)]
    if density.has_log_prob:
        panels.append(("true density", None, density.log_prob(grid).exp()))
    panels.append(("teacher density (MAF)", None, batched(teacher.log_prob, grid).exp()))
    panels.append(("student samples (IAF)", student_x, None))
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 4))
    for ax, (title, samples, dens) in zip(axes, panels):
        if samples is not None:
            ax.hist2d(
                samples[:, 0].numpy(),
                samples[:, 1].numpy(),
                bins=bins,
                range=[[-lim, lim], [-lim, lim]],
                cmap="magma",
            )
        else:
            ax.imshow(
                dens.reshape(bins, bins).T.numpy(),
                origin="lower",
                cmap="magma",
                extent=(-lim, lim, -lim, lim),
            )
        ax.set_title(title)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(fig)


def summary_text(m: dict) -> str:
    """A few lines for the terminal: divergences (nats) and sampling speeds."""
    lines = [f"toy ({m['dataset']}): {m['total_seconds']:.1f} s total"]
    if m["teacher_kl"] is not None:
        lines.append(
            f"  teacher KL(data || MAF)     = {m['teacher_kl']:.4f} +- "
            f"{m['teacher_kl_se']:.4f} nats "
            f"(NLL {m['teacher_nll']:.4f}, true entropy {m['true_entropy']:.4f} +- "
            f"{m['true_entropy_se']:.4f})"
        )
    else:
        lines.append(f"  teacher NLL = {m['teacher_nll']:.4f} +- {m['teacher_nll_se']:.4f} nats")
    lines.append(
        f"  student KL(IAF || teacher)  = {m['student_reverse_kl']:.4f} +- "
        f"{m['student_reverse_kl_se']:.4f} nats"
    )
    if m.get("student_kl_to_data") is not None:
        lines.append(
            f"  student KL(IAF || data)     = {m['student_kl_to_data']:.4f} +- "
            f"{m['student_kl_to_data_se']:.4f} nats"
        )
    lines.append(
        f"  sampling {m['time_samples']} points: teacher {m['teacher_samples_per_second']:.3g}/s "
        f"(sequential), student {m['student_samples_per_second']:.3g}/s (parallel), "
        f"speed ratio student/teacher {m['student_speedup']:.2f} "
        f"({m['teacher_made_passes']} vs {m['student_made_passes']} MADE passes per sample)"
    )
    return "\n".join(lines)
