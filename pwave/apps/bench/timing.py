"""Timing one call (synchronised on CUDA) and describing the machine it ran on."""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

import torch

#: The most timed calls of one case, however short it is.
MAX_REPEATS = 1000


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(
    fn: Callable[[], Any],
    device: torch.device,
    warmup: int,
    repeats: int,
    min_time: float = 1.0,
) -> tuple[list[float], Any, float | None]:
    """Call ``fn`` ``warmup`` times, then time at least ``repeats`` calls (synchronised on
    CUDA), and more until the timed calls add up to ``min_time`` seconds (at most
    :data:`MAX_REPEATS`): a short case gets enough calls for a stable median.

    Returns ``(seconds per call, last output, peak CUDA memory in MiB or None)``.
    """
    out = None
    for _ in range(warmup):
        out = fn()
    _sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times: list[float] = []
    while len(times) < max(1, repeats) or (sum(times) < min_time and len(times) < MAX_REPEATS):
        _sync(device)
        start = time.perf_counter()
        out = fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    peak = None
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device) / 2**20
    return times, out, peak


def process_peak_rss_mib() -> float | None:
    """The process's peak resident set size so far, in MiB (``None`` where unknown)."""
    try:
        import resource

        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return kib / 1024.0 if sys.platform != "darwin" else kib / 2**20
    except (ImportError, OSError):
        return None


def resolve_device(name: str) -> torch.device:
    """``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but torch.cuda.is_available() is False")
    return device


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's model name and logical CPU count."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{name} ({os.cpu_count()} logical CPUs)"


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (``None`` where unknown)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None
