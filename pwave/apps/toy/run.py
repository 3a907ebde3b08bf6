"""The toy end to end: fit the teacher, distil the student, measure both, write
``metrics.json`` (and ``toy.png``)."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from pwave.apps.toy.densities import make_density
from pwave.apps.toy.evaluation import (
    student_metrics,
    student_samples,
    teacher_metrics,
    time_sampling,
)
from pwave.apps.toy.report import plot
from pwave.apps.toy.training import distil_student, fit_teacher
from pwave.flows.normalizing_flow import NormalizingFlow


def run_toy(args: argparse.Namespace) -> dict:
    """Train the teacher, distil the student, evaluate, write ``metrics.json`` (and a PNG).

    Runs with ``args.threads`` torch threads (0: as is) and restores the thread count.
    Returns the metrics dictionary (also written to ``<output>/metrics.json``).
    """
    previous_threads = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        return _run(args)
    finally:
        torch.set_num_threads(previous_threads)


def _final_loss(losses: list[float]) -> float:
    return sum(losses[-50:]) / max(1, len(losses[-50:]))


def _speed_metrics(
    teacher: NormalizingFlow, student: NormalizingFlow, args: argparse.Namespace, gen
) -> dict[str, Any]:
    """Sampling speed: the sequential teacher vs the parallel student, same number of points."""
    m = args.time_samples
    t_teacher = time_sampling(teacher, m, gen)
    t_student = time_sampling(student, m, gen)
    return dict(
        time_samples=m,
        teacher_sample_seconds=t_teacher,
        student_sample_seconds=t_student,
        teacher_samples_per_second=m / t_teacher,
        student_samples_per_second=m / t_student,
        student_speedup=t_teacher / t_student,
        # MADE passes per sample: D = 2 per MAF layer (sequential), 1 per IAF layer
        teacher_made_passes=2 * args.teacher_layers,
        student_made_passes=args.student_layers,
    )


def _run(args: argparse.Namespace) -> dict:
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    out_dir = Path(args.output)
    out_dir.mkdir(parents=True, exist_ok=True)
    density = make_density(args.dataset)
    started = time.perf_counter()
    teacher, teacher_losses = fit_teacher(density, args, gen)
    teacher_time = time.perf_counter() - started
    student, student_losses = distil_student(teacher, args, gen)
    student_time = time.perf_counter() - started - teacher_time

    # The settings, without what the `pwave` CLI adds to the namespace (private, callables).
    config = {k: v for k, v in vars(args).items() if not k.startswith("_") and not callable(v)}
    metrics: dict = {"dataset": args.dataset, "config": config}
    data = density.sample(args.eval_samples, gen)
    metrics.update(teacher_metrics(density, teacher, data))
    student_x, log_q = student_samples(student, args.eval_samples, gen)
    metrics.update(student_metrics(density, teacher, student_x, log_q))
    metrics.update(_speed_metrics(teacher, student, args, gen))
    metrics.update(
        teacher_train_seconds=teacher_time,
        student_train_seconds=student_time,
        teacher_steps_run=len(teacher_losses),
        student_steps_run=len(student_losses),
        teacher_final_loss=_final_loss(teacher_losses),
        student_final_loss=_final_loss(student_losses),
        torch_threads=torch.get_num_threads(),
    )
    if not args.no_plot:
        png = out_dir / "toy.png"
        plot(png, density, data[:50_000], teacher, student_x[:50_000])
        metrics["plot"] = str(png)
    metrics["total_seconds"] = time.perf_counter() - started
    with open(out_dir / "metrics.json", "w") as f:
        json.dump(metrics, f, indent=2)
    return metrics
