"""Fitting the toy's flows: the MAF teacher by maximum likelihood, the IAF student by
reverse KL to the frozen teacher, both with Adam on a cosine schedule."""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable

import torch
from torch import Tensor
from tqdm.auto import tqdm

from pwave.apps.toy.densities import ToyDensity
from pwave.flows.autoregressive import IAF, MAF
from pwave.flows.normalizing_flow import NormalizingFlow


def _cosine_lr(base_lr: float, progress: float) -> float:
    return 0.5 * base_lr * (1.0 + math.cos(math.pi * min(progress, 1.0)))


def train(
    desc: str,
    params: list[Tensor],
    loss_fn: Callable[[], Tensor],
    steps: int,
    seconds: float | None,
    lr: float,
    clip: float = 5.0,
) -> list[float]:
    """Adam with a cosine schedule over ``progress = max(step / steps, elapsed / seconds)``;
    ``loss_fn()`` returns the loss of one step. Returns the loss of every step run."""
    optimizer = torch.optim.Adam(params, lr=lr)
    losses: list[float] = []
    start = time.perf_counter()
    bar = tqdm(total=steps, desc=desc, leave=False, mininterval=1.0)
    for step in range(steps):
        progress = step / steps
        if seconds:
            progress = max(progress, (time.perf_counter() - start) / seconds)
            if progress >= 1.0:
                break
        for group in optimizer.param_groups:
            group["lr"] = _cosine_lr(lr, progress)
        loss = loss_fn()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, clip)
        optimizer.step()
        losses.append(loss.item())
        bar.update(1)
        if step % 50 == 0:
            bar.set_postfix(loss=f"{sum(losses[-50:]) / len(losses[-50:]):.4f}")
    bar.close()
    return losses


def build_flow(
    kind: type[MAF] | type[IAF], layers: int, args: argparse.Namespace
) -> NormalizingFlow:
    """A 2-D MAF or IAF of ``layers`` MADE layers with the toy's options."""
    return kind(
        2,
        args.hidden,
        layers,
        transform=args.flow,
        bins=args.bins,
        bound=args.bound,
        num_hidden=args.num_hidden,
    )


def fit_teacher(
    density: ToyDensity, args: argparse.Namespace, gen: torch.Generator
) -> tuple[NormalizingFlow, list[float]]:
    """Stage 1: a MAF fitted by maximum likelihood on fresh samples of ``density``; returned
    frozen, in eval mode, with its losses."""
    teacher = build_flow(MAF, args.teacher_layers, args)
    losses = train(
        "teacher (MAF, max likelihood)",
        list(teacher.parameters()),
        lambda: -teacher.log_prob(density.sample(args.batch_size, gen)).mean(),
        args.teacher_steps,
        args.teacher_seconds,
        args.teacher_lr,
    )
    teacher.eval().requires_grad_(False)
    return teacher, losses


def distil_student(
    teacher: NormalizingFlow, args: argparse.Namespace, gen: torch.Generator
) -> tuple[NormalizingFlow, list[float]]:
    """Stage 2: an IAF distilled by Monte Carlo reverse KL ``E_q[log q - log p_T]`` to the
    frozen teacher, ``log q`` from the cached noise; returned frozen with its losses."""
    student = build_flow(IAF, args.student_layers, args)

    def student_loss() -> Tensor:
        x, log_q = student.rsample_and_log_prob(args.batch_size, generator=gen)
        return (log_q - teacher.log_prob(x)).mean()

    losses = train(
        "student (IAF, reverse KL)",
        list(student.parameters()),
        student_loss,
        args.student_steps,
        args.student_seconds,
        args.student_lr,
    )
    student.eval().requires_grad_(False)
    return student, losses
