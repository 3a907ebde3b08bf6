"""Measuring the toy's flows on fresh samples: divergences (nats, with Monte Carlo standard
errors) and sampling speed."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from pwave.apps.toy.densities import ToyDensity
from pwave.flows.normalizing_flow import NormalizingFlow

CHUNK = 65536


def mean_and_se(values: Tensor) -> tuple[float, float]:
    """Mean and standard error of the mean of ``values [n]`` (in float64)."""
    values = values.double()
    return values.mean().item(), (values.std() / math.sqrt(values.numel())).item()


@torch.no_grad()
def batched(fn: Callable[[Tensor], Tensor], x: Tensor, chunk: int = CHUNK) -> Tensor:
    """``fn`` over ``x [n, ...]`` in chunks of ``chunk`` rows, concatenated."""
    return torch.cat([fn(part) for part in x.split(chunk)])


def teacher_metrics(density: ToyDensity, teacher: NormalizingFlow, data: Tensor) -> dict[str, Any]:
    """Teacher NLL on ``data [n, 2]``; with a known density also the true entropy and
    ``KL(p || p_T)``, both averaged over the same samples (a paired difference)."""
    log_p_teacher = batched(teacher.log_prob, data)
    m: dict[str, Any] = {}
    m["teacher_nll"], m["teacher_nll_se"] = mean_and_se(-log_p_teacher)
    if density.has_log_prob:
        log_p_true = density.log_prob(data.double())
        m["true_entropy"], m["true_entropy_se"] = mean_and_se(-log_p_true)
        m["teacher_kl"], m["teacher_kl_se"] = mean_and_se(log_p_true - log_p_teacher.double())
    else:
        m["teacher_kl"] = m["teacher_kl_se"] = None
    return m


@torch.no_grad()
def student_samples(
    student: NormalizingFlow, n: int, gen: torch.Generator
) -> tuple[Tensor, Tensor]:
    """``n`` student samples ``x [n, 2]`` and their ``log q [n]``, drawn in chunks."""
    xs, log_qs = [], []
    for part in range(0, n, CHUNK):
        x, log_q = student.rsample_and_log_prob(min(CHUNK, n - part), generator=gen)
        xs.append(x)
        log_qs.append(log_q)
    return torch.cat(xs), torch.cat(log_qs)


def student_metrics(
    density: ToyDensity, teacher: NormalizingFlow, x: Tensor, log_q: Tensor
) -> dict[str, Any]:
    """``KL(q || p_T)`` from student samples ``x`` with their ``log_q``; with a known density
    also ``KL(q || p)`` (``None`` when samples fall outside the data's support)."""
    m: dict[str, Any] = {}
    rkl = log_q - batched(teacher.log_prob, x)
    m["student_reverse_kl"], m["student_reverse_kl_se"] = mean_and_se(rkl)
    if density.has_log_prob:
        kl_data, kl_data_se = mean_and_se(log_q.double() - density.log_prob(x.double()))
        if not math.isfinite(kl_data):  # student samples outside the data's support
            kl_data = kl_data_se = None
        m["student_kl_to_data"], m["student_kl_to_data_se"] = kl_data, kl_data_se
    return m


def time_sampling(
    dist: NormalizingFlow, n: int, generator: torch.Generator, repeats: int = 3
) -> float:
    """Best-of-``repeats`` wall time to draw ``n`` samples (after a small warm-up)."""
    dist.sample(min(n, 1000), generator=generator)
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        dist.sample(n, generator=generator)
        best = min(best, time.perf_counter() - start)
    return best
