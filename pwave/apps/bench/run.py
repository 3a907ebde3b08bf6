"""Running the benchmark: load the models, time every case at every batch size, compare
each fast path's output with its reference, and collect the report."""

from __future__ import annotations

import platform
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor

from pwave.apps.bench.bars import evaluate_bars
from pwave.apps.bench.cases import Case, build_cases
from pwave.apps.bench.models import describe_model, resolve_student, resolve_teacher
from pwave.apps.bench.settings import BenchSettings
from pwave.apps.bench.timing import (
    device_name,
    load_average,
    process_peak_rss_mib,
    resolve_device,
    time_call,
)
from pwave.models.student import Student
from pwave.models.teacher import Teacher

#: Outputs of the finished cases, by ``(batch, case name, dtype)``.
Outputs = dict[tuple[int, str, str], Tensor]


@dataclass
class CaseResult:
    """One timed case (all rates in samples per second of generated/scored audio)."""

    case: str
    model: str
    device: str
    dtype: str
    batch: int
    length: int
    samples: int
    sample_rate: int
    times_s: list[float] = field(default_factory=list)
    median_s: float = float("nan")
    samples_per_s: float = float("nan")
    x_real_time: float = float("nan")
    speedup_vs_naive: float | None = None
    peak_memory_mib: float | None = None
    memory_kind: str = ""
    max_abs_diff: float | None = None
    diff_against: str | None = None
    status: str = "ok"
    note: str = ""


def _load_models(s: BenchSettings, device: torch.device) -> tuple[Teacher, Student]:
    """Both models on ``device``; only the student's parameters record gradients (it is
    the one trained in a distillation step)."""
    teacher = resolve_teacher(s.teacher_config, s.teacher).to(device)
    student = resolve_student(s.student_config, s.student).to(device)
    teacher.requires_grad_(False)
    student.requires_grad_(True)
    return teacher, student


def _meta(
    s: BenchSettings, command: str | None, device: torch.device, teacher: Teacher, student: Student
) -> dict[str, Any]:
    return {
        "command": command or "",
        "device": str(device),
        "device_name": device_name(device),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "load_average_before": load_average(),
        "settings": asdict(s),
        "teacher": describe_model(teacher, s.teacher or s.teacher_config),
        "student": describe_model(student, s.student or s.student_config),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def _compare(r: CaseResult, case: Case, out: Tensor, outputs: Outputs) -> None:
    """Record ``out``, and its largest difference from the float32 reference case's output
    (over the same steps) when there is one of the same shape."""
    outputs[(r.batch, case.name, case.dtype)] = out.detach()
    ref = outputs.get((r.batch, case.reference, "float32")) if case.reference else None
    if ref is not None and ref.dim() == 2:
        ref = ref[:, case.offset : case.offset + out.shape[-1]]
    if ref is not None and ref.shape == out.shape:
        r.max_abs_diff = (out.float() - ref.float()).abs().max().item()
        r.diff_against = f"{case.reference} float32"


def run_case(case: Case, s: BenchSettings, device: torch.device, outputs: Outputs) -> CaseResult:
    """Set up and time one case; a failing case (e.g. no compiler) is recorded with its
    error as ``status``, never raised, so the run goes on."""
    r = CaseResult(
        case=case.name,
        model=case.model,
        device=str(device),
        dtype=case.dtype,
        batch=case.batch,
        length=case.length,
        samples=case.batch * case.length,
        sample_rate=case.sample_rate,
        note=case.note,
    )
    try:
        times, out, peak = time_call(case.make(), device, s.warmup, s.repeats, s.min_time)
    except Exception as err:  # noqa: BLE001 -- any failure is the case's result
        r.status = f"failed: {type(err).__name__}: {str(err).splitlines()[0][:200]}"
        return r
    r.times_s = times
    r.median_s = statistics.median(times)
    r.samples_per_s = r.samples / r.median_s
    r.x_real_time = r.samples_per_s / r.sample_rate
    if peak is not None:
        r.peak_memory_mib, r.memory_kind = peak, "cuda max allocated"
    else:
        r.peak_memory_mib, r.memory_kind = process_peak_rss_mib(), "process peak RSS"
    if isinstance(out, Tensor):
        _compare(r, case, out, outputs)
    return r


def _add_speedups(results: list[CaseResult]) -> None:
    """Each finished case's speed-up over the naive teacher at the same batch size."""
    for r in results:
        naive = next((n for n in results if n.case == "teacher naive" and n.batch == r.batch), None)
        if naive is not None and r.status == "ok" and naive.status == "ok":
            r.speedup_vs_naive = r.samples_per_s / naive.samples_per_s


def run_benchmark(s: BenchSettings, command: str | None = None) -> dict[str, Any]:
    """Run every case for every batch size; returns the report ``{"meta", "results",
    "bars"}`` (see :func:`~pwave.apps.bench.report.write_outputs`)."""
    from tqdm.auto import tqdm

    if s.threads:
        torch.set_num_threads(s.threads)
    s.check_dtypes()
    device = resolve_device(s.device)
    torch.manual_seed(s.seed)
    teacher, student = _load_models(s, device)
    meta = _meta(s, command, device, teacher, student)
    cases = [c for b in s.batch_sizes for c in build_cases(teacher, student, s, device, b)]
    results: list[CaseResult] = []
    outputs: Outputs = {}
    bar = tqdm(cases, desc="bench", disable=not s.progress, unit="case")
    for case in bar:
        bar.set_postfix_str(f"{case.name} {case.dtype} B={case.batch}")
        results.append(run_case(case, s, device, outputs))
    bar.close()
    _add_speedups(results)
    meta["load_average_after"] = load_average()
    meta["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    report = {"meta": meta, "results": [asdict(r) for r in results]}
    report["bars"] = evaluate_bars(report)
    return report
